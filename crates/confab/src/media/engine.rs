//! One media thread: a UDP socket, the mixers of the conferences placed on it, and the 20 ms
//! clock that drives them.
//!
//! # Schedule
//!
//! Ticks run on absolute deadlines (`start + n·20 ms`), never "20 ms after the last one", so
//! small delays do not accumulate into drift. Each tick first drains the socket. Between ticks
//! the thread drains it again only as often as its receive buffer needs ([`nap_for`]): the
//! jitter buffers play out at the tick, so a packet read earlier is heard no sooner, and every
//! extra drain is a wake-up, a `poll` and a `recvmmsg`. Phones send at phases of their own, so
//! a few hundred of them keep a socket readable all the time; draining it every 2 ms then cost
//! ten wake-ups a tick where one does (the simulated callers of one process send in bursts and
//! never showed it). A thread whose buffer would not hold a tick of its traffic drains it at
//! shorter naps, never shorter than [`NAP`]. A tick that starts more
//! than [`LATE_START`] behind its deadline, or whose work runs into the next deadline, counts as
//! late. When the thread falls a whole tick behind it skips ahead instead of bursting, because
//! a burst of frames would only overflow every listener's jitter buffer.
//!
//! Each tick's lateness also goes to the process's metrics (see [`TickMetrics`]), through
//! handles the thread takes once when it starts, so a tick costs two atomic updates.
//!
//! # Demultiplexing
//!
//! Every remote participant sends from its own address, so the sender's address alone says
//! which conference and participant a datagram belongs to (an [`RtpDemux`]); its [`MediaLeg`]
//! takes it from there. A participant joined with a [`MediaParams::latch`] IP may instead be
//! latched to the first source on that IP that sends it valid RTP (symmetric RTP behind NAT;
//! the rules are [`confab_media::latch`]'s), and from then on its RTP is sent there.
//! Datagrams from unknown addresses, or that the leg refuses (not RTP, a payload type not
//! negotiated) are counted and dropped: the network is untrusted and nothing it sends may stop
//! the thread.
//!
//! # Back-channel
//!
//! A conference opened with an event sender hears, after every tick, what its mixer and legs
//! noticed ([`MediaEvent`]): sources and hold or wait audio that finished, DTMF digits, talking
//! started and stopped. The send is unbounded and never blocks the thread. Without a sender,
//! legs skip talk detection and the events are dropped.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use confab_media::latch::{Routed, RtpDemux};
use confab_media::leg::{LegConfig, LegEvent, MediaLeg};
use confab_media::mixer::MixerConfig;
use confab_media::rtp::RtpTimestamp;
use confab_media::speech::SpeechDetectorConfig;
use confab_media::{
    BuiltinAudio, Codec, Mixer, MixerCommand, MixerEvent, MixerParticipantId, RtpSender, SeqNo,
    Ssrc, FRAME_DURATION,
};
use tokio::sync::mpsc::UnboundedSender;

use super::batch::{wait_readable, Inbox, Outbox};
use super::{MediaEvent, MediaParams, MediaStats};

/// How far behind its deadline a tick may start before it counts as late.
pub(super) const LATE_START: Duration = Duration::from_millis(5);

/// Shortest time between two drains of the socket while waiting for the next tick.
const NAP: Duration = Duration::from_millis(2);

/// What the kernel charges a small datagram against the receive buffer, at most (its
/// `truesize`: the payload's slab plus the `sk_buff`, about 1.3 kB for an RTP packet on
/// Linux), rounded up.
const DATAGRAM_CHARGE: usize = 2048;

/// What a conference actor asks of its media thread.
pub(super) enum EngineCommand {
    /// A new conference with an empty mixer, and where to report its events, if anywhere.
    Open(u64, Option<UnboundedSender<MediaEvent>>),
    /// The conference ended: drop its mixer and participants.
    Close(u64),
    /// A participant's RTP is connected.
    Join {
        conference: u64,
        id: MixerParticipantId,
        params: MediaParams,
    },
    /// A participant left.
    Leave {
        conference: u64,
        id: MixerParticipantId,
    },
    /// A mixer state change.
    Mixer(u64, MixerCommand),
    /// DTMF to send to a participant (`<Play digits>`).
    SendDigits {
        conference: u64,
        id: MixerParticipantId,
        digits: String,
    },
}

/// Counters of one media thread, read by [`Media::stats`](super::Media::stats).
#[derive(Debug, Default)]
pub(super) struct EngineStats {
    ticks: AtomicU64,
    late_ticks: AtomicU64,
    max_lateness_us: AtomicU64,
    max_work_us: AtomicU64,
    packets_in: AtomicU64,
    packets_out: AtomicU64,
    packets_dropped: AtomicU64,
}

/// Starts a media thread on `socket`; it runs until the returned sender is dropped.
pub(super) fn spawn(
    index: usize,
    socket: UdpSocket,
    builtin: BuiltinAudio,
    stats: Arc<EngineStats>,
) -> std::io::Result<mpsc::Sender<EngineCommand>> {
    socket.set_nonblocking(true)?;
    let (tx, rx) = mpsc::channel();
    // Built once per thread: the default settings synthesise their own built-in audio, which
    // is then replaced by the runtime's shared copy.
    let mixer_config = MixerConfig {
        builtin,
        ..MixerConfig::default()
    };
    std::thread::Builder::new()
        .name(format!("confab-media-{index}"))
        .spawn(move || {
            // The batch buffers hold the kernel's raw message headers, which may not cross
            // threads: they are made on the thread that uses them.
            let hold = hold_for(&socket);
            let engine = Engine {
                socket,
                commands: rx,
                mixer_config,
                stats,
                tick_metrics: TickMetrics::new(index),
                conferences: IdMap::default(),
                addresses: RtpDemux::new(),
                legs: 0,
                hold,
                read_since_tick: 0,
                read_last_tick: 0,
                inbox: Inbox::new(),
                outbox: Outbox::new(),
            };
            engine.run();
        })?;
    Ok(tx)
}

/// How late each tick of one media thread ran, as metrics labelled with the thread's index:
/// `confab_media_tick_lateness_seconds` (a histogram of how far behind its deadline each tick
/// started) and `confab_media_late_ticks_total` (ticks that started more than a whole frame
/// late, so a listener's frame was missed). The handles are taken once; recording through
/// them takes no lock and looks nothing up.
struct TickMetrics {
    lateness: metrics::Histogram,
    late: metrics::Counter,
}

impl TickMetrics {
    /// Metric name of the lateness histogram.
    const LATENESS: &'static str = "confab_media_tick_lateness_seconds";
    /// Metric name of the late tick counter.
    const LATE: &'static str = "confab_media_late_ticks_total";

    fn new(index: usize) -> TickMetrics {
        metrics::describe_histogram!(
            Self::LATENESS,
            metrics::Unit::Seconds,
            "How far behind its deadline each media tick started"
        );
        metrics::describe_counter!(
            Self::LATE,
            "Media ticks that started more than one 20 ms frame behind their deadline"
        );
        let thread = index.to_string();
        TickMetrics {
            lateness: metrics::histogram!(Self::LATENESS, "thread" => thread.clone()),
            late: metrics::counter!(Self::LATE, "thread" => thread),
        }
    }

    fn record(&self, lateness: Duration) {
        self.lateness.record(lateness.as_secs_f64());
        if lateness > FRAME_DURATION {
            self.late.increment(1);
        }
    }
}

/// A map keyed by ids this process picks (conference keys, mixer participant ids), looked up
/// several times per packet: hashed by one multiplication instead of SipHash, which guards
/// maps whose keys come from the network and costs more than the lookup here.
type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// The hasher of [`IdMap`]: Fibonacci hashing of the integer key.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The state a media thread owns.
struct Engine {
    socket: UdpSocket,
    commands: mpsc::Receiver<EngineCommand>,
    /// Settings every new mixer starts from, with the shared built-in audio.
    mixer_config: MixerConfig,
    stats: Arc<EngineStats>,
    /// The same tick timings, for `/metrics`.
    tick_metrics: TickMetrics,
    /// Conferences on this thread by key.
    conferences: IdMap<u64, ConferenceMix>,
    /// Which conference and participant each remote address belongs to, with latching.
    addresses: RtpDemux<(u64, MixerParticipantId)>,
    /// Connected participants over all conferences; zero means the thread may sleep.
    legs: usize,
    /// Datagrams the socket may be left holding between two drains (half of what its receive
    /// buffer holds).
    hold: usize,
    /// Datagrams read since the last tick started, and in the tick period before it.
    read_since_tick: usize,
    read_last_tick: usize,
    /// Datagrams read, a batch at a time.
    inbox: Inbox,
    /// The tick's outgoing RTP, sent a batch at a time.
    outbox: Outbox,
}

/// One conference: its mixer and its participants' RTP state.
struct ConferenceMix {
    mixer: Mixer,
    legs: IdMap<MixerParticipantId, Leg>,
    /// The conference actor's back-channel, if it asked for one.
    events: Option<UnboundedSender<MediaEvent>>,
}

/// One participant's RTP in both directions.
struct Leg {
    remote: SocketAddr,
    media: MediaLeg,
}

impl Engine {
    fn run(mut self) {
        let mut deadline = Instant::now();
        loop {
            if self.legs == 0 {
                // Nothing to mix: sleep until somebody connects.
                match self.commands.recv() {
                    Ok(command) => self.apply(command),
                    Err(mpsc::RecvError) => return,
                }
                deadline = Instant::now();
            }
            if !self.drain_commands() {
                return;
            }
            let start = Instant::now();
            self.receive(start);
            self.read_last_tick = std::mem::take(&mut self.read_since_tick);
            self.tick(start);
            deadline = self.account(deadline, start, Instant::now());
            self.wait_until(deadline);
        }
    }

    /// Applies every queued command; false once the runtime is gone.
    fn drain_commands(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(command) => self.apply(command),
                Err(mpsc::TryRecvError::Empty) => return true,
                Err(mpsc::TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn apply(&mut self, command: EngineCommand) {
        match command {
            EngineCommand::Open(key, events) => {
                let mix = ConferenceMix {
                    mixer: Mixer::new(self.mixer_config.clone()),
                    legs: IdMap::default(),
                    events,
                };
                self.conferences.insert(key, mix);
            }
            EngineCommand::Close(key) => {
                if let Some(mix) = self.conferences.remove(&key) {
                    // A call that moved to another conference on this thread keeps its
                    // address there: the demux releases only what still points here.
                    for id in mix.legs.keys() {
                        self.addresses.remove((key, *id));
                    }
                    self.legs -= mix.legs.len();
                }
            }
            EngineCommand::Join {
                conference,
                id,
                params,
            } => self.join(conference, id, params),
            EngineCommand::Leave { conference, id } => self.leave(conference, id),
            EngineCommand::SendDigits {
                conference,
                id,
                digits,
            } => {
                let leg = self
                    .conferences
                    .get_mut(&conference)
                    .and_then(|mix| mix.legs.get_mut(&id));
                if let Some(Err(e)) = leg.map(|leg| leg.media.send_digits(&digits)) {
                    tracing::debug!(digit = %e.0, "digits refused");
                }
            }
            EngineCommand::Mixer(key, command) => {
                let Some(mix) = self.conferences.get_mut(&key) else {
                    return;
                };
                if let Err(e) = mix.mixer.handle_command(command) {
                    tracing::debug!(error = %e, "mixer command refused");
                }
            }
        }
    }

    fn join(&mut self, key: u64, id: MixerParticipantId, params: MediaParams) {
        let Some(mix) = self.conferences.get_mut(&key) else {
            return;
        };
        if mix.mixer.add_participant(id, params.codec).is_err() {
            return;
        }
        let remote = params.remote;
        let config = LegConfig {
            codec: params.codec,
            telephone_event: params.telephone_event,
            jitter: params.jitter,
            // Talk detection costs a decode per loud frame: only for someone who listens.
            speech: mix.events.as_ref().map(|_| SpeechDetectorConfig::default()),
        };
        let leg = Leg {
            remote,
            media: MediaLeg::new(config, sender_to(remote, params.codec, Instant::now())),
        };
        if let Some(previous) = self.addresses.insert((key, id), remote, params.latch) {
            // The usual cause is a call moving between two mixers of this thread (its own
            // into a conference's): it joins the new one before it leaves the old, and the
            // newer participant takes the address. Not worth a warning per call.
            tracing::debug!(%remote, ?previous, "RTP address taken over by a new participant");
        }
        mix.legs.insert(id, leg);
        self.legs += 1;
    }

    fn leave(&mut self, key: u64, id: MixerParticipantId) {
        let Some(mix) = self.conferences.get_mut(&key) else {
            return;
        };
        let _ = mix.mixer.remove_participant(id);
        if mix.legs.remove(&id).is_some() {
            self.addresses.remove((key, id));
            self.legs -= 1;
        }
    }

    /// Reads every datagram waiting on the socket into its participant's jitter buffer.
    fn receive(&mut self, now: Instant) {
        let Engine {
            socket,
            inbox,
            conferences,
            addresses,
            stats,
            read_since_tick,
            ..
        } = self;
        loop {
            let count = inbox.receive(socket);
            *read_since_tick += count;
            let mut accepted = 0;
            for index in 0..count {
                let Some((datagram, from)) = inbox.datagram(index) else {
                    break;
                };
                if accept(conferences, addresses, now, datagram, from) {
                    accepted += 1;
                }
            }
            stats.packets_in.fetch_add(accepted, Ordering::Relaxed);
            let dropped = count as u64 - accepted;
            stats.packets_dropped.fetch_add(dropped, Ordering::Relaxed);
            if count < inbox.batch() {
                return;
            }
        }
    }

    /// Mixes one frame in every conference with participants and sends it.
    fn tick(&mut self, now: Instant) {
        let Engine {
            socket,
            conferences,
            outbox,
            stats,
            ..
        } = self;
        let mut sent = 0;
        for mix in conferences.values_mut() {
            if mix.legs.is_empty() {
                continue;
            }
            for (&id, leg) in &mut mix.legs {
                if let Some(payload) = leg.media.poll_frame(now) {
                    let _ = mix.mixer.handle_payload(id, payload);
                }
            }
            mix.mixer.handle_tick();
            for (id, output) in mix.mixer.outputs() {
                let Some(leg) = mix.legs.get_mut(&id) else {
                    continue;
                };
                // A telephone event being sent to the participant replaces its audio frame.
                if let Some(event) = leg.media.poll_digit() {
                    for _ in 0..event.copies {
                        if let Ok(len) = leg.media.write_event(&event, outbox.slot()) {
                            sent += outbox.push(socket, len, leg.remote);
                        }
                    }
                    continue;
                }
                let Ok(len) = leg.media.write_frame(output.payload(), outbox.slot()) else {
                    continue;
                };
                sent += outbox.push(socket, len, leg.remote);
            }
            mix.report_events();
        }
        sent += outbox.flush(socket);
        stats.packets_out.fetch_add(sent, Ordering::Relaxed);
    }

    /// Records how the tick went and returns the next deadline.
    fn account(&self, deadline: Instant, start: Instant, end: Instant) -> Instant {
        let stats = &self.stats;
        stats.ticks.fetch_add(1, Ordering::Relaxed);
        let lateness = start.saturating_duration_since(deadline);
        self.tick_metrics.record(lateness);
        let next = deadline + FRAME_DURATION;
        if lateness > LATE_START || end > next {
            stats.late_ticks.fetch_add(1, Ordering::Relaxed);
        }
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        stats
            .max_lateness_us
            .fetch_max(micros(lateness), Ordering::Relaxed);
        let work = end.saturating_duration_since(start);
        stats.max_work_us.fetch_max(micros(work), Ordering::Relaxed);
        if end > next + FRAME_DURATION {
            // A whole tick behind (the machine stalled): start afresh rather than burst.
            return end;
        }
        next
    }

    /// Waits for `deadline`. When the socket's buffer holds a tick of this thread's traffic
    /// the thread just sleeps, and the tick drains it; otherwise it drains the socket when
    /// datagrams arrive, at most once per nap ([`nap_for`]), and a quiet socket costs no
    /// wake-ups.
    fn wait_until(&mut self, deadline: Instant) {
        let nap = nap_for(self.read_last_tick, self.hold);
        let mut ready = Vec::with_capacity(1);
        loop {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            if deadline - now <= nap {
                std::thread::sleep(deadline - now);
                return;
            }
            wait_readable(&[&self.socket], deadline - now, &mut ready);
            if ready.first() == Some(&true) {
                self.receive(Instant::now());
            }
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            std::thread::sleep((deadline - now).min(nap));
        }
    }
}

/// How long the media thread may leave its socket undrained when it read `per_tick`
/// datagrams in the last tick period and the socket can be left holding `hold`: the time that
/// traffic takes to fill `hold`, from [`NAP`] to a whole frame.
fn nap_for(per_tick: usize, hold: usize) -> Duration {
    if per_tick <= hold {
        return FRAME_DURATION;
    }
    let share = hold as f64 / per_tick as f64;
    FRAME_DURATION.mul_f64(share).clamp(NAP, FRAME_DURATION)
}

/// Half of the datagrams `socket`'s receive buffer holds (Linux reports the buffer doubled,
/// room for the kernel's bookkeeping included, which [`DATAGRAM_CHARGE`] counts in).
fn hold_for(socket: &UdpSocket) -> usize {
    let bytes = socket2::SockRef::from(socket)
        .recv_buffer_size()
        .unwrap_or(212_992);
    (bytes / DATAGRAM_CHARGE / 2).max(1)
}

/// Hands one datagram to its participant's jitter buffer (latching the participant to its
/// source if the rules say so); false if it is dropped.
fn accept(
    conferences: &mut IdMap<u64, ConferenceMix>,
    addresses: &mut RtpDemux<(u64, MixerParticipantId)>,
    now: Instant,
    datagram: &[u8],
    from: SocketAddr,
) -> bool {
    let offer = |(key, id): (u64, MixerParticipantId)| {
        conferences
            .get_mut(&key)
            .and_then(|mix| mix.legs.get_mut(&id))
            .is_some_and(|leg| leg.media.handle_datagram(now, datagram))
    };
    match addresses.handle_datagram(now, from, offer) {
        None => false,
        Some(Routed::Owner(_)) => true,
        Some(Routed::Latched((key, id))) => {
            let leg = conferences
                .get_mut(&key)
                .and_then(|mix| mix.legs.get_mut(&id));
            if let Some(leg) = leg {
                tracing::debug!(conference = key, participant = id.0, from = %from, was = %leg.remote, "RTP latched");
                leg.remote = from;
            }
            true
        }
    }
}

impl ConferenceMix {
    /// Sends what the mixer and the legs noticed this tick to the conference's back-channel
    /// (or drops it when there is none). Never blocks.
    fn report_events(&mut self) {
        let events = self.events.as_ref();
        let report = |event: MediaEvent| {
            if let Some(sender) = events {
                // A closed receiver means the conference actor is gone; its Close follows.
                let _ = sender.send(event);
            }
        };
        while let Some(event) = self.mixer.poll_event() {
            report(match event {
                MixerEvent::SourceFinished(id) => MediaEvent::SourceFinished(id),
                MixerEvent::HoldAudioFinished(id) => MediaEvent::HoldAudioFinished(id),
                MixerEvent::WaitAudioFinished(id) => MediaEvent::WaitAudioFinished(id),
            });
        }
        for (&id, leg) in &mut self.legs {
            while let Some(event) = leg.media.poll_event() {
                report(match event {
                    LegEvent::Dtmf(digit) => MediaEvent::Dtmf { id, digit },
                    LegEvent::SpeechStarted => MediaEvent::SpeechStarted(id),
                    LegEvent::SpeechStopped => MediaEvent::SpeechStopped(id),
                    LegEvent::DigitsSent => MediaEvent::DigitsSent(id),
                });
            }
        }
    }
}

/// The outgoing RTP stream to `remote`, the same whichever mixer sends it: its SSRC and the
/// origins of its sequence number and timestamp come from the address (hashed with a key of
/// this process, so they are not guessable, RFC 3550 5.1), and both advance with the time since
/// this process's first stream, one packet and one frame of samples per 20 ms. A call moved to
/// another mixer (its own into a conference's, one media thread to another) so goes on as one
/// stream, where a new random one made libre-based phones (baresip 1.0) drop all its packets
/// about half the time: their jitter buffer keeps the old stream's last sequence number across
/// the SSRC change and takes every packet "behind" it as too late.
fn sender_to(remote: SocketAddr, codec: Codec, now: Instant) -> RtpSender {
    static ORIGIN: std::sync::OnceLock<(Instant, u64)> = std::sync::OnceLock::new();
    let (origin, key) = *ORIGIN.get_or_init(|| (now, rand::random()));
    let mut hasher = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(&(key, remote), &mut hasher);
    let stream = hasher.finish();
    let frame_ms = FRAME_DURATION.as_millis().max(1);
    // One frame ahead: the mixer the call left may have sent this frame already.
    let frames = (now.saturating_duration_since(origin).as_millis() / frame_ms) as u64 + 1;
    let samples = frames.wrapping_mul(confab_media::FRAME_SAMPLES as u64);
    RtpSender::new(
        Ssrc(stream as u32),
        codec.payload_type(),
        SeqNo(((stream >> 32) as u16).wrapping_add(frames as u16)),
        RtpTimestamp(((stream >> 16) as u32).wrapping_add(samples as u32)),
    )
}

/// An outgoing RTP stream with a random SSRC, sequence number and timestamp origin (RFC 3550
/// 5.1).
pub(super) fn random_sender(codec: Codec) -> RtpSender {
    RtpSender::new(
        Ssrc(rand::random()),
        codec.payload_type(),
        SeqNo(rand::random()),
        RtpTimestamp(rand::random()),
    )
}

impl EngineStats {
    /// Adds these counters to `sum` (the maximum lateness is a maximum, not a sum).
    pub(super) fn add_to(&self, sum: MediaStats) -> MediaStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MediaStats {
            ticks: sum.ticks + get(&self.ticks),
            late_ticks: sum.late_ticks + get(&self.late_ticks),
            max_lateness_us: sum.max_lateness_us.max(get(&self.max_lateness_us)),
            max_work_us: sum.max_work_us.max(get(&self.max_work_us)),
            packets_in: sum.packets_in + get(&self.packets_in),
            packets_out: sum.packets_out + get(&self.packets_out),
            packets_dropped: sum.packets_dropped + get(&self.packets_dropped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_that_holds_a_tick_of_traffic_is_drained_once_a_tick() {
        assert_eq!(nap_for(0, 2048), FRAME_DURATION);
        assert_eq!(nap_for(250, 2048), FRAME_DURATION);
        assert_eq!(nap_for(2048, 2048), FRAME_DURATION);
    }

    #[test]
    fn more_traffic_than_the_buffer_holds_shortens_the_nap_down_to_its_floor() {
        assert_eq!(nap_for(4096, 2048), FRAME_DURATION / 2);
        assert_eq!(nap_for(400, 100), FRAME_DURATION / 4);
        assert_eq!(nap_for(1_000_000, 100), NAP);
        assert_eq!(nap_for(10, 0), NAP);
    }

    #[test]
    fn the_hold_is_half_the_buffer_in_small_datagrams() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket2::SockRef::from(&socket)
            .set_recv_buffer_size(64 * 1024)
            .unwrap();
        // Linux doubles what was asked for: 128 kB, 64 datagrams, half of them.
        let reported = socket2::SockRef::from(&socket).recv_buffer_size().unwrap();
        assert_eq!(hold_for(&socket), reported / DATAGRAM_CHARGE / 2);
        assert!(hold_for(&socket) >= 16);
    }
}
