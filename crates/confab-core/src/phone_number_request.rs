//! The IncomingPhoneNumbers resource's write operations, parsed and validated.
//!
//! Create needs `PhoneNumber` in E.164 (with or without `+`; 21421 otherwise); create and
//! update both take `FriendlyName`, `VoiceUrl`, `VoiceMethod`, `VoiceFallbackUrl`,
//! `VoiceFallbackMethod`, `StatusCallback` and `StatusCallbackMethod`, with URLs and methods
//! checked as on the Calls resource (21205, 21209). The messaging, emergency, address and
//! trunk parameters of Twilio's resource name things confab does not have: URLs and methods
//! among them are still validated and then ignored, while the ones that would change how a
//! call is routed (`VoiceApplicationSid`, `TrunkSid`, `VoiceReceiveMode=fax`) are refused
//! rather than silently dropped.

use crate::error::{codes, ApiError};
use crate::params::Params;
use crate::phone_number::{PhoneNumberSettings, E164};
use crate::sid::AccountSid;

/// Twilio's limit on `FriendlyName`.
pub const MAX_FRIENDLY_NAME_CHARS: usize = 64;

/// Create IncomingPhoneNumber, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePhoneNumber {
    /// The number, with its `+`.
    pub phone_number: E164,
    /// Everything else the request sets.
    pub settings: PhoneNumberSettings,
}

/// Update IncomingPhoneNumber, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdatePhoneNumber {
    /// What the request changes.
    pub settings: PhoneNumberSettings,
}

impl CreatePhoneNumber {
    /// Parses and validates a create request.
    pub fn parse(p: &Params) -> Result<CreatePhoneNumber, ApiError> {
        let phone_number = match p.text("PhoneNumber").map(str::trim) {
            Some(raw) if !raw.is_empty() => E164::parse(raw).ok_or_else(|| {
                ApiError::invalid(
                    codes::PHONE_NUMBER_INVALID,
                    format!(
                        "PhoneNumber is invalid: {raw:?} is not an E.164 number (+ and 3 to 15 digits)"
                    ),
                )
            })?,
            _ => {
                return Err(ApiError::invalid(
                    codes::PHONE_NUMBER_INVALID,
                    "PhoneNumber is required: confab does not pick numbers (AreaCode is not supported)",
                ))
            }
        };
        Ok(CreatePhoneNumber {
            phone_number,
            settings: settings(p)?,
        })
    }
}

impl UpdatePhoneNumber {
    /// Parses and validates an update of a number of `owner`. Moving a number to another
    /// account (`AccountSid`, Twilio's transfer to a subaccount) is refused: confab has no
    /// subaccounts.
    pub fn parse(p: &Params, owner: &AccountSid) -> Result<UpdatePhoneNumber, ApiError> {
        if let Some(to) = p.text("AccountSid").map(str::trim) {
            if !to.is_empty() && AccountSid::parse(to).as_ref() != Some(owner) {
                return Err(ApiError::invalid_param(
                    "AccountSid",
                    "confab cannot move a number to another account",
                ));
            }
        }
        Ok(UpdatePhoneNumber {
            settings: settings(p)?,
        })
    }
}

/// The settings both operations take, and the checks of the parameters confab ignores.
fn settings(p: &Params) -> Result<PhoneNumberSettings, ApiError> {
    let friendly_name = p.text("FriendlyName").map(str::trim);
    if friendly_name.is_some_and(|n| n.chars().count() > MAX_FRIENDLY_NAME_CHARS) {
        return Err(ApiError::invalid_param(
            "FriendlyName",
            "at most 64 characters",
        ));
    }
    validate_ignored(p)?;
    Ok(PhoneNumberSettings {
        friendly_name: friendly_name.map(str::to_owned),
        voice_url: p.url("VoiceUrl", true)?,
        voice_method: p.method("VoiceMethod")?,
        voice_fallback_url: p.url("VoiceFallbackUrl", true)?,
        voice_fallback_method: p.method("VoiceFallbackMethod")?,
        status_callback: p.url("StatusCallback", true)?,
        status_callback_method: p.method("StatusCallbackMethod")?,
    })
}

/// Parameters of Twilio's resource that confab has no concept of: checked, then not acted on,
/// except those that would send calls somewhere confab cannot.
fn validate_ignored(p: &Params) -> Result<(), ApiError> {
    for name in ["VoiceApplicationSid", "TrunkSid"] {
        if p.text(name).is_some_and(|v| !v.trim().is_empty()) {
            return Err(ApiError::invalid_param(
                name,
                "not supported by confab: give VoiceUrl",
            ));
        }
    }
    if p.one_of("VoiceReceiveMode", &["voice", "fax"])? == Some("fax") {
        return Err(ApiError::invalid_param(
            "VoiceReceiveMode",
            "confab receives voice calls only",
        ));
    }
    for name in ["SmsUrl", "SmsFallbackUrl"] {
        p.url(name, true)?;
    }
    for name in ["SmsMethod", "SmsFallbackMethod"] {
        p.method(name)?;
    }
    p.one_of("EmergencyStatus", &["Active", "Inactive"])?;
    p.one_of("ApiVersion", &["2010-04-01", "2008-08-01"])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HttpMethod;
    use crate::sid::SidStyle;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn create_keeps_the_number_with_its_plus() {
        let c = CreatePhoneNumber::parse(&params(&[
            ("PhoneNumber", "15550100199"),
            ("VoiceUrl", "https://app.test/voice"),
            ("VoiceMethod", "get"),
        ]))
        .expect("valid");
        assert_eq!(c.phone_number.as_str(), "+15550100199");
        assert_eq!(
            c.settings.voice_url.as_deref(),
            Some("https://app.test/voice")
        );
        assert_eq!(c.settings.voice_method, Some(HttpMethod::Get));
        assert_eq!(c.settings.friendly_name, None);
    }

    #[test]
    fn create_refuses_bad_values_with_their_codes() {
        let name = "n".repeat(65);
        let cases: Vec<(&str, &str, u32)> = vec![
            ("PhoneNumber", "", 21421),
            ("PhoneNumber", "555-0100", 21421),
            ("PhoneNumber", "+0123", 21421),
            ("VoiceUrl", "ftp://x", 21205),
            ("VoiceFallbackUrl", "nope", 21205),
            ("StatusCallback", "/relative", 21205),
            ("VoiceMethod", "PUT", 21209),
            ("VoiceFallbackMethod", "DELETE", 21209),
            ("StatusCallbackMethod", "x", 21209),
            ("SmsUrl", "nope", 21205),
            ("SmsMethod", "PATCH", 21209),
            ("FriendlyName", name.as_str(), 20422),
            (
                "VoiceApplicationSid",
                "AP0123456789abcdef0123456789abcdef",
                20422,
            ),
            ("TrunkSid", "TK0123456789abcdef0123456789abcdef", 20422),
            ("VoiceReceiveMode", "fax", 20422),
            ("VoiceReceiveMode", "telex", 20422),
        ];
        for (param, value, code) in cases {
            let mut p = params(&[(param, value)]);
            if param != "PhoneNumber" {
                p.push("PhoneNumber", "+15550100199");
            }
            let e = CreatePhoneNumber::parse(&p).expect_err(param);
            assert_eq!((e.status, e.code), (400, code), "{param}={value:?}");
        }
        let e = CreatePhoneNumber::parse(&params(&[("AreaCode", "555")])).unwrap_err();
        assert_eq!(e.code, 21421, "a number must be named");
    }

    #[test]
    fn ignored_parameters_are_accepted() {
        let c = CreatePhoneNumber::parse(&params(&[
            ("PhoneNumber", "+15550100199"),
            ("SmsUrl", "https://app.test/sms"),
            ("VoiceCallerIdLookup", "true"),
            ("VoiceReceiveMode", "voice"),
            ("EmergencyStatus", "Inactive"),
            ("VoiceApplicationSid", ""),
        ]))
        .expect("valid");
        assert_eq!(c.settings, PhoneNumberSettings::default());
    }

    #[test]
    fn update_clears_with_empty_values_and_refuses_transfers() {
        let owner = AccountSid::mint(SidStyle::Twilio, 1);
        let u = UpdatePhoneNumber::parse(
            &params(&[("VoiceUrl", ""), ("StatusCallbackMethod", "GET")]),
            &owner,
        )
        .expect("valid");
        assert_eq!(u.settings.voice_url.as_deref(), Some(""));
        assert_eq!(u.settings.status_callback_method, Some(HttpMethod::Get));
        assert_eq!(u.settings.voice_fallback_url, None);
        let same = UpdatePhoneNumber::parse(&params(&[("AccountSid", owner.as_str())]), &owner);
        assert!(same.is_ok(), "naming the owner is no transfer");
        let other = AccountSid::mint(SidStyle::Twilio, 2);
        let e = UpdatePhoneNumber::parse(&params(&[("AccountSid", other.as_str())]), &owner)
            .unwrap_err();
        assert_eq!(e.code, 20422);
    }
}
