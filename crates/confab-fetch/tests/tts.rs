//! Text to speech with the engines `scripts/install-test-deps.sh` installs
//! (flite and espeak-ng; `scripts/test.sh` runs the installer first).

use std::time::Duration;

use confab_fetch::{Tts, TtsAudio, TtsEngine, TtsError};

const SENTENCE: &str = "Please hold while we connect you to the conference.";

fn flite() -> Tts {
    let tts =
        Tts::detect().expect("no TTS engine on PATH: run `bash scripts/install-test-deps.sh`");
    assert_eq!(
        tts.engine(),
        TtsEngine::Flite,
        "flite is installed by scripts/install-test-deps.sh"
    );
    tts
}

fn seconds(audio: &TtsAudio) -> f64 {
    audio.samples.len() as f64 / f64::from(audio.sample_rate)
}

fn rms(audio: &TtsAudio) -> f64 {
    let sum: f64 = audio.samples.iter().map(|s| f64::from(*s).powi(2)).sum();
    (sum / audio.samples.len().max(1) as f64).sqrt()
}

#[tokio::test]
async fn flite_speaks_a_sentence_at_8_khz_for_men() {
    let audio = flite().synthesize(SENTENCE, "man", "en-US").await.unwrap();
    assert_eq!(audio.sample_rate, 8000);
    let duration = seconds(&audio);
    assert!((1.5..8.0).contains(&duration), "{duration} s");
    assert!(rms(&audio) > 300.0, "not silent: rms {}", rms(&audio));
    assert!(audio.warnings.is_empty());
}

#[tokio::test]
async fn flite_women_voices_are_16_khz_and_other_languages_fall_back_to_english() {
    let tts = flite();
    let woman = tts
        .synthesize("Welcome.", "Polly.Joanna-Neural", "en-US")
        .await
        .unwrap();
    assert_eq!(woman.sample_rate, 16000);
    assert!(rms(&woman) > 300.0);
    let french = tts.synthesize("Bonjour", "man", "fr-FR").await.unwrap();
    assert_eq!(
        french.warnings.iter().map(|w| w.code).collect::<Vec<_>>(),
        vec![13511]
    );
    assert!(!french.samples.is_empty());
}

#[tokio::test]
async fn text_is_an_argument_never_an_option_or_a_shell_word() {
    let audio = flite()
        .synthesize(
            "-voice awb; $(touch /tmp/confab-pwned) `id`",
            "man",
            "en-US",
        )
        .await
        .unwrap();
    assert_eq!(audio.sample_rate, 8000, "the text did not change the voice");
    assert!(!std::path::Path::new("/tmp/confab-pwned").exists());
}

#[tokio::test]
async fn espeak_ng_speaks_other_languages() {
    let tts = Tts::with_program(TtsEngine::EspeakNg, "/usr/bin/espeak-ng");
    let audio = tts
        .synthesize("Bonjour, veuillez patienter.", "woman", "fr-FR")
        .await
        .unwrap();
    assert_eq!(audio.sample_rate, 22050);
    assert!(
        (0.8..6.0).contains(&seconds(&audio)),
        "{} s",
        seconds(&audio)
    );
    assert!(rms(&audio) > 300.0);
    assert!(audio.warnings.is_empty());
}

#[tokio::test]
async fn a_missing_engine_fails_cleanly() {
    let tts = Tts::with_program(TtsEngine::Flite, "/nonexistent/flite");
    let err = tts.synthesize("Hello", "man", "en-US").await.unwrap_err();
    assert!(matches!(err, TtsError::Spawn { .. }), "{err}");
    // An engine that is not a TTS at all: exits with an error or writes no WAV.
    let tts = Tts::with_program(TtsEngine::Flite, "/bin/false");
    let err = tts.synthesize("Hello", "man", "en-US").await.unwrap_err();
    assert!(matches!(err, TtsError::Failed { .. }), "{err}");
    let tts = Tts::with_program(TtsEngine::EspeakNg, "/bin/echo");
    let err = tts.synthesize("Hello", "man", "en-US").await.unwrap_err();
    assert!(matches!(err, TtsError::BadWav(_)), "{err}");
}

#[tokio::test]
async fn a_hanging_engine_times_out() {
    // A script that ignores the engine's arguments and never answers.
    let dir = std::env::temp_dir().join(format!("confab-tts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("hang.sh");
    std::fs::write(&script, "#!/bin/sh\nexec sleep 30\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let tts = Tts::with_program(TtsEngine::Flite, &script).with_timeout(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let err = tts.synthesize("Hello", "man", "en-US").await.unwrap_err();
    assert_eq!(err, TtsError::Timeout(Duration::from_millis(300)));
    assert!(started.elapsed() < Duration::from_secs(5));
    std::fs::remove_dir_all(&dir).unwrap();
}
