//! Resource identifiers.
//!
//! Twilio SIDs are a two-letter kind prefix and 32 lowercase hex digits
//! (`CA0123…`); SignalWire uses plain UUIDs for the same resources. An account
//! picks one style when it is created and every SID it mints follows it.

use std::fmt;

/// How an account's identifiers look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SidStyle {
    /// `AC`/`CF`/`CA` followed by 32 lowercase hex digits.
    Twilio,
    /// Hyphenated lowercase UUIDs (version 4).
    SignalWire,
}

impl SidStyle {
    /// The name used on the command line and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            SidStyle::Twilio => "twilio",
            SidStyle::SignalWire => "signalwire",
        }
    }

    /// Parses `twilio` or `signalwire` (any letter case).
    pub fn parse(s: &str) -> Option<SidStyle> {
        match s.to_ascii_lowercase().as_str() {
            "twilio" => Some(SidStyle::Twilio),
            "signalwire" => Some(SidStyle::SignalWire),
            _ => None,
        }
    }
}

/// What a SID names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SidKind {
    /// An account (`AC`).
    Account,
    /// A conference (`CF`).
    Conference,
    /// A call, which is also how a participant is named (`CA`).
    Call,
    /// An incoming phone number (`PN`).
    PhoneNumber,
}

impl SidKind {
    /// The Twilio prefix of this kind.
    pub fn prefix(self) -> &'static str {
        match self {
            SidKind::Account => "AC",
            SidKind::Conference => "CF",
            SidKind::Call => "CA",
            SidKind::PhoneNumber => "PN",
        }
    }
}

/// An identifier as it appears on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid(String);

impl Sid {
    /// Mints a new SID of `kind` in `style` from 128 bits of fresh randomness.
    pub fn mint(style: SidStyle, kind: SidKind, random: u128) -> Sid {
        match style {
            SidStyle::Twilio => Sid(format!("{}{:032x}", kind.prefix(), random)),
            SidStyle::SignalWire => {
                let uuid = uuid::Builder::from_random_bytes(random.to_be_bytes()).into_uuid();
                Sid(uuid.hyphenated().to_string())
            }
        }
    }

    /// Accepts `s` as a SID of `kind` if it has the exact shape of either style.
    pub fn parse(kind: SidKind, s: &str) -> Option<Sid> {
        (is_twilio_sid(kind, s) || is_uuid(s)).then(|| Sid(normalize(kind, s)))
    }

    /// Wraps a value read back from our own database.
    pub fn from_stored(s: String) -> Sid {
        Sid(s)
    }

    /// The identifier text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Declares the SID type of one kind: a [`Sid`] that is known to name that kind, so that a
/// call SID can never be passed where a conference SID is expected.
macro_rules! typed_sid {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Sid);

        impl $name {
            /// What this SID names.
            pub const KIND: SidKind = $kind;

            /// Mints a new SID in `style` from 128 bits of fresh randomness.
            pub fn mint(style: SidStyle, random: u128) -> $name {
                $name(Sid::mint(style, Self::KIND, random))
            }

            /// Accepts `s` if it has the shape of this kind's SID in either style.
            pub fn parse(s: &str) -> Option<$name> {
                Sid::parse(Self::KIND, s).map($name)
            }

            /// Wraps a value read back from our own database.
            pub fn from_stored(s: String) -> $name {
                $name(Sid::from_stored(s))
            }

            /// The identifier text.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }

            /// The style this SID was minted in.
            pub fn style(&self) -> SidStyle {
                if is_uuid(self.as_str()) {
                    SidStyle::SignalWire
                } else {
                    SidStyle::Twilio
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

typed_sid!(
    /// An account's SID (`AC…` or a UUID), also its Basic-auth user name.
    AccountSid,
    SidKind::Account
);
typed_sid!(
    /// A call's SID (`CA…` or a UUID), which also names the call's participants.
    CallSid,
    SidKind::Call
);
typed_sid!(
    /// A conference's SID (`CF…` or a UUID).
    ConferenceSid,
    SidKind::Conference
);
typed_sid!(
    /// An incoming phone number's SID (`PN…` or a UUID).
    PhoneNumberSid,
    SidKind::PhoneNumber
);

/// True if `s` is a Twilio SID of `kind`: its prefix and 32 hex digits of either case.
pub fn is_twilio_sid(kind: SidKind, s: &str) -> bool {
    s.len() == 34 && s.starts_with(kind.prefix()) && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// True if `s` looks like a call SID in the sense of label rule 16024:
/// `CA` followed by 32 lowercase hex digits.
pub fn looks_like_call_sid(s: &str) -> bool {
    s.len() == 34
        && s.starts_with("CA")
        && s[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// True if `s` is a hyphenated UUID.
pub fn is_uuid(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok() && s.len() == 36
}

/// Twilio SIDs are minted lowercase; a client may send the hex in upper case,
/// which still names the same resource.
fn normalize(kind: SidKind, s: &str) -> String {
    if is_twilio_sid(kind, s) {
        format!("{}{}", kind.prefix(), s[2..].to_ascii_lowercase())
    } else {
        s.to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_sids_have_prefix_and_32_lowercase_hex() {
        let sid = Sid::mint(SidStyle::Twilio, SidKind::Call, 0xABCDEF);
        assert_eq!(sid.as_str(), "CA00000000000000000000000000abcdef");
        assert!(looks_like_call_sid(sid.as_str()));
        assert!(Sid::parse(SidKind::Call, sid.as_str()).is_some());
        assert!(Sid::parse(SidKind::Conference, sid.as_str()).is_none());
    }

    #[test]
    fn signalwire_sids_are_uuids() {
        let sid = Sid::mint(SidStyle::SignalWire, SidKind::Account, u128::MAX / 3);
        assert_eq!(sid.as_str().len(), 36);
        assert!(is_uuid(sid.as_str()));
        assert!(Sid::parse(SidKind::Call, sid.as_str()).is_some());
    }

    #[test]
    fn parse_normalizes_hex_case() {
        let upper = "CF0123456789ABCDEF0123456789ABCDEF";
        let sid = Sid::parse(SidKind::Conference, upper).expect("valid shape");
        assert_eq!(sid.as_str(), "CF0123456789abcdef0123456789abcdef");
    }

    #[test]
    fn typed_sids_accept_only_their_kind() {
        let call = CallSid::mint(SidStyle::Twilio, 7);
        assert!(call.as_str().starts_with("CA"));
        assert_eq!(CallSid::parse(call.as_str()), Some(call.clone()));
        assert!(ConferenceSid::parse(call.as_str()).is_none());
        assert_eq!(call.style(), SidStyle::Twilio);
        let uuid = ConferenceSid::mint(SidStyle::SignalWire, 9);
        assert_eq!(uuid.style(), SidStyle::SignalWire);
        assert!(
            CallSid::parse(uuid.as_str()).is_some(),
            "UUIDs carry no kind"
        );
    }

    #[test]
    fn call_sid_lookalikes_need_lowercase_hex() {
        assert!(!looks_like_call_sid("CA0123456789ABCDEF0123456789ABCDEF"));
        assert!(!looks_like_call_sid("customer"));
        assert!(!looks_like_call_sid("CA0123"));
    }
}
