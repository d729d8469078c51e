//! Twilio's `<Say>` voices and languages, mapped to local engine voices.
//!
//! Twilio's `voice` is `man`, `woman`, `alice`, `Polly.<Name>[-Neural]` or
//! `Google.<lang>-<model>-<letter>`; `language` is a BCP 47 tag such as
//! `en-US`. A Polly or Google voice also implies its language, which then wins
//! over the `language` attribute. What matters locally is the language and
//! whether the voice is a woman's: flite speaks English only (`kal` for men,
//! `slt` for women), espeak-ng speaks most languages (`+f3` makes a woman's
//! variant). Anything that cannot be honoured falls back to English or to the
//! default voice, with warning 13511.

use crate::tts::TtsWarning;

/// The engine voice chosen for a Twilio voice and language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VoiceChoice {
    /// The engine's voice argument (`kal`, `slt`, `en-us+f3`, ...).
    pub(crate) voice: String,
    /// Set when something asked for was substituted.
    pub(crate) warning: Option<TtsWarning>,
}

/// flite: English only; `kal` (8 kHz) for men, `slt` (16 kHz) for women.
pub(crate) fn flite(voice: &str, language: &str) -> VoiceChoice {
    let wanted = Wanted::of(voice, language);
    let voice = if wanted.female { "slt" } else { "kal" };
    let mut warning = wanted.warning;
    if !wanted.language.starts_with("en") && warning.is_none() {
        warning = Some(substituted(format!(
            "language {} is not available; speaking English",
            wanted.language
        )));
    }
    VoiceChoice {
        voice: voice.to_owned(),
        warning,
    }
}

/// espeak-ng: the language's voice, `+f3` for women.
pub(crate) fn espeak(voice: &str, language: &str) -> VoiceChoice {
    let wanted = Wanted::of(voice, language);
    let mut warning = wanted.warning;
    let tag = wanted.language.as_str();
    let primary = tag.split('-').next().unwrap_or(tag);
    let espeak_voice = ESPEAK_ALIASES
        .iter()
        .find(|(twilio, _)| *twilio == tag)
        .map(|(_, espeak)| *espeak)
        .or_else(|| ESPEAK_LANGUAGES.iter().copied().find(|l| *l == tag))
        .or_else(|| ESPEAK_LANGUAGES.iter().copied().find(|l| *l == primary))
        .unwrap_or_else(|| {
            warning.get_or_insert_with(|| {
                substituted(format!("language {tag} is not available; speaking English"))
            });
            "en-us"
        });
    let suffix = if wanted.female { "+f3" } else { "" };
    VoiceChoice {
        voice: format!("{espeak_voice}{suffix}"),
        warning,
    }
}

/// What the Twilio attributes ask for.
struct Wanted {
    /// Lower-case BCP 47 tag.
    language: String,
    female: bool,
    warning: Option<TtsWarning>,
}

impl Wanted {
    fn of(voice: &str, language: &str) -> Wanted {
        let mut language = language.trim().to_ascii_lowercase();
        if language.is_empty() {
            language = "en-us".to_owned();
        }
        let (female, implied, warning) = match voice.trim() {
            "" | "man" => (false, None, None),
            "woman" | "alice" => (true, None, None),
            v if v.starts_with("Polly.") => polly(&v["Polly.".len()..]),
            v if v.starts_with("Google.") => google(&v["Google.".len()..]),
            other => (
                false,
                None,
                Some(substituted(format!(
                    "voice {other} is not available; using man"
                ))),
            ),
        };
        Wanted {
            language: implied.unwrap_or(language),
            female,
            warning,
        }
    }
}

/// A Polly voice: its gender and language from the table, if known.
fn polly(name: &str) -> (bool, Option<String>, Option<TtsWarning>) {
    let base = name.split('-').next().unwrap_or(name);
    match POLLY.iter().find(|(n, _, _)| n.eq_ignore_ascii_case(base)) {
        Some((_, female, language)) => (*female, Some((*language).to_owned()), None),
        None => (
            true,
            None,
            Some(substituted(format!(
                "voice Polly.{name} is not known; using a woman's voice"
            ))),
        ),
    }
}

/// A Google voice, `en-US-Standard-C`: the language is its first two parts.
/// Its gender is not in the name; a woman's voice is the guess.
fn google(name: &str) -> (bool, Option<String>, Option<TtsWarning>) {
    let mut parts = name.split('-');
    match (parts.next(), parts.next()) {
        (Some(lang), Some(region)) if !lang.is_empty() && !region.is_empty() => (
            true,
            Some(format!("{lang}-{region}").to_ascii_lowercase()),
            None,
        ),
        _ => (true, None, None),
    }
}

fn substituted(message: String) -> TtsWarning {
    TtsWarning {
        code: SAY_INVALID_VOICE,
        message,
    }
}

/// Twilio's warning for a `<Say>` voice or language it cannot honour.
const SAY_INVALID_VOICE: u32 = 13511;

/// Common Polly voices: name, woman's voice, language.
const POLLY: &[(&str, bool, &str)] = &[
    ("Joanna", true, "en-us"),
    ("Salli", true, "en-us"),
    ("Kimberly", true, "en-us"),
    ("Kendra", true, "en-us"),
    ("Ivy", true, "en-us"),
    ("Ruth", true, "en-us"),
    ("Danielle", true, "en-us"),
    ("Matthew", false, "en-us"),
    ("Joey", false, "en-us"),
    ("Justin", false, "en-us"),
    ("Kevin", false, "en-us"),
    ("Stephen", false, "en-us"),
    ("Gregory", false, "en-us"),
    ("Amy", true, "en-gb"),
    ("Emma", true, "en-gb"),
    ("Brian", false, "en-gb"),
    ("Arthur", false, "en-gb"),
    ("Nicole", true, "en-au"),
    ("Olivia", true, "en-au"),
    ("Russell", false, "en-au"),
    ("Raveena", true, "en-in"),
    ("Aditi", true, "en-in"),
    ("Geraint", false, "en-gb"),
    ("Celine", true, "fr-fr"),
    ("Lea", true, "fr-fr"),
    ("Mathieu", false, "fr-fr"),
    ("Chantal", true, "fr-ca"),
    ("Marlene", true, "de-de"),
    ("Vicki", true, "de-de"),
    ("Hans", false, "de-de"),
    ("Daniel", false, "de-de"),
    ("Conchita", true, "es-es"),
    ("Lucia", true, "es-es"),
    ("Enrique", false, "es-es"),
    ("Sergio", false, "es-es"),
    ("Mia", true, "es-mx"),
    ("Lupe", true, "es-us"),
    ("Penelope", true, "es-us"),
    ("Miguel", false, "es-us"),
    ("Carla", true, "it-it"),
    ("Bianca", true, "it-it"),
    ("Giorgio", false, "it-it"),
    ("Camila", true, "pt-br"),
    ("Vitoria", true, "pt-br"),
    ("Ricardo", false, "pt-br"),
    ("Ines", true, "pt-pt"),
    ("Cristiano", false, "pt-pt"),
    ("Lotte", true, "nl-nl"),
    ("Ruben", false, "nl-nl"),
    ("Mizuki", true, "ja-jp"),
    ("Takumi", false, "ja-jp"),
    ("Zhiyu", true, "cmn-cn"),
    ("Seoyeon", true, "ko-kr"),
    ("Tatyana", true, "ru-ru"),
    ("Maxim", false, "ru-ru"),
    ("Astrid", true, "sv-se"),
    ("Naja", true, "da-dk"),
    ("Mads", false, "da-dk"),
    ("Liv", true, "nb-no"),
    ("Ewa", true, "pl-pl"),
    ("Maja", true, "pl-pl"),
    ("Jacek", false, "pl-pl"),
    ("Jan", false, "pl-pl"),
    ("Filiz", true, "tr-tr"),
    ("Zeina", true, "arb"),
];

/// Twilio tags whose espeak-ng voice is not their own tag or primary subtag.
const ESPEAK_ALIASES: &[(&str, &str)] = &[
    ("en-au", "en-gb"),
    ("en-in", "en-gb"),
    ("en-ca", "en-us"),
    ("fr-ca", "fr-fr"),
    ("es-mx", "es-419"),
    ("es-us", "es-419"),
    ("zh-cn", "cmn"),
    ("zh-tw", "cmn"),
    ("cmn-cn", "cmn"),
    ("zh-hk", "yue"),
    ("arb", "ar"),
];

/// espeak-ng 1.51's language voices (`espeak-ng --voices`), the ones a
/// Twilio tag can name.
const ESPEAK_LANGUAGES: &[&str] = &[
    "af", "ar", "bg", "bn", "ca", "cmn", "cs", "cy", "da", "de", "el", "en-gb", "en-us", "es",
    "es-419", "et", "eu", "fa", "fi", "fr-be", "fr-ch", "fr-fr", "ga", "gu", "he", "hi", "hr",
    "hu", "hy", "id", "is", "it", "ja", "ka", "kn", "ko", "lt", "lv", "mk", "ml", "mr", "ms", "nb",
    "nl", "pa", "pl", "pt", "pt-br", "ro", "ru", "sk", "sl", "sq", "sr", "sv", "sw", "ta", "te",
    "th", "tr", "uk", "ur", "vi", "yue",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flite_voices() {
        let pick = |v: &str, l: &str| {
            let c = flite(v, l);
            (c.voice, c.warning.map(|w| w.code))
        };
        assert_eq!(pick("man", "en-US"), ("kal".into(), None));
        assert_eq!(pick("woman", "en-GB"), ("slt".into(), None));
        assert_eq!(pick("alice", "en-US"), ("slt".into(), None));
        assert_eq!(pick("Polly.Matthew-Neural", "en-US"), ("kal".into(), None));
        assert_eq!(pick("Polly.Joanna", "en-US"), ("slt".into(), None));
        assert_eq!(pick("man", "fr-FR"), ("kal".into(), Some(13511)));
        assert_eq!(pick("Polly.Celine", "en-US"), ("slt".into(), Some(13511)));
        assert_eq!(pick("robot", "en-US"), ("kal".into(), Some(13511)));
    }

    #[test]
    fn espeak_voices() {
        let pick = |v: &str, l: &str| {
            let c = espeak(v, l);
            (c.voice, c.warning.map(|w| w.code))
        };
        assert_eq!(pick("man", "en-US"), ("en-us".into(), None));
        assert_eq!(pick("woman", "en-GB"), ("en-gb+f3".into(), None));
        assert_eq!(pick("man", "fr-FR"), ("fr-fr".into(), None));
        assert_eq!(pick("man", "de-DE"), ("de".into(), None));
        assert_eq!(pick("alice", "es-ES"), ("es+f3".into(), None));
        assert_eq!(pick("man", "es-MX"), ("es-419".into(), None));
        assert_eq!(pick("Polly.Hans", "en-US"), ("de".into(), None));
        assert_eq!(
            pick("Google.ja-JP-Standard-A", "en-US"),
            ("ja+f3".into(), None)
        );
        assert_eq!(pick("man", "xx-YY"), ("en-us".into(), Some(13511)));
        assert_eq!(pick("man", ""), ("en-us".into(), None));
    }
}
