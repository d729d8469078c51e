//! Audio sources: things the mixer plays that are not a caller, such as hold music, wait music,
//! announcements and beeps.
//!
//! An [`AudioSource`] hands out one 20 ms frame per call to [`AudioSource::next_frame`]. It is
//! pulled, never pushed: the mixer asks each active source for a frame at every tick, so a source
//! costs nothing between ticks and plays in lockstep with the conference.
//!
//! Sources are cheap to create and clone. PCM is held in an `Arc<[i16]>`, so a hundred held
//! callers listening to the same hold music share one buffer, each with its own play position.
//! The built-in pieces are synthesised once in a [`BuiltinAudio`] (see the frequency table in
//! the [`HOLD_MUSIC_HZ`] family of constants) and handed out from there.

use std::sync::Arc;
use std::time::Duration;

use crate::tone::ToneGenerator;
use crate::{Frame, FRAME_DURATION, FRAME_SAMPLES};

pub use crate::music::{BEEP_HZ, HOLD_MUSIC_HZ, WAIT_MUSIC_HZ};

/// Whether a source has more to play after the frame it just produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceState {
    /// More audio follows.
    Playing,
    /// The frame just produced held the last audio (padded with silence); later frames are
    /// silent.
    Finished,
}

/// A producer of 20 ms frames; see the module docs.
#[derive(Debug, Clone)]
pub struct AudioSource {
    /// What is played.
    kind: Kind,
    /// Frames the source may still play when limited by [`AudioSource::limited_to`].
    remaining_frames: Option<u32>,
    /// The limit as given, so that [`AudioSource::rewind`] can restore it.
    limit_frames: Option<u32>,
    /// Set once the last frame has been produced.
    finished: bool,
}

/// The built-in audio, synthesised once and shared by every source made from it.
///
/// Make one per process (synthesis takes a few milliseconds) and clone it into each mixer.
#[derive(Debug, Clone)]
pub struct BuiltinAudio {
    /// Default hold music, a looping tune on [`HOLD_MUSIC_HZ`].
    hold_music: Arc<[i16]>,
    /// Default wait music, a looping arpeggio on [`WAIT_MUSIC_HZ`].
    wait_music: Arc<[i16]>,
    /// Rising two-note beep played when someone joins.
    enter_beep: Arc<[i16]>,
    /// Falling two-note beep played when someone leaves.
    exit_beep: Arc<[i16]>,
}

#[derive(Debug, Clone)]
enum Kind {
    /// Zeros.
    Silence,
    /// A sine tone.
    Tone(ToneGenerator),
    /// Recorded or synthesised samples.
    Pcm {
        /// The samples, shared.
        samples: Arc<[i16]>,
        /// Index of the next sample to play.
        position: usize,
        /// Start again at the end instead of finishing.
        looping: bool,
    },
}

impl AudioSource {
    /// Endless silence (useful as an explicit "hear nothing" hold or wait source).
    pub fn silence() -> Self {
        Self::from_kind(Kind::Silence)
    }

    /// An endless sine tone of peak `amplitude`.
    pub fn tone(frequency_hz: f64, amplitude: i16) -> Self {
        Self::from_kind(Kind::Tone(ToneGenerator::new(frequency_hz, amplitude)))
    }

    /// `samples` (8 kHz mono) played over and over. An empty buffer plays silence forever.
    pub fn looping(samples: Arc<[i16]>) -> Self {
        Self::from_kind(Kind::Pcm {
            samples,
            position: 0,
            looping: true,
        })
    }

    /// `samples` (8 kHz mono) played once, then [`SourceState::Finished`].
    pub fn once(samples: Arc<[i16]>) -> Self {
        Self::from_kind(Kind::Pcm {
            samples,
            position: 0,
            looping: false,
        })
    }

    /// The same source, but finished after `duration` (rounded up to whole frames).
    #[must_use]
    pub fn limited_to(mut self, duration: Duration) -> Self {
        let frame_ns = FRAME_DURATION.as_nanos();
        let frames = duration.as_nanos().div_ceil(frame_ns);
        let frames = u32::try_from(frames).unwrap_or(u32::MAX);
        self.limit_frames = Some(frames);
        self.remaining_frames = Some(frames);
        self.finished = frames == 0;
        self
    }

    /// Writes the next frame into `out`. Call once per tick while the source is active; after
    /// [`SourceState::Finished`] it keeps writing silence.
    #[must_use]
    pub fn next_frame(&mut self, out: &mut Frame) -> SourceState {
        if self.finished {
            out.fill(0);
            return SourceState::Finished;
        }
        let mut done = self.play(out);
        if let Some(remaining) = &mut self.remaining_frames {
            *remaining = remaining.saturating_sub(1);
            done |= *remaining == 0;
        }
        self.finished = done;
        if done {
            SourceState::Finished
        } else {
            SourceState::Playing
        }
    }

    /// Whether the source has played its last frame.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Starts over from the beginning (used when a caller goes on hold again).
    pub fn rewind(&mut self) {
        match &mut self.kind {
            Kind::Silence => {}
            Kind::Tone(generator) => generator.reset(),
            Kind::Pcm { position, .. } => *position = 0,
        }
        self.remaining_frames = self.limit_frames;
        self.finished = self.limit_frames == Some(0);
    }

    fn from_kind(kind: Kind) -> Self {
        Self {
            kind,
            remaining_frames: None,
            limit_frames: None,
            finished: false,
        }
    }

    /// Produces one frame; returns true if the underlying audio has run out.
    fn play(&mut self, out: &mut Frame) -> bool {
        match &mut self.kind {
            Kind::Silence => {
                out.fill(0);
                false
            }
            Kind::Tone(generator) => {
                generator.fill(out);
                false
            }
            Kind::Pcm {
                samples,
                position,
                looping,
            } => play_pcm(samples, position, *looping, out),
        }
    }
}

/// Copies the next frame of `samples` from `position`, wrapping if `looping`.
/// Returns true if a one-shot buffer has been played to its end.
fn play_pcm(samples: &[i16], position: &mut usize, looping: bool, out: &mut Frame) -> bool {
    let mut written = 0;
    while written < FRAME_SAMPLES {
        let available = samples.len().saturating_sub(*position);
        if available == 0 {
            if !looping || samples.is_empty() {
                out[written..].fill(0);
                return !looping;
            }
            *position = 0;
            continue;
        }
        let n = available.min(FRAME_SAMPLES - written);
        out[written..written + n].copy_from_slice(&samples[*position..*position + n]);
        written += n;
        *position += n;
    }
    !looping && *position >= samples.len()
}

impl BuiltinAudio {
    /// Synthesises all built-in pieces.
    pub fn generate() -> Self {
        Self {
            hold_music: crate::music::hold_music().into(),
            wait_music: crate::music::wait_music().into(),
            enter_beep: crate::music::enter_beep().into(),
            exit_beep: crate::music::exit_beep().into(),
        }
    }

    /// The default hold music, looping from its start.
    pub fn hold_music(&self) -> AudioSource {
        AudioSource::looping(self.hold_music.clone())
    }

    /// The default wait music, looping from its start.
    pub fn wait_music(&self) -> AudioSource {
        AudioSource::looping(self.wait_music.clone())
    }

    /// The beep played to the others when a participant joins (200 ms, once).
    pub fn enter_beep(&self) -> AudioSource {
        AudioSource::once(self.enter_beep.clone())
    }

    /// The beep played to the others when a participant leaves (200 ms, once).
    pub fn exit_beep(&self) -> AudioSource {
        AudioSource::once(self.exit_beep.clone())
    }
}

impl Default for BuiltinAudio {
    fn default() -> Self {
        Self::generate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SILENT_FRAME;

    fn ramp(len: usize) -> Arc<[i16]> {
        (0..len).map(|i| i as i16 + 1).collect::<Vec<_>>().into()
    }

    #[test]
    fn one_shot_reports_finished_on_its_last_frame() {
        let mut source = AudioSource::once(ramp(400));
        let mut frame = SILENT_FRAME;
        assert_eq!(source.next_frame(&mut frame), SourceState::Playing);
        assert_eq!(frame[0], 1);
        assert_eq!(source.next_frame(&mut frame), SourceState::Playing);
        assert_eq!(frame[0], 161);
        assert_eq!(source.next_frame(&mut frame), SourceState::Finished);
        assert_eq!((frame[79], frame[80]), (400, 0));
        assert!(source.is_finished());
        assert_eq!(source.next_frame(&mut frame), SourceState::Finished);
        assert_eq!(frame, SILENT_FRAME);
    }

    #[test]
    fn exact_multiple_finishes_without_an_extra_frame() {
        let mut source = AudioSource::once(ramp(320));
        let mut frame = SILENT_FRAME;
        assert_eq!(source.next_frame(&mut frame), SourceState::Playing);
        assert_eq!(source.next_frame(&mut frame), SourceState::Finished);
        assert_eq!(frame[159], 320);
        let mut empty = AudioSource::once(Vec::new().into());
        assert_eq!(empty.next_frame(&mut frame), SourceState::Finished);
    }

    #[test]
    fn looping_wraps_inside_a_frame_and_never_finishes() {
        let mut source = AudioSource::looping(ramp(100));
        let mut frame = SILENT_FRAME;
        for _ in 0..10 {
            assert_eq!(source.next_frame(&mut frame), SourceState::Playing);
        }
        // 10 frames = 1600 samples = 16 loops exactly, so the 11th frame starts at 1 again.
        let _ = source.next_frame(&mut frame);
        assert_eq!((frame[0], frame[99], frame[100]), (1, 100, 1));
        let mut empty = AudioSource::looping(Vec::new().into());
        assert_eq!(empty.next_frame(&mut frame), SourceState::Playing);
        assert_eq!(frame, SILENT_FRAME);
    }

    #[test]
    fn limits_and_rewind() {
        let mut tone = AudioSource::tone(1000.0, 5000).limited_to(Duration::from_millis(50));
        let mut frame = SILENT_FRAME;
        assert_eq!(tone.next_frame(&mut frame), SourceState::Playing);
        assert!(frame.iter().any(|&s| s != 0));
        assert_eq!(tone.next_frame(&mut frame), SourceState::Playing);
        assert_eq!(tone.next_frame(&mut frame), SourceState::Finished);
        tone.rewind();
        assert!(!tone.is_finished());
        assert_eq!(tone.next_frame(&mut frame), SourceState::Playing);
        assert_eq!(frame[0], 0, "rewound to phase zero");
        let zero = AudioSource::silence().limited_to(Duration::ZERO);
        assert!(zero.is_finished());
        let mut endless = AudioSource::silence();
        for _ in 0..100 {
            assert_eq!(endless.next_frame(&mut frame), SourceState::Playing);
        }
    }

    #[test]
    fn builtin_sources_share_their_buffers() {
        let builtin = BuiltinAudio::generate();
        let mut a = builtin.hold_music();
        let mut b = builtin.clone().hold_music();
        let (mut fa, mut fb) = (SILENT_FRAME, SILENT_FRAME);
        for _ in 0..3 {
            let _ = a.next_frame(&mut fa);
            let _ = b.next_frame(&mut fb);
            assert_eq!(fa, fb);
        }
        let mut beep = builtin.enter_beep();
        let frames = (0..20)
            .take_while(|_| beep.next_frame(&mut fa) == SourceState::Playing)
            .count();
        assert_eq!(frames, 9, "200 ms = 10 frames, the 10th reports Finished");
    }
}
