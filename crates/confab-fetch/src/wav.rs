//! The minimal WAV reader the TTS engines need.
//!
//! The engines write RIFF/WAVE with one `fmt ` chunk of 16-bit PCM and one
//! `data` chunk. espeak-ng writing to a pipe cannot seek back to fill in the
//! sizes and leaves placeholders (`0x7ffff000`), so a `data` size that runs
//! past the end of the file means "until the end". Anything but 16-bit PCM
//! is refused; several channels are mixed down to one.

/// Parses `wav` into its sample rate and mono samples.
pub(crate) fn parse(wav: &[u8]) -> Result<(u32, Vec<i16>), &'static str> {
    if wav.len() < 12 || &wav[0..4] != b"RIFF" || &wav[8..12] != b"WAVE" {
        return Err("not RIFF/WAVE");
    }
    let mut format: Option<(u16, u32)> = None;
    let mut rest = &wav[12..];
    while rest.len() >= 8 {
        let id = &rest[0..4];
        let declared = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        let body = &rest[8..];
        let size = declared.min(body.len());
        match id {
            b"fmt " => format = Some(parse_format(&body[..size])?),
            b"data" => {
                let (channels, rate) = format.ok_or("data before fmt")?;
                return Ok((rate, samples(&body[..size], channels)));
            }
            _ => {}
        }
        // Chunks are padded to an even size.
        let next = size + (size & 1);
        rest = body.get(next..).unwrap_or_default();
    }
    Err("no data chunk")
}

/// Channels and rate of a `fmt ` chunk of 16-bit PCM.
fn parse_format(fmt: &[u8]) -> Result<(u16, u32), &'static str> {
    if fmt.len() < 16 {
        return Err("short fmt chunk");
    }
    let tag = u16::from_le_bytes([fmt[0], fmt[1]]);
    let channels = u16::from_le_bytes([fmt[2], fmt[3]]);
    let rate = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
    let bits = u16::from_le_bytes([fmt[14], fmt[15]]);
    // 1 = PCM, 0xfffe = WAVE_FORMAT_EXTENSIBLE (PCM in practice for these engines).
    if !(tag == 1 || tag == 0xfffe) || bits != 16 {
        return Err("not 16-bit PCM");
    }
    if channels == 0 || rate == 0 {
        return Err("no channels or no rate");
    }
    Ok((channels, rate))
}

fn samples(data: &[u8], channels: u16) -> Vec<i16> {
    let frame = 2 * usize::from(channels);
    data.chunks_exact(frame)
        .map(|f| {
            let sum: i32 = f
                .chunks_exact(2)
                .map(|s| i32::from(i16::from_le_bytes([s[0], s[1]])))
                .sum();
            (sum / i32::from(channels)) as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(channels: u16, rate: u32, data_size: u32, samples: &[i16]) -> Vec<u8> {
        let mut w = b"RIFF\0\0\0\0WAVE".to_vec();
        w.extend_from_slice(b"LIST\x03\0\0\0abc\0");
        w.extend_from_slice(b"fmt \x10\0\0\0");
        w.extend_from_slice(&1u16.to_le_bytes());
        w.extend_from_slice(&channels.to_le_bytes());
        w.extend_from_slice(&rate.to_le_bytes());
        w.extend_from_slice(&(rate * 2 * u32::from(channels)).to_le_bytes());
        w.extend_from_slice(&(2 * channels).to_le_bytes());
        w.extend_from_slice(&16u16.to_le_bytes());
        w.extend_from_slice(b"data");
        w.extend_from_slice(&data_size.to_le_bytes());
        for s in samples {
            w.extend_from_slice(&s.to_le_bytes());
        }
        w
    }

    #[test]
    fn mono_pcm_with_an_odd_chunk_before_fmt() {
        assert_eq!(
            parse(&wav(1, 8000, 6, &[1, -2, 3])),
            Ok((8000, vec![1, -2, 3]))
        );
    }

    #[test]
    fn placeholder_size_means_until_the_end() {
        let w = wav(1, 22050, 0x7fff_f000, &[5, 6]);
        assert_eq!(parse(&w), Ok((22050, vec![5, 6])));
    }

    #[test]
    fn stereo_is_mixed_down() {
        assert_eq!(
            parse(&wav(2, 16000, 8, &[10, 20, -4, -6])),
            Ok((16000, vec![15, -5]))
        );
    }

    #[test]
    fn garbage_is_refused() {
        assert!(parse(b"").is_err());
        assert!(parse(b"RIFF\0\0\0\0WAVE").is_err());
        assert!(parse(b"RIFF\0\0\0\0WAVEdata\x02\0\0\0\0\0").is_err());
    }
}
