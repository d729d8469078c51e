//! Who may call in: address ranges let INVITEs through as they are, digest credentials
//! (RFC 3261 §22, RFC 8760) are asked of everyone else.
//!
//! [`InboundAuth`] is the policy a [`UserAgent`](super::UserAgent) applies to every new INVITE
//! before it becomes a call ([`UserAgent::set_inbound_auth`](super::UserAgent::set_inbound_auth)):
//! - from an address inside an allowed range ([`AddressRange`]): admitted;
//! - no credentials configured (only ranges): 403;
//! - no answer to our challenge in the INVITE, an answer to a nonce we no longer know, or an
//!   expired nonce: 401 with a fresh challenge per offered algorithm (MD5, then SHA-256, both
//!   `qop=auth`; `stale=true` for an expired nonce);
//! - an unknown user, a wrong response, a replayed nonce count, a `uri=` that is not the
//!   Request-URI, or an answer without qop: 403;
//! - a right answer: admitted, and the call's [`Event::Incoming`](super::Event::Incoming)
//!   names the user.
//!
//! MD5 comes first although RFC 8760 §2.4 suggests the preferred algorithm first: many user
//! agents (SIPp, older phones) answer only the first challenge and give up on SHA-256, while
//! those that know SHA-256 pick it from anywhere in the list. The order buys no security: the
//! challenges are not protected, so MD5 being offered at all is what counts.
//!
//! Nonces are those of [`DigestServer`]: signed with a secret, so they need no storage until
//! answered, and each nonce count is accepted once. The digest server counts time on the wall
//! clock (nonces outlive a restart when the secret does); the user agent gets [`Instant`]s, so
//! the policy is given one pair of both when made and counts from it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Instant, SystemTime};

use crate::digest::{
    Algorithm, Authorization, Challenge, DigestRequest, DigestServer, DigestServerConfig,
};
use crate::message::Message;

/// An IP network, `10.0.0.0/8` or `2001:db8::/32`; a bare address is a range of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRange {
    network: IpAddr,
    prefix: u8,
}

/// The digest policy for inbound INVITEs; see the module docs.
#[derive(Debug, Clone)]
pub struct InboundAuth {
    /// Addresses admitted without credentials.
    allow: Vec<AddressRange>,
    /// The realm challenges name and answers must name.
    realm: String,
    /// Passwords by user name.
    credentials: HashMap<String, String>,
    /// Issues and checks nonces.
    server: DigestServer,
    /// One instant and the wall-clock time at it, to turn `now` into wall-clock time.
    epoch: (Instant, SystemTime),
}

/// What to do with a new INVITE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Admission {
    /// Let it through, authenticated as this user if any.
    Admit(Option<String>),
    /// Answer 401 with these challenges.
    Challenge(Vec<Challenge>),
    /// Answer 403.
    Forbid,
}

impl AddressRange {
    /// Parses `ADDRESS[/PREFIX]`.
    pub fn parse(text: &str) -> Result<AddressRange, String> {
        let text = text.trim();
        let (address, prefix) = text.split_once('/').unwrap_or((text, ""));
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("{text:?} is not an address range (e.g. 10.0.0.0/8)"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            "" => max,
            p => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(AddressRange { network, prefix })
    }

    /// Whether `ip` is inside (an IPv4 address mapped into IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let (network, ip, bits) = match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                (u128::from(n.to_bits()), u128::from(a.to_bits()), 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => (n.to_bits(), a.to_bits(), 128),
            _ => return false,
        };
        let host_bits = bits - u32::from(self.prefix);
        let mask = u128::MAX.checked_shl(host_bits).unwrap_or(0);
        network & mask == ip & mask
    }
}

impl InboundAuth {
    /// A policy: `credentials` (user name and password pairs; none for an address list only),
    /// `allow`ed ranges, the digest `realm` and the `secret` nonces are signed with, and one
    /// instant with the wall-clock time at it.
    pub fn new(
        realm: &str,
        secret: &[u8],
        credentials: impl IntoIterator<Item = (String, String)>,
        allow: Vec<AddressRange>,
        epoch: (Instant, SystemTime),
    ) -> InboundAuth {
        let mut config = DigestServerConfig::new(realm, secret);
        config.algorithms = vec![Algorithm::Md5, Algorithm::Sha256];
        InboundAuth {
            allow,
            realm: realm.to_owned(),
            credentials: credentials.into_iter().collect(),
            server: DigestServer::new(config),
            epoch,
        }
    }

    /// Decides about a new INVITE from `source`.
    pub(super) fn admit(&mut self, now: Instant, invite: &Message, source: IpAddr) -> Admission {
        if self.allow.iter().any(|range| range.contains(source)) {
            return Admission::Admit(None);
        }
        if self.credentials.is_empty() {
            return Admission::Forbid;
        }
        let wall = self.epoch.1 + now.saturating_duration_since(self.epoch.0);
        let answer = invite
            .authorization()
            .into_iter()
            .filter_map(|value| Authorization::parse(value).ok())
            .find(|a| a.realm == self.realm);
        let Some(answer) = answer else {
            return Admission::Challenge(self.server.challenge(wall, false));
        };
        let Some(password) = self.credentials.get(&answer.username) else {
            return Admission::Forbid;
        };
        let request = DigestRequest {
            method: "INVITE",
            uri: invite.request_uri().unwrap_or_default(),
            body: &invite.body,
        };
        match self.server.verify(wall, &answer, &request, password) {
            Ok(()) => Admission::Admit(Some(answer.username)),
            Err(rejection) if rejection.is_stale() => {
                Admission::Challenge(self.server.challenge(wall, true))
            }
            Err(crate::digest::DigestRejection::UnknownNonce) => {
                Admission::Challenge(self.server.challenge(wall, false))
            }
            Err(_) => Admission::Forbid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn ranges_contain_their_addresses() {
        let table = [
            ("10.0.0.0/8", "10.200.3.4", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("192.168.1.7", "192.168.1.7", true),
            ("192.168.1.7", "192.168.1.8", false),
            ("0.0.0.0/0", "203.0.113.9", true),
            ("127.0.0.1/32", "::ffff:127.0.0.1", true),
            ("2001:db8::/32", "2001:db8:1::5", true),
            ("2001:db8::/32", "2001:db9::5", false),
            ("::/0", "10.0.0.1", false),
        ];
        for (range, address, inside) in table {
            let parsed = AddressRange::parse(range).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(parsed.contains(ip(address)), inside, "{range} {address}");
        }
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "",
            "host/8",
            "10.0.0.0/-1",
        ] {
            assert!(AddressRange::parse(bad).is_err(), "{bad}");
        }
    }
}
