//! SIP call legs: a dialog of the SIP driver ([`crate::sip`]) seen as a [`Leg`].
//!
//! The leg itself holds no SIP state: it names its dialog ([`LegId`]) and forwards what the
//! call actor asks (answer, reject, hang up, connect media) to the driver, which reports
//! progress on the actor's [`LegEvents`] channel exactly as a simulated leg does.
//!
//! A `To` that is a phone number is dialed through the configured trunk
//! ([`crate::sip::Trunk`]); [`check_reachable`] lets the API refuse it up front when there is
//! none.

use std::net::SocketAddr;
use std::time::Duration;

use confab_core::endpoint::Endpoint;
use confab_core::error::codes;
use confab_core::request::SipAuth;
use confab_core::ApiError;

use super::leg::{Leg, LegEvent, LegEvents};
use crate::sip::{Command, LegId, SipHandle, SipTarget};

/// Refuses a phone number `To` when no trunk can reach it: SIP is off or no `--sip-trunk` is
/// configured. Twilio answers a `To` it cannot call with 400 and code 21211 ("Invalid 'To'
/// Phone Number", reference twilio-conference-api.md §6.2), so confab does too. Other
/// endpoints pass.
pub fn check_reachable(endpoint: &Endpoint, sip: Option<&SipHandle>) -> Result<(), ApiError> {
    let Endpoint::Number(number) = endpoint else {
        return Ok(());
    };
    if sip.and_then(SipHandle::trunk).is_some() {
        return Ok(());
    }
    Err(ApiError::invalid(
        codes::INVALID_TO,
        format!("To {number:?} is a phone number, but no SIP trunk is configured to reach phone numbers (--sip-trunk)"),
    ))
}

/// One SIP dialog as a call leg.
pub struct SipLeg {
    sip: SipHandle,
    leg: LegId,
    /// The leg was ended (hung up or rejected): nothing more is sent for it.
    ended: bool,
}

impl SipLeg {
    /// Places a call to `to` from `from` (the caller id), cancelled after `timeout_secs` of
    /// ringing. `to` is a SIP URI (`sip:user@host[:port][;transport=tcp][?x-header=value]`),
    /// dialed directly and answering a 401/407 with `auth`; or a phone number (E.164, visual
    /// separators allowed), dialed through the trunk with the trunk's credentials and From
    /// policy (`auth` is not used). Progress goes to `events`; a `To` that cannot be dialed or
    /// resolved, a number without a trunk, or a server without SIP, reports
    /// [`LegEvent::Failed`].
    pub fn place(
        sip: Option<&SipHandle>,
        to: &str,
        from: &str,
        timeout_secs: u32,
        auth: Option<SipAuth>,
        events: LegEvents,
    ) -> Option<SipLeg> {
        let Some(sip) = sip else {
            tracing::warn!(%to, "SIP is off (--sip-listen off): the call fails");
            let _ = events.send(LegEvent::Failed);
            return None;
        };
        let (mut target, from, asserted, auth) = match crate::sip::number_of(to) {
            Some(number) => {
                let Some(trunk) = sip.trunk() else {
                    tracing::info!(%number, "no SIP trunk is configured: the call to a number fails");
                    let _ = events.send(LegEvent::Failed);
                    return None;
                };
                let call = trunk.call(&number, from);
                (call.target, call.from, call.asserted, trunk.auth.clone())
            }
            None => match SipTarget::parse(to) {
                Ok(target) => (target, from.to_owned(), None, auth),
                Err(e) => {
                    tracing::info!(%to, error = %e, "SIP To cannot be dialed");
                    let _ = events.send(LegEvent::Failed);
                    return None;
                }
            },
        };
        let leg = sip.new_leg();
        let handle = sip.clone();
        let timeout = Duration::from_secs(u64::from(timeout_secs.max(1)));
        tokio::spawn(async move {
            match target.resolve().await {
                Some(addr) => {
                    // The driver sends to the resolved address; the URI keeps the name.
                    target.host = addr.ip().to_string();
                    target.port = addr.port();
                    handle.send(Command::Place {
                        leg,
                        target,
                        from,
                        asserted,
                        timeout,
                        auth,
                        events,
                    });
                }
                None => {
                    tracing::info!(host = %target.host, "SIP host does not resolve");
                    handle.send(Command::Unreachable(leg, events));
                }
            }
        });
        Some(SipLeg {
            sip: sip.clone(),
            leg,
            ended: false,
        })
    }

    /// The leg of an inbound dialog the driver holds already.
    pub(crate) fn inbound(sip: SipHandle, leg: LegId) -> SipLeg {
        SipLeg {
            sip,
            leg,
            ended: false,
        }
    }
}

impl Leg for SipLeg {
    fn connect_media(&mut self, local: SocketAddr) {
        if !self.ended {
            self.sip.send(Command::MediaAt(self.leg, local));
        }
    }

    fn hang_up(&mut self) {
        if !std::mem::replace(&mut self.ended, true) {
            self.sip.send(Command::HangUp(self.leg));
        }
    }

    fn ring(&mut self) {
        if !self.ended {
            self.sip.send(Command::Ring(self.leg));
        }
    }

    fn answer(&mut self) {
        if !self.ended {
            self.sip.send(Command::Answer(self.leg));
        }
    }

    fn reject(&mut self, busy: bool) {
        if !std::mem::replace(&mut self.ended, true) {
            let status = if busy { 486 } else { 603 };
            self.sip.send(Command::Reject(self.leg, status));
        }
    }
}

impl Drop for SipLeg {
    /// A leg dropped without being ended (its actor stopped) still ends its dialog.
    fn drop(&mut self) {
        self.hang_up();
    }
}
