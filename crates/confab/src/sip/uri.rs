//! Outbound `To=sip:user@host[:port][;transport=tcp][?x-header=value&...]`: what to put in the
//! INVITE and where to send it.

use std::net::SocketAddr;

use percent_encoding::percent_decode_str;

/// Standard headers Twilio lets a `To` URI carry besides `X-` ones.
const ALLOWED_HEADERS: &[&str] = &[
    "remote-party-id",
    "p-preferred-identity",
    "p-called-party-id",
];

/// Twilio's limits on a SIP `To` (error 21227): the URI under 255 characters, the headers part
/// under 1024.
const MAX_URI: usize = 255;
const MAX_HEADERS: usize = 1024;

/// A parsed SIP `To`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipTarget {
    /// The Request-URI and To URI: the `To` without its `?headers`.
    pub request_uri: String,
    /// The host to send to (a name or an address; brackets removed from IPv6).
    pub host: String,
    /// The port, 5060 unless given.
    pub port: u16,
    /// `;transport=tcp`.
    pub tcp: bool,
    /// Headers from `?name=value&...`, percent-decoded: `X-` and the few standard ones Twilio
    /// allows.
    pub headers: Vec<(String, String)>,
}

/// Why a `To` cannot be dialed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetError {
    /// Not `sip:` with a host.
    Malformed,
    /// Over Twilio's length limits.
    TooLong,
    /// `sips:` or a transport confab does not speak.
    Transport,
}

impl std::fmt::Display for TargetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TargetError::Malformed => "not a SIP URI with a host",
            TargetError::TooLong => "the SIP URI or its headers are too long",
            TargetError::Transport => "unsupported transport (confab dials over UDP or TCP)",
        })
    }
}

impl SipTarget {
    /// Parses an outbound `To`.
    pub fn parse(to: &str) -> Result<SipTarget, TargetError> {
        let to = to.trim();
        let (uri, headers) = to.split_once('?').unwrap_or((to, ""));
        if uri.len() >= MAX_URI || headers.len() >= MAX_HEADERS {
            return Err(TargetError::TooLong);
        }
        let rest = match uri.get(..4) {
            Some(s) if s.eq_ignore_ascii_case("sip:") => &uri[4..],
            Some(s) if s.eq_ignore_ascii_case("sips") => return Err(TargetError::Transport),
            _ => return Err(TargetError::Malformed),
        };
        let mut parts = rest.split(';');
        let userhost = parts.next().unwrap_or("");
        let mut tcp = false;
        for param in parts {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            if name.eq_ignore_ascii_case("transport") {
                match value.to_ascii_lowercase().as_str() {
                    "udp" => tcp = false,
                    "tcp" => tcp = true,
                    _ => return Err(TargetError::Transport),
                }
            }
        }
        let hostport = userhost.rsplit('@').next().unwrap_or("");
        let (host, port) = split_hostport(hostport).ok_or(TargetError::Malformed)?;
        if host.is_empty() || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(TargetError::Malformed);
        }
        let headers = headers
            .split('&')
            .filter(|p| !p.is_empty())
            .filter_map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                let clean = |s: &str| s.chars().all(|c| !c.is_control());
                let name = percent_decode_str(name).decode_utf8().ok()?;
                let value = percent_decode_str(value).decode_utf8().ok()?;
                if !clean(&name) || !clean(&value) {
                    return None;
                }
                let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
                let lower = name.to_ascii_lowercase();
                let allowed = lower.starts_with("x-") || ALLOWED_HEADERS.contains(&lower.as_str());
                let token = !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
                (allowed && token).then_some((name, value))
            })
            .collect();
        Ok(SipTarget {
            request_uri: uri.to_owned(),
            host,
            port,
            tcp,
            headers,
        })
    }

    /// Resolves the host (A/AAAA through the system resolver; no SRV yet).
    pub async fn resolve(&self) -> Option<SocketAddr> {
        if let Ok(ip) = self.host.parse::<std::net::IpAddr>() {
            return Some(SocketAddr::new(ip, self.port));
        }
        let mut found = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .ok()?;
        found.next()
    }
}

/// `host[:port]` or `[v6][:port]`.
fn split_hostport(s: &str) -> Option<(String, u16)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => 5060,
            None => return None,
        };
        return Some((host.to_owned(), port));
    }
    match s.split_once(':') {
        Some((host, port)) => Some((host.to_owned(), port.parse().ok()?)),
        None => Some((s.to_owned(), 5060)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        let t = SipTarget::parse(
            "sip:bob@127.0.0.1:5070;transport=tcp?X-Room=blue%20one&Foo=bar&x-b=2",
        )
        .expect("valid");
        assert_eq!(t.request_uri, "sip:bob@127.0.0.1:5070;transport=tcp");
        assert_eq!((t.host.as_str(), t.port, t.tcp), ("127.0.0.1", 5070, true));
        assert_eq!(
            t.headers,
            vec![
                ("X-Room".to_owned(), "blue one".to_owned()),
                ("x-b".to_owned(), "2".to_owned())
            ]
        );
        let t = SipTarget::parse("sip:example.com").expect("valid");
        assert_eq!(
            (t.host.as_str(), t.port, t.tcp),
            ("example.com", 5060, false)
        );
        let t = SipTarget::parse("sip:a@[::1]:5080").expect("valid");
        assert_eq!((t.host.as_str(), t.port), ("::1", 5080));
    }

    #[test]
    fn bad_targets_are_refused() {
        assert_eq!(SipTarget::parse("sip:"), Err(TargetError::Malformed));
        assert_eq!(SipTarget::parse("sip:a@h:x"), Err(TargetError::Malformed));
        assert_eq!(SipTarget::parse("sips:a@h"), Err(TargetError::Transport));
        assert_eq!(
            SipTarget::parse("sip:a@h;transport=ws"),
            Err(TargetError::Transport)
        );
        let long = format!("sip:{}@h", "a".repeat(300));
        assert_eq!(SipTarget::parse(&long), Err(TargetError::TooLong));
        let t = SipTarget::parse("sip:a@h?X-A=%0d%0aVia:x").expect("parses");
        assert!(t.headers.is_empty(), "no header injection");
    }
}
