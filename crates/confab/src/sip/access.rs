//! Who may call confab over SIP: `--sip-credentials FILE` and `--sip-allow CIDR`.
//!
//! The policy itself (challenge, verify, refuse) is `confab-sip`'s
//! [`InboundAuth`](confab_sip::dialog::InboundAuth); this module holds its settings and reads
//! the credentials file: one `username:password` per line (the password may contain `:`;
//! whitespace around either is ignored), blank lines and lines starting with `#` ignored.

use confab_sip::dialog::AddressRange;

/// The inbound access settings.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct InboundAccess {
    /// User names and passwords; empty: only `allow` is let in.
    pub credentials: Vec<(String, String)>,
    /// Address ranges let in without credentials.
    pub allow: Vec<AddressRange>,
}

impl std::fmt::Debug for InboundAccess {
    /// Passwords stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let users: Vec<&str> = self.credentials.iter().map(|(u, _)| u.as_str()).collect();
        f.debug_struct("InboundAccess")
            .field("users", &users)
            .field("allow", &self.allow)
            .finish()
    }
}

impl InboundAccess {
    /// The settings from the credentials file's text (if one was given) and the allowed
    /// ranges; `None` when neither is configured (every INVITE is let in, as before).
    pub fn parse(credentials: Option<&str>, allow: &[String]) -> Result<Option<Self>, String> {
        let allow = allow
            .iter()
            .flat_map(|a| a.split(','))
            .filter(|a| !a.trim().is_empty())
            .map(AddressRange::parse)
            .collect::<Result<Vec<_>, _>>()?;
        let credentials = match credentials {
            Some(text) => read_credentials(text)?,
            None if allow.is_empty() => return Ok(None),
            None => Vec::new(),
        };
        Ok(Some(InboundAccess { credentials, allow }))
    }
}

/// The `username:password` lines of a credentials file.
fn read_credentials(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut credentials = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| format!("credentials line {}: {why}", n + 1);
        let (user, password) = line
            .split_once(':')
            .ok_or_else(|| bad("expected username:password"))?;
        let (user, password) = (user.trim(), password.trim());
        let token = |c: char| c.is_ascii_alphanumeric() || "-_.!~*'()+&=$,;?/%".contains(c);
        if user.is_empty() || !user.chars().all(token) {
            return Err(bad(
                "the user name must be a SIP user (letters, digits, -_.+ ...)",
            ));
        }
        if password.is_empty() || password.chars().any(char::is_control) {
            return Err(bad("the password must be one or more printable characters"));
        }
        if credentials
            .iter()
            .any(|(u, _): &(String, String)| u == user)
        {
            return Err(bad(&format!("user {user:?} appears twice")));
        }
        credentials.push((user.to_owned(), password.to_owned()));
    }
    if credentials.is_empty() {
        return Err("the credentials file names no username:password".to_owned());
    }
    Ok(credentials)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_files_parse() {
        let text = "# phones\nalice:secret\n\n  bob : p:w:d \n";
        let access = InboundAccess::parse(Some(text), &[])
            .expect("valid")
            .expect("configured");
        assert_eq!(
            access.credentials,
            vec![
                ("alice".to_owned(), "secret".to_owned()),
                ("bob".to_owned(), "p:w:d".to_owned())
            ]
        );
        assert!(!format!("{access:?}").contains("secret"));
        for bad in [
            "alice",
            ":pw",
            "a b:pw",
            "alice:",
            "a:1\na:2",
            "# nothing\n",
        ] {
            assert!(InboundAccess::parse(Some(bad), &[]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn allowed_ranges_parse_and_nothing_means_no_policy() {
        assert_eq!(InboundAccess::parse(None, &[]), Ok(None));
        let ranges = ["10.0.0.0/8,192.168.0.0/16".to_owned(), "::1".to_owned()];
        let access = InboundAccess::parse(None, &ranges)
            .expect("valid")
            .expect("configured");
        assert_eq!(access.allow.len(), 3);
        assert!(access.credentials.is_empty());
        assert!(InboundAccess::parse(None, &["10.0.0.0/40".to_owned()]).is_err());
    }
}
