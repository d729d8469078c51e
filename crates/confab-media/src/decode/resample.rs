//! Sample-rate conversion to 8 kHz with rubato's windowed-sinc resampler, fed a piece at a time.
//!
//! A sinc resampler low-passes below the new Nyquist frequency (4 kHz) before it decimates, so a
//! 44.1 kHz file does not fold its treble back into the telephone band as linear interpolation
//! does. The resampler works in fixed input blocks and delays its output by a few dozen
//! samples; [`ToNarrowband`] hides both: it buffers input until a block is full, drops the
//! delay at the start, pads the last block at the end, and returns exactly
//! `input · 8000 / rate` samples in total.

use rubato::{
    Resampler, SincFixedIn, SincInterpolationParameters, SincInterpolationType, WindowFunction,
};

use super::DecodeError;
use crate::wav::clamp_to_i16;
use crate::SAMPLE_RATE;

/// Input frames per resampler block.
const BLOCK: usize = 1024;

/// Converts one mono stream from its rate to [`SAMPLE_RATE`].
pub(super) struct ToNarrowband {
    /// `None` when the input is already at 8 kHz.
    sinc: Option<SincFixedIn<f32>>,
    /// Input not yet given to the resampler (less than a block).
    pending: Vec<f32>,
    /// What went in and came out.
    count: Count,
}

/// Sample counts of a [`ToNarrowband`].
struct Count {
    /// The input rate.
    rate: u32,
    /// Output samples still to drop: the resampler's delay.
    skip: usize,
    /// Input samples taken so far.
    taken: u64,
    /// Output samples returned so far.
    given: u64,
}

impl ToNarrowband {
    /// A converter from `rate` (4 kHz to 384 kHz) to 8 kHz.
    pub(super) fn new(rate: u32) -> Result<Self, DecodeError> {
        let sinc = if rate == SAMPLE_RATE {
            None
        } else {
            let parameters = SincInterpolationParameters {
                sinc_len: 128,
                f_cutoff: 0.925,
                oversampling_factor: 128,
                interpolation: SincInterpolationType::Linear,
                window: WindowFunction::BlackmanHarris2,
            };
            let ratio = f64::from(SAMPLE_RATE) / f64::from(rate);
            let sinc = SincFixedIn::new(ratio, 1.0, parameters, BLOCK, 1)
                .map_err(|_| DecodeError::Unsupported("sample rate"))?;
            Some(sinc)
        };
        let skip = sinc.as_ref().map_or(0, Resampler::output_delay);
        Ok(Self {
            sinc,
            pending: Vec::new(),
            count: Count {
                rate,
                skip,
                taken: 0,
                given: 0,
            },
        })
    }

    /// Converts `input` (16-bit scale), appending what is ready to `out`.
    pub(super) fn push(&mut self, input: &[f32], out: &mut Vec<i16>) -> Result<(), DecodeError> {
        self.count.taken += input.len() as u64;
        let Some(sinc) = &mut self.sinc else {
            out.extend(input.iter().map(|&s| clamp_to_i16(s)));
            self.count.given += input.len() as u64;
            return Ok(());
        };
        self.pending.extend_from_slice(input);
        let mut start = 0;
        while self.pending.len() - start >= BLOCK {
            let block = [&self.pending[start..start + BLOCK]];
            let converted = sinc
                .process(&block, None)
                .map_err(|_| DecodeError::Corrupt("resampler refused a block"))?;
            start += BLOCK;
            self.count.emit(&converted, out);
        }
        self.pending.drain(..start);
        Ok(())
    }

    /// Ends the stream: converts what is buffered and flushes the resampler's delay.
    pub(super) fn finish(&mut self, out: &mut Vec<i16>) -> Result<(), DecodeError> {
        let expected = self.count.expected();
        let Some(sinc) = &mut self.sinc else {
            return Ok(());
        };
        let pending = std::mem::take(&mut self.pending);
        // An empty last piece is no piece: rubato refuses a zero-length channel (input that
        // ended exactly on a block boundary).
        let mut input = Some(pending).filter(|p| !p.is_empty());
        // Each round yields about a block of output; the delay is far shorter than that, so a
        // few rounds always reach the expected length.
        for _ in 0..4 {
            if self.count.given >= expected {
                break;
            }
            let block = input.take().map(|p| [p]);
            let converted = sinc
                .process_partial(block.as_ref().map(|b| &b[..]), None)
                .map_err(|_| DecodeError::Corrupt("resampler refused the last block"))?;
            self.count.emit(&converted, out);
        }
        Ok(())
    }
}

impl Count {
    /// Output samples the whole input makes.
    fn expected(&self) -> u64 {
        self.taken * u64::from(SAMPLE_RATE) / u64::from(self.rate)
    }

    fn emit(&mut self, converted: &[Vec<f32>], out: &mut Vec<i16>) {
        let Some(channel) = converted.first() else {
            return;
        };
        let skip = self.skip.min(channel.len());
        self.skip -= skip;
        let room = self.expected().saturating_sub(self.given);
        let usable = &channel[skip..];
        let usable = &usable[..usable
            .len()
            .min(usize::try_from(room).unwrap_or(usize::MAX))];
        out.extend(usable.iter().map(|&s| clamp_to_i16(s)));
        self.given += usable.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_ending_on_a_block_boundary_converts() {
        let input = vec![1000.0f32; BLOCK * 6];
        let mut resampler = ToNarrowband::new(16_000).expect("rate");
        let mut out = Vec::new();
        resampler.push(&input, &mut out).expect("push");
        resampler.finish(&mut out).expect("the last block");
        assert_eq!(out.len(), BLOCK * 3);
    }

    fn convert(rate: u32, input: &[f32], pieces: usize) -> Vec<i16> {
        let mut resampler = ToNarrowband::new(rate).unwrap();
        let mut out = Vec::new();
        for piece in input.chunks(input.len().div_ceil(pieces).max(1)) {
            resampler.push(piece, &mut out).unwrap();
        }
        resampler.finish(&mut out).unwrap();
        out
    }

    #[test]
    fn output_length_is_exact_and_piecewise_equals_whole() {
        let input: Vec<f32> = (0..44_100).map(|i| (i % 100) as f32).collect();
        let whole = convert(44_100, &input, 1);
        assert_eq!(whole.len(), 8_000);
        assert_eq!(convert(44_100, &input, 7), whole);
        assert_eq!(convert(16_000, &input[..1000], 1).len(), 500);
        assert_eq!(convert(4_000, &input[..1000], 3).len(), 2000);
        assert_eq!(convert(8_000, &input[..10], 2).len(), 10);
        assert!(convert(48_000, &[], 1).is_empty());
    }

    #[test]
    fn a_constant_stays_constant_after_the_delay_is_dropped() {
        let input = vec![1000.0f32; 48_000];
        let out = convert(48_000, &input, 5);
        assert_eq!(out.len(), 8_000);
        // The very ends ring a little against the zero padding; the middle is flat.
        assert!(
            out[100..7_900].iter().all(|&s| (s - 1000).abs() <= 5),
            "{:?}",
            &out[..8]
        );
    }
}
