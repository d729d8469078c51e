//! The media runtime: the threads that carry every remote participant's audio between UDP
//! sockets and the conference mixers, and the simulated callers that talk to them.
//!
//! # Shape
//!
//! A small, fixed number of **media threads** ([`MediaConfig::threads`], plain std threads)
//! serve all conferences. Each owns one UDP socket and the [`Mixer`](confab_media::Mixer) of
//! every conference placed on it, and ticks them all on one absolute 20 ms schedule: take the
//! queued commands, hand each participant's jitter-buffered frame to its mixer, mix, and send
//! every participant its frame as RTP. A conference lives on one thread for its whole life (the
//! least loaded one when it opens), so a conference never needs a lock.
//!
//! A conference actor reaches its media thread through a [`ConferenceMedia`]: commands go into
//! an unbounded queue without waiting, and take effect at the thread's next tick. Because the
//! actor sends them before it releases the API's reply, a mute is heard within one frame (plus
//! the listener's jitter buffer) of the `200 OK`.
//!
//! A thread with no participant on it blocks on its queue and costs nothing; a conference with
//! nobody connected is skipped by the tick.
//!
//! # Back-channel
//!
//! A conference opened with [`Media::open_conference_with_events`] gets a receiver of
//! [`MediaEvent`]s: what only the media thread can see (a source or hold or wait audio that
//! played to its end, a DTMF digit, a participant starting or stopping to talk), sent after the
//! tick that noticed it, in order. The thread never waits on the receiver.
//!
//! # Simulated callers
//!
//! [`SimPeers`] is a separate thread with one loopback UDP socket per simulated caller: each
//! sends its tone, silence or file as PCMU every 20 ms and records what it receives. They are
//! ordinary RTP endpoints, so tests and benchmarks exercise the same path a SIP call uses.
//! Recordings outlive the call in the [`HeardStore`].
//!
//! All the protocol work (RTP parsing and writing, jitter buffering, mixing, G.711) is done by
//! `confab_media`; this module only moves bytes and time.

mod batch;
mod engine;
mod heard;
mod peer;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use confab_media::{
    BuiltinAudio, Codec, JitterBufferSize, MixerCommand, MixerParticipantId, PayloadType, SourceId,
};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

pub use confab_media::dtmf::InvalidDigit;
use engine::{EngineCommand, EngineStats};
pub use heard::{
    summary, wav_bytes, HeardStore, Recording, RecordingSnapshot, MAX_DIGITS, MAX_RECORDING,
    MAX_RETAINED_BYTES, RETAINED_CALLS, TONE_FLOOR_DBFS, WINDOW_MS,
};
pub use peer::{SimAudio, SimPeer, SimPeers, TONE_DBFS};

/// Receive buffer asked for each media socket.
const RECV_BUFFER: usize = 4 << 20;

/// Settings of the media runtime.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// Media threads serving all conferences (at least one).
    pub threads: usize,
    /// Address the media sockets bind to (port chosen by the system).
    pub bind: IpAddr,
    /// The only directory whose WAV files simulated callers may play; `None`: no files at all.
    pub sim_audio_dir: Option<PathBuf>,
}

/// Counters over all media threads since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaStats {
    /// Ticks run (one per thread per 20 ms while it has participants).
    pub ticks: u64,
    /// Ticks that started more than [`LATE_START`](engine::LATE_START) after their deadline or
    /// whose work ran past the next deadline.
    pub late_ticks: u64,
    /// The largest delay of a tick's start behind its deadline, in microseconds.
    pub max_lateness_us: u64,
    /// The longest a tick's work took (receive, mix, send), in microseconds.
    pub max_work_us: u64,
    /// RTP packets received and handed to a jitter buffer.
    pub packets_in: u64,
    /// RTP packets sent.
    pub packets_out: u64,
    /// Datagrams dropped: unknown sender, unparsable RTP, or a payload type not negotiated.
    pub packets_dropped: u64,
}

/// What a conference's media thread tells its actor; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaEvent {
    /// A source started with [`MixerCommand::StartSource`] played its last frame: an
    /// announcement or beep ended (a streamed one once its last chunk has played). A source
    /// stopped with [`MixerCommand::StopSource`] reports nothing.
    SourceFinished(SourceId),
    /// A participant's one-shot (or streamed, completed) hold audio played to its end; it now
    /// hears silence until it is given more.
    HoldAudioFinished(MixerParticipantId),
    /// A participant's own one-shot wait audio played to its end.
    WaitAudioFinished(MixerParticipantId),
    /// A participant pressed a key: one RFC 4733 event, reported once however many of its
    /// packets arrived. Only for participants joined with a telephone-event payload type.
    Dtmf {
        /// Who pressed it.
        id: MixerParticipantId,
        /// `0-9`, `*`, `#` or `A-D`.
        digit: char,
    },
    /// A participant started talking: its level stayed above -40 dBFS for 40 ms.
    SpeechStarted(MixerParticipantId),
    /// A participant stopped talking: its level stayed below -50 dBFS for 300 ms.
    SpeechStopped(MixerParticipantId),
    /// Every digit asked for with [`ConferenceMedia::send_digits`] was sent to the participant.
    DigitsSent(MixerParticipantId),
}

/// How a participant's RTP is connected, as its leg negotiated it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaParams {
    /// Where its RTP comes from and goes to.
    pub remote: SocketAddr,
    /// The audio codec, both ways.
    pub codec: Codec,
    /// The RFC 4733 telephone-event payload type it sends DTMF with, if any.
    pub telephone_event: Option<PayloadType>,
    /// Its jitter buffer depth.
    pub jitter: JitterBufferSize,
    /// Latching (symmetric RTP, RFC 4961) for a peer behind NAT: when set, this participant's
    /// RTP may arrive from another address than `remote`. The first valid RTP (its codec's or
    /// telephone-event payload type) from an address nobody owns whose IP is this one, while
    /// nothing has come from `remote` yet, moves the participant there: `remote` becomes that
    /// source, for receiving and for sending. It moves again only after nothing came from its
    /// address for [`REBIND_AFTER`](confab_media::latch::REBIND_AFTER) (a NAT rebinding).
    /// Several participants waiting on one IP: the one whose `remote` port is the source port
    /// first, else the oldest; an address another participant owns is never taken. Usually the
    /// IP the leg's signalling came from. `None`: packets count only from `remote` exactly.
    pub latch: Option<IpAddr>,
}

/// The media runtime; see the module docs. Dropping it stops its threads.
pub struct Media {
    /// One entry per media thread.
    threads: Vec<MediaThread>,
    /// Source of conference keys, unique within this runtime.
    next_conference: AtomicU64,
    /// Built-in music and beeps, synthesised once and shared by every mixer.
    builtin: BuiltinAudio,
    /// The simulated callers' thread.
    sims: SimPeers,
    /// What simulated callers heard, kept after their calls end.
    heard: Arc<HeardStore>,
    /// See [`MediaConfig::sim_audio_dir`].
    sim_audio_dir: Option<PathBuf>,
}

/// A way to reach one media thread.
struct MediaThread {
    /// Its command queue.
    commands: mpsc::Sender<EngineCommand>,
    /// Where its socket listens: remote participants send their RTP here.
    addr: SocketAddr,
    /// Its counters.
    stats: Arc<EngineStats>,
    /// Conferences placed on it, to pick the least loaded thread.
    conferences: Arc<AtomicUsize>,
}

/// One conference's link to its media thread. Dropping it closes the conference's mixer.
pub struct ConferenceMedia {
    /// The conference's key on its thread.
    key: u64,
    /// The thread's queue.
    commands: mpsc::Sender<EngineCommand>,
    /// The thread's RTP address.
    addr: SocketAddr,
    /// The thread's conference count, decremented on drop.
    load: Arc<AtomicUsize>,
    /// Built-in audio, for beeps.
    builtin: BuiltinAudio,
}

impl Default for MediaConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            threads: cores.min(2),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            sim_audio_dir: None,
        }
    }
}

impl Media {
    /// Binds one socket per media thread and starts the threads and the simulated callers.
    pub fn start(config: &MediaConfig) -> std::io::Result<Media> {
        let builtin = BuiltinAudio::generate();
        let mut threads = Vec::new();
        for index in 0..config.threads.max(1) {
            let socket = media_socket(config.bind)?;
            let addr = socket.local_addr()?;
            let stats = Arc::new(EngineStats::default());
            let commands = engine::spawn(index, socket, builtin.clone(), stats.clone())?;
            threads.push(MediaThread {
                commands,
                addr,
                stats,
                conferences: Arc::new(AtomicUsize::new(0)),
            });
        }
        let heard = Arc::new(HeardStore::default());
        Ok(Media {
            threads,
            next_conference: AtomicU64::new(1),
            builtin,
            sims: SimPeers::start(config.bind)?,
            heard,
            sim_audio_dir: config.sim_audio_dir.clone(),
        })
    }

    /// Opens a mixer for a new conference on the least loaded media thread; its events are
    /// dropped.
    pub fn open_conference(&self) -> ConferenceMedia {
        self.open(None)
    }

    /// Opens a mixer for a new conference, with the receiver of what its media thread notices
    /// (see [`MediaEvent`]). The receiver ends when the [`ConferenceMedia`] is dropped.
    pub fn open_conference_with_events(&self) -> (ConferenceMedia, UnboundedReceiver<MediaEvent>) {
        let (sender, receiver) = unbounded_channel();
        (self.open(Some(sender)), receiver)
    }

    fn open(&self, events: Option<UnboundedSender<MediaEvent>>) -> ConferenceMedia {
        let thread = self
            .threads
            .iter()
            .min_by_key(|t| t.conferences.load(Ordering::Relaxed))
            .expect("Media::start makes at least one thread");
        let key = self.next_conference.fetch_add(1, Ordering::Relaxed);
        thread.conferences.fetch_add(1, Ordering::Relaxed);
        let _ = thread.commands.send(EngineCommand::Open(key, events));
        ConferenceMedia {
            key,
            commands: thread.commands.clone(),
            addr: thread.addr,
            load: thread.conferences.clone(),
            builtin: self.builtin.clone(),
        }
    }

    /// The simulated callers.
    pub fn sims(&self) -> &SimPeers {
        &self.sims
    }

    /// The directory simulated callers' files must be in; `None` if they may play none.
    pub fn sim_audio_dir(&self) -> Option<&Path> {
        self.sim_audio_dir.as_deref()
    }

    /// What simulated callers heard.
    pub fn heard(&self) -> &Arc<HeardStore> {
        &self.heard
    }

    /// Counters summed over all media threads.
    pub fn stats(&self) -> MediaStats {
        self.threads
            .iter()
            .fold(MediaStats::default(), |sum, t| t.stats.add_to(sum))
    }

    /// The RTP addresses of the media threads.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.threads.iter().map(|t| t.addr).collect()
    }
}

/// A UDP socket as a media thread has it: bound to `bind` on a port the system picks, with a
/// receive buffer large enough for a burst of a large conference (one socket takes every
/// participant's packets; the kernel caps the size at `net.core.rmem_max`). Benchmarks give
/// their baseline servers the same socket.
pub fn media_socket(bind: IpAddr) -> std::io::Result<UdpSocket> {
    let socket = UdpSocket::bind(SocketAddr::new(bind, 0))?;
    if let Err(e) = socket2::SockRef::from(&socket).set_recv_buffer_size(RECV_BUFFER) {
        tracing::warn!(error = %e, "cannot enlarge the media socket's receive buffer");
    }
    Ok(socket)
}

/// Media commands of one conference held back until the change that caused them is durable
/// ("durable, then heard"): [`MediaBatch::release`] hands them to the media thread in the
/// order they were queued; dropping the batch discards them, so a change that failed to be
/// stored is never heard.
pub struct MediaBatch {
    /// The conference's key on its thread.
    key: u64,
    /// The thread's queue.
    commands: mpsc::Sender<EngineCommand>,
    /// What waits for the write.
    queued: Vec<EngineCommand>,
}

impl MediaBatch {
    /// Queues [`ConferenceMedia::join_with`].
    pub fn join_with(&mut self, id: MixerParticipantId, params: MediaParams) {
        let conference = self.key;
        self.queued.push(EngineCommand::Join {
            conference,
            id,
            params,
        });
    }

    /// Queues [`ConferenceMedia::leave`].
    pub fn leave(&mut self, id: MixerParticipantId) {
        let conference = self.key;
        self.queued.push(EngineCommand::Leave { conference, id });
    }

    /// Queues [`ConferenceMedia::command`].
    pub fn command(&mut self, command: MixerCommand) {
        self.queued.push(EngineCommand::Mixer(self.key, command));
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// Sends everything queued to the media thread, for its next tick.
    pub fn release(self) {
        for command in self.queued {
            // The thread only goes away with the runtime, at shutdown.
            let _ = self.commands.send(command);
        }
    }
}

impl ConferenceMedia {
    /// An empty batch of commands for this conference, sent when released.
    pub fn batch(&self) -> MediaBatch {
        MediaBatch {
            key: self.key,
            commands: self.commands.clone(),
            queued: Vec::new(),
        }
    }

    /// Where this conference's participants send their RTP.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connects a participant whose RTP comes from and goes to `remote`, without DTMF; see
    /// [`ConferenceMedia::join_with`].
    pub fn join(
        &self,
        id: MixerParticipantId,
        remote: SocketAddr,
        codec: Codec,
        jitter: JitterBufferSize,
    ) {
        self.join_with(
            id,
            MediaParams {
                remote,
                codec,
                telephone_event: None,
                jitter,
                latch: None,
            },
        );
    }

    /// Connects a participant as `params` say: it enters the mixer (unmuted, not held, not
    /// coaching) and is heard and hears from the next tick; its telephone events, if it has a
    /// payload type for them, become [`MediaEvent::Dtmf`].
    pub fn join_with(&self, id: MixerParticipantId, params: MediaParams) {
        self.send(EngineCommand::Join {
            conference: self.key,
            id,
            params,
        });
    }

    /// Takes a participant out of the mixer and stops its RTP.
    pub fn leave(&self, id: MixerParticipantId) {
        self.send(EngineCommand::Leave {
            conference: self.key,
            id,
        });
    }

    /// Queues a mixer command for the next tick.
    pub fn command(&self, command: MixerCommand) {
        self.send(EngineCommand::Mixer(self.key, command));
    }

    /// Sends DTMF to a participant as RFC 4733 events, in place of its audio while they play;
    /// [`MediaEvent::DigitsSent`] follows. Participants joined without a telephone-event
    /// payload type get nothing (and no event).
    pub fn send_digits(&self, id: MixerParticipantId, digits: &str) {
        self.send(EngineCommand::SendDigits {
            conference: self.key,
            id,
            digits: digits.to_owned(),
        });
    }

    /// A handle that feeds this conference's mixer from another task (audio fetched from a
    /// URL) without owning the conference: it does not close it when dropped.
    pub fn feed(&self) -> MediaFeed {
        MediaFeed {
            key: self.key,
            commands: self.commands.clone(),
        }
    }

    /// Built-in audio (beeps) for [`MixerCommand::StartSource`].
    pub fn builtin(&self) -> &BuiltinAudio {
        &self.builtin
    }

    fn send(&self, command: EngineCommand) {
        // The thread only goes away with the runtime, i.e. at shutdown, when nobody listens.
        let _ = self.commands.send(command);
    }
}

/// Sends mixer commands to one conference from a task that does not own it; see
/// [`ConferenceMedia::feed`]. Commands for a conference that closed are dropped by its thread.
#[derive(Clone)]
pub struct MediaFeed {
    /// The conference's key on its thread.
    key: u64,
    /// The thread's queue.
    commands: mpsc::Sender<EngineCommand>,
}

impl MediaFeed {
    /// Queues a mixer command for the next tick.
    pub fn command(&self, command: MixerCommand) {
        // The thread only goes away with the runtime, at shutdown.
        let _ = self.commands.send(EngineCommand::Mixer(self.key, command));
    }
}

impl Drop for ConferenceMedia {
    fn drop(&mut self) {
        self.send(EngineCommand::Close(self.key));
        self.load.fetch_sub(1, Ordering::Relaxed);
    }
}
