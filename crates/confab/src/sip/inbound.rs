//! Inbound INVITEs: which number they call, whose call that is, and the call actor that runs
//! the number's VoiceUrl.
//!
//! The Request-URI user (`sip:+15550100199@confab.example`, with or without `+`) must be a
//! configured phone number; the call then belongs to that number's account. Nothing else is
//! routed: an unknown number is answered 404, a number without a VoiceUrl 480, and no call
//! record exists for either. An INVITE that had to authenticate (`--sip-credentials`) reaches
//! this module only once it did, and its webhook carries `SipUsername`.

use std::sync::Arc;

use confab_core::call::Instructions;
use confab_core::{AccountSid, Call, CallSid, HttpMethod};
use confab_sip::transaction::Peer;
use confab_sip::Message;
use confab_store::{StoreError, Write};
use futures::future::BoxFuture;

use super::{Command, LegId, SipHandle};
use crate::call::leg::{InboundLeg, Leg, LegEvents};
use crate::call::sip::SipLeg;
use crate::state::AppState;

/// Where calls to one number go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberRoute {
    /// The account the number belongs to.
    pub account_sid: AccountSid,
    /// The number in E.164, as the call's `To`.
    pub phone_number: String,
    /// The TwiML URL; `None`: calls are refused.
    pub voice_url: Option<String>,
    /// Its method.
    pub voice_method: HttpMethod,
    /// The fallback URL and method.
    pub voice_fallback: Option<(String, HttpMethod)>,
    /// The call progress webhook of calls to this number.
    pub status_callback: Option<(String, HttpMethod)>,
}

/// Looks numbers up: the store in the server, a table in tests.
pub trait Numbers: Send + Sync {
    /// The route of `number` (E.164 with or without `+`), or `None` if nobody holds it.
    fn route<'a>(
        &'a self,
        number: &'a str,
    ) -> BoxFuture<'a, Result<Option<NumberRoute>, StoreError>>;
}

/// [`Numbers`] from the store's IncomingPhoneNumbers.
pub(super) struct StoreNumbers {
    state: Arc<AppState>,
}

impl StoreNumbers {
    pub(super) fn new(state: Arc<AppState>) -> StoreNumbers {
        StoreNumbers { state }
    }
}

impl Numbers for StoreNumbers {
    fn route<'a>(
        &'a self,
        number: &'a str,
    ) -> BoxFuture<'a, Result<Option<NumberRoute>, StoreError>> {
        Box::pin(async move {
            let found = self.state.store.number_by_e164(number).await?;
            Ok(found.map(|n| NumberRoute {
                account_sid: n.account_sid,
                phone_number: n.phone_number.to_string(),
                voice_url: n.voice_url.filter(|u| !u.is_empty()),
                voice_method: n.voice_method,
                voice_fallback: n
                    .voice_fallback_url
                    .filter(|u| !u.is_empty())
                    .map(|u| (u, n.voice_fallback_method)),
                status_callback: n
                    .status_callback
                    .filter(|u| !u.is_empty())
                    .map(|u| (u, n.status_callback_method)),
            }))
        })
    }
}

/// What routing needs from an INVITE.
#[derive(Debug, Clone)]
pub(super) struct Invite {
    /// The Request-URI user.
    user: String,
    /// The From URI.
    from: String,
    call_id: String,
    source: Peer,
    /// `X-` headers, as sent.
    x_headers: Vec<(String, String)>,
    /// The user its digest credentials authenticated (`--sip-credentials`).
    username: Option<String>,
}

impl Invite {
    pub(super) fn read(request: &Message, source: Peer, username: Option<String>) -> Invite {
        let uri = request.request_uri().unwrap_or_default();
        let user = uri
            .split_once(':')
            .map_or("", |(_, rest)| rest)
            .split(['@', ';', '?'])
            .next()
            .unwrap_or("")
            .to_owned();
        let x_headers = request
            .headers
            .iter()
            .filter(|h| h.name.len() > 2 && h.name[..2].eq_ignore_ascii_case("x-"))
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect();
        Invite {
            user,
            from: request.from.uri.clone(),
            call_id: request.call_id.clone(),
            source,
            x_headers,
            username,
        }
    }

    /// The webhook parameters Twilio adds for SIP calls.
    fn params(&self) -> Vec<(String, String)> {
        let mut params = vec![
            ("SipCallId".to_owned(), self.call_id.clone()),
            ("SipSourceIp".to_owned(), self.source.addr.ip().to_string()),
        ];
        if let Some(user) = &self.username {
            params.push(("SipUsername".to_owned(), user.clone()));
        }
        params.extend(
            self.x_headers
                .iter()
                .map(|(name, value)| (format!("SipHeader_{name}"), value.clone())),
        );
        params
    }
}

/// The number a Request-URI user names: digits with an optional `+` (visual separators
/// dropped), or `None`.
fn number_of(user: &str) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(user)
        .decode_utf8()
        .ok()?;
    let digits = decoded.strip_prefix('+').unwrap_or(&decoded);
    let digits: String = digits.chars().filter(|c| !"-.() ".contains(*c)).collect();
    (!digits.is_empty() && digits.len() <= 15 && digits.chars().all(|c| c.is_ascii_digit()))
        .then(|| format!("+{digits}"))
}

/// Routes one inbound INVITE (see the module docs); runs as its own task.
pub(super) async fn route(
    sip: SipHandle,
    state: Arc<AppState>,
    numbers: Arc<dyn Numbers>,
    leg: LegId,
    invite: Invite,
) {
    let refuse = |status| sip.send(Command::Reject(leg, status));
    let Some(number) = number_of(&invite.user) else {
        return refuse(404);
    };
    let route = match numbers.route(&number).await {
        Ok(Some(route)) => route,
        Ok(None) => {
            tracing::info!(%number, from = %invite.from, "INVITE for an unknown number");
            return refuse(404);
        }
        Err(e) => {
            tracing::error!(error = %e, "number lookup failed");
            return refuse(500);
        }
    };
    let Some(url) = route.voice_url.clone() else {
        tracing::info!(%number, "INVITE for a number without a VoiceUrl");
        return refuse(480);
    };
    let account = match state.account(&route.account_sid).await {
        Ok(Some(account)) => account,
        _ => return refuse(500),
    };
    let now = crate::clock::now();
    let sid = CallSid::mint(account.style, rand::random());
    let mut call = Call::inbound(
        sid,
        account.sid.clone(),
        &invite.from,
        &route.phone_number,
        now,
    );
    if let Some((url, method)) = &route.voice_fallback {
        call.fallback_url = Some(url.clone());
        call.fallback_method = *method;
    }
    if let Some((url, method)) = &route.status_callback {
        call.status_callback = Some(url.clone());
        call.status_callback_method = *method;
    }
    if let Err(e) = state.store.write(vec![Write::Call(call.clone())]).await {
        tracing::error!(error = %e, "storing an inbound call failed");
        return refuse(500);
    }
    tracing::info!(call = %call.sid, %number, from = %invite.from, "inbound SIP call");
    let instructions = Instructions::Url {
        url,
        method: route.voice_method,
    };
    let make: InboundLeg = Box::new(move |events: LegEvents| -> Box<dyn Leg> {
        sip.send(Command::Attach(leg, events));
        Box::new(SipLeg::inbound(sip, leg))
    });
    state
        .calls
        .accept(account, call, instructions, invite.params(), make);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_from_the_user_part() {
        assert_eq!(number_of("+15550100199").as_deref(), Some("+15550100199"));
        assert_eq!(number_of("15550100199").as_deref(), Some("+15550100199"));
        assert_eq!(
            number_of("%2B1555-010-0199").as_deref(),
            Some("+15550100199")
        );
        assert_eq!(number_of("alice"), None);
        assert_eq!(number_of(""), None);
        assert_eq!(number_of("+"), None);
        assert_eq!(number_of("1234567890123456"), None);
    }
}
