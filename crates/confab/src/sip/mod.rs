//! The SIP driver: `confab-sip`'s [`UserAgent`](confab_sip::UserAgent) wired to sockets and to
//! confab's calls.
//!
//! One task (the driver, `driver.rs`) owns the user agent and one
//! [`SdpSession`](confab_sip::SdpSession) per call. It feeds the agent every UDP datagram and
//! every TCP frame received on the SIP port (`transport.rs`), calls its timeout, sends what it
//! polls and turns its events into [`LegEvent`](crate::call::leg::LegEvent)s for the call
//! actors (`driver/events.rs`). Call legs ([`SipLeg`](crate::call::sip::SipLeg)) talk to the driver with
//! [`Command`]s over a channel, through a [`SipHandle`]. The driver takes no protocol decision of
//! its own: retransmissions, dialogs, CANCEL, OPTIONS, 420 for `Require` and the offer/answer
//! rules are the crate's.
//!
//! Inbound INVITEs are routed by `inbound.rs`: the Request-URI user names a configured phone
//! number; its account's call is stored and handed to [`Calls::accept`](crate::call::Calls) with
//! the number's VoiceUrl. Anything that names no number is answered 404 and reaches no account.

mod access;
mod driver;
mod inbound;
mod transport;
mod trunk;
mod uri;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::call::leg::LegEvents;
use crate::state::AppState;

pub use access::InboundAccess;
pub use inbound::{NumberRoute, Numbers};
pub(crate) use trunk::number_of;
pub use trunk::{Trunk, TrunkCall, TrunkFrom};
pub use uri::{SipTarget, TargetError};

/// Settings of the SIP service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipConfig {
    /// Where UDP and TCP listen (the same port for both).
    pub listen: SocketAddr,
    /// The address put in SDP `c=` and in Contact/Via when confab is reached through NAT;
    /// by default the listen address (and the media threads' address for SDP).
    pub external_ip: Option<IpAddr>,
    /// The trunk phone numbers are dialed through (`None`: a number `To` is refused).
    pub trunk: Option<Trunk>,
    /// Who may call in (`None`: every INVITE is let in).
    pub access: Option<InboundAccess>,
}

/// Names one SIP leg for the driver, inbound or outbound; never reused in a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LegId(pub u64);

/// What a call leg asks the driver to do.
#[derive(Debug)]
pub enum Command {
    /// Place a call to `target`; progress goes to `events`.
    Place {
        /// The new leg.
        leg: LegId,
        /// Where and whom to call.
        target: SipTarget,
        /// The caller's `From` (a number or a SIP URI).
        from: String,
        /// A caller id for `P-Asserted-Identity` (a trunk call whose From is fixed).
        asserted: Option<String>,
        /// How long it may ring before confab cancels it.
        timeout: Duration,
        /// Credentials for a 401/407.
        auth: Option<confab_core::request::SipAuth>,
        /// The call actor's channel.
        events: LegEvents,
    },
    /// The address could not be resolved: report the leg failed.
    Unreachable(LegId, LegEvents),
    /// An inbound leg was taken by its call actor: report to `events` from now on.
    Attach(LegId, LegEvents),
    /// Ring an inbound call (180).
    Ring(LegId),
    /// Answer an inbound call (200 with confab's SDP).
    Answer(LegId),
    /// Refuse an inbound call with this status.
    Reject(LegId, u16),
    /// End the leg: BYE, CANCEL or a 603, whatever its state needs.
    HangUp(LegId),
    /// confab now expects the leg's RTP at this address.
    MediaAt(LegId, SocketAddr),
    /// The call's ring timeout ran out.
    RingTimeout(LegId),
    /// The server shuts down: OPTIONS and new INVITEs get 503, and every call is ended (BYE,
    /// CANCEL, or 603 while ringing here); the sender, if any, hears once those are sent.
    Drain(Option<tokio::sync::oneshot::Sender<()>>),
}

/// A way to reach the SIP driver; cheap to clone.
#[derive(Clone)]
pub struct SipHandle {
    commands: mpsc::UnboundedSender<Command>,
    next_leg: Arc<AtomicU64>,
    /// The configured trunk, which legs dialing a number need.
    trunk: Option<Arc<Trunk>>,
}

impl SipHandle {
    /// Sends a command to the driver; dropped silently once the driver is gone (shutdown).
    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    /// A fresh leg id.
    pub fn new_leg(&self) -> LegId {
        LegId(self.next_leg.fetch_add(1, Ordering::Relaxed))
    }

    /// The trunk phone numbers go through, if one is configured.
    pub fn trunk(&self) -> Option<&Trunk> {
        self.trunk.as_deref()
    }
}

/// The running SIP service: dropping it does not stop it (it lives as long as the runtime).
pub struct SipService {
    /// The address UDP and TCP are bound to.
    pub local_addr: SocketAddr,
    /// Commands for the driver.
    pub handle: SipHandle,
}

/// Binds the SIP port (UDP and TCP), starts the driver and tells `state.calls` how to place
/// SIP calls. Fails if either socket cannot be bound.
pub async fn start(config: &SipConfig, state: Arc<AppState>) -> std::io::Result<SipService> {
    let (udp, tcp) = transport::bind(config.listen).await?;
    let local_addr = udp.local_addr()?;
    let (inputs, network) = mpsc::channel(transport::INPUT_QUEUE);
    let (commands, commands_rx) = mpsc::unbounded_channel();
    let handle = SipHandle {
        commands,
        next_leg: Arc::new(AtomicU64::new(1)),
        trunk: config.trunk.clone().map(Arc::new),
    };
    let transport = transport::Transport::start(udp, tcp, inputs);
    let numbers: Arc<dyn Numbers> = Arc::new(inbound::StoreNumbers::new(state.clone()));
    let driver = driver::Driver::new(
        config,
        local_addr,
        transport,
        handle.clone(),
        state.clone(),
        numbers,
    );
    tokio::spawn(driver.run(network, commands_rx));
    state.calls.set_sip(handle.clone());
    Ok(SipService { local_addr, handle })
}
