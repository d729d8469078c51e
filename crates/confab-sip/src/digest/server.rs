//! [`DigestServer`]: confab asking phones for credentials and checking them.
//!
//! Nonces come in two kinds:
//! - **derived** ([`DigestServer::challenge`]): the issue time and an HMAC-SHA-256 of it under
//!   the server's secret, so any node sharing the secret can check one without having stored
//!   it, even after a restart;
//! - **given** ([`DigestServer::challenge_with_nonce`]): random text from the caller, which the
//!   server remembers with its issue time.
//!
//! A nonce is good for [`DigestServerConfig::nonce_lifetime`]; a correct answer with an older
//! one is refused as [`DigestRejection::StaleNonce`], and the next challenge says `stale=true`
//! so the phone retries without asking its user. Every answer must use a qop, and each nonce
//! count is accepted once (a sliding window of 64 tolerates requests that overtake each other),
//! so a captured request cannot be replayed. The state kept is bounded by
//! [`DigestServerConfig::max_nonces`].

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{response, Algorithm, Authorization, Challenge, DigestRequest, Qop, ResponseInput};

/// How a [`DigestServer`] challenges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestServerConfig {
    /// The realm named in challenges and required in answers.
    pub realm: String,
    /// The key derived nonces are signed with; keep it secret and share it between nodes.
    pub secret: Vec<u8>,
    /// The algorithms offered, one challenge each, preferred first (RFC 8760 §2.4: SHA-256
    /// before MD5, which most phones still need).
    pub algorithms: Vec<Algorithm>,
    /// How long a nonce is good for.
    pub nonce_lifetime: Duration,
    /// The most nonces whose counts are remembered; the oldest are forgotten first.
    pub max_nonces: usize,
}

/// Why credentials were refused. Answer with a new challenge (stale when
/// [`DigestRejection::is_stale`]), or 403 after repeated failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DigestRejection {
    /// The credentials are for another realm.
    WrongRealm,
    /// The algorithm is not one the server offered.
    AlgorithmNotOffered,
    /// The credentials use no qop (RFC 2069 style), which has no replay protection.
    QopMissing,
    /// `uri=` is not the Request-URI.
    UriMismatch,
    /// The nonce is not one this server issued.
    UnknownNonce,
    /// The response hash is wrong: wrong password or user name.
    WrongResponse,
    /// The response is right but the nonce has expired.
    StaleNonce,
    /// This nonce count was already used with this nonce.
    Replayed,
}

/// A server's record of one nonce.
#[derive(Debug, Clone, Copy)]
struct NonceState {
    /// Seconds since the UNIX epoch when the nonce was issued.
    issued: u64,
    /// The highest nonce count accepted so far (0: none yet).
    highest_nc: u32,
    /// Bit `i` set: count `highest_nc - i` was accepted.
    seen: u64,
}

/// Issues challenges and verifies credentials for one realm.
#[derive(Debug, Clone)]
pub struct DigestServer {
    /// Realm, secret, algorithms, lifetime, bound.
    config: DigestServerConfig,
    /// Nonces given by the caller, and every nonce answered at least once.
    nonces: HashMap<String, NonceState>,
}

/// The count window: a count up to this far below the highest seen is still accepted once.
const WINDOW: u32 = 64;

impl DigestServerConfig {
    /// A configuration with SHA-256 and MD5 offered, nonces good for five minutes, and up to
    /// 4096 nonces remembered.
    pub fn new(realm: impl Into<String>, secret: impl Into<Vec<u8>>) -> Self {
        Self {
            realm: realm.into(),
            secret: secret.into(),
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            nonce_lifetime: Duration::from_secs(300),
            max_nonces: 4096,
        }
    }
}

impl DigestRejection {
    /// Whether the next challenge should say `stale=true`.
    pub fn is_stale(self) -> bool {
        self == Self::StaleNonce
    }
}

impl DigestServer {
    /// A server for one realm.
    pub fn new(config: DigestServerConfig) -> Self {
        Self {
            config,
            nonces: HashMap::new(),
        }
    }

    /// The challenges to send (one header each), with a nonce derived from the secret and
    /// `now`. Pass `stale` from the rejection that caused them.
    #[must_use]
    pub fn challenge(&self, now: SystemTime, stale: bool) -> Vec<Challenge> {
        let issued = seconds(now);
        let nonce = format!("{issued:016x}{}", self.signature(issued));
        self.challenges(nonce, stale)
    }

    /// The challenges to send with a nonce the caller made (random text of its own). The
    /// server remembers it as issued at `now`.
    #[must_use]
    pub fn challenge_with_nonce(
        &mut self,
        now: SystemTime,
        nonce: &str,
        stale: bool,
    ) -> Vec<Challenge> {
        let issued = seconds(now);
        self.remember(
            issued,
            nonce,
            NonceState {
                issued,
                highest_nc: 0,
                seen: 0,
            },
        );
        self.challenges(nonce.to_owned(), stale)
    }

    /// Checks credentials for `request`, given the password of `authorization.username` (the
    /// caller looks it up; an unknown user is the caller's to refuse). The response hash is
    /// compared in constant time.
    #[must_use = "a rejection must be answered with a new challenge or 403"]
    pub fn verify(
        &mut self,
        now: SystemTime,
        authorization: &Authorization,
        request: &DigestRequest<'_>,
        password: &str,
    ) -> Result<(), DigestRejection> {
        let auth = authorization;
        if auth.realm != self.config.realm {
            return Err(DigestRejection::WrongRealm);
        }
        if !self.config.algorithms.contains(&auth.algorithm) {
            return Err(DigestRejection::AlgorithmNotOffered);
        }
        let (Some(qop), Some(nc), Some(cnonce)) = (auth.qop, auth.nc, auth.cnonce.as_deref())
        else {
            return Err(DigestRejection::QopMissing);
        };
        if auth.uri != request.uri {
            return Err(DigestRejection::UriMismatch);
        }
        let mut state = self
            .nonces
            .get(&auth.nonce)
            .copied()
            .or_else(|| self.derived_state(&auth.nonce))
            .ok_or(DigestRejection::UnknownNonce)?;
        let expected = response(&ResponseInput {
            algorithm: auth.algorithm,
            username: &auth.username,
            realm: &auth.realm,
            password,
            nonce: &auth.nonce,
            cnonce,
            nc,
            qop: Some(qop),
            request,
        });
        let given = auth.response.to_ascii_lowercase();
        if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
            return Err(DigestRejection::WrongResponse);
        }
        let now = seconds(now);
        if now.saturating_sub(state.issued) > self.config.nonce_lifetime.as_secs() {
            self.nonces.remove(&auth.nonce);
            return Err(DigestRejection::StaleNonce);
        }
        if !state.accept(nc) {
            return Err(DigestRejection::Replayed);
        }
        self.remember(now, &auth.nonce, state);
        Ok(())
    }

    /// How many nonces the server currently remembers.
    pub fn remembered_nonces(&self) -> usize {
        self.nonces.len()
    }

    fn challenges(&self, nonce: String, stale: bool) -> Vec<Challenge> {
        self.config
            .algorithms
            .iter()
            .map(|&algorithm| Challenge {
                realm: self.config.realm.clone(),
                nonce: nonce.clone(),
                opaque: None,
                algorithm,
                qop: vec![Qop::Auth],
                stale,
                domain: None,
            })
            .collect()
    }

    /// The state of a derived nonce that was never answered, if its signature is right.
    fn derived_state(&self, nonce: &str) -> Option<NonceState> {
        let (issued_hex, signature) = nonce.split_at_checked(16)?;
        if !issued_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let issued = u64::from_str_radix(issued_hex, 16).ok()?;
        let expected = self.signature(issued);
        bool::from(expected.as_bytes().ct_eq(signature.as_bytes())).then_some(NonceState {
            issued,
            highest_nc: 0,
            seen: 0,
        })
    }

    /// The signature part of a derived nonce: HMAC-SHA-256 over the issue time and realm,
    /// 128 bits in hex.
    fn signature(&self, issued: u64) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.config.secret)
            .expect("HMAC accepts keys of any length");
        mac.update(&issued.to_be_bytes());
        mac.update(self.config.realm.as_bytes());
        super::to_hex(&mac.finalize().into_bytes()[..16])
    }

    /// Stores a nonce's state, forgetting expired nonces and then the oldest when full.
    fn remember(&mut self, now: u64, nonce: &str, state: NonceState) {
        if !self.nonces.contains_key(nonce) && self.nonces.len() >= self.config.max_nonces {
            let lifetime = self.config.nonce_lifetime.as_secs();
            self.nonces
                .retain(|_, s| now.saturating_sub(s.issued) <= lifetime);
            while self.nonces.len() >= self.config.max_nonces.max(1) {
                let oldest = self
                    .nonces
                    .iter()
                    .min_by_key(|(_, s)| s.issued)
                    .map(|(n, _)| n.clone());
                match oldest {
                    Some(n) => self.nonces.remove(&n),
                    None => break,
                };
            }
        }
        self.nonces.insert(nonce.to_owned(), state);
    }
}

impl NonceState {
    /// Records count `nc` if it was not used before and is not too far behind.
    fn accept(&mut self, nc: u32) -> bool {
        if nc == 0 {
            return false;
        }
        if nc > self.highest_nc {
            let shift = nc - self.highest_nc;
            self.seen = if shift >= 64 { 0 } else { self.seen << shift };
            self.seen |= 1;
            self.highest_nc = nc;
            return true;
        }
        let behind = self.highest_nc - nc;
        if behind >= WINDOW || self.seen & (1 << behind) != 0 {
            return false;
        }
        self.seen |= 1 << behind;
        true
    }
}

fn seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_window_accepts_each_count_once() {
        let mut state = NonceState {
            issued: 0,
            highest_nc: 0,
            seen: 0,
        };
        assert!(!state.accept(0));
        assert!(state.accept(1));
        assert!(!state.accept(1));
        assert!(state.accept(3));
        assert!(state.accept(2), "overtaken by 3, still fresh");
        assert!(!state.accept(2));
        assert!(state.accept(200));
        assert!(!state.accept(3), "too far behind");
        assert!(state.accept(150));
    }
}
