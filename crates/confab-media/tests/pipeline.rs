//! The whole media path a driver wires up, on a virtual clock: caller tones are encoded and sent
//! as RTP over a network that delays, reorders and loses packets; each participant's jitter
//! buffer feeds the mixer every 20 ms; the mixer's outputs go back out as RTP and the callers
//! decode and listen.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use confab_media::mixer::MixerConfig;
use confab_media::rtp::RtpTimestamp;
use confab_media::tone::{tone_level_dbfs, ToneGenerator};
use confab_media::{
    Codec, JitterBuffer, JitterBufferSize, Mixer, MixerParticipantId, Playout, RtpPacket,
    RtpSender, SeqNo, Ssrc, FRAME_DURATION, FRAME_SAMPLES,
};

/// One simulated phone and the server-side state that belongs to it.
struct Leg {
    id: MixerParticipantId,
    codec: Codec,
    tone: ToneGenerator,
    /// The phone's outgoing stream.
    uplink: RtpSender,
    /// The server's outgoing stream to the phone.
    downlink: RtpSender,
    jitter: JitterBuffer,
}

/// Deterministic network delay in milliseconds for packet `n` (0 to 55 ms, so packets overtake
/// each other).
fn delay_ms(n: u64) -> u64 {
    (n * 37 + 11) % 56
}

#[test]
fn callers_hear_each_other_through_jitter_loss_and_reordering() {
    let t0 = Instant::now();
    let mut mixer = Mixer::new(MixerConfig::default());
    mixer.set_started(true);
    let mut legs: Vec<Leg> = [(450.0, Codec::Pcmu), (700.0, Codec::Pcma)]
        .into_iter()
        .enumerate()
        .map(|(i, (freq, codec))| {
            let id = MixerParticipantId(i as u32);
            mixer.add_participant(id, codec).unwrap();
            let pt = codec.payload_type();
            Leg {
                id,
                codec,
                tone: ToneGenerator::with_dbfs(freq, -10.0),
                uplink: RtpSender::new(Ssrc(100 + i as u32), pt, SeqNo(65_500), RtpTimestamp(7)),
                downlink: RtpSender::new(Ssrc(200 + i as u32), pt, SeqNo(1), RtpTimestamp(0)),
                jitter: JitterBuffer::new(JitterBufferSize::Large, codec),
            }
        })
        .collect();

    // Packets in flight, by arrival time in ms: (leg, bytes).
    let mut network: BTreeMap<(u64, u64), (usize, Vec<u8>)> = BTreeMap::new();
    let mut heard: Vec<Vec<[i16; FRAME_SAMPLES]>> = vec![Vec::new(), Vec::new()];
    let mut sent = 0u64;
    for tick in 0..150u64 {
        let now_ms = tick * 20;
        // Phones send their frame for this tick; each loses one packet in 40.
        for (i, leg) in legs.iter_mut().enumerate() {
            let mut pcm = [0i16; FRAME_SAMPLES];
            leg.tone.fill(&mut pcm);
            let mut payload = [0u8; FRAME_SAMPLES];
            leg.codec.encode(&pcm, &mut payload);
            let mut packet = vec![0u8; 200];
            let len = leg.uplink.write_frame(&payload, &mut packet).unwrap();
            packet.truncate(len);
            sent += 1;
            if tick % 40 != 20 + 5 * i as u64 {
                network.insert((now_ms + 1 + delay_ms(sent), sent), (i, packet));
            }
        }
        // Everything that has arrived by this tick goes into the jitter buffers.
        let due: Vec<_> = network.range(..(now_ms + 1, 0)).map(|(k, _)| *k).collect();
        for key in due {
            let (i, bytes) = network.remove(&key).unwrap();
            let packet = RtpPacket::parse(&bytes).unwrap();
            let arrival = t0 + Duration::from_millis(key.0);
            legs[i].jitter.handle_packet(arrival, &packet);
        }
        // The tick: jitter buffers -> mixer -> RTP back to the phones.
        let now = t0 + FRAME_DURATION * tick as u32;
        for leg in &mut legs {
            match leg.jitter.poll_frame(now) {
                Playout::Packet(p) | Playout::Concealed(p) => {
                    mixer.handle_payload(leg.id, p).unwrap()
                }
                Playout::Silence => {}
            }
        }
        mixer.handle_tick();
        for (i, leg) in legs.iter_mut().enumerate() {
            let output = mixer.output(leg.id).unwrap();
            let mut packet = [0u8; 200];
            let len = leg
                .downlink
                .write_frame(output.payload(), &mut packet)
                .unwrap();
            let received = RtpPacket::parse(&packet[..len]).unwrap();
            let mut pcm = [0i16; FRAME_SAMPLES];
            leg.codec.decode(received.payload, &mut pcm);
            heard[i].push(pcm);
        }
    }

    // After the 60 ms start-up, each caller hears the other's tone in nearly every frame
    // (a concealed frame is quieter, a lost-and-late one may be silent) and never its own.
    let (a, b) = (450.0, 700.0);
    for (i, (other, own)) in [(b, a), (a, b)].into_iter().enumerate() {
        let frames = &heard[i][10..];
        let clear = frames
            .iter()
            .filter(|f| tone_level_dbfs(&f[..], other) > -16.0)
            .count();
        assert!(
            clear * 100 >= frames.len() * 93,
            "leg {i}: {clear} of {}",
            frames.len()
        );
        assert!(frames.iter().all(|f| tone_level_dbfs(&f[..], own) < -40.0));
    }
    for leg in &legs {
        let stats = leg.jitter.stats();
        assert!(stats.played >= 135 && stats.concealed >= 1, "{stats:?}");
    }
}
