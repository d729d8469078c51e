//! The SDP parser: untrusted bytes into a [`SessionDescription`], once, at the edge.
//!
//! It is lenient where real devices differ and strict where a mistake would change the call:
//! - LF alone is accepted as a line end, blank lines and trailing white space are skipped, and
//!   line types confab has no use for (`i=`, `b=`, `z=`, unknown letters, ...) are ignored.
//! - A known attribute that does not parse (an `rtpmap` without a clock rate, a `ptime` that is
//!   not a number) or repeats a single-valued one is kept verbatim among the other attributes
//!   instead of failing the whole description; negotiation then simply does not see it.
//! - `v=`, `o=`, `c=`, `t=` and `m=` must be well formed, since addresses and ports come from them.
//! - Sizes are bounded ([`MAX_SDP_LEN`] and the counts below), so a hostile body costs little.

use confab_media::PayloadType;

use super::model::{
    AddrType, Attribute, Connection, Direction, Fmtp, MediaDescription, Origin, Rtcp, RtpMap,
    SessionDescription,
};

/// The largest SDP body accepted, in bytes. A many-codec desk-phone offer with video is about
/// 3 kB; SIP over UDP cannot carry much more than this anyway.
pub const MAX_SDP_LEN: usize = 16 * 1024;

/// The most `m=` sections accepted in one description.
pub const MAX_MEDIA: usize = 16;

/// The most formats accepted on one `m=` line (the RTP payload type space is 128).
pub const MAX_FORMATS: usize = 128;

/// The most attributes accepted in one section (session or media).
pub const MAX_ATTRIBUTES: usize = 256;

/// Why an SDP body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SdpError {
    /// The body is longer than [`MAX_SDP_LEN`].
    TooLarge {
        /// Its length in bytes.
        len: usize,
    },
    /// The body is not UTF-8 text.
    NotUtf8,
    /// The body does not start with `v=0`.
    NotSdp,
    /// A line is not of the form `<letter>=<value>` or its value is malformed.
    Malformed {
        /// The 1-based line number.
        line: usize,
        /// What was wrong, in a few words.
        reason: &'static str,
    },
    /// A required line is missing (`o=`).
    Missing(char),
    /// More sections or attributes than the limits allow.
    TooMany(&'static str),
}

impl std::fmt::Display for SdpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge { len } => write!(f, "SDP of {len} bytes exceeds {MAX_SDP_LEN}"),
            Self::NotUtf8 => write!(f, "SDP is not UTF-8"),
            Self::NotSdp => write!(f, "SDP does not start with v=0"),
            Self::Malformed { line, reason } => write!(f, "SDP line {line}: {reason}"),
            Self::Missing(letter) => write!(f, "SDP has no {letter}= line"),
            Self::TooMany(what) => write!(f, "SDP has too many {what}"),
        }
    }
}

impl std::error::Error for SdpError {}

impl SessionDescription {
    /// Parses an SDP body received from a peer.
    pub fn parse(body: &[u8]) -> Result<Self, SdpError> {
        if body.len() > MAX_SDP_LEN {
            return Err(SdpError::TooLarge { len: body.len() });
        }
        let text = std::str::from_utf8(body).map_err(|_| SdpError::NotUtf8)?;
        let mut lines = text
            .split('\n')
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty());
        match lines.next() {
            Some((_, "v=0")) => {}
            _ => return Err(SdpError::NotSdp),
        }
        let mut origin = None;
        let mut sdp = SessionDescription {
            origin: Origin {
                username: String::new(),
                session_id: String::new(),
                session_version: 0,
                address: Connection::ip(std::net::Ipv4Addr::UNSPECIFIED.into()),
            },
            session_name: String::new(),
            connection: None,
            timing: (0, 0),
            direction: None,
            attributes: Vec::new(),
            media: Vec::new(),
        };
        let mut timing_seen = false;
        for (n, line) in lines {
            let malformed = |reason| SdpError::Malformed { line: n, reason };
            let (letter, value) = split_line(line).ok_or(malformed("not <letter>=<value>"))?;
            if value.contains('\0') {
                return Err(malformed("NUL character"));
            }
            match (letter, sdp.media.last_mut()) {
                ('o', None) if origin.is_none() => {
                    origin = Some(parse_origin(value).ok_or(malformed("bad o= line"))?);
                }
                ('s', None) => sdp.session_name = value.to_owned(),
                ('t', None) if !timing_seen => {
                    sdp.timing = parse_timing(value).ok_or(malformed("bad t= line"))?;
                    timing_seen = true;
                }
                ('c', None) => {
                    sdp.connection = Some(parse_connection(value).ok_or(malformed("bad c= line"))?);
                }
                ('c', Some(m)) => {
                    m.connection = Some(parse_connection(value).ok_or(malformed("bad c= line"))?);
                }
                ('m', _) => {
                    if sdp.media.len() == MAX_MEDIA {
                        return Err(SdpError::TooMany("media sections"));
                    }
                    let (media, too_many) = parse_media(value).ok_or(malformed("bad m= line"))?;
                    if too_many {
                        return Err(SdpError::TooMany("formats"));
                    }
                    sdp.media.push(media);
                }
                ('a', None) => {
                    if sdp.attributes.len() == MAX_ATTRIBUTES {
                        return Err(SdpError::TooMany("attributes"));
                    }
                    let attribute = split_attribute(value);
                    match direction_of(&attribute) {
                        Some(d) if sdp.direction.is_none() => sdp.direction = Some(d),
                        _ => sdp.attributes.push(attribute),
                    }
                }
                ('a', Some(m)) => {
                    if m.attributes.len() + m.rtpmaps.len() + m.fmtps.len() >= MAX_ATTRIBUTES {
                        return Err(SdpError::TooMany("attributes"));
                    }
                    add_media_attribute(m, split_attribute(value));
                }
                // Lines without a use for an audio call (i=, u=, e=, p=, b=, z=, k=, r=, a
                // second o= or t=, unknown letters) are skipped.
                _ => {}
            }
        }
        sdp.origin = origin.ok_or(SdpError::Missing('o'))?;
        Ok(sdp)
    }
}

/// Sorts one media-level attribute into its typed field, or keeps it verbatim.
fn add_media_attribute(m: &mut MediaDescription, attribute: Attribute) {
    let value = attribute.value.as_deref();
    match (attribute.name.as_str(), value) {
        ("rtpmap", Some(v)) => {
            if let Some(map) = parse_rtpmap(v) {
                m.rtpmaps.push(map);
                return;
            }
        }
        ("fmtp", Some(v)) => {
            if let Some(fmtp) = parse_fmtp(v) {
                m.fmtps.push(fmtp);
                return;
            }
        }
        ("ptime", Some(v)) if m.ptime.is_none() => {
            if let Ok(ms) = v.trim().parse() {
                m.ptime = Some(ms);
                return;
            }
        }
        ("maxptime", Some(v)) if m.maxptime.is_none() => {
            if let Ok(ms) = v.trim().parse() {
                m.maxptime = Some(ms);
                return;
            }
        }
        ("rtcp", Some(v)) if m.rtcp.is_none() => {
            if let Some(rtcp) = parse_rtcp(v) {
                m.rtcp = Some(rtcp);
                return;
            }
        }
        ("rtcp-mux", None) if !m.rtcp_mux => {
            m.rtcp_mux = true;
            return;
        }
        _ => {
            if m.direction.is_none() {
                if let Some(d) = direction_of(&attribute) {
                    m.direction = Some(d);
                    return;
                }
            }
        }
    }
    m.attributes.push(attribute);
}

fn split_line(line: &str) -> Option<(char, &str)> {
    let mut chars = line.chars();
    let letter = chars.next().filter(char::is_ascii_alphabetic)?;
    let rest = chars.as_str().strip_prefix('=')?;
    Some((letter, rest.trim()))
}

fn split_attribute(value: &str) -> Attribute {
    match value.split_once(':') {
        Some((name, value)) => Attribute {
            name: name.to_owned(),
            value: Some(value.to_owned()),
        },
        None => Attribute {
            name: value.to_owned(),
            value: None,
        },
    }
}

fn direction_of(attribute: &Attribute) -> Option<Direction> {
    match attribute.value {
        None => Direction::from_attribute(&attribute.name),
        Some(_) => None,
    }
}

fn parse_origin(value: &str) -> Option<Origin> {
    let fields: Vec<&str> = value.split_ascii_whitespace().collect();
    let [username, session_id, version, net_type, addr_type, address] = fields[..] else {
        return None;
    };
    Some(Origin {
        username: username.to_owned(),
        session_id: session_id.to_owned(),
        session_version: version.parse().ok()?,
        address: connection_from(net_type, addr_type, address)?,
    })
}

fn parse_connection(value: &str) -> Option<Connection> {
    let fields: Vec<&str> = value.split_ascii_whitespace().collect();
    let [net_type, addr_type, address] = fields[..] else {
        return None;
    };
    connection_from(net_type, addr_type, address)
}

fn connection_from(net_type: &str, addr_type: &str, address: &str) -> Option<Connection> {
    if !net_type.eq_ignore_ascii_case("IN") {
        return None;
    }
    let addr_type = if addr_type.eq_ignore_ascii_case("IP4") {
        AddrType::Ip4
    } else if addr_type.eq_ignore_ascii_case("IP6") {
        AddrType::Ip6
    } else {
        return None;
    };
    Some(Connection {
        addr_type,
        address: address.to_owned(),
    })
}

fn parse_timing(value: &str) -> Option<(u64, u64)> {
    let (start, stop) = value.split_once(char::is_whitespace)?;
    Some((start.trim().parse().ok()?, stop.trim().parse().ok()?))
}

/// Parses an `m=` value; the flag says the format list exceeded [`MAX_FORMATS`].
fn parse_media(value: &str) -> Option<(MediaDescription, bool)> {
    let mut fields = value.split_ascii_whitespace();
    let kind = fields.next()?.to_owned();
    let port_field = fields.next()?;
    let (port, port_count) = match port_field.split_once('/') {
        Some((port, count)) => (port.parse().ok()?, Some(count.parse().ok()?)),
        None => (port_field.parse().ok()?, None),
    };
    let protocol = fields.next()?.to_owned();
    let formats: Vec<String> = fields
        .by_ref()
        .take(MAX_FORMATS)
        .map(str::to_owned)
        .collect();
    let too_many = fields.next().is_some();
    let media = MediaDescription {
        kind,
        port,
        port_count,
        protocol,
        formats,
        connection: None,
        rtpmaps: Vec::new(),
        fmtps: Vec::new(),
        ptime: None,
        maxptime: None,
        direction: None,
        rtcp: None,
        rtcp_mux: false,
        attributes: Vec::new(),
    };
    Some((media, too_many))
}

fn parse_payload_type(text: &str) -> Option<PayloadType> {
    PayloadType::new(text.parse().ok()?)
}

fn parse_rtpmap(value: &str) -> Option<RtpMap> {
    let (pt, encoding) = value.trim().split_once(char::is_whitespace)?;
    let mut parts = encoding.trim().split('/');
    let name = parts.next().filter(|n| !n.is_empty() && !n.contains(' '))?;
    let clock_rate = parts.next()?.parse().ok()?;
    let channels = match parts.next() {
        Some(ch) => Some(ch.parse().ok()?),
        None => None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(RtpMap {
        payload_type: parse_payload_type(pt)?,
        encoding: name.to_owned(),
        clock_rate,
        channels,
    })
}

fn parse_fmtp(value: &str) -> Option<Fmtp> {
    let (pt, parameters) = value.trim().split_once(char::is_whitespace)?;
    Some(Fmtp {
        payload_type: parse_payload_type(pt)?,
        parameters: parameters.trim().to_owned(),
    })
}

fn parse_rtcp(value: &str) -> Option<Rtcp> {
    let fields: Vec<&str> = value.split_ascii_whitespace().collect();
    match fields[..] {
        [port] => Some(Rtcp {
            port: port.parse().ok()?,
            connection: None,
        }),
        [port, net_type, addr_type, address] => Some(Rtcp {
            port: port.parse().ok()?,
            connection: Some(connection_from(net_type, addr_type, address)?),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "v=0\no=- 1 2 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\n\
                           m=audio 4000 RTP/AVP 0 101\na=rtpmap:101 telephone-event/8000\n\
                           a=fmtp:101 0-16\na=ptime:30\na=sendonly\n";

    #[test]
    fn parses_lf_only_lines() {
        let sdp = SessionDescription::parse(MINIMAL.as_bytes()).unwrap();
        let m = &sdp.media[0];
        assert_eq!(sdp.origin.session_version, 2);
        assert_eq!(m.port, 4000);
        assert_eq!(m.formats, ["0", "101"]);
        assert_eq!(m.rtpmaps[0].encoding, "telephone-event");
        assert_eq!(m.fmtp(PayloadType::TELEPHONE_EVENT), Some("0-16"));
        assert_eq!(m.ptime, Some(30));
        assert_eq!(m.direction, Some(Direction::SendOnly));
    }

    #[test]
    fn malformed_known_attributes_are_kept_verbatim() {
        let text = MINIMAL.replace("a=ptime:30", "a=ptime:soon\na=rtpmap:96 opus");
        let sdp = SessionDescription::parse(text.as_bytes()).unwrap();
        let m = &sdp.media[0];
        assert_eq!(m.ptime, None);
        assert_eq!(m.attributes.len(), 2);
        assert_eq!(m.attributes[0].value.as_deref(), Some("soon"));
    }

    #[test]
    fn structural_errors_name_the_line() {
        let cases = [
            ("", SdpError::NotSdp),
            ("v=1\n", SdpError::NotSdp),
            ("v=0\ns=x\n", SdpError::Missing('o')),
            (
                "v=0\no=- 1 x IN IP4 1.2.3.4\n",
                SdpError::Malformed {
                    line: 2,
                    reason: "bad o= line",
                },
            ),
            (
                "v=0\no=- 1 1 IN IP4 1.2.3.4\nc=IN IPX 1.2.3.4\n",
                SdpError::Malformed {
                    line: 3,
                    reason: "bad c= line",
                },
            ),
            (
                "v=0\no=- 1 1 IN IP4 1.2.3.4\nm=audio 70000 RTP/AVP 0\n",
                SdpError::Malformed {
                    line: 3,
                    reason: "bad m= line",
                },
            ),
            (
                "v=0\no=- 1 1 IN IP4 1.2.3.4\nhello\n",
                SdpError::Malformed {
                    line: 3,
                    reason: "not <letter>=<value>",
                },
            ),
        ];
        for (text, error) in cases {
            assert_eq!(
                SessionDescription::parse(text.as_bytes()),
                Err(error),
                "{text:?}"
            );
        }
    }

    #[test]
    fn limits_are_enforced() {
        let big = "v=0\n".to_owned() + &"a=x\n".repeat(MAX_SDP_LEN);
        assert!(matches!(
            SessionDescription::parse(big.as_bytes()),
            Err(SdpError::TooLarge { .. })
        ));
        let many = "v=0\no=- 1 1 IN IP4 1.2.3.4\n".to_owned() + &"m=audio 1 RTP/AVP 0\n".repeat(17);
        assert_eq!(
            SessionDescription::parse(many.as_bytes()),
            Err(SdpError::TooMany("media sections"))
        );
        let formats = (0..200)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(" ");
        let wide = format!("v=0\no=- 1 1 IN IP4 1.2.3.4\nm=audio 1 RTP/AVP {formats}\n");
        assert_eq!(
            SessionDescription::parse(wide.as_bytes()),
            Err(SdpError::TooMany("formats"))
        );
        assert_eq!(
            SessionDescription::parse(&[0xff, 0xfe]),
            Err(SdpError::NotUtf8)
        );
    }
}
