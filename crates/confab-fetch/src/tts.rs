//! Text to speech for `<Say>`, with a local engine.
//!
//! Twilio speaks with Amazon Polly and Google voices; confab speaks with what
//! runs offline on the machine: CMU `flite` (preferred: its `kal` voice is
//! 8 kHz 16-bit mono, telephone quality with no resampling; `slt` is a
//! 16 kHz female voice) or `espeak-ng` (22 050 Hz, many languages). Twilio's
//! voice names (`man`, `woman`, `alice`, `Polly.Joanna`, `Google.en-US-...`)
//! and language tags are mapped to the nearest voice the engine has; when
//! the engine cannot speak the language, English is used and warning 13511 is
//! reported, as Twilio does for a voice/language it cannot honour.
//!
//! The engine runs as a child process (tokio's, so no worker thread blocks),
//! with the text as one argument (never through a shell), the WAV on its
//! stdout, a timeout and a bound on the output. SSML is the interpreter's
//! business: it hands over plain text segments. The WAV is parsed here into
//! samples and a rate; resampling to 8 kHz happens in confab-media. espeak-ng
//! writing to a pipe cannot seek back to fill in the WAV sizes and leaves
//! placeholders (`0x7ffff000`), so a `data` size past the end of the output
//! means "until the end" (no temporary file needed).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt as _;

/// A text-to-speech engine found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tts {
    /// Which program it is.
    engine: TtsEngine,
    /// Its path.
    program: PathBuf,
    /// Longest time one synthesis may take.
    timeout: Duration,
}

/// The engines confab knows how to drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtsEngine {
    /// CMU flite.
    Flite,
    /// eSpeak NG.
    EspeakNg,
}

/// Synthesized speech: 16-bit mono PCM at the engine's rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TtsAudio {
    /// Samples per second (8000 for flite `kal`, 16000 for `slt`, 22050 for espeak-ng).
    pub sample_rate: u32,
    /// The samples.
    pub samples: Vec<i16>,
    /// Voice or language substitutions made (code 13511), for the debugger log.
    pub warnings: Vec<TtsWarning>,
}

/// A substitution made because the engine lacks the voice or language asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TtsWarning {
    /// Twilio's code: 13511.
    pub code: u32,
    /// What was substituted.
    pub message: String,
}

/// Why speech could not be synthesized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TtsError {
    /// The engine could not be started (missing or not executable).
    #[error("cannot run {program}: {reason}")]
    Spawn {
        /// The program's path.
        program: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The engine ran longer than the timeout and was killed.
    #[error("text to speech took longer than {0:?}")]
    Timeout(Duration),
    /// The engine exited with an error.
    #[error("text to speech failed ({status}): {stderr}")]
    Failed {
        /// The exit status.
        status: String,
        /// The start of what it wrote to stderr.
        stderr: String,
    },
    /// The engine's output was larger than allowed.
    #[error("text to speech produced more than {0} bytes")]
    TooLong(usize),
    /// The text is longer than allowed.
    #[error("text of {0} bytes is too long to speak")]
    TextTooLong(usize),
    /// The engine's output was not a WAV file of 16-bit mono PCM.
    #[error("text to speech produced no usable WAV: {0}")]
    BadWav(&'static str),
}

impl Tts {
    /// Finds `flite` (preferred) or `espeak-ng` on `PATH`.
    ///
    /// Reads the file system: call it once at start-up, not on a hot path.
    pub fn detect() -> Option<Tts> {
        let path = std::env::var_os("PATH")?;
        for engine in [TtsEngine::Flite, TtsEngine::EspeakNg] {
            let name = match engine {
                TtsEngine::Flite => "flite",
                TtsEngine::EspeakNg => "espeak-ng",
            };
            let found = std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .find(|candidate| is_executable(candidate));
            if let Some(program) = found {
                return Some(Tts::with_program(engine, program));
            }
        }
        None
    }

    /// The engine `engine` at `program`, with the default timeout.
    pub fn with_program(engine: TtsEngine, program: impl Into<PathBuf>) -> Tts {
        Tts {
            engine,
            program: program.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// This engine with another synthesis timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Tts {
        self.timeout = timeout;
        self
    }

    /// Which engine this is.
    pub fn engine(&self) -> TtsEngine {
        self.engine
    }

    /// Speaks plain `text` with the engine voice nearest to Twilio's `voice`
    /// and `language`.
    pub async fn synthesize(
        &self,
        text: &str,
        voice: &str,
        language: &str,
    ) -> Result<TtsAudio, TtsError> {
        if text.len() > MAX_TEXT {
            return Err(TtsError::TextTooLong(text.len()));
        }
        let choice = match self.engine {
            TtsEngine::Flite => crate::voices::flite(voice, language),
            TtsEngine::EspeakNg => crate::voices::espeak(voice, language),
        };
        let mut command = tokio::process::Command::new(&self.program);
        match self.engine {
            // `-t` takes the next argument as the text, even if it starts with '-'.
            TtsEngine::Flite => command
                .args(["-voice", choice.voice.as_str(), "-o", "/dev/stdout", "-t"])
                .arg(text),
            // espeak-ng's placeholder sizes on stdout are tolerated by parse_wav.
            TtsEngine::EspeakNg => command
                .args(["-v", choice.voice.as_str(), "--stdout", "--"])
                .arg(text),
        };
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let wav = self.run(command).await?;
        let (sample_rate, samples) = parse_wav(&wav).map_err(TtsError::BadWav)?;
        Ok(TtsAudio {
            sample_rate,
            samples,
            warnings: choice.warning.into_iter().collect(),
        })
    }

    /// Runs the engine and returns its stdout, bounded in time and size.
    async fn run(&self, mut command: tokio::process::Command) -> Result<Vec<u8>, TtsError> {
        let mut child = command.spawn().map_err(|e| TtsError::Spawn {
            program: self.program.display().to_string(),
            reason: e.to_string(),
        })?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(TtsError::BadWav("no output pipe"));
        };
        let work = async {
            let mut out = Vec::new();
            let mut err = Vec::new();
            let mut stdout = stdout.take(MAX_OUTPUT as u64 + 1);
            let (read_out, ()) =
                tokio::join!(stdout.read_to_end(&mut out), drain(stderr, &mut err));
            if out.len() > MAX_OUTPUT {
                // Do not wait for an engine that still writes; dropping the child kills it.
                return Err(TtsError::TooLong(MAX_OUTPUT));
            }
            Ok((read_out, child.wait().await, out, err))
        };
        // On timeout the child is dropped on return, and kill_on_drop ends it.
        let (read_out, status, out, err) = tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| TtsError::Timeout(self.timeout))??;
        let failed = |status: String| TtsError::Failed {
            status,
            stderr: String::from_utf8_lossy(&err).trim().to_owned(),
        };
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => return Err(failed(s.to_string())),
            Err(e) => return Err(failed(e.to_string())),
        }
        read_out.map_err(|e| failed(e.to_string()))?;
        Ok(out)
    }
}

/// Reads `stderr` to its end (so the engine never blocks on it) and keeps
/// the first 4 kB.
async fn drain(mut stderr: tokio::process::ChildStderr, kept: &mut Vec<u8>) {
    let mut buf = [0u8; 1024];
    while let Ok(n @ 1..) = stderr.read(&mut buf).await {
        let room = 4096usize.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Parses `wav` into its sample rate and mono samples.
fn parse_wav(wav: &[u8]) -> Result<(u32, Vec<i16>), &'static str> {
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

/// Default for [`Tts::with_timeout`].
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest text spoken at once (Twilio's `<Say>` takes at most 4096 characters).
const MAX_TEXT: usize = 16 * 1024;
/// Largest WAV accepted from the engine: 10 minutes at 22 050 Hz, 16-bit.
const MAX_OUTPUT: usize = 22_050 * 2 * 600;

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
            parse_wav(&wav(1, 8000, 6, &[1, -2, 3])),
            Ok((8000, vec![1, -2, 3]))
        );
    }

    #[test]
    fn placeholder_size_means_until_the_end() {
        let w = wav(1, 22050, 0x7fff_f000, &[5, 6]);
        assert_eq!(parse_wav(&w), Ok((22050, vec![5, 6])));
    }

    #[test]
    fn stereo_is_mixed_down() {
        assert_eq!(
            parse_wav(&wav(2, 16000, 8, &[10, 20, -4, -6])),
            Ok((16000, vec![15, -5]))
        );
    }

    #[test]
    fn garbage_is_refused() {
        assert!(parse_wav(b"").is_err());
        assert!(parse_wav(b"RIFF\0\0\0\0WAVE").is_err());
        assert!(parse_wav(b"RIFF\0\0\0\0WAVEdata\x02\0\0\0\0\0").is_err());
    }
}
