//! SIP call legs: a dialog of the SIP driver ([`crate::sip`]) seen as a [`Leg`].
//!
//! The leg itself holds no SIP state: it names its dialog ([`LegId`]) and forwards what the
//! call actor asks (answer, reject, hang up, connect media) to the driver, which reports
//! progress on the actor's [`LegEvents`] channel exactly as a simulated leg does.

use std::net::SocketAddr;
use std::time::Duration;

use confab_core::request::SipAuth;

use super::leg::{Leg, LegEvent, LegEvents};
use crate::sip::{Command, LegId, SipHandle, SipTarget};

/// One SIP dialog as a call leg.
pub struct SipLeg {
    sip: SipHandle,
    leg: LegId,
    /// The leg was ended (hung up or rejected): nothing more is sent for it.
    ended: bool,
}

impl SipLeg {
    /// Places a call to `to` (`sip:user@host[:port][;transport=tcp][?x-header=value]`) from
    /// `from`, cancelled after `timeout_secs` of ringing, answering a 401/407 with `auth`.
    /// Progress goes to `events`; a `To`
    /// that cannot be dialed or resolved, or a server without SIP, reports
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
        let mut target = match SipTarget::parse(to) {
            Ok(target) => target,
            Err(e) => {
                tracing::info!(%to, error = %e, "SIP To cannot be dialed");
                let _ = events.send(LegEvent::Failed);
                return None;
            }
        };
        let leg = sip.new_leg();
        let handle = sip.clone();
        let from = from.to_owned();
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
