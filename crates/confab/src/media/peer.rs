//! Simulated callers' media: real RTP endpoints on their own loopback sockets.
//!
//! One thread serves every simulated caller. Each caller has its own UDP socket, so to the
//! media threads it is indistinguishable from a phone: it sends one PCMU packet every 20 ms
//! (its tone, silence or WAV file) to the conference's media address once connected, and
//! records every packet it receives, decoded, with its arrival time. Digits given to
//! [`SimPeer::send_digits`] go out as RFC 4733 telephone events (payload type 101) in place of
//! the audio of the ticks they take, as a phone does. The thread keeps its own
//! absolute 20 ms schedule and sleeps on its queue while no caller is connected.
//!
//! A load generator's callers ([`SimPeers::spawn_counting`]) only count what they receive, and
//! cost less: a benchmark's thousands of callers share this one thread with nothing else.
//!
//! A caller is created when its call is placed (so its address is known before it answers),
//! connected when it joins, and removed when its [`SimPeer`] is dropped (the call ended); its
//! [`Recording`] lives on in the [`HeardStore`](super::HeardStore).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use confab_media::decode::{decode_all, AudioKind, MAX_SAMPLES};
use confab_media::dtmf::{digit_to_event, DtmfReceiver, DtmfSender, InvalidDigit};
use confab_media::tone::dbfs_to_amplitude;
use confab_media::{
    AudioSource, Codec, PayloadType, RtpPacket, RtpSender, FRAME_DURATION, FRAME_SAMPLES,
    SILENT_FRAME,
};

use super::batch::{wait_readable, Inbox};
use super::engine::random_sender;
use super::heard::Recording;

/// Level of a simulated caller's tone: loud enough to be mixed, quiet enough that a few of them
/// plus a beep stay clear of clipping.
pub const TONE_DBFS: f64 = -15.0;

/// What a simulated caller sends: confab-core's [`SimAudio`] (`sim:NAME?tone=…`, `?file=…`,
/// `?silence`), played at [`TONE_DBFS`]; a file plays once and is followed by silence.
pub use confab_core::endpoint::SimAudio;

/// The simulated callers' thread.
pub struct SimPeers {
    commands: mpsc::Sender<PeerCommand>,
    /// Address the callers' sockets bind to.
    bind: IpAddr,
    next_id: AtomicU64,
}

/// One simulated caller's media. Dropping it ends the caller's RTP.
pub struct SimPeer {
    id: u64,
    local: SocketAddr,
    recording: Arc<Recording>,
    /// Packets sent so far (benchmarks tell the load generator's pace from the server's).
    sent: Arc<AtomicU64>,
    commands: mpsc::Sender<PeerCommand>,
}

enum PeerCommand {
    Add(u64, Box<Peer>),
    Connect(u64, SocketAddr),
    Digits(u64, String),
    Remove(u64),
}

/// A caller as the thread keeps it.
struct Peer {
    /// A counting caller's is connected to `remote` once known: a connected socket sends
    /// without a route lookup per packet (but takes datagrams from `remote` only, so a caller
    /// whose audio is checked stays open to a new media thread from its first packet).
    socket: UdpSocket,
    /// Where to send; `None` until connected.
    remote: Option<SocketAddr>,
    /// Whether `socket` is connected to `remote` (else each packet names it).
    connected: bool,
    audio: SimAudio,
    /// Resolved from `audio` on the thread (a file is read there, off the async runtime).
    source: Option<AudioSource>,
    out: RtpSender,
    /// Digits still to send.
    dtmf: DtmfSender,
    /// Digits sent to the caller (`<Play digits>`), heard as RFC 4733 events.
    keys_heard: DtmfReceiver,
    recording: Arc<Recording>,
    sent: Arc<AtomicU64>,
}

impl SimPeers {
    /// Starts the thread; callers' sockets will bind to `bind`.
    pub fn start(bind: IpAddr) -> std::io::Result<SimPeers> {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("confab-sim-media".into())
            .spawn(move || run(&rx))?;
        Ok(SimPeers {
            commands: tx,
            bind,
            next_id: AtomicU64::new(1),
        })
    }

    /// A new caller sending `audio`, with its socket bound, not yet connected.
    pub fn spawn(&self, audio: SimAudio) -> std::io::Result<SimPeer> {
        self.spawn_with(audio, Recording::default())
    }

    /// A new caller for a load generator: like [`SimPeers::spawn`], but its recording only
    /// counts the packets it receives ([`Recording::counting`]), its socket is read a few ticks'
    /// packets at a time when there are many callers, and it is connected to the media address
    /// it is given (it hears nobody else).
    pub fn spawn_counting(&self, audio: SimAudio) -> std::io::Result<SimPeer> {
        self.spawn_with(audio, Recording::counting())
    }

    fn spawn_with(&self, audio: SimAudio, recording: Recording) -> std::io::Result<SimPeer> {
        let socket = UdpSocket::bind(SocketAddr::new(self.bind, 0))?;
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        let recording = Arc::new(recording);
        let sent = Arc::new(AtomicU64::new(0));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let peer = Peer {
            socket,
            remote: None,
            connected: false,
            audio,
            source: None,
            out: random_sender(Codec::Pcmu),
            dtmf: DtmfSender::new(),
            keys_heard: DtmfReceiver::new(),
            recording: recording.clone(),
            sent: sent.clone(),
        };
        let _ = self.commands.send(PeerCommand::Add(id, Box::new(peer)));
        Ok(SimPeer {
            id,
            local,
            recording,
            sent,
            commands: self.commands.clone(),
        })
    }
}

impl SimPeer {
    /// The caller's RTP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Starts sending to `remote` (the conference's media address) from the next 20 ms tick.
    pub fn connect(&self, remote: SocketAddr) {
        let _ = self.commands.send(PeerCommand::Connect(self.id, remote));
    }

    /// Sends `digits` (`0-9 A-D * #`, `w` waits half a second, `W` a second) as RFC 4733
    /// telephone events with payload type 101, after any digits still being sent, from the
    /// next tick on. Refuses the whole string if one character is none of these.
    pub fn send_digits(&self, digits: &str) -> Result<(), InvalidDigit> {
        if let Some(bad) = digits
            .chars()
            .find(|&c| c != 'w' && c != 'W' && digit_to_event(c).is_none())
        {
            return Err(InvalidDigit(bad));
        }
        let command = PeerCommand::Digits(self.id, digits.to_owned());
        let _ = self.commands.send(command);
        Ok(())
    }

    /// RTP packets the caller has sent.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// What the caller has heard so far.
    pub fn recording(&self) -> &Arc<Recording> {
        &self.recording
    }
}

impl Drop for SimPeer {
    fn drop(&mut self) {
        self.recording.finish();
        let _ = self.commands.send(PeerCommand::Remove(self.id));
    }
}

/// The thread: apply commands, then every 20 ms record what arrived and send one frame each.
fn run(commands: &mpsc::Receiver<PeerCommand>) {
    let mut peers: HashMap<u64, Peer> = HashMap::new();
    let mut buf = vec![0u8; 2048];
    // A caller's socket holds a packet or two per tick (a counting caller's, a few ticks'
    // worth).
    let mut inbox = Inbox::with_batch(2 * COUNTING_READ_TICKS as usize);
    let mut deadline = Instant::now();
    let mut tick: u64 = 0;
    loop {
        if !peers.values().any(|p| p.remote.is_some()) {
            match commands.recv() {
                Ok(command) => apply(&mut peers, command),
                Err(mpsc::RecvError) => return,
            }
            deadline = Instant::now();
        }
        loop {
            match commands.try_recv() {
                Ok(command) => apply(&mut peers, command),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => return,
            }
        }
        serve_tick(&mut peers, &mut inbox, &mut buf, (tick, deadline));
        tick += 1;
        deadline += FRAME_DURATION;
        let now = Instant::now();
        if now > deadline + FRAME_DURATION {
            deadline = now;
        }
        wait_until(&mut peers, &mut inbox, deadline);
    }
}

/// Receives and sends for every caller in tick number `tick.0`, due at `tick.1`. Many callers
/// are spread over [`SLICES`] slices of the tick, as real phones' packets are spread in time:
/// sending them all in one burst would overflow the server's socket buffer for no reason a
/// real network has. A counting caller's socket is read every [`COUNTING_READ_TICKS`] ticks
/// only (its packets wait in the kernel meanwhile), a fraction of them each tick: a receive
/// call per caller per tick was a third of a large benchmark's generator.
fn serve_tick(
    peers: &mut HashMap<u64, Peer>,
    inbox: &mut Inbox,
    buf: &mut [u8],
    (number, tick): (u64, Instant),
) {
    if peers.len() <= PRECISE_PEERS {
        for peer in peers.values_mut() {
            peer.receive(inbox);
            peer.send(buf);
        }
        return;
    }
    let per_slice = peers.len().div_ceil(SLICES);
    let mut slice = 0;
    for (index, (id, peer)) in peers.iter_mut().enumerate() {
        if index == (slice + 1) * per_slice {
            slice += 1;
            let at = tick + FRAME_DURATION * slice as u32 / SLICES as u32;
            if let Some(wait) = at.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        if peer.recording.keeps_audio() || (number + id) % COUNTING_READ_TICKS == 0 {
            peer.receive(inbox);
        }
        peer.send(buf);
    }
}

/// Slices of a tick over which many callers' packets are spread.
const SLICES: usize = 10;

/// Ticks between two reads of a counting caller's socket, when there are many callers.
const COUNTING_READ_TICKS: u64 = 5;

/// Waits until `deadline`. With few callers it records what arrives meanwhile as it arrives
/// (at most once per [`NAP`]), so arrival times are exact to a nap (the mute-latency benchmark
/// reads them); with many, watching every socket would cost more than the media itself, so
/// they are read once per tick.
fn wait_until(peers: &mut HashMap<u64, Peer>, inbox: &mut Inbox, deadline: Instant) {
    if peers.len() > PRECISE_PEERS {
        if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        return;
    }
    let mut ready = Vec::with_capacity(peers.len());
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        let mut listening: Vec<&mut Peer> =
            peers.values_mut().filter(|p| p.remote.is_some()).collect();
        let sockets: Vec<&UdpSocket> = listening.iter().map(|p| &p.socket).collect();
        wait_readable(&sockets, deadline - now, &mut ready);
        for (peer, &readable) in listening.iter_mut().zip(&ready) {
            if readable {
                peer.receive(inbox);
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        std::thread::sleep((deadline - now).min(NAP));
    }
}

/// Shortest time between two reads of the callers' sockets while waiting for the next tick.
const NAP: Duration = Duration::from_millis(2);

/// Up to this many callers, arrivals are timestamped to within a couple of milliseconds.
const PRECISE_PEERS: usize = 64;

fn apply(peers: &mut HashMap<u64, Peer>, command: PeerCommand) {
    match command {
        PeerCommand::Add(id, peer) => {
            peers.insert(id, *peer);
        }
        PeerCommand::Connect(id, remote) => {
            if let Some(peer) = peers.get_mut(&id) {
                peer.remote = Some(remote);
                peer.connected =
                    !peer.recording.keeps_audio() && peer.socket.connect(remote).is_ok();
            }
        }
        PeerCommand::Digits(id, digits) => {
            if let Some(peer) = peers.get_mut(&id) {
                // Checked by `SimPeer::send_digits`.
                let _ = peer.dtmf.push_digits(&digits);
            }
        }
        PeerCommand::Remove(id) => {
            peers.remove(&id);
        }
    }
}

impl Peer {
    /// Records every datagram waiting on the socket, usually in one system call.
    fn receive(&mut self, inbox: &mut Inbox) {
        if self.remote.is_none() {
            return;
        }
        let mut pcm = SILENT_FRAME;
        let keeps_audio = self.recording.keeps_audio();
        loop {
            let count = inbox.receive(&self.socket);
            let now = Instant::now();
            for index in 0..count {
                let Some((datagram, _)) = inbox.datagram(index) else {
                    break;
                };
                let Ok(packet) = RtpPacket::parse(datagram) else {
                    continue;
                };
                if packet.payload_type == PayloadType::TELEPHONE_EVENT {
                    let digit = self
                        .keys_heard
                        .handle_payload(packet.timestamp, packet.payload);
                    if let Some(digit) = digit {
                        self.recording.push_digit(digit);
                    }
                    continue;
                }
                let Some(codec) = Codec::from_payload_type(packet.payload_type) else {
                    continue;
                };
                let n = if keeps_audio {
                    packet.payload.len().min(FRAME_SAMPLES)
                } else {
                    0
                };
                codec.decode(&packet.payload[..n], &mut pcm[..n]);
                self.recording.push(now, &pcm[..n]);
            }
            if count < inbox.batch() {
                return;
            }
        }
    }

    /// Sends the next frame of the caller's audio, once connected.
    fn send(&mut self, buf: &mut [u8]) {
        let Some(remote) = self.remote else {
            return;
        };
        let source = self.source.get_or_insert_with(|| source_for(&self.audio));
        let mut pcm = SILENT_FRAME;
        // The audio runs on under a digit, as a caller's voice does under a key press.
        let _ = source.next_frame(&mut pcm);
        if let Some(packet) = self.dtmf.poll_tick(self.out.timestamp()) {
            self.out.skip_frame();
            let payload = packet.event.to_bytes();
            for _ in 0..packet.copies {
                let written = self.out.write_packet(
                    PayloadType::TELEPHONE_EVENT,
                    packet.marker,
                    packet.timestamp,
                    &payload,
                    buf,
                );
                if let Ok(len) = written {
                    self.transmit(&buf[..len], remote);
                }
            }
            return;
        }
        let mut payload = [Codec::Pcmu.silence(); FRAME_SAMPLES];
        // Most of a benchmark's callers are silent: their frame needs no encoding.
        if !matches!(self.audio, SimAudio::Silence) {
            Codec::Pcmu.encode(&pcm, &mut payload);
        }
        if let Ok(len) = self.out.write_frame(&payload, buf) {
            self.transmit(&buf[..len], remote);
        }
    }

    fn transmit(&self, datagram: &[u8], remote: SocketAddr) {
        let sent = if self.connected {
            self.socket.send(datagram)
        } else {
            self.socket.send_to(datagram, remote)
        };
        if sent.is_ok() {
            self.sent.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The audio source for `audio`; a file that cannot be read plays silence (and says so).
fn source_for(audio: &SimAudio) -> AudioSource {
    match audio {
        SimAudio::Silence => AudioSource::silence(),
        SimAudio::Tone(hz) => AudioSource::tone(f64::from(*hz), dbfs_to_amplitude(TONE_DBFS)),
        SimAudio::File(path) => {
            match std::fs::read(path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    let kind = AudioKind::sniff(&bytes).ok_or("neither WAV nor MP3")?;
                    decode_all(bytes, kind, MAX_SAMPLES).map_err(|e| e.to_string())
                }) {
                Ok(samples) => AudioSource::once(samples.into()),
                Err(error) => {
                    tracing::warn!(%path, %error, "simulated caller's file; sending silence");
                    AudioSource::silence()
                }
            }
        }
    }
}
