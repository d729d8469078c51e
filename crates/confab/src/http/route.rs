//! Request paths, parsed into what they name.
//!
//! The same resource tree is served under two prefixes, `/2010-04-01` (the
//! Twilio dialect) and `/api/laml/2010-04-01` (the SignalWire dialect), each
//! with or without a `.json` suffix. Segments are split first and
//! percent-decoded after, so a label may contain any character but `/`.

use percent_encoding::percent_decode_str;

/// Which vendor's response shape a request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `/2010-04-01/...`: Twilio's schema.
    Twilio,
    /// `/api/laml/2010-04-01/...`: SignalWire's Compatibility API schema.
    SignalWire,
}

impl Dialect {
    /// The path prefix of this dialect.
    pub fn prefix(self) -> &'static str {
        match self {
            Dialect::Twilio => "/2010-04-01",
            Dialect::SignalWire => "/api/laml/2010-04-01",
        }
    }
}

/// A resource of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// `Conferences`
    Conferences,
    /// `Conferences/{Sid}`
    Conference(String),
    /// `Conferences/{Sid}/Participants`
    Participants(String),
    /// `Conferences/{Sid}/Participants/{CallSid or label}`
    Participant(String, String),
    /// `Conferences/{Sid}/Recordings`
    Recordings(String),
    /// `Conferences/{Sid}/Recordings/{Sid}`
    Recording(String, String),
    /// `Calls`
    Calls,
    /// `Calls/{Sid}`
    Call(String),
    /// `IncomingPhoneNumbers`
    IncomingPhoneNumbers,
    /// `IncomingPhoneNumbers/{Sid}`
    IncomingPhoneNumber(String),
}

impl Resource {
    /// The methods this resource answers.
    pub fn allowed(&self) -> &'static [&'static str] {
        match self {
            Resource::Conferences | Resource::Recordings(_) => &["GET"],
            Resource::Conference(_) => &["GET", "POST"],
            Resource::Participants(_) => &["GET", "POST"],
            Resource::Participant(..)
            | Resource::Recording(..)
            | Resource::Call(_)
            | Resource::IncomingPhoneNumber(_) => &["GET", "POST", "DELETE"],
            Resource::Calls | Resource::IncomingPhoneNumbers => &["GET", "POST"],
        }
    }

    /// The resource's path below `Accounts/{AccountSid}/`, its SIDs as placeholders (the
    /// `route` label of the request metrics).
    pub fn template(&self) -> &'static str {
        match self {
            Resource::Conferences => "Conferences",
            Resource::Conference(_) => "Conferences/{ConferenceSid}",
            Resource::Participants(_) => "Conferences/{ConferenceSid}/Participants",
            Resource::Participant(..) => "Conferences/{ConferenceSid}/Participants/{CallSid}",
            Resource::Recordings(_) => "Conferences/{ConferenceSid}/Recordings",
            Resource::Recording(..) => "Conferences/{ConferenceSid}/Recordings/{RecordingSid}",
            Resource::Calls => "Calls",
            Resource::Call(_) => "Calls/{CallSid}",
            Resource::IncomingPhoneNumbers => "IncomingPhoneNumbers",
            Resource::IncomingPhoneNumber(_) => "IncomingPhoneNumbers/{PhoneNumberSid}",
        }
    }
}

/// A parsed API path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiPath {
    /// The dialect chosen by the prefix.
    pub dialect: Dialect,
    /// The account named in the path.
    pub account: String,
    /// The resource, if the rest of the path names one we serve.
    pub resource: Option<Resource>,
}

/// How a simulated caller's recording is handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeardFormat {
    /// `Heard.wav`: 8 kHz mono 16-bit PCM.
    Wav,
    /// `Heard.json`: levels and tones per window.
    Json,
}

/// A path of confab's own API, `/confab/v1/Accounts/{AccountSid}/...`, for what Twilio has no
/// resource for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfabPath {
    /// The account named in the path.
    pub account: String,
    /// `Calls/{CallSid}/Heard.{wav,json}`: the call and format, if that is what is named.
    pub heard: Option<(String, HeardFormat)>,
    /// Whether `Callbacks` (or `Callbacks.json`) is named.
    pub callbacks: bool,
}

/// Parses a path under `/confab/v1/Accounts/{AccountSid}/`; `None` for any other path.
pub fn parse_confab(path: &str) -> Option<ConfabPath> {
    let rest = path.strip_prefix("/confab/v1/Accounts/")?;
    let segments: Vec<String> = rest
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let [account, tail @ ..] = segments.as_slice() else {
        return None;
    };
    if account.is_empty() {
        return None;
    }
    let heard = match tail {
        [calls, call, file] if calls == "Calls" && !call.is_empty() => match file.as_str() {
            "Heard.wav" => Some((call.clone(), HeardFormat::Wav)),
            "Heard.json" => Some((call.clone(), HeardFormat::Json)),
            _ => None,
        },
        _ => None,
    };
    let callbacks = matches!(tail, [c] if c == "Callbacks" || c == "Callbacks.json");
    Some(ConfabPath {
        account: account.clone(),
        heard,
        callbacks,
    })
}

/// Parses a request path. `None` if it is not under an account at all.
pub fn parse(path: &str) -> Option<ApiPath> {
    let (dialect, rest) = if let Some(rest) = path.strip_prefix("/api/laml/2010-04-01/") {
        (Dialect::SignalWire, rest)
    } else if let Some(rest) = path.strip_prefix("/2010-04-01/") {
        (Dialect::Twilio, rest)
    } else {
        return None;
    };
    let rest = rest.strip_suffix(".json").unwrap_or(rest);
    let segments: Vec<String> = rest
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let [accounts, account, tail @ ..] = segments.as_slice() else {
        return None;
    };
    if accounts != "Accounts" || account.is_empty() {
        return None;
    }
    let resource = match tail {
        [c] if c == "Conferences" => Some(Resource::Conferences),
        [c, sid] if c == "Conferences" => Some(Resource::Conference(sid.clone())),
        [c, sid, p] if c == "Conferences" && p == "Participants" => {
            Some(Resource::Participants(sid.clone()))
        }
        [c, sid, p, key] if c == "Conferences" && p == "Participants" && !key.is_empty() => {
            Some(Resource::Participant(sid.clone(), key.clone()))
        }
        [c, sid, r] if c == "Conferences" && r == "Recordings" => {
            Some(Resource::Recordings(sid.clone()))
        }
        [c, sid, r, re] if c == "Conferences" && r == "Recordings" => {
            Some(Resource::Recording(sid.clone(), re.clone()))
        }
        [c] if c == "Calls" => Some(Resource::Calls),
        [c, sid] if c == "Calls" && !sid.is_empty() => Some(Resource::Call(sid.clone())),
        [n] if n == "IncomingPhoneNumbers" => Some(Resource::IncomingPhoneNumbers),
        [n, sid] if n == "IncomingPhoneNumbers" && !sid.is_empty() => {
            Some(Resource::IncomingPhoneNumber(sid.clone()))
        }
        _ => None,
    };
    Some(ApiPath {
        dialect,
        account: account.clone(),
        resource,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_prefixes_with_and_without_json() {
        let a = parse("/2010-04-01/Accounts/AC1/Conferences/CF1/Participants/CA1.json")
            .expect("api path");
        assert_eq!(a.dialect, Dialect::Twilio);
        assert_eq!(
            a.resource,
            Some(Resource::Participant("CF1".into(), "CA1".into()))
        );
        let b = parse("/api/laml/2010-04-01/Accounts/u-1/Conferences/c-1/Participants")
            .expect("api path");
        assert_eq!(b.dialect, Dialect::SignalWire);
        assert_eq!(b.account, "u-1");
        assert_eq!(b.resource, Some(Resource::Participants("c-1".into())));
    }

    #[test]
    fn labels_are_percent_decoded() {
        let a = parse("/2010-04-01/Accounts/AC1/Conferences/CF1/Participants/agent%20smith.json")
            .expect("api path");
        assert_eq!(
            a.resource,
            Some(Resource::Participant("CF1".into(), "agent smith".into()))
        );
    }

    #[test]
    fn heard_paths() {
        let p = parse_confab("/confab/v1/Accounts/AC1/Calls/CA2/Heard.wav").expect("confab path");
        assert_eq!(p.account, "AC1");
        assert_eq!(p.heard, Some(("CA2".into(), HeardFormat::Wav)));
        let p = parse_confab("/confab/v1/Accounts/AC1/Calls/CA2/Heard.json").expect("confab path");
        assert_eq!(p.heard, Some(("CA2".into(), HeardFormat::Json)));
        let p = parse_confab("/confab/v1/Accounts/AC1/Calls/CA2/Other").expect("confab path");
        assert_eq!(p.heard, None);
        assert!(!p.callbacks);
        let p = parse_confab("/confab/v1/Accounts/AC1/Callbacks").expect("confab path");
        assert!(p.callbacks);
        assert_eq!(p.heard, None);
        assert_eq!(parse_confab("/confab/v1/Accounts//Calls"), None);
        assert_eq!(parse_confab("/2010-04-01/Accounts/AC1/Calls"), None);
    }

    #[test]
    fn incoming_phone_numbers() {
        let list = parse("/api/laml/2010-04-01/Accounts/AC1/IncomingPhoneNumbers").expect("path");
        assert_eq!(list.resource, Some(Resource::IncomingPhoneNumbers));
        let one = parse("/2010-04-01/Accounts/AC1/IncomingPhoneNumbers/PN1.json").expect("path");
        assert_eq!(
            one.resource,
            Some(Resource::IncomingPhoneNumber("PN1".into()))
        );
        assert_eq!(one.resource.map(|r| r.allowed().len()), Some(3));
    }

    #[test]
    fn unknown_paths() {
        assert_eq!(parse("/foo"), None);
        assert_eq!(
            parse("/2010-04-01/Accounts/AC1/Queues.json").map(|p| p.resource),
            Some(None)
        );
    }
}
