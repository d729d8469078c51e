//! Pure tones: a sine generator that keeps its phase from frame to frame, and a Goertzel detector
//! that measures how strong given frequencies are in a frame.
//!
//! Simulated callers send tones and tests check which tones each caller hears, so the two halves
//! are built to agree: a tone of amplitude `A` generated here is measured at `20·log10(A/32768)`
//! dBFS by [`ToneDetector`], whatever other tones are mixed in.
//!
//! The detector runs one Goertzel filter per frequency, which is a single-bin discrete Fourier
//! transform costing one multiply-add per sample. The frame is first shaped with a Hann window:
//! without it, a strong tone leaks into every other bin of a 160-sample frame (bins are only
//! 50 Hz apart at 8 kHz), and a quiet tone next to it would be misjudged. With the window, tones
//! 150 Hz or more apart are measured independently, and a frequency absent from the mix reads
//! far below any tone that is present.

use crate::SAMPLE_RATE;

/// Level reported for a frame without energy at a frequency (instead of minus infinity).
pub const FLOOR_DBFS: f64 = -120.0;

/// A sine wave generator with a continuous phase across calls.
#[derive(Debug, Clone, PartialEq)]
pub struct ToneGenerator {
    /// Frequency in hertz, kept for inspection.
    frequency: f64,
    /// Peak amplitude in sample units.
    amplitude: f64,
    /// Phase advance per sample, in cycles.
    step: f64,
    /// Current phase in cycles, in `[0, 1)`.
    phase: f64,
}

/// Measures the level of a fixed set of frequencies in frames of audio.
#[derive(Debug, Clone)]
pub struct ToneDetector {
    /// Frequencies to measure, in hertz.
    frequencies: Vec<f64>,
    /// `2·cos(ω)` per frequency: the Goertzel recurrence coefficient.
    coefficients: Vec<f64>,
    /// Last measured levels in dBFS, one per frequency.
    levels: Vec<f64>,
    /// Windowed copy of the frame being analysed (reused between calls).
    windowed: Vec<f64>,
}

/// Finds which tones are in a window of audio, without knowing them in advance: a
/// [`ToneDetector`] on a regular grid of frequencies, whose Hann-windowed bins are wide enough
/// that a tone between two grid points still shows at its neighbours.
///
/// The window is measured frame by frame ([`FRAME_SAMPLES`](crate::FRAME_SAMPLES) samples; a
/// trailing partial frame is ignored) and the frames' powers averaged; the tones are the grid
/// points that are local peaks at or above the floor, and within the range of the window's
/// strongest peak (which keeps side lobes and G.711 noise of a loud tone from reading as tones
/// of their own), refined by parabolic interpolation between the neighbours.
#[derive(Debug, Clone)]
pub struct ToneSearch {
    /// Grid frequencies, lowest first.
    grid: Vec<f64>,
    /// Grid spacing in hertz.
    step_hz: f64,
    /// One filter per grid point.
    detector: ToneDetector,
    /// Weakest level reported.
    floor_dbfs: f64,
    /// How far below the strongest peak another may be.
    range_db: f64,
}

impl ToneSearch {
    /// A search on `low_hz, low_hz + step_hz, ...` up to `high_hz`, reporting peaks at or above
    /// `floor_dbfs` and no more than `range_db` below the window's strongest one.
    pub fn new(low_hz: f64, high_hz: f64, step_hz: f64, floor_dbfs: f64, range_db: f64) -> Self {
        let step_hz = step_hz.max(1.0);
        let grid: Vec<f64> = (0..)
            .map(|i| low_hz + step_hz * f64::from(i))
            .take_while(|&f| f <= high_hz)
            .collect();
        Self {
            detector: ToneDetector::new(&grid),
            grid,
            step_hz,
            floor_dbfs,
            range_db,
        }
    }

    /// The tones in `window`, in hertz (rounded), lowest first.
    pub fn tones(&mut self, window: &[i16]) -> Vec<f64> {
        let mut power = vec![0.0; self.grid.len()];
        let mut frames = 0.0;
        for frame in window.chunks_exact(crate::FRAME_SAMPLES) {
            for (sum, &dbfs) in power.iter_mut().zip(self.detector.levels_dbfs(frame)) {
                *sum += 10f64.powf(dbfs / 10.0);
            }
            frames += 1.0;
        }
        if frames == 0.0 {
            return Vec::new();
        }
        let levels: Vec<f64> = power
            .iter()
            .map(|p| amplitude_to_dbfs(32767.0 * (p / frames).sqrt()))
            .collect();
        let strongest = levels.iter().copied().fold(f64::MIN, f64::max);
        let floor = self.floor_dbfs.max(strongest - self.range_db);
        (0..levels.len())
            .filter(|&i| {
                let left = i.checked_sub(1).map_or(f64::MIN, |j| levels[j]);
                let right = levels.get(i + 1).copied().unwrap_or(f64::MIN);
                levels[i] >= floor && levels[i] > left && levels[i] >= right
            })
            .map(|i| self.refine(&levels, i))
            .collect()
    }

    /// Parabolic interpolation of a peak's frequency from its two neighbours' levels.
    fn refine(&self, levels: &[f64], i: usize) -> f64 {
        let grid = &self.grid;
        let (Some(&left), Some(&right)) = (levels.get(i.wrapping_sub(1)), levels.get(i + 1)) else {
            return grid[i];
        };
        let centre = levels[i];
        let denominator = left - 2.0 * centre + right;
        if denominator.abs() < f64::EPSILON {
            return grid[i];
        }
        let offset = (0.5 * (left - right) / denominator).clamp(-0.5, 0.5);
        (grid[i] + offset * self.step_hz).round()
    }
}

impl ToneGenerator {
    /// A tone at `frequency_hz` with peak `amplitude`, starting at phase zero.
    pub fn new(frequency_hz: f64, amplitude: i16) -> Self {
        Self {
            frequency: frequency_hz,
            amplitude: f64::from(amplitude),
            step: frequency_hz / f64::from(SAMPLE_RATE),
            phase: 0.0,
        }
    }

    /// A tone whose peak sits at `dbfs` decibels relative to full scale (0 dBFS = 32767).
    pub fn with_dbfs(frequency_hz: f64, dbfs: f64) -> Self {
        Self::new(frequency_hz, dbfs_to_amplitude(dbfs))
    }

    /// The frequency in hertz.
    pub fn frequency(&self) -> f64 {
        self.frequency
    }

    /// Overwrites `out` with the next `out.len()` samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        for sample in out {
            *sample = self.next_sample();
        }
    }

    /// Adds the next `out.len()` samples into `out`, saturating.
    pub fn add_to(&mut self, out: &mut [i16]) {
        for sample in out {
            *sample = sample.saturating_add(self.next_sample());
        }
    }

    /// Restarts at phase zero.
    pub fn reset(&mut self) {
        self.phase = 0.0;
    }

    fn next_sample(&mut self) -> i16 {
        let value = self.amplitude * (std::f64::consts::TAU * self.phase).sin();
        self.phase += self.step;
        self.phase -= self.phase.floor();
        value.round() as i16
    }
}

impl ToneDetector {
    /// A detector for `frequencies` (hertz, below 4000).
    pub fn new(frequencies: &[f64]) -> Self {
        let coefficients = frequencies
            .iter()
            .map(|f| 2.0 * (std::f64::consts::TAU * f / f64::from(SAMPLE_RATE)).cos())
            .collect();
        Self {
            frequencies: frequencies.to_vec(),
            coefficients,
            levels: vec![FLOOR_DBFS; frequencies.len()],
            windowed: Vec::new(),
        }
    }

    /// The frequencies this detector measures, in the order of [`levels_dbfs`](Self::levels_dbfs).
    pub fn frequencies(&self) -> &[f64] {
        &self.frequencies
    }

    /// Measures each frequency in `frame` (any length, typically one 20 ms frame) and returns the
    /// estimated peak amplitude of each as dBFS, in the order given to [`ToneDetector::new`].
    pub fn levels_dbfs(&mut self, frame: &[i16]) -> &[f64] {
        let n = frame.len();
        self.windowed.clear();
        self.windowed
            .extend(frame.iter().enumerate().map(|(i, &s)| {
                let w = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos();
                w * f64::from(s)
            }));
        // A sine of amplitude A gives |X| = A·Σw/2, and Σw = n/2 for this window.
        let gain = n as f64 / 4.0;
        for (level, &coefficient) in self.levels.iter_mut().zip(&self.coefficients) {
            let magnitude = goertzel_magnitude(&self.windowed, coefficient);
            *level = amplitude_to_dbfs(magnitude / gain);
        }
        &self.levels
    }

    /// Whether each frequency reaches `threshold_dbfs` in `frame`.
    pub fn present(&mut self, frame: &[i16], threshold_dbfs: f64) -> Vec<bool> {
        self.levels_dbfs(frame)
            .iter()
            .map(|&l| l >= threshold_dbfs)
            .collect()
    }
}

/// The level of a single frequency in `frame`, in dBFS (a one-off [`ToneDetector`]).
pub fn tone_level_dbfs(frame: &[i16], frequency_hz: f64) -> f64 {
    ToneDetector::new(&[frequency_hz]).levels_dbfs(frame)[0]
}

/// Peak amplitude (in sample units) of a level in dBFS, saturating at full scale.
pub fn dbfs_to_amplitude(dbfs: f64) -> i16 {
    (32767.0 * 10f64.powf(dbfs / 20.0)).round().min(32767.0) as i16
}

/// Level in dBFS of a peak amplitude, never below [`FLOOR_DBFS`].
pub fn amplitude_to_dbfs(amplitude: f64) -> f64 {
    if amplitude <= 0.0 {
        return FLOOR_DBFS;
    }
    (20.0 * (amplitude / 32767.0).log10()).max(FLOOR_DBFS)
}

/// `|X(ω)|` of `samples` by the Goertzel recurrence, where `coefficient = 2·cos(ω)`.
fn goertzel_magnitude(samples: &[f64], coefficient: f64) -> f64 {
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in samples {
        let s0 = x + coefficient * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - coefficient * s1 * s2).max(0.0).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FRAME_SAMPLES;

    fn frame_of(generators: &mut [ToneGenerator]) -> [i16; FRAME_SAMPLES] {
        let mut frame = [0i16; FRAME_SAMPLES];
        for g in generators {
            g.add_to(&mut frame);
        }
        frame
    }

    #[test]
    fn generator_keeps_phase_across_frames() {
        let mut split = ToneGenerator::new(440.0, 10_000);
        let mut whole = split.clone();
        let mut a = [0i16; 100];
        let mut b = [0i16; 220];
        split.fill(&mut a);
        split.fill(&mut b);
        let mut all = [0i16; 320];
        whole.fill(&mut all);
        assert_eq!(&all[..100], &a);
        assert_eq!(&all[100..], &b);
        assert_eq!(all[0], 0);
        assert_eq!(*all.iter().max().unwrap(), 10_000);
    }

    #[test]
    fn single_tone_is_measured_at_its_level() {
        let mut g = [ToneGenerator::with_dbfs(1000.0, -12.0)];
        let frame = frame_of(&mut g);
        let level = tone_level_dbfs(&frame, 1000.0);
        assert!((level + 12.0).abs() < 0.5, "{level}");
        assert!(tone_level_dbfs(&frame, 1400.0) < -60.0);
    }

    #[test]
    fn off_grid_tones_are_measured_too() {
        // 440 Hz does not fit a whole number of cycles in 160 samples.
        let mut g = [ToneGenerator::with_dbfs(440.0, -20.0)];
        for _ in 0..7 {
            let frame = frame_of(&mut g);
            let level = tone_level_dbfs(&frame, 440.0);
            assert!((level + 20.0).abs() < 1.0, "{level}");
            assert!(tone_level_dbfs(&frame, 700.0) < -55.0);
        }
    }

    #[test]
    fn mixes_of_four_tones_are_separated() {
        let freqs = [450.0, 700.0, 1000.0, 1800.0];
        let mut gens: Vec<_> = freqs
            .iter()
            .map(|&f| ToneGenerator::with_dbfs(f, -15.0))
            .collect();
        let mut detector = ToneDetector::new(&[450.0, 700.0, 1000.0, 1800.0, 1350.0, 2400.0]);
        for _ in 0..5 {
            let frame = frame_of(&mut gens);
            let levels = detector.levels_dbfs(&frame).to_vec();
            for level in &levels[..4] {
                assert!((level + 15.0).abs() < 1.0, "{levels:?}");
            }
            for level in &levels[4..] {
                assert!(*level < -50.0, "{levels:?}");
            }
        }
        assert_eq!(detector.frequencies().len(), 6);
    }

    #[test]
    fn the_search_finds_off_grid_tones_and_nothing_in_silence() {
        let mut gens: Vec<_> = [440.0, 700.0, 1000.0]
            .iter()
            .map(|&f| ToneGenerator::with_dbfs(f, -15.0))
            .collect();
        let mut window = vec![0i16; 5 * FRAME_SAMPLES];
        for g in &mut gens {
            g.add_to(&mut window);
        }
        let mut search = ToneSearch::new(100.0, 3800.0, 50.0, -45.0, 35.0);
        let found = search.tones(&window);
        assert_eq!(found.len(), 3, "{found:?}");
        for (f, want) in found.iter().zip([440.0, 700.0, 1000.0]) {
            assert!((f - want).abs() <= 15.0, "{found:?}");
        }
        assert!(search.tones(&[0; 800]).is_empty());
        assert!(search.tones(&window[..100]).is_empty(), "no whole frame");
    }

    #[test]
    fn silence_reads_as_the_floor() {
        let mut d = ToneDetector::new(&[500.0]);
        assert_eq!(d.levels_dbfs(&[0; FRAME_SAMPLES]), &[FLOOR_DBFS]);
        assert_eq!(d.present(&[0; FRAME_SAMPLES], -60.0), vec![false]);
        assert_eq!(d.levels_dbfs(&[]), &[FLOOR_DBFS]);
    }

    #[test]
    fn level_conversions_agree() {
        assert_eq!(dbfs_to_amplitude(0.0), 32767);
        assert_eq!(dbfs_to_amplitude(6.0), 32767);
        assert!((amplitude_to_dbfs(f64::from(dbfs_to_amplitude(-20.0))) + 20.0).abs() < 0.01);
        assert_eq!(amplitude_to_dbfs(0.0), FLOOR_DBFS);
    }
}
