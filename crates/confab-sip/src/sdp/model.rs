//! The SDP data model: one session description with its media sections, and the printer.
//!
//! The model keeps what offer/answer needs in typed fields (origin, connection, media lines,
//! `rtpmap`, `fmtp`, `ptime`, direction, `rtcp`) and every other attribute verbatim, in order, so
//! nothing a peer said is lost. Lines that carry nothing for an audio call (`i=`, `u=`, `e=`, `p=`,
//! `b=`, `z=`, `k=`, `r=`) are accepted by the parser and not kept.
//!
//! [`SessionDescription`] prints itself with [`std::fmt::Display`] in the order RFC 8866 §5
//! requires, with CRLF line ends; typed attributes come before the verbatim ones.

use std::fmt;
use std::net::IpAddr;

use confab_media::PayloadType;

/// A whole session description (RFC 8866 §5): the session-level lines and the media sections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// The `o=` line: who made the description and which version of it this is.
    pub origin: Origin,
    /// The `s=` line's text (`-` or a space when the maker has no name to give).
    pub session_name: String,
    /// The session-level `c=` line, the default for media sections without their own.
    pub connection: Option<Connection>,
    /// The first `t=` line: start and stop times, `0 0` for a permanent session.
    pub timing: (u64, u64),
    /// A session-level direction attribute, the default for media sections without one.
    pub direction: Option<Direction>,
    /// Other session-level attributes, verbatim and in order.
    pub attributes: Vec<Attribute>,
    /// The `m=` sections in order; their positions pair offers with answers (RFC 3264 §6).
    pub media: Vec<MediaDescription>,
}

/// The `o=` line (RFC 8866 §5.2). The network type is always `IN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The user name, `-` when there is none.
    pub username: String,
    /// The session id, kept as the digits the maker wrote (it only has to stay the same).
    pub session_id: String,
    /// The version, which the maker increments whenever the description changes (RFC 3264 §8).
    pub session_version: u64,
    /// The address type and address of the machine that made the description.
    pub address: Connection,
}

/// A `c=` line, or the address part of `o=` and `a=rtcp` (network type `IN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// `IP4` or `IP6`.
    pub addr_type: AddrType,
    /// The address as written: an IP literal, or (rarely) a host name or multicast group.
    pub address: String,
}

/// The address type of a [`Connection`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrType {
    /// `IP4`.
    Ip4,
    /// `IP6`.
    Ip6,
}

/// The media direction attributes of RFC 3264 §5.1, always from the point of view of the party
/// that wrote the description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `a=sendrecv`, the default when no direction is given.
    SendRecv,
    /// `a=sendonly`: the writer sends and does not want to receive (it holds the other side).
    SendOnly,
    /// `a=recvonly`: the writer receives and will not send.
    RecvOnly,
    /// `a=inactive`: nothing flows either way.
    Inactive,
}

/// One `m=` section (RFC 8866 §5.14) with the attributes that belong to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// The media type: `audio`, `video`, `application`, ...
    pub kind: String,
    /// The transport port; 0 means the stream is rejected or removed.
    pub port: u16,
    /// The `/<number of ports>` suffix of the port, when given.
    pub port_count: Option<u16>,
    /// The transport protocol, such as `RTP/AVP`.
    pub protocol: String,
    /// The format list: RTP payload type numbers for RTP protocols, tokens otherwise.
    pub formats: Vec<String>,
    /// The media-level `c=` line, overriding the session's.
    pub connection: Option<Connection>,
    /// `a=rtpmap` lines in order.
    pub rtpmaps: Vec<RtpMap>,
    /// `a=fmtp` lines in order.
    pub fmtps: Vec<Fmtp>,
    /// `a=ptime`: the packet length in milliseconds the writer wants to receive.
    pub ptime: Option<u32>,
    /// `a=maxptime`: the longest packet the writer can receive, in milliseconds.
    pub maxptime: Option<u32>,
    /// The media-level direction attribute, overriding the session's.
    pub direction: Option<Direction>,
    /// `a=rtcp` (RFC 3605): where the writer wants RTCP when it is not on the next port.
    pub rtcp: Option<Rtcp>,
    /// `a=rtcp-mux` (RFC 5761): RTCP shares the RTP port.
    pub rtcp_mux: bool,
    /// Other attributes, verbatim and in order.
    pub attributes: Vec<Attribute>,
}

/// An `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]` attribute (RFC 8866 §6.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// The payload type number being described.
    pub payload_type: PayloadType,
    /// The encoding name as written (`PCMU`, `telephone-event`, `opus`, ...).
    pub encoding: String,
    /// The RTP clock rate in Hz.
    pub clock_rate: u32,
    /// The channel count for audio, when given.
    pub channels: Option<u16>,
}

/// An `a=fmtp:<pt> <parameters>` attribute (RFC 8866 §6.15); the parameters stay a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fmtp {
    /// The payload type the parameters apply to.
    pub payload_type: PayloadType,
    /// The format-specific parameters, such as `0-16` for telephone events.
    pub parameters: String,
}

/// An `a=rtcp:<port> [IN <addrtype> <address>]` attribute (RFC 3605).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtcp {
    /// The RTCP port.
    pub port: u16,
    /// The RTCP address, when it differs from the RTP one.
    pub connection: Option<Connection>,
}

/// An attribute kept verbatim: `a=<name>` or `a=<name>:<value>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The name, before any `:`.
    pub name: String,
    /// The value after the first `:`, if there was one.
    pub value: Option<String>,
}

impl Connection {
    /// The connection for an IP address, with the matching address type.
    pub fn ip(address: IpAddr) -> Self {
        let addr_type = match address {
            IpAddr::V4(_) => AddrType::Ip4,
            IpAddr::V6(_) => AddrType::Ip6,
        };
        Self {
            addr_type,
            address: address.to_string(),
        }
    }

    /// The address as an IP address, or `None` for a host name or multicast group.
    pub fn ip_addr(&self) -> Option<IpAddr> {
        self.address.parse().ok()
    }
}

impl Direction {
    /// The direction named by an attribute, if `name` is one of the four.
    pub fn from_attribute(name: &str) -> Option<Self> {
        match name {
            "sendrecv" => Some(Self::SendRecv),
            "sendonly" => Some(Self::SendOnly),
            "recvonly" => Some(Self::RecvOnly),
            "inactive" => Some(Self::Inactive),
            _ => None,
        }
    }

    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    /// The direction with the given abilities.
    pub fn from_flags(sends: bool, receives: bool) -> Self {
        match (sends, receives) {
            (true, true) => Self::SendRecv,
            (true, false) => Self::SendOnly,
            (false, true) => Self::RecvOnly,
            (false, false) => Self::Inactive,
        }
    }

    /// Whether the writer sends media.
    pub fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    /// Whether the writer receives media.
    pub fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }

    /// The same stream seen from the other end: what the offerer sends, the answerer receives
    /// (RFC 3264 §6.1: `sendonly` is answered `recvonly`, `inactive` stays `inactive`).
    #[must_use]
    pub fn reversed(self) -> Self {
        Self::from_flags(self.receives(), self.sends())
    }

    /// Only what both directions allow.
    #[must_use]
    pub fn intersect(self, other: Direction) -> Self {
        Self::from_flags(
            self.sends() && other.sends(),
            self.receives() && other.receives(),
        )
    }
}

impl MediaDescription {
    /// The `rtpmap` for a payload type, if the section has one.
    pub fn rtpmap(&self, payload_type: PayloadType) -> Option<&RtpMap> {
        self.rtpmaps.iter().find(|m| m.payload_type == payload_type)
    }

    /// The `fmtp` parameters for a payload type, if the section has them.
    pub fn fmtp(&self, payload_type: PayloadType) -> Option<&str> {
        self.fmtps
            .iter()
            .find(|f| f.payload_type == payload_type)
            .map(|f| f.parameters.as_str())
    }

    /// The formats that are RTP payload type numbers, in order (others are skipped).
    pub fn payload_types(&self) -> impl Iterator<Item = PayloadType> + '_ {
        self.formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok().and_then(PayloadType::new))
    }

    /// Whether the transport is plain RTP with the audio/video profile (`RTP/AVP`), the only
    /// one confab speaks today.
    pub fn is_rtp_avp(&self) -> bool {
        self.protocol.eq_ignore_ascii_case("RTP/AVP")
    }
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        write!(f, "v=0\r\n")?;
        write!(
            f,
            "o={} {} {} {}\r\n",
            o.username, o.session_id, o.session_version, o.address
        )?;
        // RFC 8866 §5.3 wants a non-empty session name; a single space is the neutral one.
        let name = if self.session_name.is_empty() {
            " "
        } else {
            &self.session_name
        };
        write!(f, "s={name}\r\n")?;
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        write!(f, "t={} {}\r\n", self.timing.0, self.timing.1)?;
        if let Some(d) = self.direction {
            write!(f, "a={}\r\n", d.as_str())?;
        }
        for a in &self.attributes {
            write!(f, "{a}")?;
        }
        for m in &self.media {
            write!(f, "{m}")?;
        }
        Ok(())
    }
}

impl fmt::Display for MediaDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m={} {}", self.kind, self.port)?;
        if let Some(n) = self.port_count {
            write!(f, "/{n}")?;
        }
        write!(f, " {}", self.protocol)?;
        for format in &self.formats {
            write!(f, " {format}")?;
        }
        write!(f, "\r\n")?;
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        for m in &self.rtpmaps {
            write!(
                f,
                "a=rtpmap:{} {}/{}",
                m.payload_type.get(),
                m.encoding,
                m.clock_rate
            )?;
            if let Some(ch) = m.channels {
                write!(f, "/{ch}")?;
            }
            write!(f, "\r\n")?;
        }
        for p in &self.fmtps {
            write!(f, "a=fmtp:{} {}\r\n", p.payload_type.get(), p.parameters)?;
        }
        if let Some(ptime) = self.ptime {
            write!(f, "a=ptime:{ptime}\r\n")?;
        }
        if let Some(maxptime) = self.maxptime {
            write!(f, "a=maxptime:{maxptime}\r\n")?;
        }
        if let Some(rtcp) = &self.rtcp {
            write!(f, "a=rtcp:{}", rtcp.port)?;
            if let Some(c) = &rtcp.connection {
                write!(f, " {c}")?;
            }
            write!(f, "\r\n")?;
        }
        if self.rtcp_mux {
            write!(f, "a=rtcp-mux\r\n")?;
        }
        if let Some(d) = self.direction {
            write!(f, "a={}\r\n", d.as_str())?;
        }
        for a in &self.attributes {
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let addr_type = match self.addr_type {
            AddrType::Ip4 => "IP4",
            AddrType::Ip6 => "IP6",
        };
        write!(f, "IN {addr_type} {}", self.address)
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(f, "a={}:{value}\r\n", self.name),
            None => write!(f, "a={}\r\n", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_direction_is_the_reverse() {
        use Direction::*;
        for (offer, answer) in [
            (SendRecv, SendRecv),
            (SendOnly, RecvOnly),
            (RecvOnly, SendOnly),
            (Inactive, Inactive),
        ] {
            assert_eq!(offer.reversed(), answer);
        }
        assert_eq!(SendRecv.intersect(SendOnly), SendOnly);
        assert_eq!(RecvOnly.intersect(SendOnly), Inactive);
    }

    #[test]
    fn connection_for_an_ip_names_its_type() {
        let c = Connection::ip("2001:db8::1".parse().unwrap());
        assert_eq!(c.to_string(), "IN IP6 2001:db8::1");
        assert_eq!(c.ip_addr(), "2001:db8::1".parse().ok());
    }
}
