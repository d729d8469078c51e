//! [`DigestClient`]: confab answering a challenge with its credentials.

use super::header::printable;
use super::{response, Authorization, Challenge, DigestError, DigestRequest, Qop, ResponseInput};

/// How many nonces the client remembers counts for; a call meets one or two (a proxy's and
/// the far end's), so a few suffice.
const REMEMBERED_NONCES: usize = 8;

/// The credentials of one account (a trunk's, or `SipAuthUsername`/`SipAuthPassword` of a
/// call) and the nonce counts of the challenges it answered.
///
/// Give it the chosen [`Challenge`] (see [`Challenge::choose`]), the request about to be sent
/// again, and a fresh client nonce; it returns the header value to add. The caller resends the
/// request with the same Call-ID, CSeq + 1 and a new branch (RFC 3261 §22.2), and `uri` must
/// be the Request-URI exactly as sent.
#[derive(Debug, Clone)]
pub struct DigestClient {
    /// The user name sent in `username=`.
    username: String,
    /// The password hashed into HA1.
    password: String,
    /// `(realm, nonce, last nc)`, most recent last.
    counts: Vec<(String, String, u32)>,
}

impl DigestClient {
    /// A client for one user name and password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
            counts: Vec::new(),
        }
    }

    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The credentials answering `challenge` for `request`. `cnonce` is the client nonce,
    /// fresh random text from the caller; it is used only when the challenge has a qop or a
    /// `-sess` algorithm. The nonce count goes up by one for each call with the same nonce.
    ///
    /// `auth` is chosen over `auth-int` when both are offered. Fails when a value cannot
    /// travel in a quoted string (a control character in the user name, the URI or the cnonce).
    pub fn authorize(
        &mut self,
        challenge: &Challenge,
        request: &DigestRequest<'_>,
        cnonce: &str,
    ) -> Result<Authorization, DigestError> {
        for (name, value) in [
            ("username", &*self.username),
            ("uri", request.uri),
            ("cnonce", cnonce),
        ] {
            if !printable(value) {
                return Err(DigestError::InvalidValue(name));
            }
        }
        let qop = if challenge.qop.contains(&Qop::Auth) {
            Some(Qop::Auth)
        } else {
            challenge.qop.first().copied()
        };
        let uses_cnonce = qop.is_some() || challenge.algorithm.is_session();
        let nc = self.next_count(&challenge.realm, &challenge.nonce);
        let response = response(&ResponseInput {
            algorithm: challenge.algorithm,
            username: &self.username,
            realm: &challenge.realm,
            password: &self.password,
            nonce: &challenge.nonce,
            cnonce,
            nc,
            qop,
            request,
        });
        Ok(Authorization {
            username: self.username.clone(),
            realm: challenge.realm.clone(),
            nonce: challenge.nonce.clone(),
            uri: request.uri.to_owned(),
            response,
            algorithm: challenge.algorithm,
            cnonce: uses_cnonce.then(|| cnonce.to_owned()),
            opaque: challenge.opaque.clone(),
            qop,
            nc: qop.map(|_| nc),
        })
    }

    /// The next nonce count for a nonce: 1 for a new one.
    fn next_count(&mut self, realm: &str, nonce: &str) -> u32 {
        let position = self
            .counts
            .iter()
            .position(|(r, n, _)| r == realm && n == nonce);
        let nc = match position {
            Some(i) => self.counts.remove(i).2.saturating_add(1),
            None => 1,
        };
        if self.counts.len() == REMEMBERED_NONCES {
            self.counts.remove(0);
        }
        self.counts.push((realm.to_owned(), nonce.to_owned(), nc));
        nc
    }
}
