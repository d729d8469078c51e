//! The media runtime on real loopback sockets: simulated callers' digits and voices reach the
//! conference's back-channel through the media thread.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use confab_media::mixer::SourceTarget;
use confab_media::SourceId;
use confab_media::{Codec, JitterBufferSize, MixerCommand, MixerParticipantId, PayloadType};
use tokio::sync::mpsc::UnboundedReceiver;

use super::*;

fn media() -> Media {
    let config = MediaConfig {
        threads: 1,
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        sim_audio_dir: None,
    };
    Media::start(&config).expect("media runtime")
}

/// Events that arrive within `wait`.
fn collect(events: &mut UnboundedReceiver<MediaEvent>, wait: Duration) -> Vec<MediaEvent> {
    let until = Instant::now() + wait;
    let mut seen = Vec::new();
    while Instant::now() < until {
        match events.try_recv() {
            Ok(event) => seen.push(event),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    seen
}

fn params(peer: &SimPeer, telephone_event: Option<PayloadType>) -> MediaParams {
    MediaParams {
        remote: peer.local_addr(),
        codec: Codec::Pcmu,
        telephone_event,
        jitter: JitterBufferSize::Small,
        latch: None,
    }
}

#[test]
fn a_callers_digits_arrive_once_each_in_order() {
    let media = media();
    let (conference, mut events) = media.open_conference_with_events();
    conference.command(MixerCommand::SetStarted(true));
    let caller = media.sims().spawn(SimAudio::Silence).expect("sim");
    let id = MixerParticipantId(1);
    conference.join_with(id, params(&caller, Some(PayloadType::TELEPHONE_EVENT)));
    caller.connect(conference.local_addr());
    assert_eq!(caller.send_digits("12x"), Err(InvalidDigit('x')));
    caller.send_digits("1234567890*#ABCD").expect("digits");
    caller.send_digits("w55").expect("digits");
    // 18 digits of 200 ms and a 500 ms wait: under 5 s.
    let seen = collect(&mut events, Duration::from_secs(6));
    let digits: String = seen
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Dtmf { id: who, digit } if *who == id => Some(*digit),
            _ => None,
        })
        .collect();
    assert_eq!(digits, "1234567890*#ABCD55");
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, MediaEvent::SpeechStarted(_))),
        "a silent caller never talks: {seen:?}"
    );
}

#[test]
fn digits_without_a_negotiated_type_are_dropped() {
    let media = media();
    let (conference, mut events) = media.open_conference_with_events();
    let caller = media.sims().spawn(SimAudio::Silence).expect("sim");
    conference.join_with(MixerParticipantId(1), params(&caller, None));
    caller.connect(conference.local_addr());
    caller.send_digits("9").expect("digits");
    let seen = collect(&mut events, Duration::from_millis(800));
    assert!(seen.is_empty(), "{seen:?}");
    assert!(media.stats().packets_dropped > 0);
}

#[test]
fn talking_and_finished_sources_are_reported() {
    let media = media();
    let (conference, mut events) = media.open_conference_with_events();
    conference.command(MixerCommand::SetStarted(true));
    let talker = media.sims().spawn(SimAudio::Tone(700.0)).expect("sim");
    let id = MixerParticipantId(7);
    conference.join(
        id,
        talker.local_addr(),
        Codec::Pcmu,
        JitterBufferSize::Small,
    );
    talker.connect(conference.local_addr());
    let beep = conference.builtin().enter_beep();
    conference.command(MixerCommand::StartSource {
        id: SourceId(3),
        target: SourceTarget::Everyone,
        source: beep,
    });
    let seen = collect(&mut events, Duration::from_millis(1000));
    assert!(seen.contains(&MediaEvent::SpeechStarted(id)), "{seen:?}");
    assert!(
        seen.contains(&MediaEvent::SourceFinished(SourceId(3))),
        "{seen:?}"
    );
    drop(talker);
    let seen = collect(&mut events, Duration::from_millis(1000));
    assert!(seen.contains(&MediaEvent::SpeechStopped(id)), "{seen:?}");
}

/// Params for a participant that signalled `signalled` and may latch to sources from
/// `latch`.
fn latching(signalled: SocketAddr, latch: IpAddr) -> MediaParams {
    MediaParams {
        remote: signalled,
        codec: Codec::Pcmu,
        telephone_event: None,
        jitter: JitterBufferSize::Small,
        latch: Some(latch),
    }
}

/// Waits up to `wait` for `check` to hold.
fn eventually(wait: Duration, check: impl Fn() -> bool) -> bool {
    let until = Instant::now() + wait;
    while Instant::now() < until {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check()
}

/// The level of the last half second a caller heard.
fn recent_dbfs(peer: &SimPeer) -> f64 {
    let packets = peer.recording().packets_since(0);
    let recent: Vec<i16> = packets
        .iter()
        .rev()
        .take(25)
        .flat_map(|(_, samples)| samples.iter().copied())
        .collect();
    confab_media::speech::rms_dbfs(&recent)
}

/// A plain socket sending PCMU (or `payload_type`) RTP to `to` every 20 ms from `from`.
struct Stranger {
    socket: UdpSocket,
}

impl Stranger {
    fn bind(ip: IpAddr) -> Stranger {
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        Stranger { socket }
    }

    /// Sends `frames` packets of silence to `to`.
    fn send(&self, to: SocketAddr, payload_type: PayloadType, frames: u16) {
        let mut sender = confab_media::RtpSender::new(
            confab_media::Ssrc(77),
            payload_type,
            confab_media::SeqNo(1),
            confab_media::rtp::RtpTimestamp(0),
        );
        let mut buf = [0u8; 256];
        for _ in 0..frames {
            let len = sender.write_frame(&[0xFF; 160], &mut buf).expect("fits");
            let _ = self.socket.send_to(&buf[..len], to);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether anything arrives within the read timeout.
    fn hears_anything(&self) -> bool {
        let mut buf = [0u8; 2048];
        self.socket.recv_from(&mut buf).is_ok()
    }
}

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[test]
fn a_caller_sending_from_another_port_gets_its_mix_where_it_sends_from() {
    let media = media();
    let conference = media.open_conference();
    conference.command(MixerCommand::SetStarted(true));
    let talker = media.sims().spawn(SimAudio::Tone(700.0)).expect("sim");
    conference.join_with(MixerParticipantId(1), params(&talker, None));
    talker.connect(conference.local_addr());
    // The caller's SDP named a port it does not send from (a NAT's doing).
    let signalled = Stranger::bind(LOOPBACK);
    let signalled_addr = signalled.socket.local_addr().expect("addr");
    let caller = media.sims().spawn(SimAudio::Silence).expect("sim");
    let id = MixerParticipantId(2);
    conference.join_with(id, latching(signalled_addr, LOOPBACK));
    caller.connect(conference.local_addr());
    assert!(
        eventually(Duration::from_secs(2), || caller.recording().packet_count()
            > 30),
        "the mix comes back to the port the caller sends from"
    );
    let level = recent_dbfs(&caller);
    assert!(level > -30.0, "the caller hears the talker: {level} dBFS");
    // Nothing goes to the signalled port any more.
    while signalled.hears_anything() {}
    assert!(!signalled.hears_anything());
}

#[test]
fn a_stranger_from_another_ip_or_with_another_payload_type_latches_nobody() {
    let media = media();
    let conference = media.open_conference();
    conference.command(MixerCommand::SetStarted(true));
    let signalled = Stranger::bind(LOOPBACK);
    let signalled_addr = signalled.socket.local_addr().expect("addr");
    conference.join_with(MixerParticipantId(1), latching(signalled_addr, LOOPBACK));
    let elsewhere = Stranger::bind(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    elsewhere.send(conference.local_addr(), PayloadType::PCMU, 10);
    let wrong_type = Stranger::bind(LOOPBACK);
    wrong_type.send(conference.local_addr(), PayloadType::PCMA, 10);
    std::thread::sleep(Duration::from_millis(100));
    assert!(!elsewhere.hears_anything(), "another IP is not latched");
    assert!(
        !wrong_type.hears_anything(),
        "another payload type is not latched"
    );
    assert!(
        signalled.hears_anything(),
        "RTP still goes where the SDP said"
    );
    assert!(media.stats().packets_dropped >= 20, "{:?}", media.stats());
}

#[test]
fn two_waiting_on_one_ip_each_get_their_own_source() {
    let media = media();
    let conference = media.open_conference();
    conference.command(MixerCommand::SetStarted(true));
    let older = media.sims().spawn(SimAudio::Silence).expect("sim");
    let newer = media.sims().spawn(SimAudio::Silence).expect("sim");
    // The older one signalled a port it does not use; the newer one signalled its own port
    // on another (private) IP, as a NAT that keeps ports shows it.
    let decoy = Stranger::bind(LOOPBACK);
    let older_signalled = decoy.socket.local_addr().expect("addr");
    let newer_signalled = SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)),
        newer.local_addr().port(),
    );
    let (older_id, newer_id) = (MixerParticipantId(1), MixerParticipantId(2));
    conference.join_with(older_id, latching(older_signalled, LOOPBACK));
    conference.join_with(newer_id, latching(newer_signalled, LOOPBACK));
    // Only the older one is on hold: whoever hears hold music is the older one's socket.
    conference.command(MixerCommand::SetHeld {
        id: older_id,
        held: true,
    });
    // The newer one sends first: its port, not the older one's age, decides.
    newer.connect(conference.local_addr());
    assert!(eventually(Duration::from_secs(2), || {
        newer.recording().packet_count() > 5
    }));
    older.connect(conference.local_addr());
    assert!(eventually(Duration::from_secs(2), || {
        older.recording().packet_count() > 30 && newer.recording().packet_count() > 60
    }));
    let (heard_by_older, heard_by_newer) = (recent_dbfs(&older), recent_dbfs(&newer));
    assert!(heard_by_older > -40.0, "hold music: {heard_by_older} dBFS");
    assert!(
        heard_by_newer < -60.0,
        "a silent conference: {heard_by_newer} dBFS"
    );
    // A third source on that IP finds nobody waiting.
    let third = Stranger::bind(LOOPBACK);
    third.send(conference.local_addr(), PayloadType::PCMU, 5);
    assert!(!third.hears_anything());
}
