//! When to latch a peer's RTP (symmetric RTP, RFC 4961): a phone behind NAT writes its private
//! address in SDP `c=`, while its packets reach confab from the NAT's public address, the same
//! one its SIP messages come from.

use std::net::{IpAddr, SocketAddr};

/// The IP address to latch a peer's RTP to, or `None` to take its SDP address as it is.
///
/// `remote_rtp` is where its SDP says its RTP is; `signalling` the address its INVITE or 200
/// came from. When the SDP address is a private one (RFC 1918, the carrier-grade NAT range of
/// RFC 6598, IPv6 unique local addresses) or is not the signalling address, the peer is
/// probably behind NAT: its packets will come from the signalling address, so that is the IP
/// to latch to. An SDP address equal to the signalling one and public needs nothing.
pub fn latch_ip(remote_rtp: SocketAddr, signalling: IpAddr) -> Option<IpAddr> {
    let sdp = canonical(remote_rtp.ip());
    let signalling = canonical(signalling);
    (sdp != signalling || is_private(sdp)).then_some(signalling)
}

/// An IPv4 address mapped into IPv6 as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private() || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn private_or_other_sdp_addresses_latch_to_the_signalling_address() {
        let table = [
            // A phone behind NAT: private c=, messages from the public address.
            ("192.168.1.20:4000", "203.0.113.5", Some("203.0.113.5")),
            ("10.1.2.3:4000", "198.51.100.9", Some("198.51.100.9")),
            ("172.20.0.4:4000", "198.51.100.9", Some("198.51.100.9")),
            ("100.70.0.1:4000", "198.51.100.9", Some("198.51.100.9")),
            ("[fd00::5]:4000", "2001:db8::1", Some("2001:db8::1")),
            // On the same LAN as confab: private, and the signalling address; harmless.
            ("10.0.0.7:4000", "10.0.0.7", Some("10.0.0.7")),
            // A public c= that is not where the messages came from.
            ("198.51.100.20:4000", "203.0.113.5", Some("203.0.113.5")),
            // Public and the same: nothing to do.
            ("203.0.113.5:4000", "203.0.113.5", None),
            ("203.0.113.5:4000", "::ffff:203.0.113.5", None),
            ("[2001:db8::1]:4000", "2001:db8::1", None),
            ("172.32.0.1:4000", "172.32.0.1", None),
        ];
        for (sdp, signalling, latch) in table {
            assert_eq!(
                latch_ip(addr(sdp), ip(signalling)),
                latch.map(ip),
                "{sdp} from {signalling}"
            );
        }
    }
}
