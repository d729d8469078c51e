//! Jitter buffer scenarios on a virtual clock: ticks every 20 ms from t0, packets at chosen
//! milliseconds. A packet arriving at the same millisecond as a tick is handled first.

use super::*;
use crate::g711::{linear_to_ulaw, ulaw_to_linear};
use crate::rtp::{PayloadType, RtpHeader, RtpTimestamp, SeqNo};
use std::time::Duration;

/// Level of the body of every test payload.
const LEVEL: i16 = 8000;

/// What one tick produced, reduced to something easy to compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    /// A packet, identified by the low byte of its sequence number.
    P(u8),
    /// A concealed frame at roughly this level.
    C(i16),
    /// Silence.
    S,
}
use Out::{C, P, S};

fn rtp_bytes(ssrc: u32, seq: u16) -> Vec<u8> {
    let mut payload = [linear_to_ulaw(LEVEL); 160];
    payload[0] = seq as u8;
    let header = RtpHeader {
        marker: false,
        payload_type: PayloadType::PCMU,
        sequence: SeqNo(seq),
        timestamp: RtpTimestamp(u32::from(seq) * 160),
        ssrc: Ssrc(ssrc),
        csrcs: &[],
    };
    let mut buf = vec![0; 200];
    let n = header
        .write(&payload, &mut buf)
        .expect("buffer is large enough");
    buf.truncate(n);
    buf
}

struct Sim {
    jb: JitterBuffer,
    t0: Instant,
    ssrc: u32,
}

impl Sim {
    fn new(size: JitterBufferSize) -> Self {
        Self {
            jb: JitterBuffer::new(size, Codec::Pcmu),
            t0: Instant::now(),
            ssrc: 1,
        }
    }

    fn send(&mut self, ms: u64, seq: u16) {
        let bytes = rtp_bytes(self.ssrc, seq);
        let packet = RtpPacket::parse(&bytes).expect("valid packet");
        self.jb
            .handle_packet(self.t0 + Duration::from_millis(ms), &packet);
    }

    fn tick(&mut self, ms: u64) -> Out {
        match self.jb.poll_frame(self.t0 + Duration::from_millis(ms)) {
            Playout::Packet(p) => P(p[0]),
            Playout::Concealed(p) => C(ulaw_to_linear(p[1])),
            Playout::Silence => S,
        }
    }

    /// Runs ticks at 0, 20, ... up to `until_ms`, delivering `packets` (ms, seq) in time order.
    fn run(&mut self, packets: &[(u64, u16)], until_ms: u64) -> Vec<Out> {
        let mut packets = packets.to_vec();
        packets.sort_by_key(|&(ms, _)| ms);
        let mut pending = packets.into_iter().peekable();
        let mut out = Vec::new();
        for tick in (0..=until_ms).step_by(20) {
            while let Some((ms, seq)) = pending.next_if(|&(ms, _)| ms <= tick) {
                self.send(ms, seq);
            }
            out.push(self.tick(tick));
        }
        out
    }
}

/// Packets `seqs` sent every 20 ms, arriving 5 ms after each tick.
fn steady(first_seq: u16, count: u16, start_ms: u64) -> Vec<(u64, u16)> {
    (0..count)
        .map(|i| (start_ms + 5 + 20 * u64::from(i), first_seq.wrapping_add(i)))
        .collect()
}

fn is_concealed_at(out: Out, level: i16) -> bool {
    matches!(out, C(l) if (i32::from(l) - i32::from(level)).abs() <= i32::from(level) / 10)
}

#[test]
fn sizes_parse_and_map_to_twilio_delays() {
    assert_eq!(
        JitterBufferSize::parse("LARGE"),
        Some(JitterBufferSize::Large)
    );
    assert_eq!(JitterBufferSize::parse("off"), Some(JitterBufferSize::Off));
    assert_eq!(JitterBufferSize::parse("huge"), None);
    assert_eq!(JitterBufferSize::default(), JitterBufferSize::Large);
    let ms: Vec<u128> = [
        JitterBufferSize::Off,
        JitterBufferSize::Small,
        JitterBufferSize::Medium,
        JitterBufferSize::Large,
    ]
    .iter()
    .map(|s| s.delay().as_millis())
    .collect();
    assert_eq!(ms, [0, 20, 40, 60]);
}

#[test]
fn in_order_stream_starts_after_the_depth() {
    for (size, first_tick) in [
        (JitterBufferSize::Off, 1),
        (JitterBufferSize::Small, 2),
        (JitterBufferSize::Medium, 3),
        (JitterBufferSize::Large, 4),
    ] {
        let mut sim = Sim::new(size);
        let out = sim.run(&steady(0, 5, 0), 400);
        assert!(
            out[..first_tick].iter().all(|&o| o == S),
            "{size:?} {out:?}"
        );
        let played: Vec<Out> = (0..5).map(P).collect();
        assert_eq!(&out[first_tick..first_tick + 5], &played[..], "{size:?}");
        assert_eq!(sim.jb.stats().played, 5);
        assert_eq!(sim.jb.size(), size);
    }
}

#[test]
fn reordered_packets_play_in_sequence() {
    let mut sim = Sim::new(JitterBufferSize::Medium);
    let packets = [
        (5, 0),
        (25, 2),
        (35, 1),
        (65, 4),
        (70, 3),
        (105, 5),
        (125, 6),
    ];
    let out = sim.run(&packets, 180);
    assert_eq!(&out[3..10], &[P(0), P(1), P(2), P(3), P(4), P(5), P(6)]);
    assert_eq!(sim.jb.stats().concealed, 0);
}

#[test]
fn duplicates_and_replays_are_dropped() {
    let mut sim = Sim::new(JitterBufferSize::Small);
    // Seq 1 twice while waiting (duplicate), seq 0 again after it was played (late).
    let packets = [(5, 0), (25, 1), (26, 1), (45, 2), (50, 0), (65, 3)];
    let out = sim.run(&packets, 120);
    assert_eq!(&out[2..6], &[P(0), P(1), P(2), P(3)]);
    let stats = sim.jb.stats();
    assert_eq!((stats.received, stats.duplicates, stats.late), (6, 1, 1));
}

#[test]
fn a_lost_packet_is_concealed_then_the_stream_fades_out() {
    let mut sim = Sim::new(JitterBufferSize::Large);
    let packets: Vec<_> = steady(0, 6, 0)
        .into_iter()
        .filter(|&(_, s)| s != 2)
        .collect();
    let out = sim.run(&packets, 300);
    assert_eq!(&out[4..6], &[P(0), P(1)]);
    assert!(is_concealed_at(out[6], LEVEL / 2), "{out:?}");
    assert_eq!(&out[7..10], &[P(3), P(4), P(5)]);
    // The stream ends: half, quarter, eighth, then silence and idle.
    assert!(is_concealed_at(out[10], LEVEL / 2), "{out:?}");
    assert!(is_concealed_at(out[11], LEVEL / 4), "{out:?}");
    assert!(is_concealed_at(out[12], LEVEL / 8), "{out:?}");
    assert!(out[13..].iter().all(|&o| o == S));
    assert_eq!(sim.jb.stats().concealed, 4);
}

#[test]
fn sequence_wrap_is_seamless_even_when_reordered() {
    let mut sim = Sim::new(JitterBufferSize::Medium);
    let mut packets = steady(65533, 6, 0);
    // Swap the arrival times of 65535 and 0.
    packets.swap(2, 3);
    let (a, b) = (packets[2].0, packets[3].0);
    packets[2].0 = b;
    packets[3].0 = a;
    let out = sim.run(&packets, 160);
    assert_eq!(&out[3..9], &[P(253), P(254), P(255), P(0), P(1), P(2)]);
    assert_eq!(sim.jb.stats().late + sim.jb.stats().concealed, 0);
}

#[test]
fn a_burst_after_a_stall_is_dropped_as_late_and_the_stream_recovers() {
    let mut sim = Sim::new(JitterBufferSize::Small);
    let mut packets = steady(0, 5, 0);
    packets.extend((5..10).map(|seq| (255, seq)));
    packets.extend(steady(10, 3, 200));
    let out = sim.run(&packets, 300);
    let expected = [S, S, P(0), P(1), P(2), P(3), P(4)];
    assert_eq!(&out[..7], &expected);
    assert!(matches!(out[7..10], [C(_), C(_), C(_)]), "{out:?}");
    assert_eq!(&out[10..15], &[S, S, P(10), P(11), P(12)]);
    assert_eq!(sim.jb.stats().late, 5);
}

#[test]
fn large_buffer_absorbs_up_to_60ms_of_jitter() {
    let mut sim = Sim::new(JitterBufferSize::Large);
    let jitter = [0, 50, 10, 55, 30, 0, 45, 5, 59, 20];
    let packets: Vec<_> = (0..40u16)
        .map(|i| (20 * u64::from(i) + jitter[usize::from(i) % 10], i))
        .collect();
    let out = sim.run(&packets, 1000);
    let played: Vec<u8> = out
        .iter()
        .filter_map(|o| if let P(s) = o { Some(*s) } else { None })
        .collect();
    // Every packet played in order: none was concealed and dropped as late.
    assert_eq!(played, (0..40).collect::<Vec<u8>>());
    assert_eq!(sim.jb.stats().late, 0);
}

#[test]
fn off_drops_a_packet_that_misses_its_tick() {
    let mut sim = Sim::new(JitterBufferSize::Off);
    let mut packets = steady(0, 5, 0);
    packets[2].0 += 20; // seq 2 arrives at 65, after its tick at 60
    let out = sim.run(&packets, 120);
    assert!(
        matches!(&out[1..6], [P(0), P(1), C(_), P(3), P(4)]),
        "{out:?}"
    );
    assert_eq!(sim.jb.stats().late, 1);
}

#[test]
fn a_pause_in_sending_does_not_make_later_packets_late() {
    let mut sim = Sim::new(JitterBufferSize::Small);
    let mut packets = steady(0, 3, 0);
    packets.extend(steady(3, 3, 2000));
    let out = sim.run(&packets, 2200);
    let played = out.iter().filter(|o| matches!(o, P(_))).count();
    assert_eq!(played, 6);
    assert_eq!(out[2000 / 20 + 2], P(3));
    assert_eq!(sim.jb.stats().late, 0);
}

#[test]
fn a_new_ssrc_or_a_big_jump_restarts_the_buffer() {
    let mut sim = Sim::new(JitterBufferSize::Off);
    let out = sim.run(&steady(100, 3, 0), 80);
    assert_eq!(&out[1..4], &[P(100), P(101), P(102)]);
    sim.ssrc = 2;
    sim.send(85, 7);
    assert_eq!(sim.tick(100), P(7));
    // Same SSRC, numbering jumps far back: not late, a restart.
    sim.send(105, 40_000);
    assert_eq!(sim.tick(120), P(40_000u16 as u8));
    assert_eq!(sim.jb.stats().resyncs, 2);
    assert_eq!(sim.jb.stats().late, 0);
}

#[test]
fn a_fast_sender_cannot_grow_latency_without_bound() {
    let mut sim = Sim::new(JitterBufferSize::Medium);
    // Two packets per tick for two seconds.
    let packets: Vec<_> = (0..200u16).map(|i| (10 * u64::from(i) + 1, i)).collect();
    let mut most_waiting = 0;
    for tick in (0..=2000u64).step_by(20) {
        for &(ms, seq) in packets
            .iter()
            .filter(|&&(ms, _)| ms <= tick && ms + 20 > tick)
        {
            sim.send(ms, seq);
        }
        most_waiting = most_waiting.max(sim.jb.waiting());
        let _ = sim.tick(tick);
    }
    assert!(most_waiting <= 2 + 1 + EXCESS_FRAMES + 2, "{most_waiting}");
    assert!(sim.jb.stats().dropped > 50);
}

#[test]
fn a_packet_far_beyond_capacity_skips_playout_forward() {
    let mut sim = Sim::new(JitterBufferSize::Off);
    sim.send(1, 0);
    assert_eq!(sim.tick(20), P(0));
    sim.send(21, 1);
    sim.send(22, 1 + CAPACITY as u16 + 10);
    assert_eq!(sim.jb.waiting(), 1, "seq 1 was dropped to make room");
    assert_eq!(sim.jb.stats().dropped, 1);
    assert!(matches!(sim.tick(40), C(_)));
}
