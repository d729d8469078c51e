//! G.711: the two logarithmic telephone codecs, mu-law (PCMU, RTP payload type 0) and A-law
//! (PCMA, payload type 8).
//!
//! Both squeeze a linear sample into one byte: a sign bit, a 3-bit segment (which power-of-two
//! range the magnitude falls in) and a 4-bit step inside that segment, so quiet sounds keep more
//! precision than loud ones. Mu-law starts from 14 significant bits and inverts every bit of the
//! result; A-law starts from 13 bits and inverts every other bit (XOR `0x55`).
//!
//! The conversions follow the classic public-domain Sun reference implementation (the one CPython's
//! `audioop` also uses), and the tests compare every decode value and every 16-bit encode input
//! with golden tables produced by `audioop` (`tests/data/gen_g711.py`).
//!
//! Encoding and decoding are table lookups; the tables are built at compile time.

use crate::rtp::PayloadType;

/// A G.711 variant, fixed per participant by SDP negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Mu-law, used in North America and Japan; RTP static payload type 0.
    Pcmu,
    /// A-law, used in most other countries; RTP static payload type 8.
    Pcma,
}

impl Codec {
    /// Every codec, in a fixed order (handy for per-codec tables).
    pub const ALL: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];

    /// The static RTP payload type of this codec (RFC 3551).
    pub fn payload_type(self) -> PayloadType {
        match self {
            Self::Pcmu => PayloadType::PCMU,
            Self::Pcma => PayloadType::PCMA,
        }
    }

    /// The codec carried by a static payload type, if it is one of ours.
    pub fn from_payload_type(pt: PayloadType) -> Option<Self> {
        match pt {
            PayloadType::PCMU => Some(Self::Pcmu),
            PayloadType::PCMA => Some(Self::Pcma),
            _ => None,
        }
    }

    /// Position of this codec in [`Codec::ALL`].
    pub fn index(self) -> usize {
        match self {
            Self::Pcmu => 0,
            Self::Pcma => 1,
        }
    }

    /// The byte that encodes a zero sample (A-law decodes it as +8: it has no exact zero).
    pub fn silence(self) -> u8 {
        match self {
            Self::Pcmu => linear_to_ulaw(0),
            Self::Pcma => linear_to_alaw(0),
        }
    }

    /// Encodes one sample.
    pub fn encode_sample(self, sample: i16) -> u8 {
        match self {
            Self::Pcmu => linear_to_ulaw(sample),
            Self::Pcma => linear_to_alaw(sample),
        }
    }

    /// Decodes one byte.
    pub fn decode_sample(self, code: u8) -> i16 {
        match self {
            Self::Pcmu => ulaw_to_linear(code),
            Self::Pcma => alaw_to_linear(code),
        }
    }

    /// Encodes `min(pcm.len(), out.len())` samples of `pcm` into `out`.
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) {
        match self {
            Self::Pcmu => encode_ulaw(pcm, out),
            Self::Pcma => encode_alaw(pcm, out),
        }
    }

    /// Decodes `min(payload.len(), out.len())` bytes of `payload` into `out`.
    pub fn decode(self, payload: &[u8], out: &mut [i16]) {
        match self {
            Self::Pcmu => decode_ulaw(payload, out),
            Self::Pcma => decode_alaw(payload, out),
        }
    }

    /// How loud one encoded byte is, as its segment and step with the sign dropped:
    /// 0 is the quietest code, 127 the loudest. The order follows the magnitude of the decoded
    /// sample, so comparing codes compares amplitudes without decoding.
    pub fn magnitude_code(self, code: u8) -> u8 {
        match self {
            // Mu-law inverts all bits: 0x7F (after masking) is the smallest magnitude.
            Self::Pcmu => 0x7F - (code & 0x7F),
            Self::Pcma => (code ^ 0x55) & 0x7F,
        }
    }

    /// Whether any byte of `payload` has a [`magnitude_code`](Self::magnitude_code) of at least
    /// `code`. Scans in blocks and stops at the first loud block, so it is cheap both for a
    /// silent payload (a vectorised scan) and for speech (an early exit).
    pub fn reaches_magnitude_code(self, payload: &[u8], code: u8) -> bool {
        payload
            .chunks(32)
            .any(|block| self.peak_magnitude_code(block) >= code)
    }

    /// The largest [`magnitude_code`](Self::magnitude_code) in a payload (0 for an empty one).
    /// A cheap peak meter in the encoded domain, used to skip decoding silent participants.
    pub fn peak_magnitude_code(self, payload: &[u8]) -> u8 {
        match self {
            Self::Pcmu => 0x7F - payload.iter().fold(0x7F, |min, &b| min.min(b & 0x7F)),
            Self::Pcma => payload.iter().fold(0, |max, &b| max.max((b ^ 0x55) & 0x7F)),
        }
    }
}

/// Encodes one linear sample as mu-law.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    // The table is indexed by the 14-bit sample: drop the 2 low bits, shift to 0..16384.
    ULAW_ENCODE[((i32::from(sample) >> 2) + 8192) as usize]
}

/// Decodes one mu-law byte to a linear sample.
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_DECODE[usize::from(code)]
}

/// Encodes one linear sample as A-law.
pub fn linear_to_alaw(sample: i16) -> u8 {
    // Indexed by the 13-bit sample: drop the 3 low bits, shift to 0..8192.
    ALAW_ENCODE[((i32::from(sample) >> 3) + 4096) as usize]
}

/// Decodes one A-law byte to a linear sample.
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_DECODE[usize::from(code)]
}

/// Encodes `min(pcm.len(), out.len())` samples as mu-law.
pub fn encode_ulaw(pcm: &[i16], out: &mut [u8]) {
    for (o, &s) in out.iter_mut().zip(pcm) {
        *o = linear_to_ulaw(s);
    }
}

/// Decodes `min(payload.len(), out.len())` mu-law bytes.
pub fn decode_ulaw(payload: &[u8], out: &mut [i16]) {
    for (o, &c) in out.iter_mut().zip(payload) {
        *o = ulaw_to_linear(c);
    }
}

/// Encodes `min(pcm.len(), out.len())` samples as A-law.
pub fn encode_alaw(pcm: &[i16], out: &mut [u8]) {
    for (o, &s) in out.iter_mut().zip(pcm) {
        *o = linear_to_alaw(s);
    }
}

/// Decodes `min(payload.len(), out.len())` A-law bytes.
pub fn decode_alaw(payload: &[u8], out: &mut [i16]) {
    for (o, &c) in out.iter_mut().zip(payload) {
        *o = alaw_to_linear(c);
    }
}

static ULAW_ENCODE: [u8; 16384] = build_ulaw_encode();
static ALAW_ENCODE: [u8; 8192] = build_alaw_encode();
static ULAW_DECODE: [i16; 256] = build_ulaw_decode();
static ALAW_DECODE: [i16; 256] = build_alaw_decode();

/// Mu-law of a 14-bit sample (-8192..=8191).
const fn ulaw_from_14_bits(value: i32) -> u8 {
    // Magnitudes are clipped, then biased by 33 so that every segment starts at a power of two.
    let (magnitude, mask) = if value < 0 {
        (-value, 0x7F)
    } else {
        (value, 0xFF)
    };
    let magnitude = if magnitude > 8159 { 8159 } else { magnitude } + 33;
    let mut segment = 0;
    while segment < 8 && magnitude > (0x40 << segment) - 1 {
        segment += 1;
    }
    if segment >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let code = (segment << 4) | ((magnitude >> (segment + 1)) & 0xF);
    (code ^ mask) as u8
}

/// A-law of a 13-bit sample (-4096..=4095).
const fn alaw_from_13_bits(value: i32) -> u8 {
    // Negative values use the one's complement magnitude, so -1 and 0 share a step size.
    let (magnitude, mask) = if value >= 0 {
        (value, 0xD5)
    } else {
        (-value - 1, 0x55)
    };
    let mut segment = 0;
    while segment < 8 && magnitude > (0x20 << segment) - 1 {
        segment += 1;
    }
    if segment >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let step = if segment < 2 {
        magnitude >> 1
    } else {
        magnitude >> segment
    };
    let code = (segment << 4) | (step & 0xF);
    (code ^ mask) as u8
}

const fn build_ulaw_encode() -> [u8; 16384] {
    let mut table = [0u8; 16384];
    let mut i = 0;
    while i < 16384 {
        table[i] = ulaw_from_14_bits(i as i32 - 8192);
        i += 1;
    }
    table
}

const fn build_alaw_encode() -> [u8; 8192] {
    let mut table = [0u8; 8192];
    let mut i = 0;
    while i < 8192 {
        table[i] = alaw_from_13_bits(i as i32 - 4096);
        i += 1;
    }
    table
}

const fn build_ulaw_decode() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        let code = !(i as u8) as i32;
        let step = ((code & 0x0F) << 3) + 0x84;
        let magnitude = step << ((code & 0x70) >> 4);
        table[i] = if code & 0x80 != 0 {
            0x84 - magnitude
        } else {
            magnitude - 0x84
        } as i16;
        i += 1;
    }
    table
}

const fn build_alaw_decode() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        let code = (i as u8 ^ 0x55) as i32;
        let segment = (code & 0x70) >> 4;
        let step = (code & 0x0F) << 4;
        let magnitude = match segment {
            0 => step + 8,
            1 => step + 0x108,
            _ => (step + 0x108) << (segment - 1),
        };
        table[i] = if code & 0x80 != 0 {
            magnitude
        } else {
            -magnitude
        } as i16;
        i += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_round_trips_to_zero() {
        // A-law has no code for zero: its quietest codes decode to +-8.
        assert_eq!(Codec::Pcmu.decode_sample(Codec::Pcmu.silence()), 0);
        assert_eq!(Codec::Pcma.decode_sample(Codec::Pcma.silence()), 8);
        assert_eq!(Codec::Pcmu.silence(), 0xFF);
        assert_eq!(Codec::Pcma.silence(), 0xD5);
    }

    #[test]
    fn payload_types_are_the_static_ones() {
        assert_eq!(Codec::Pcmu.payload_type().get(), 0);
        assert_eq!(Codec::Pcma.payload_type().get(), 8);
        for codec in Codec::ALL {
            assert_eq!(Codec::from_payload_type(codec.payload_type()), Some(codec));
        }
    }

    #[test]
    fn round_trip_error_is_within_one_step() {
        // The quantisation step doubles per segment; the error stays under 1/16 of the value
        // plus the smallest step.
        for codec in Codec::ALL {
            for sample in (-32768i32..=32767).step_by(37) {
                let back = i32::from(codec.decode_sample(codec.encode_sample(sample as i16)));
                let tolerance = sample.abs() / 16 + 16;
                assert!(
                    (back - sample).abs() <= tolerance,
                    "{codec:?} {sample} -> {back}"
                );
            }
        }
    }

    #[test]
    fn magnitude_code_is_monotonic_in_amplitude() {
        for codec in Codec::ALL {
            let mut by_code: Vec<(u8, i32)> = (0..=255u8)
                .map(|c| {
                    (
                        codec.magnitude_code(c),
                        i32::from(codec.decode_sample(c)).abs(),
                    )
                })
                .collect();
            by_code.sort_unstable();
            for pair in by_code.windows(2) {
                assert!(pair[0].1 <= pair[1].1, "{codec:?} {pair:?}");
            }
        }
    }

    #[test]
    fn peak_magnitude_code_finds_the_loudest_sample() {
        for codec in Codec::ALL {
            let mut pcm = [0i16; 160];
            pcm[77] = -9000;
            pcm[3] = 500;
            let mut payload = [0u8; 160];
            codec.encode(&pcm, &mut payload);
            let expected = codec.magnitude_code(codec.encode_sample(-9000));
            assert_eq!(codec.peak_magnitude_code(&payload), expected);
            assert_eq!(codec.peak_magnitude_code(&[codec.silence(); 160]), 0);
            assert_eq!(codec.peak_magnitude_code(&[]), 0);
            assert!(codec.reaches_magnitude_code(&payload, expected));
            assert!(!codec.reaches_magnitude_code(&payload, expected + 1));
            assert!(!codec.reaches_magnitude_code(&[], 0));
        }
    }

    #[test]
    fn slice_functions_stop_at_the_shorter_side() {
        let pcm = [1000i16, -1000, 0];
        let mut out = [0u8; 2];
        Codec::Pcmu.encode(&pcm, &mut out);
        assert_eq!(out, [linear_to_ulaw(1000), linear_to_ulaw(-1000)]);
        let mut back = [7i16; 4];
        Codec::Pcma.decode(&[0xD5], &mut back);
        assert_eq!(back, [8, 7, 7, 7]);
    }
}
