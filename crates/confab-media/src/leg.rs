//! One remote participant's RTP, both ways, as the media thread sees it: a [`MediaLeg`] takes
//! the participant's datagrams, hands the mixer one payload per tick, numbers the packets sent
//! back, and notices what only the media path can see: DTMF digits (RFC 4733) and whether the
//! participant is talking.
//!
//! # Receiving
//!
//! A datagram is accepted when it parses as RTP and carries the participant's codec (it goes to
//! the [`JitterBuffer`]) or its negotiated telephone-event type (it goes to the
//! [`DtmfReceiver`], at once: a digit needs no playout). Anything else is refused, and the
//! driver counts it; the network is untrusted and nothing it sends is an error here.
//!
//! # Talking
//!
//! With a [`SpeechDetectorConfig`], every tick's frame (the jitter buffer's payload, or silence
//! when it has none) goes through a [`SpeechDetector`], whose hysteresis and hangover turn
//! levels into [`LegEvent::SpeechStarted`] and [`LegEvent::SpeechStopped`]. A payload whose
//! loudest G.711 code is below the stop threshold cannot have an RMS level above it, so quiet
//! frames are judged without being decoded.

use std::collections::VecDeque;
use std::time::Instant;

use crate::dtmf::{DtmfPacket, DtmfReceiver, DtmfSender, InvalidDigit};
use crate::g711::Codec;
use crate::jitter::{JitterBuffer, JitterBufferSize, Playout};
use crate::rtp::{PayloadType, RtpError, RtpPacket, RtpSender};
use crate::speech::{rms_dbfs, SpeechDetector, SpeechDetectorConfig, SpeechEvent};
use crate::tone::{dbfs_to_amplitude, FLOOR_DBFS};
use crate::{FRAME_SAMPLES, SILENT_FRAME};

/// What a leg carries, as negotiated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LegConfig {
    /// The audio codec, both ways.
    pub codec: Codec,
    /// The payload type of RFC 4733 telephone events, if the peer sends them.
    pub telephone_event: Option<PayloadType>,
    /// The participant's jitter buffer depth.
    pub jitter: JitterBufferSize,
    /// Whether (and how) to tell when the participant talks.
    pub speech: Option<SpeechDetectorConfig>,
}

/// Something a leg noticed, in the order it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegEvent {
    /// The participant pressed a key (reported once per press).
    Dtmf(char),
    /// Every digit queued with [`MediaLeg::send_digits`] has been sent.
    DigitsSent,
    /// The participant started talking.
    SpeechStarted,
    /// The participant stopped talking.
    SpeechStopped,
}

/// One participant's RTP; see the module docs.
#[derive(Debug)]
pub struct MediaLeg {
    /// What was negotiated.
    config: LegConfig,
    /// Incoming audio, one payload per tick.
    jitter: JitterBuffer,
    /// Incoming telephone events.
    dtmf: DtmfReceiver,
    /// Outgoing telephone events (`<Play digits>`), sent instead of audio while busy.
    digits: DtmfSender,
    /// Talk detection, when asked for.
    speech: Option<Speech>,
    /// Numbers the packets sent to the participant.
    sender: RtpSender,
    /// Events not yet polled.
    events: VecDeque<LegEvent>,
}

#[derive(Debug)]
struct Speech {
    detector: SpeechDetector,
    /// A payload whose magnitude codes all stay below this is quieter than the stop level.
    quiet_below: u8,
}

impl MediaLeg {
    /// A leg sending with `sender` (whose SSRC, first sequence number and timestamp the driver
    /// picked at random, as RFC 3550 asks).
    pub fn new(config: LegConfig, sender: RtpSender) -> Self {
        let codec = config.codec;
        let speech = config.speech.map(|speech| {
            let stop = codec.encode_sample(dbfs_to_amplitude(speech.stop_dbfs));
            Speech {
                detector: SpeechDetector::new(speech),
                quiet_below: codec.magnitude_code(stop),
            }
        });
        Self {
            config,
            jitter: JitterBuffer::new(config.jitter, codec),
            dtmf: DtmfReceiver::new(),
            digits: DtmfSender::new(),
            speech,
            sender,
            events: VecDeque::new(),
        }
    }

    /// Takes one datagram from the participant, received at `now`. Returns false if it is
    /// refused (not RTP, or a payload type not negotiated).
    #[must_use]
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) -> bool {
        let Ok(packet) = RtpPacket::parse(datagram) else {
            return false;
        };
        if Some(packet.payload_type) == self.config.telephone_event {
            if let Some(digit) = self.dtmf.handle_payload(packet.timestamp, packet.payload) {
                self.events.push_back(LegEvent::Dtmf(digit));
            }
            return true;
        }
        if Codec::from_payload_type(packet.payload_type) != Some(self.config.codec) {
            return false;
        }
        self.jitter.handle_packet(now, &packet);
        true
    }

    /// The payload to give the mixer for the tick at `now` (`None`: silence). Call once per
    /// tick; it also advances talk detection.
    #[must_use]
    pub fn poll_frame(&mut self, now: Instant) -> Option<&[u8]> {
        let Self {
            jitter,
            speech,
            events,
            config,
            ..
        } = self;
        let payload = match jitter.poll_frame(now) {
            Playout::Packet(p) | Playout::Concealed(p) => Some(p),
            Playout::Silence => None,
        };
        if let Some(speech) = speech {
            let level = match payload {
                Some(p) if config.codec.reaches_magnitude_code(p, speech.quiet_below) => {
                    let mut pcm = SILENT_FRAME;
                    let n = p.len().min(FRAME_SAMPLES);
                    config.codec.decode(&p[..n], &mut pcm[..n]);
                    rms_dbfs(&pcm[..n])
                }
                _ => FLOOR_DBFS,
            };
            match speech.detector.handle_level(level) {
                Some(SpeechEvent::Started) => events.push_back(LegEvent::SpeechStarted),
                Some(SpeechEvent::Stopped) => events.push_back(LegEvent::SpeechStopped),
                None => {}
            }
        }
        payload
    }

    /// Writes the RTP packet carrying this tick's `payload` (the mixer's output) into `out`;
    /// returns its length.
    pub fn write_frame(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, RtpError> {
        self.sender.write_frame(payload, out)
    }

    /// Queues DTMF to send to the participant as RFC 4733 events (`w` waits 0.5 s, `W` 1 s);
    /// [`LegEvent::DigitsSent`] once they all went out. Refused when the participant has no
    /// telephone-event payload type.
    pub fn send_digits(&mut self, digits: &str) -> Result<(), InvalidDigit> {
        if self.config.telephone_event.is_none() {
            return Err(InvalidDigit(digits.chars().next().unwrap_or(' ')));
        }
        self.digits.push_digits(digits)
    }

    /// This tick's outgoing telephone event, if one is being sent: the driver sends it with
    /// [`MediaLeg::write_event`], `copies` times, instead of the audio frame. Call once per tick.
    #[must_use]
    pub fn poll_digit(&mut self) -> Option<DtmfPacket> {
        if self.digits.is_idle() {
            return None;
        }
        let packet = self.digits.poll_tick(self.sender.timestamp());
        match &packet {
            // The event takes the place of this tick's audio frame.
            Some(_) => self.sender.skip_frame(),
            None if self.digits.is_idle() => self.events.push_back(LegEvent::DigitsSent),
            None => {}
        }
        if packet.as_ref().is_some_and(|p| p.event.end) && self.digits.is_idle() {
            self.events.push_back(LegEvent::DigitsSent);
        }
        packet
    }

    /// Writes one copy of a telephone-event packet from [`MediaLeg::poll_digit`] into `out`.
    pub fn write_event(&mut self, packet: &DtmfPacket, out: &mut [u8]) -> Result<usize, RtpError> {
        let te = self
            .config
            .telephone_event
            .unwrap_or(PayloadType::TELEPHONE_EVENT);
        let payload = packet.event.to_bytes();
        self.sender
            .write_packet(te, packet.marker, packet.timestamp, &payload, out)
    }

    /// The next event noticed, oldest first. Drain after every tick.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<LegEvent> {
        self.events.pop_front()
    }

    /// The audio codec.
    pub fn codec(&self) -> Codec {
        self.config.codec
    }

    /// Whether the participant is talking now (within the detector's hangover).
    pub fn is_speaking(&self) -> bool {
        self.speech
            .as_ref()
            .is_some_and(|s| s.detector.is_speaking())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtmf::DtmfSender;
    use crate::rtp::{RtpTimestamp, SeqNo, Ssrc};
    use crate::tone::ToneGenerator;
    use crate::FRAME_DURATION;

    /// A peer's side: numbers its packets and plays digits between its audio.
    struct Peer {
        sender: RtpSender,
        dtmf: DtmfSender,
        tone: Option<ToneGenerator>,
    }

    impl Peer {
        fn new(tone: Option<f64>) -> Self {
            Self {
                sender: RtpSender::new(Ssrc(5), PayloadType::PCMU, SeqNo(1), RtpTimestamp(9)),
                dtmf: DtmfSender::new(),
                tone: tone.map(|hz| ToneGenerator::with_dbfs(hz, -15.0)),
            }
        }

        /// This tick's datagrams.
        fn tick(&mut self) -> Vec<Vec<u8>> {
            let mut buf = [0u8; 256];
            if let Some(packet) = self.dtmf.poll_tick(self.sender.timestamp()) {
                self.sender.skip_frame();
                let te = PayloadType::TELEPHONE_EVENT;
                let payload = packet.event.to_bytes();
                return (0..packet.copies)
                    .map(|_| {
                        let n = self
                            .sender
                            .write_packet(te, packet.marker, packet.timestamp, &payload, &mut buf)
                            .unwrap();
                        buf[..n].to_vec()
                    })
                    .collect();
            }
            let mut pcm = SILENT_FRAME;
            if let Some(tone) = &mut self.tone {
                tone.fill(&mut pcm);
            }
            let mut payload = [0u8; FRAME_SAMPLES];
            Codec::Pcmu.encode(&pcm, &mut payload);
            let n = self.sender.write_frame(&payload, &mut buf).unwrap();
            vec![buf[..n].to_vec()]
        }
    }

    #[test]
    fn digits_sent_to_the_participant_replace_its_audio_then_report_done() {
        let mut leg = leg(Some(PayloadType::TELEPHONE_EVENT));
        leg.send_digits("1w2").expect("valid digits");
        let mut receiver = DtmfReceiver::new();
        let (mut heard, mut audio_ticks, mut done_at) = (String::new(), 0, None);
        let mut out = [0u8; 64];
        for tick in 0..200 {
            match leg.poll_digit() {
                Some(event) => {
                    for _ in 0..event.copies {
                        let n = leg.write_event(&event, &mut out).expect("fits");
                        let packet = RtpPacket::parse(&out[..n]).expect("rtp");
                        assert_eq!(packet.payload_type, PayloadType::TELEPHONE_EVENT);
                        if let Some(d) = receiver.handle_payload(packet.timestamp, packet.payload) {
                            heard.push(d);
                        }
                    }
                }
                None => audio_ticks += 1,
            }
            while let Some(event) = leg.poll_event() {
                if event == LegEvent::DigitsSent {
                    assert!(done_at.is_none(), "reported once");
                    done_at = Some(tick);
                }
            }
        }
        assert_eq!(heard, "12");
        assert!(
            done_at.is_some_and(|t| t > 25),
            "after the 0.5 s wait: {done_at:?}"
        );
        assert!(audio_ticks > 150, "audio resumes: {audio_ticks}");
        let mut plain = self::leg(None);
        assert!(
            plain.send_digits("1").is_err(),
            "no payload type, no digits"
        );
    }

    fn leg(telephone_event: Option<PayloadType>) -> MediaLeg {
        let config = LegConfig {
            codec: Codec::Pcmu,
            telephone_event,
            jitter: JitterBufferSize::Small,
            speech: Some(SpeechDetectorConfig::default()),
        };
        let sender = RtpSender::new(Ssrc(1), PayloadType::PCMU, SeqNo(0), RtpTimestamp(0));
        MediaLeg::new(config, sender)
    }

    /// Steps peer and leg together on a virtual clock; returns the leg's events per tick.
    fn run(peer: &mut Peer, leg: &mut MediaLeg, ticks: u32) -> Vec<(u32, LegEvent)> {
        let start = Instant::now();
        let mut events = Vec::new();
        for tick in 0..ticks {
            let now = start + FRAME_DURATION * tick;
            for datagram in peer.tick() {
                assert!(leg.handle_datagram(now, &datagram));
            }
            let _ = leg.poll_frame(now);
            while let Some(event) = leg.poll_event() {
                events.push((tick, event));
            }
        }
        events
    }

    #[test]
    fn digits_between_audio_arrive_once_each_in_order() {
        let mut peer = Peer::new(None);
        let mut leg = leg(Some(PayloadType::TELEPHONE_EVENT));
        let _ = run(&mut peer, &mut leg, 10);
        peer.dtmf.push_digits("12w#9").unwrap();
        let events = run(&mut peer, &mut leg, 120);
        let digits: Vec<LegEvent> = events.iter().map(|e| e.1).collect();
        let expected = "12#9".chars().map(LegEvent::Dtmf).collect::<Vec<_>>();
        assert_eq!(digits, expected);
        assert_eq!(events[1].0 - events[0].0, DIGIT_TICKS);
    }

    const DIGIT_TICKS: u32 = crate::dtmf::DIGIT_FRAMES + crate::dtmf::GAP_FRAMES;

    #[test]
    fn events_of_a_type_not_negotiated_are_refused() {
        let mut peer = Peer::new(None);
        peer.dtmf.push_digits("1").unwrap();
        let mut leg = leg(None);
        let datagrams = peer.tick();
        assert!(!leg.handle_datagram(Instant::now(), &datagrams[0]));
        assert!(!leg.handle_datagram(Instant::now(), b"not rtp"));
        assert_eq!(leg.poll_event(), None);
    }

    #[test]
    fn talking_starts_and_stops_with_hysteresis() {
        let mut talker = Peer::new(Some(700.0));
        let mut leg = leg(None);
        let events = run(&mut talker, &mut leg, 20);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].1, LegEvent::SpeechStarted);
        assert!(leg.is_speaking());
        talker.tone = None;
        let events = run(&mut talker, &mut leg, 40);
        assert_eq!(
            events.iter().map(|e| e.1).collect::<Vec<_>>(),
            [LegEvent::SpeechStopped]
        );
        assert!(!leg.is_speaking());
        assert!(events[0].0 >= 15, "the hangover is 300 ms: {events:?}");
    }
}
