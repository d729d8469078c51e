//! Live calls: one actor task per call, and the registry that finds them.
//!
//! A call actor owns its [`Call`] record, its [`Leg`](leg::Leg) and what the call runs: either
//! a TwiML program (Calls create with `Url`/`Twiml`, later inbound calls) executed by a
//! [`confab_twiml::Interpreter`], or a conference membership (Participants create). It applies
//! the call's state machine to what the leg reports, writes each change through the store, and
//! tells the conference it is in (if any) through the conference's actor. Conferences reach a
//! call through the [`CallRegistry`] (to hang it up when it is kicked or the conference ends),
//! never through its leg.
//!
//! While a TwiML call is not in a conference its audio (`<Say>`, `<Play>`, DTMF for
//! `<Gather>`) runs through a mixer of its own on a media thread, with the call as its only
//! participant; `<Dial><Conference>` moves it into the conference's mixer and back when it
//! leaves. `<Dial><Number>`/`<Sip>` starts a *callee* call per noun ([`Program::Bridge`]):
//! each reports its progress to the caller's actor ([`CalleeReport`]), which joins the first
//! to answer to its own mixer as a second participant (see `actor/bridge.rs`).

mod actor;
mod audio;
pub mod leg;
pub mod sim;
pub mod sip;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use confab_core::call::Instructions;
use confab_core::call_request::UpdateCall;
use confab_core::endpoint::Endpoint;
use confab_core::{Account, ApiError, Call, CallSid};
use confab_store::Store;
use tokio::sync::{mpsc, oneshot};

use crate::audio::AudioService;
use crate::conference::{self, Conferences};
use crate::media::Media;
use crate::webhook::Outbox;

/// A reply channel for one command.
pub type Reply<T> = oneshot::Sender<Result<T, ApiError>>;

/// What a call actor can be told.
pub enum CallCommand {
    /// Update Call: redirect to new instructions, or hang up.
    Update(UpdateCall, Reply<Call>),
    /// The call's conference took it out: it was kicked, redirected, or the conference ended.
    LeftConference,
    /// The conference mixes the call's audio at this address: point the leg's RTP there.
    MediaAt(SocketAddr),
    /// The caller pressed a key while in a conference.
    Digit(char),
    /// A callee of this call's `<Dial>` made progress (sent by the callee's actor).
    Callee(CalleeReport),
    /// This callee's `<Dial>` is over: hang up (cancel it while it rings).
    EndBridge,
}

/// What a `<Dial>`ed callee's actor tells the caller's actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalleeReport {
    /// The callee rings.
    Ringing(CallSid),
    /// The callee answered; its RTP is at these parameters (to be pointed at the caller's
    /// mixer with [`CallCommand::MediaAt`]).
    Answered(CallSid, leg::LegMedia),
    /// The callee's call ended with this status (busy, no-answer, failed, canceled, or
    /// completed after answering).
    Ended(CallSid, confab_core::CallStatus),
    /// A SIP callee's INVITE got its final answer (before `Answered` or `Ended`).
    Sip(CallSid, leg::SipOutcome),
}

/// A way to reach one live call's actor.
#[derive(Clone)]
pub struct CallHandle {
    tx: mpsc::UnboundedSender<CallCommand>,
}

/// The actor is gone: the call ended meanwhile.
#[derive(Debug)]
pub struct Ended;

impl CallHandle {
    /// Sends a command without waiting.
    pub fn tell(&self, command: CallCommand) -> Result<(), Ended> {
        self.tx.send(command).map_err(|_| Ended)
    }

    /// Resolves once the call's actor is gone (its call ended).
    pub async fn closed(&self) {
        self.tx.closed().await;
    }

    /// Sends a command and waits for its answer.
    pub async fn ask<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> CallCommand,
    ) -> Result<Result<T, ApiError>, Ended> {
        let (reply, answer) = oneshot::channel();
        self.tell(make(reply))?;
        answer.await.map_err(|_| Ended)
    }
}

/// Every live call of this server, by call SID.
#[derive(Default)]
pub struct CallRegistry {
    live: Mutex<HashMap<CallSid, CallHandle>>,
}

impl CallRegistry {
    /// The actor of a live call.
    pub fn live(&self, sid: &CallSid) -> Option<CallHandle> {
        self.lock().get(sid).cloned()
    }

    fn insert(&self, sid: &CallSid, handle: CallHandle) {
        self.lock().insert(sid.clone(), handle);
    }

    fn remove(&self, sid: &CallSid) {
        self.lock().remove(sid);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CallSid, CallHandle>> {
        // Each critical section is one map operation: a panic cannot leave it half done.
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What a call does once answered.
pub enum Program {
    /// Run TwiML from a URL or text, with the call's fallback URL.
    Twiml(Instructions),
    /// Be this conference's participant (created through Participants create).
    Member(conference::Handle),
    /// Be a callee of another call's `<Dial>`: report progress to that call's actor, which
    /// bridges the media; hang up when it is gone.
    Bridge(CallHandle),
}

/// Starts call actors and holds what they share.
pub struct Calls {
    /// Live calls.
    pub registry: Arc<CallRegistry>,
    store: Arc<dyn Store>,
    media: Arc<Media>,
    conferences: Arc<Conferences>,
    /// The HTTP client, the TTS engine and decoded audio, shared with conferences.
    audio: Arc<AudioService>,
    /// Where durable status callbacks go to be delivered.
    outbox: Outbox,
    /// The SIP driver, once the SIP port is bound (`None`: `sip:` calls fail).
    sip: OnceLock<crate::sip::SipHandle>,
}

impl Calls {
    /// The call runtime over a store, media, the conference registry, a call registry, the
    /// shared audio service and the callback outbox.
    pub fn new(
        store: Arc<dyn Store>,
        media: Arc<Media>,
        conferences: Arc<Conferences>,
        registry: Arc<CallRegistry>,
        audio: Arc<AudioService>,
        outbox: Outbox,
    ) -> Arc<Calls> {
        Arc::new(Calls {
            registry,
            store,
            media,
            conferences,
            audio,
            outbox,
            sip: OnceLock::new(),
        })
    }

    /// Lets calls reach SIP endpoints through this driver (set once, at start-up).
    pub fn set_sip(&self, sip: crate::sip::SipHandle) {
        let _ = self.sip.set(sip);
    }

    /// The SIP driver, if SIP is on.
    pub fn sip(&self) -> Option<&crate::sip::SipHandle> {
        self.sip.get()
    }

    /// Starts the actor of a call that is stored already (queued): it places the leg to
    /// `endpoint` and runs `program` once answered, sending `send_digits` (Calls create's
    /// `SendDigits`) to the far end as it answers, and answering a SIP challenge with
    /// `sip_auth` (`SipAuthUsername`/`SipAuthPassword`).
    pub fn start(
        self: &Arc<Self>,
        account: Account,
        call: Call,
        endpoint: Endpoint,
        program: Program,
        send_digits: Option<String>,
        sip_auth: Option<confab_core::request::SipAuth>,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = CallHandle { tx };
        self.registry.insert(&call.sid, handle);
        let mut actor = actor::CallActor::new(self.clone(), account, call, program, send_digits);
        actor.sip_auth = sip_auth;
        tokio::spawn(actor.run(actor::Start::Place(endpoint), rx));
    }

    /// Starts the actor of an inbound call (stored already, ringing): it takes the leg that
    /// `leg` makes, runs `instructions` (the number's `VoiceUrl`) at once and answers or rejects
    /// the leg as the TwiML says. `extra_params` go with every voice webhook of the call (SIP:
    /// `SipCallId`, `SipSourceIp`, `SipHeader_X-...`).
    pub fn accept(
        self: &Arc<Self>,
        account: Account,
        call: Call,
        instructions: Instructions,
        extra_params: Vec<(String, String)>,
        leg: leg::InboundLeg,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = CallHandle { tx };
        self.registry.insert(&call.sid, handle);
        let program = Program::Twiml(instructions);
        let mut actor = actor::CallActor::new(self.clone(), account, call, program, None);
        actor.extra_params = extra_params;
        tokio::spawn(actor.run(actor::Start::Accept(leg), rx));
    }

    /// Starts the actor of a `<Dial>` callee `call` (`outbound-dial`, not stored yet): the call
    /// is stored, then placed to `endpoint` as [`Program::Bridge`] of `parent`, answering a
    /// challenge with `sip_auth`; once answered it runs `whisper` (the noun's `url`), if any,
    /// before it is bridged. Returns its handle at once; commands sent before the actor runs
    /// wait for it. A call that cannot be stored is reported `failed` to `parent`.
    pub(crate) fn start_callee(
        self: &Arc<Self>,
        (account, call, endpoint): (Account, Call, Endpoint),
        parent: CallHandle,
        sip_auth: Option<confab_core::request::SipAuth>,
        whisper: Option<Instructions>,
    ) -> CallHandle {
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = CallHandle { tx };
        self.registry.insert(&call.sid, handle.clone());
        let calls = self.clone();
        tokio::spawn(async move {
            let stored = calls
                .store
                .write(vec![confab_store::Write::Call(call.clone())])
                .await;
            if let Err(e) = stored {
                tracing::error!(error = %e, call = %call.sid, "a <Dial> callee could not be stored");
                calls.registry.remove(&call.sid);
                let failed = CalleeReport::Ended(call.sid, confab_core::CallStatus::Failed);
                let _ = parent.tell(CallCommand::Callee(failed));
                return;
            }
            let program = Program::Bridge(parent);
            let mut actor = actor::CallActor::new(calls, account, call, program, None);
            actor.sip_auth = sip_auth;
            actor.whisper = whisper;
            actor.run(actor::Start::Place(endpoint), rx).await;
        });
        handle
    }

    /// Ends the calls a previous run left live (their legs ended with that process). Runs
    /// before the server accepts requests.
    pub async fn recover(&self) -> Result<usize, confab_store::StoreError> {
        let live = self.store.live_calls().await?;
        let count = live.len();
        let now = crate::clock::now();
        let writes = live
            .into_iter()
            .map(|mut call| {
                let _ = call.apply(now, confab_core::call::CallEvent::HungUp);
                confab_store::Write::Call(call)
            })
            .collect::<Vec<_>>();
        self.store.write(writes).await?;
        Ok(count)
    }
}

/// A fresh `I-Twilio-Idempotency-Token` for a status callback: 128 random bits in hex.
pub fn idempotency_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}
