//! Audio sources: things the mixer plays that are not a caller, such as hold music, wait music,
//! announcements and beeps.
//!
//! An [`AudioSource`] hands out one 20 ms frame per call to [`AudioSource::next_frame`]. It is
//! pulled, never pushed: the mixer asks each active source for a frame at every tick, so a source
//! costs nothing between ticks and plays in lockstep with the conference.
//!
//! A **streamed** source ([`AudioSource::streamed`]) starts empty and is fed chunks as a file is
//! decoded ([`AudioSource::append`]), so a long announcement starts playing after its first
//! second is decoded. It plays whole frames as they are there; when it runs dry before its last
//! chunk (an underrun) it plays silence and waits, never blocking and never finishing early. It
//! finishes once it has been told the last chunk came and has played everything. A looping
//! stream keeps every chunk so that it can start over; a one-shot stream lets go of each chunk
//! once played, so an hour of hold music fed a second at a time holds only what is still to
//! come (rewinding it restarts from there).
//!
//! Sources are cheap to create and clone. PCM is held in an `Arc<[i16]>`, so a hundred held
//! callers listening to the same hold music share one buffer, each with its own play position.
//! The built-in pieces are synthesised once in a [`BuiltinAudio`] (see the frequency table in
//! the [`HOLD_MUSIC_HZ`] family of constants) and handed out from there.

use std::collections::VecDeque;
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

/// Why [`AudioSource::append`] refused a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendError {
    /// The source was not made by [`AudioSource::streamed`].
    NotStreamed,
    /// The source was already given its last chunk.
    Complete,
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
    /// Samples arriving in chunks while playing.
    Stream(Stream),
}

/// The chunks of a streamed source and where playback is.
#[derive(Debug, Clone)]
struct Stream {
    /// Every chunk appended so far, in order.
    chunks: VecDeque<Arc<[i16]>>,
    /// Index of the chunk being played.
    chunk: usize,
    /// Next sample within that chunk.
    offset: usize,
    /// Samples appended and not yet played.
    buffered: usize,
    /// The last chunk has been appended.
    complete: bool,
    /// Start again at the end (once complete) instead of finishing.
    looping: bool,
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

    /// A source fed by [`append`](Self::append): silent until audio arrives, finished when the
    /// last chunk has played. With `looping` it starts over at the end instead (once its last
    /// chunk came), as hold music does.
    pub fn streamed(looping: bool) -> Self {
        Self::from_kind(Kind::Stream(Stream {
            chunks: VecDeque::new(),
            chunk: 0,
            offset: 0,
            buffered: 0,
            complete: false,
            looping,
        }))
    }

    /// Appends 8 kHz mono samples to a streamed source; `last` says no more will come. Heard
    /// from the next frame on.
    pub fn append(&mut self, chunk: Arc<[i16]>, last: bool) -> Result<(), AppendError> {
        let Kind::Stream(stream) = &mut self.kind else {
            return Err(AppendError::NotStreamed);
        };
        if stream.complete {
            return Err(AppendError::Complete);
        }
        stream.buffered += chunk.len();
        if !chunk.is_empty() {
            stream.chunks.push_back(chunk);
        }
        stream.complete = last;
        Ok(())
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
            Kind::Stream(stream) => stream.rewind(),
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
            Kind::Stream(stream) => stream.play(out),
        }
    }
}

impl Stream {
    /// Produces one frame; returns true if a one-shot stream has played its last sample.
    fn play(&mut self, out: &mut Frame) -> bool {
        if self.buffered < FRAME_SAMPLES && !self.complete {
            // Underrun: wait for more rather than play a partial frame with a gap in it.
            out.fill(0);
            return false;
        }
        let mut written = self.copy_into(out);
        if written < FRAME_SAMPLES && self.looping && !self.chunks.is_empty() {
            self.rewind();
            written += self.copy_into(&mut out[written..]);
        }
        out[written..].fill(0);
        self.complete && !self.looping && self.buffered == 0
    }

    /// Copies buffered samples into `out` until it is full or the buffer is empty.
    fn copy_into(&mut self, out: &mut [i16]) -> usize {
        let mut written = 0;
        while written < out.len() {
            let Some(chunk) = self.chunks.get(self.chunk) else {
                break;
            };
            let n = (chunk.len() - self.offset).min(out.len() - written);
            out[written..written + n].copy_from_slice(&chunk[self.offset..self.offset + n]);
            written += n;
            self.offset += n;
            self.buffered -= n;
            if self.offset == chunk.len() {
                self.offset = 0;
                if self.looping {
                    self.chunk += 1;
                } else {
                    // Never played again: only a looping stream starts over.
                    self.chunks.pop_front();
                }
            }
        }
        written
    }

    fn rewind(&mut self) {
        self.chunk = 0;
        self.offset = 0;
        self.buffered = self.chunks.iter().map(|c| c.len()).sum();
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
    fn a_stream_plays_what_arrived_and_waits_on_underrun() {
        let mut stream = AudioSource::streamed(false);
        let mut frame = [7; FRAME_SAMPLES];
        assert_eq!(stream.next_frame(&mut frame), SourceState::Playing);
        assert_eq!(frame, SILENT_FRAME, "nothing yet: silence, not finished");
        stream.append(ramp(100), false).unwrap();
        assert_eq!(stream.next_frame(&mut frame), SourceState::Playing);
        assert_eq!(frame, SILENT_FRAME, "less than a frame waits for more");
        stream.append(ramp(100), false).unwrap();
        assert_eq!(stream.next_frame(&mut frame), SourceState::Playing);
        assert_eq!(
            (frame[0], frame[99], frame[100], frame[159]),
            (1, 100, 1, 60)
        );
        stream.append(Vec::new().into(), true).unwrap();
        assert_eq!(stream.next_frame(&mut frame), SourceState::Finished);
        assert_eq!((frame[0], frame[39], frame[40]), (61, 100, 0));
        assert_eq!(
            stream.append(ramp(1), false),
            Err(AppendError::Complete),
            "nothing after the last chunk"
        );
        assert_eq!(
            AudioSource::silence().append(ramp(1), true),
            Err(AppendError::NotStreamed)
        );
    }

    #[test]
    fn a_one_shot_stream_lets_go_of_what_it_played() {
        let mut stream = AudioSource::streamed(false);
        for _ in 0..100 {
            stream.append(ramp(FRAME_SAMPLES), false).unwrap();
        }
        let mut frame = SILENT_FRAME;
        for _ in 0..60 {
            let _ = stream.next_frame(&mut frame);
        }
        let Kind::Stream(inner) = &stream.kind else {
            panic!("a streamed source");
        };
        assert_eq!(inner.chunks.len(), 40, "played chunks are gone");
        assert_eq!(inner.buffered, 40 * FRAME_SAMPLES);
    }

    #[test]
    fn a_looping_stream_wraps_once_complete_and_rewinds() {
        let mut stream = AudioSource::streamed(true);
        stream.append(ramp(120), false).unwrap();
        stream.append(ramp(80), true).unwrap();
        let mut frame = SILENT_FRAME;
        assert_eq!(stream.next_frame(&mut frame), SourceState::Playing);
        assert_eq!((frame[119], frame[120], frame[159]), (120, 1, 40));
        assert_eq!(stream.next_frame(&mut frame), SourceState::Playing);
        assert_eq!((frame[0], frame[39], frame[40]), (41, 80, 1), "wrapped");
        stream.rewind();
        let _ = stream.next_frame(&mut frame);
        assert_eq!(frame[0], 1);
        let mut empty = AudioSource::streamed(true);
        empty.append(Vec::new().into(), true).unwrap();
        assert_eq!(empty.next_frame(&mut frame), SourceState::Playing);
        assert_eq!(frame, SILENT_FRAME);
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
