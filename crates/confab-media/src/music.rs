//! The built-in audio, synthesised by code at start-up: hold music, wait music and beeps.
//!
//! All of it is pure sine tones on frequencies that are whole multiples of 50 Hz, so that a 20 ms
//! frame holds a whole number of cycles and a [`ToneDetector`](crate::tone::ToneDetector) can tell
//! each piece apart from the others and from caller tones in the 400 to 1200 Hz range:
//!
//! | audio        | frequencies (Hz)                  | shape                                  |
//! |--------------|-----------------------------------|----------------------------------------|
//! | hold music   | 1350, 1500, 1800, 2250            | a 4 s pentatonic tune in G, looped     |
//! | wait music   | 1600, 2000, 2400, 3200            | a 3.6 s rising and falling C arpeggio  |
//! | enter beep   | 1400 then 2800                    | 100 ms each: rising                    |
//! | exit beep    | 2800 then 1400                    | 100 ms each: falling                   |
//!
//! The notes of each tune are tuned in just intonation (simple frequency ratios such as 5/4 and
//! 3/2), which is what lands them on the 50 Hz grid and also why they sound consonant. The phase
//! runs on from note to note, so changing pitch makes no click.

use crate::SAMPLE_RATE;

/// Dominant frequencies of the built-in hold music (D, E, G and B over G = 1800 Hz).
pub const HOLD_MUSIC_HZ: [f64; 4] = [1350.0, 1500.0, 1800.0, 2250.0];

/// Dominant frequencies of the built-in wait music (C, E, G, C' over C = 1600 Hz).
pub const WAIT_MUSIC_HZ: [f64; 4] = [1600.0, 2000.0, 2400.0, 3200.0];

/// The two pitches of the beeps; the enter beep rises from the first to the second, the exit
/// beep falls from the second to the first.
pub const BEEP_HZ: [f64; 2] = [1400.0, 2800.0];

/// Peak amplitude of all built-in audio: -12 dBFS, clearly audible without drowning speech.
const LEVEL: f64 = 8231.0;

/// Length of one beat of the hold tune.
const HOLD_BEAT_MS: u32 = 250;

/// Length of one note of the wait arpeggio.
const WAIT_NOTE_MS: u32 = 200;

/// Length of each half of a beep.
const BEEP_NOTE_MS: u32 = 100;

/// Fade at the very start and end of a piece, so that looping or stopping does not click.
const EDGE_FADE_MS: u32 = 5;

/// The hold tune as (frequency index into [`HOLD_MUSIC_HZ`], beats).
const HOLD_TUNE: [(usize, u32); 12] = [
    (1, 1),
    (2, 1),
    (3, 2),
    (2, 1),
    (1, 1),
    (0, 2),
    (1, 1),
    (2, 1),
    (3, 1),
    (2, 1),
    (1, 2),
    (0, 2),
];

/// The wait arpeggio as indices into [`WAIT_MUSIC_HZ`]: up and down three times.
const WAIT_TUNE: [usize; 18] = [0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 2, 3, 3, 2, 0];

/// Samples of the built-in hold music (loop it).
pub(crate) fn hold_music() -> Vec<i16> {
    let notes: Vec<(f64, u32)> = HOLD_TUNE
        .iter()
        .map(|&(note, beats)| (HOLD_MUSIC_HZ[note], beats * HOLD_BEAT_MS))
        .collect();
    render(&notes)
}

/// Samples of the built-in wait music (loop it).
pub(crate) fn wait_music() -> Vec<i16> {
    let notes: Vec<(f64, u32)> = WAIT_TUNE
        .iter()
        .map(|&note| (WAIT_MUSIC_HZ[note], WAIT_NOTE_MS))
        .collect();
    render(&notes)
}

/// Samples of the enter beep (play once).
pub(crate) fn enter_beep() -> Vec<i16> {
    render(&[(BEEP_HZ[0], BEEP_NOTE_MS), (BEEP_HZ[1], BEEP_NOTE_MS)])
}

/// Samples of the exit beep (play once).
pub(crate) fn exit_beep() -> Vec<i16> {
    render(&[(BEEP_HZ[1], BEEP_NOTE_MS), (BEEP_HZ[0], BEEP_NOTE_MS)])
}

/// Synthesises `(frequency, milliseconds)` notes back to back with a continuous phase.
///
/// Each note swells quickly and relaxes to 60% of the peak, which makes the tune pulse like a
/// plucked instrument while keeping every frame strong enough to detect.
fn render(notes: &[(f64, u32)]) -> Vec<i16> {
    let rate = f64::from(SAMPLE_RATE);
    let mut out = Vec::new();
    let mut phase = 0.0f64;
    for &(frequency, ms) in notes {
        let len = (ms * SAMPLE_RATE / 1000) as usize;
        let step = frequency / rate;
        for i in 0..len {
            let t = i as f64 / rate;
            let envelope = 0.6 + 0.4 * (-t / 0.08).exp() * (t / 0.01).min(1.0);
            out.push((LEVEL * envelope * (std::f64::consts::TAU * phase).sin()).round() as i16);
            phase = (phase + step).fract();
        }
    }
    fade_edges(&mut out);
    out
}

/// Ramps the first and last few milliseconds linearly from and to zero.
fn fade_edges(samples: &mut [i16]) {
    let fade = (EDGE_FADE_MS * SAMPLE_RATE / 1000) as usize;
    let len = samples.len();
    for i in 0..fade.min(len / 2) {
        let gain = i as f64 / fade as f64;
        samples[i] = (f64::from(samples[i]) * gain) as i16;
        samples[len - 1 - i] = (f64::from(samples[len - 1 - i]) * gain) as i16;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tone::ToneDetector;
    use crate::FRAME_SAMPLES;

    /// Fraction of whole frames in which one of `freqs` is at least -24 dBFS and louder than
    /// every frequency in `others`.
    fn share_of_frames_dominated_by(samples: &[i16], freqs: &[f64], others: &[f64]) -> f64 {
        let all: Vec<f64> = freqs.iter().chain(others).copied().collect();
        let mut detector = ToneDetector::new(&all);
        let frames = samples.chunks_exact(FRAME_SAMPLES);
        let total = frames.len();
        let hits = frames
            .filter(|frame| {
                let levels = detector.levels_dbfs(frame);
                let (ours, theirs) = levels.split_at(freqs.len());
                let best = ours.iter().copied().fold(f64::MIN, f64::max);
                best >= -24.0 && theirs.iter().all(|&l| l < best - 10.0)
            })
            .count();
        hits as f64 / total as f64
    }

    #[test]
    fn pieces_have_the_documented_lengths() {
        assert_eq!(hold_music().len(), 16 * 250 * 8);
        assert_eq!(wait_music().len(), 18 * 200 * 8);
        assert_eq!(enter_beep().len(), 1600);
        assert_eq!(exit_beep().len(), 1600);
    }

    #[test]
    fn hold_and_wait_music_are_distinguishable_and_tonal() {
        let caller_tones = [450.0, 700.0, 1000.0];
        let hold = hold_music();
        let wait = wait_music();
        let not_hold: Vec<f64> = WAIT_MUSIC_HZ.iter().chain(&caller_tones).copied().collect();
        let not_wait: Vec<f64> = HOLD_MUSIC_HZ.iter().chain(&caller_tones).copied().collect();
        assert!(share_of_frames_dominated_by(&hold, &HOLD_MUSIC_HZ, &not_hold) > 0.95);
        assert!(share_of_frames_dominated_by(&wait, &WAIT_MUSIC_HZ, &not_wait) > 0.95);
        assert!(share_of_frames_dominated_by(&hold, &WAIT_MUSIC_HZ, &HOLD_MUSIC_HZ) < 0.05);
    }

    #[test]
    fn beeps_rise_and_fall() {
        let mut detector = ToneDetector::new(&BEEP_HZ);
        let enter = enter_beep();
        let exit = exit_beep();
        let first = detector.levels_dbfs(&enter[320..480]).to_vec();
        let last = detector.levels_dbfs(&enter[1120..1280]).to_vec();
        assert!(first[0] > first[1] + 20.0 && last[1] > last[0] + 20.0);
        let first = detector.levels_dbfs(&exit[320..480]).to_vec();
        assert!(first[1] > first[0] + 20.0);
    }

    #[test]
    fn edges_fade_to_silence() {
        for piece in [hold_music(), wait_music(), enter_beep()] {
            assert_eq!(piece[0], 0);
            assert!(piece[piece.len() - 1].abs() < 100);
            assert!(piece.iter().all(|s| f64::from(s.unsigned_abs()) <= LEVEL));
        }
    }
}
