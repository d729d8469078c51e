//! The SIP trunk that reaches phone numbers: `--sip-trunk sip:HOST[:PORT][;transport=tcp]`.
//!
//! A number `To` (Participants or Calls create, later `<Dial><Number>`) becomes the INVITE
//! `sip:+15550100100@HOST:PORT` sent to the trunk, answering its 401/407 with the trunk's
//! credentials. Which number the INVITE comes from is the trunk's From policy: the call's own
//! caller id (Twilio's `From`/`CallerId`), or one fixed number the carrier expects (many
//! carriers accept only their own numbers or the account name in From). With a fixed From the
//! call's caller id travels in `P-Asserted-Identity`, as carriers read it for the presented
//! number. `sip:` targets never go through the trunk; they are dialed directly.

use confab_core::endpoint::normalize_number;
use confab_core::request::SipAuth;

use super::uri::SipTarget;

/// Which number a trunk call comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrunkFrom {
    /// The call's `From` (or `<Dial callerId>`).
    Caller,
    /// Always this user (a number, or the name the carrier knows the account by).
    Fixed(String),
}

/// A configured SIP trunk.
#[derive(Clone, PartialEq, Eq)]
pub struct Trunk {
    /// The trunk's address as configured; its user part, if any, is ignored.
    pub gateway: SipTarget,
    /// The credentials answering the trunk's 401/407.
    pub auth: Option<SipAuth>,
    /// The From policy.
    pub from: TrunkFrom,
}

/// A number dialed through the trunk: what the INVITE carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkCall {
    /// Where and whom: `sip:+NUMBER@HOST:PORT[;transport=tcp]`, with `P-Asserted-Identity`
    /// among its headers when the From policy hides the caller id.
    pub target: SipTarget,
    /// The From user.
    pub from: String,
    /// The caller id to assert, when it is not the From user.
    pub asserted: Option<String>,
}

impl std::fmt::Debug for Trunk {
    /// The password stays out of logs (`SipAuth`'s own Debug hides it too).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trunk")
            .field("gateway", &self.gateway.request_uri)
            .field("auth", &self.auth)
            .field("from", &self.from)
            .finish()
    }
}

impl Trunk {
    /// Parses the trunk's settings: its URI (`sip:HOST[:PORT][;transport=tcp]`), optional
    /// credentials (both or neither), and the From policy (`caller` or a fixed user).
    pub fn parse(
        uri: &str,
        username: Option<String>,
        password: Option<String>,
        from: Option<&str>,
    ) -> Result<Trunk, String> {
        let gateway =
            SipTarget::parse(uri).map_err(|e| format!("--sip-trunk {uri:?} is not usable: {e}"))?;
        if !gateway.headers.is_empty() || uri.contains('?') {
            return Err(format!(
                "--sip-trunk {uri:?}: the trunk URI takes no ?headers"
            ));
        }
        let auth = match (username, password) {
            (None, None) => None,
            (Some(username), Some(password)) if !username.is_empty() => {
                Some(SipAuth { username, password })
            }
            _ => return Err("--sip-trunk-username and --sip-trunk-password go together".to_owned()),
        };
        let from = match from.map(str::trim) {
            None | Some("") => TrunkFrom::Caller,
            Some(policy) if policy.eq_ignore_ascii_case("caller") => TrunkFrom::Caller,
            Some(fixed) => {
                let user = normalize_number(fixed).unwrap_or_else(|| fixed.to_owned());
                let token = user
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-_.!~*'()".contains(c));
                if !token {
                    return Err(format!(
                        "--sip-trunk-from {fixed:?} must be `caller`, a number or a SIP user name"
                    ));
                }
                TrunkFrom::Fixed(user)
            }
        };
        Ok(Trunk {
            gateway,
            auth,
            from,
        })
    }

    /// The INVITE for `number` (E.164) from the call's caller id `caller`.
    pub fn call(&self, number: &str, caller: &str) -> TrunkCall {
        let host = match self.gateway.host.contains(':') {
            true => format!("[{}]", self.gateway.host),
            false => self.gateway.host.clone(),
        };
        let transport = if self.gateway.tcp {
            ";transport=tcp"
        } else {
            ""
        };
        let target = SipTarget {
            request_uri: format!("sip:{number}@{host}:{}{transport}", self.gateway.port),
            host: self.gateway.host.clone(),
            port: self.gateway.port,
            tcp: self.gateway.tcp,
            headers: Vec::new(),
        };
        let caller = caller.trim();
        let (from, asserted) = match &self.from {
            TrunkFrom::Caller => (caller.to_owned(), None),
            TrunkFrom::Fixed(user) => {
                let differs =
                    normalize_number(caller).as_deref() != Some(user.as_str()) && caller != user;
                let asserted = (differs && !caller.is_empty()).then(|| caller.to_owned());
                (user.clone(), asserted)
            }
        };
        TrunkCall {
            target,
            from,
            asserted,
        }
    }
}

/// The number a `To` names when it is not a SIP URI, if it is one.
pub(crate) fn number_of(to: &str) -> Option<String> {
    let lower = to.trim_start().get(..4).map(str::to_ascii_lowercase);
    if matches!(lower.as_deref(), Some("sip:" | "sips")) {
        return None;
    }
    normalize_number(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn trunk_settings_parse() {
        let t =
            Trunk::parse("sip:gw.example.net:5080;transport=tcp", None, None, None).expect("valid");
        assert_eq!((t.gateway.port, t.gateway.tcp), (5080, true));
        assert_eq!(t.from, TrunkFrom::Caller);
        assert!(t.auth.is_none());
        let t = Trunk::parse(
            "sip:10.0.0.1",
            user("acct"),
            user("pw"),
            Some("+1 555 010 0999"),
        )
        .expect("valid");
        assert_eq!(t.from, TrunkFrom::Fixed("+15550100999".into()));
        assert_eq!(t.auth.map(|a| a.username), user("acct"));
        assert!(Trunk::parse("sip:10.0.0.1", user("acct"), None, None).is_err());
        assert!(Trunk::parse("sip:10.0.0.1", None, None, Some("a b")).is_err());
        assert!(Trunk::parse("sips:10.0.0.1", None, None, None).is_err());
        assert!(Trunk::parse("sip:10.0.0.1?X-A=b", None, None, None).is_err());
        assert!(Trunk::parse("gw.example.net", None, None, None).is_err());
    }

    #[test]
    fn numbers_are_dialed_at_the_trunk_with_the_from_policy() {
        let caller = Trunk::parse("sip:10.0.0.1:5080", None, None, Some("caller")).expect("ok");
        let call = caller.call("+15550100100", "+15550100001");
        assert_eq!(call.target.request_uri, "sip:+15550100100@10.0.0.1:5080");
        assert_eq!((call.from.as_str(), call.asserted), ("+15550100001", None));
        let fixed =
            Trunk::parse("sip:[::1];transport=tcp", None, None, Some("+15550109999")).expect("ok");
        let call = fixed.call("+442079460958", "+15550100001");
        assert_eq!(
            call.target.request_uri,
            "sip:+442079460958@[::1]:5060;transport=tcp"
        );
        assert_eq!(call.from, "+15550109999");
        assert_eq!(call.asserted, user("+15550100001"));
        let same = fixed.call("+15550100100", "+1 555 010 9999");
        assert_eq!(
            same.asserted, None,
            "the caller id is the fixed From already"
        );
    }

    #[test]
    fn only_numbers_go_to_the_trunk() {
        assert_eq!(
            number_of("+1 (555) 010-0100").as_deref(),
            Some("+15550100100")
        );
        assert_eq!(number_of("sip:+15550100100@h"), None);
        assert_eq!(number_of("SIPS:+1@h"), None);
        assert_eq!(number_of("bob"), None);
    }
}
