//! Incoming phone numbers: how a call from outside reaches an account.
//!
//! A [`PhoneNumber`] is the entity of Twilio's `IncomingPhoneNumbers` resource. It names one
//! E.164 number, belongs to exactly one account, and says what confab does when that number is
//! called: request `voice_url` with `voice_method` for TwiML, fall back to
//! `voice_fallback_url` when that fails, and report call progress to `status_callback`.
//!
//! confab does not buy numbers from a carrier: a number is whatever the account says it owns,
//! and an inbound SIP INVITE whose Request-URI user is that number (with or without `+`) is a
//! call to it. So the only check is the shape: [`E164`] is `+` and 3 to 15 digits, the first
//! not a zero.

use std::fmt;

use crate::call::Instructions;
use crate::model::HttpMethod;
use crate::sid::{AccountSid, PhoneNumberSid};
use crate::time::Timestamp;

/// Digits an E.164 number has at least (a country code and a short subscriber number).
pub const MIN_DIGITS: usize = 3;
/// Digits an E.164 number has at most (ITU-T E.164, section 6).
pub const MAX_DIGITS: usize = 15;

/// A phone number in E.164 form: `+` and 3 to 15 digits, the first not `0`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164(String);

impl E164 {
    /// Accepts `+15550100199` or `15550100199` (surrounding white space ignored) and keeps it
    /// with its `+`. Separators such as spaces, dashes or parentheses are refused: a number
    /// written nationally would otherwise be read with the wrong country code.
    pub fn parse(s: &str) -> Option<E164> {
        let s = s.trim();
        let digits = s.strip_prefix('+').unwrap_or(s);
        let shaped = (MIN_DIGITS..=MAX_DIGITS).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        shaped.then(|| E164(format!("+{digits}")))
    }

    /// Wraps a value read back from our own database.
    pub fn from_stored(s: String) -> E164 {
        E164(s)
    }

    /// The number with its `+`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without the `+`.
    pub fn digits(&self) -> &str {
        self.0.strip_prefix('+').unwrap_or(&self.0)
    }

    /// Whether this is a North American Numbering Plan number (`+1` and ten digits).
    pub fn is_nanp(&self) -> bool {
        self.digits().len() == 11 && self.digits().starts_with('1')
    }

    /// How Twilio names a number by default: `(555) 010-0199` for a NANP number, the E.164
    /// text for any other.
    pub fn national_format(&self) -> String {
        if !self.is_nanp() {
            return self.0.clone();
        }
        let d = &self.digits()[1..];
        format!("({}) {}-{}", &d[..3], &d[3..6], &d[6..])
    }

    /// Twilio's `type` of the number: `tollfree` for the NANP toll-free area codes, `local`
    /// for every other number (confab cannot tell mobile numbers apart).
    pub fn number_type(&self) -> &'static str {
        const TOLL_FREE: [&str; 7] = ["800", "833", "844", "855", "866", "877", "888"];
        if self.is_nanp() && TOLL_FREE.contains(&&self.digits()[1..4]) {
            "tollfree"
        } else {
            "local"
        }
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber {
    /// The number's SID.
    pub sid: PhoneNumberSid,
    /// The one account calls to this number belong to.
    pub account_sid: AccountSid,
    /// The number, unique across all accounts.
    pub phone_number: E164,
    /// A name for people; defaults to [`E164::national_format`].
    pub friendly_name: String,
    /// Requested for TwiML when the number is called; `None`: the call is refused.
    pub voice_url: Option<String>,
    /// Method for `voice_url`.
    pub voice_method: HttpMethod,
    /// Requested when `voice_url` fails or returns something that is not TwiML.
    pub voice_fallback_url: Option<String>,
    /// Method for `voice_fallback_url`.
    pub voice_fallback_method: HttpMethod,
    /// Call progress webhook of the calls to this number.
    pub status_callback: Option<String>,
    /// Method for `status_callback`.
    pub status_callback_method: HttpMethod,
    /// Creation time.
    pub date_created: Timestamp,
    /// Last change.
    pub date_updated: Timestamp,
}

/// The settings of a number a create or update request may set; `None` leaves one as it is.
/// A URL of `Some("")` clears it, as on Twilio.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhoneNumberSettings {
    /// New `FriendlyName`.
    pub friendly_name: Option<String>,
    /// New `VoiceUrl` (`""` clears it).
    pub voice_url: Option<String>,
    /// New `VoiceMethod`.
    pub voice_method: Option<HttpMethod>,
    /// New `VoiceFallbackUrl` (`""` clears it).
    pub voice_fallback_url: Option<String>,
    /// New `VoiceFallbackMethod`.
    pub voice_fallback_method: Option<HttpMethod>,
    /// New `StatusCallback` (`""` clears it).
    pub status_callback: Option<String>,
    /// New `StatusCallbackMethod`.
    pub status_callback_method: Option<HttpMethod>,
}

impl PhoneNumber {
    /// A new number of `account` with Twilio's defaults: no URLs, every method `POST`, the
    /// national format as its name.
    pub fn new(
        sid: PhoneNumberSid,
        account_sid: AccountSid,
        phone_number: E164,
        now: Timestamp,
    ) -> PhoneNumber {
        PhoneNumber {
            sid,
            account_sid,
            friendly_name: phone_number.national_format(),
            phone_number,
            voice_url: None,
            voice_method: HttpMethod::Post,
            voice_fallback_url: None,
            voice_fallback_method: HttpMethod::Post,
            status_callback: None,
            status_callback_method: HttpMethod::Post,
            date_created: now,
            date_updated: now,
        }
    }

    /// Applies the settings a request gave; `date_updated` becomes `now`.
    pub fn apply(&mut self, settings: &PhoneNumberSettings, now: Timestamp) {
        let url = |new: &Option<String>, old: &mut Option<String>| {
            if let Some(new) = new {
                *old = (!new.is_empty()).then(|| new.clone());
            }
        };
        if let Some(name) = &settings.friendly_name {
            self.friendly_name = if name.is_empty() {
                self.phone_number.national_format()
            } else {
                name.clone()
            };
        }
        url(&settings.voice_url, &mut self.voice_url);
        url(&settings.voice_fallback_url, &mut self.voice_fallback_url);
        url(&settings.status_callback, &mut self.status_callback);
        let method = |new: Option<HttpMethod>, old: &mut HttpMethod| {
            if let Some(new) = new {
                *old = new;
            }
        };
        method(settings.voice_method, &mut self.voice_method);
        method(
            settings.voice_fallback_method,
            &mut self.voice_fallback_method,
        );
        method(
            settings.status_callback_method,
            &mut self.status_callback_method,
        );
        self.date_updated = now;
    }

    /// What a call to this number runs: its `voice_url` requested with `voice_method`, or
    /// `None` when the number has no `voice_url`.
    pub fn instructions(&self) -> Option<Instructions> {
        self.voice_url.as_ref().map(|url| Instructions::Url {
            url: url.clone(),
            method: self.voice_method,
        })
    }

    /// `voice_fallback_url` with its method, if set.
    pub fn fallback(&self) -> Option<(String, HttpMethod)> {
        self.voice_fallback_url
            .as_ref()
            .map(|url| (url.clone(), self.voice_fallback_method))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sid::SidStyle;

    #[test]
    fn e164_with_or_without_plus() {
        let cases = [
            ("+15550100199", Some("+15550100199")),
            ("15550100199", Some("+15550100199")),
            (" +442071838750 ", Some("+442071838750")),
            ("+1000", Some("+1000")),
            ("+123456789012345", Some("+123456789012345")),
            ("+1234567890123456", None),
            ("+12", None),
            ("+05550100199", None),
            ("+1 555 010 0199", None),
            ("(555) 010-0199", None),
            ("+1555O100199", None),
            ("++15550100199", None),
            ("", None),
            ("+", None),
            ("+１５５５０１００１９９", None),
        ];
        for (raw, want) in cases {
            assert_eq!(E164::parse(raw).as_ref().map(E164::as_str), want, "{raw:?}");
        }
    }

    #[test]
    fn friendly_names_and_types() {
        let us = E164::parse("+15550100199").expect("valid");
        assert_eq!(us.national_format(), "(555) 010-0199");
        assert_eq!(us.digits(), "15550100199");
        assert_eq!(us.number_type(), "local");
        let free = E164::parse("18005550100").expect("valid");
        assert_eq!(free.number_type(), "tollfree");
        let uk = E164::parse("+442071838750").expect("valid");
        assert_eq!(uk.national_format(), "+442071838750");
        assert_eq!(uk.number_type(), "local");
    }

    fn number() -> PhoneNumber {
        PhoneNumber::new(
            PhoneNumberSid::mint(SidStyle::Twilio, 1),
            AccountSid::mint(SidStyle::Twilio, 2),
            E164::parse("+15550100199").expect("valid"),
            Timestamp(10),
        )
    }

    #[test]
    fn defaults_follow_twilio() {
        let n = number();
        assert!(n.sid.as_str().starts_with("PN"));
        assert_eq!(n.friendly_name, "(555) 010-0199");
        assert_eq!(
            (
                n.voice_method,
                n.voice_fallback_method,
                n.status_callback_method
            ),
            (HttpMethod::Post, HttpMethod::Post, HttpMethod::Post)
        );
        assert_eq!(n.instructions(), None);
        assert_eq!(n.fallback(), None);
    }

    #[test]
    fn settings_change_only_what_they_name_and_empty_urls_clear() {
        let mut n = number();
        n.apply(
            &PhoneNumberSettings {
                voice_url: Some("http://app.test/voice".into()),
                voice_method: Some(HttpMethod::Get),
                voice_fallback_url: Some("http://app.test/fallback".into()),
                friendly_name: Some("front desk".into()),
                ..PhoneNumberSettings::default()
            },
            Timestamp(20),
        );
        assert_eq!(
            n.instructions(),
            Some(Instructions::Url {
                url: "http://app.test/voice".into(),
                method: HttpMethod::Get
            })
        );
        assert_eq!(
            n.fallback(),
            Some(("http://app.test/fallback".into(), HttpMethod::Post))
        );
        assert_eq!(
            (n.friendly_name.as_str(), n.date_updated),
            ("front desk", Timestamp(20))
        );
        n.apply(
            &PhoneNumberSettings {
                voice_url: Some(String::new()),
                friendly_name: Some(String::new()),
                ..PhoneNumberSettings::default()
            },
            Timestamp(30),
        );
        assert_eq!(n.voice_url, None);
        assert_eq!(n.voice_method, HttpMethod::Get, "untouched");
        assert!(n.voice_fallback_url.is_some(), "untouched");
        assert_eq!(
            n.friendly_name, "(555) 010-0199",
            "an empty name is the default"
        );
        assert_eq!(n.date_created, Timestamp(10));
    }
}
