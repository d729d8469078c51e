//! An energy-based speech detector: tells when a caller starts and stops talking.
//!
//! Each frame's loudness is its RMS level in dBFS (a full-scale square wave is 0 dBFS, a
//! full-scale sine about -3 dBFS). Talking starts once the level has stayed at or above
//! [`SpeechDetectorConfig::start_dbfs`] for [`SpeechDetectorConfig::start_frames`] frames in a
//! row, and stops once it has stayed below the lower [`SpeechDetectorConfig::stop_dbfs`] for
//! [`SpeechDetectorConfig::hangover_frames`] frames. The gap between the two thresholds
//! (hysteresis) and the hangover keep the pauses between words and the dips inside them from
//! being reported as many short bursts.
//!
//! This is not a voice classifier: a tone or music is "speech" here. That is what simulated
//! callers and "who is talking" indications need.

/// Thresholds and timings of a [`SpeechDetector`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeechDetectorConfig {
    /// RMS level at or above which a frame counts as loud, in dBFS.
    pub start_dbfs: f64,
    /// RMS level below which a frame counts as quiet, in dBFS; at most `start_dbfs`.
    pub stop_dbfs: f64,
    /// Consecutive loud frames needed to report a start (debounces clicks).
    pub start_frames: u32,
    /// Consecutive quiet frames needed to report a stop.
    pub hangover_frames: u32,
}

/// A change in talking state reported by [`SpeechDetector::handle_frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpeechEvent {
    /// The caller started talking with this frame.
    Started,
    /// The caller stopped talking; the hangover has run out with this frame.
    Stopped,
}

/// Tracks whether one stream of audio is talking.
#[derive(Debug, Clone)]
pub struct SpeechDetector {
    /// Thresholds.
    config: SpeechDetectorConfig,
    /// Whether the stream is currently considered talking.
    speaking: bool,
    /// Length of the current run of frames on the "other" side of the thresholds.
    run: u32,
    /// Level of the last frame, in dBFS.
    last_level: f64,
}

impl Default for SpeechDetectorConfig {
    /// -40 dBFS to start, -50 dBFS to stop, 40 ms to start, 300 ms to stop.
    fn default() -> Self {
        Self {
            start_dbfs: -40.0,
            stop_dbfs: -50.0,
            start_frames: 2,
            hangover_frames: 15,
        }
    }
}

impl SpeechDetector {
    /// A detector that starts in the quiet state.
    pub fn new(config: SpeechDetectorConfig) -> Self {
        Self {
            config,
            speaking: false,
            run: 0,
            last_level: crate::tone::FLOOR_DBFS,
        }
    }

    /// Feeds the next frame; call once per frame, in order. Returns a change of state, if any.
    #[must_use]
    pub fn handle_frame(&mut self, frame: &[i16]) -> Option<SpeechEvent> {
        self.handle_level(rms_dbfs(frame))
    }

    /// Like [`handle_frame`](Self::handle_frame), for a frame whose RMS level is already
    /// known (a driver that knows a frame is silent need not decode it).
    #[must_use]
    pub fn handle_level(&mut self, level: f64) -> Option<SpeechEvent> {
        self.last_level = level;
        let (crossing, needed) = if self.speaking {
            (level < self.config.stop_dbfs, self.config.hangover_frames)
        } else {
            (level >= self.config.start_dbfs, self.config.start_frames)
        };
        if !crossing {
            self.run = 0;
            return None;
        }
        self.run += 1;
        if self.run < needed.max(1) {
            return None;
        }
        self.run = 0;
        self.speaking = !self.speaking;
        Some(if self.speaking {
            SpeechEvent::Started
        } else {
            SpeechEvent::Stopped
        })
    }

    /// Whether the stream is talking (including the hangover after the last loud frame).
    pub fn is_speaking(&self) -> bool {
        self.speaking
    }

    /// The thresholds in use.
    pub fn config(&self) -> &SpeechDetectorConfig {
        &self.config
    }

    /// RMS level of the last frame given to [`handle_frame`](Self::handle_frame), in dBFS.
    pub fn last_level_dbfs(&self) -> f64 {
        self.last_level
    }
}

/// RMS level of `samples` in dBFS, never below [`crate::tone::FLOOR_DBFS`].
pub fn rms_dbfs(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return crate::tone::FLOOR_DBFS;
    }
    let energy: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let rms = (energy / samples.len() as f64).sqrt();
    crate::tone::amplitude_to_dbfs(rms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tone::ToneGenerator;
    use crate::FRAME_SAMPLES;

    fn tone_frame(g: &mut ToneGenerator) -> [i16; FRAME_SAMPLES] {
        let mut f = [0; FRAME_SAMPLES];
        g.fill(&mut f);
        f
    }

    #[test]
    fn rms_of_a_sine_is_three_db_below_its_peak() {
        let mut g = ToneGenerator::with_dbfs(1000.0, -10.0);
        let level = rms_dbfs(&tone_frame(&mut g));
        assert!((level + 13.01).abs() < 0.1, "{level}");
        assert_eq!(rms_dbfs(&[0; 10]), crate::tone::FLOOR_DBFS);
        assert_eq!(rms_dbfs(&[]), crate::tone::FLOOR_DBFS);
    }

    #[test]
    fn start_needs_consecutive_loud_frames_and_stop_needs_the_hangover() {
        let mut d = SpeechDetector::new(SpeechDetectorConfig::default());
        let mut loud = ToneGenerator::with_dbfs(700.0, -20.0);
        let quiet = [0i16; FRAME_SAMPLES];
        // A single loud frame (a click) is not speech.
        assert_eq!(d.handle_frame(&tone_frame(&mut loud)), None);
        assert_eq!(d.handle_frame(&quiet), None);
        assert_eq!(d.handle_frame(&tone_frame(&mut loud)), None);
        assert_eq!(
            d.handle_frame(&tone_frame(&mut loud)),
            Some(SpeechEvent::Started)
        );
        assert!(d.is_speaking());
        for _ in 0..14 {
            assert_eq!(d.handle_frame(&quiet), None);
        }
        // A loud frame inside the hangover restarts it.
        assert_eq!(d.handle_frame(&tone_frame(&mut loud)), None);
        for _ in 0..14 {
            assert_eq!(d.handle_frame(&quiet), None);
        }
        assert_eq!(d.handle_frame(&quiet), Some(SpeechEvent::Stopped));
        assert!(!d.is_speaking());
    }

    #[test]
    fn levels_between_the_thresholds_keep_the_current_state() {
        let mut d = SpeechDetector::new(SpeechDetectorConfig::default());
        // About -45 dBFS RMS: below start, above stop.
        let mut middle = ToneGenerator::with_dbfs(500.0, -42.0);
        for _ in 0..30 {
            assert_eq!(d.handle_frame(&tone_frame(&mut middle)), None);
        }
        assert!(!d.is_speaking());
        let mut loud = ToneGenerator::with_dbfs(500.0, -20.0);
        let _ = d.handle_frame(&tone_frame(&mut loud));
        assert_eq!(
            d.handle_frame(&tone_frame(&mut loud)),
            Some(SpeechEvent::Started)
        );
        for _ in 0..30 {
            assert_eq!(d.handle_frame(&tone_frame(&mut middle)), None);
        }
        assert!(d.is_speaking());
        assert!((d.last_level_dbfs() + 45.0).abs() < 0.2);
    }
}
