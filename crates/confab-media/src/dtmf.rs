//! DTMF as RFC 4733 telephone events: a sender that turns a digit string into event packets
//! over 20 ms ticks, and a receiver that turns received event payloads into digits, once each.
//!
//! # The payload
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |     event     |E|R| volume    |          duration             |
//! ```
//!
//! Events 0-9 are the digits, 10 is `*`, 11 is `#`, 12-15 are `A`-`D`. Every packet of one
//! event carries the RTP timestamp of the event's start; `duration` grows (in timestamp units,
//! 8000 a second) from packet to packet. The first packet has the RTP marker bit; the last has
//! the E bit and is sent three times, because it is the one a receiver must not miss.
//!
//! # Sending
//!
//! [`DtmfSender`] plays Twilio's `SendDigits`/`sendDigits` alphabet: `0-9 A-D * #` are digits
//! of [`DIGIT_FRAMES`] frames (100 ms) followed by a gap of [`GAP_FRAMES`] frames, `w` waits
//! half a second and `W` a second. Each tick, [`DtmfSender::poll_tick`] says whether the tick
//! carries an event packet (and the caller then sends no audio for that tick) or is an ordinary
//! audio tick.
//!
//! # Receiving
//!
//! [`DtmfReceiver`] reports a digit on the first packet of an event that arrives, whichever it
//! is: if the start packet was lost a continuation or an end packet still counts. Later packets
//! with the same timestamp (continuations, the retransmitted end) are the same event; a new
//! timestamp is a new event, even for the same digit. A late packet of an older event is ignored.

use std::collections::VecDeque;

use crate::rtp::RtpTimestamp;
use crate::FRAME_SAMPLES;

/// Frames (20 ms each) one digit's tone lasts: 100 ms.
pub const DIGIT_FRAMES: u32 = 5;

/// Frames of silence after each digit: 100 ms.
pub const GAP_FRAMES: u32 = 5;

/// Frames `w` waits: half a second.
pub const SHORT_WAIT_FRAMES: u32 = 25;

/// Frames `W` waits: one second.
pub const LONG_WAIT_FRAMES: u32 = 50;

/// Times the end packet of an event is sent.
pub const END_COPIES: u8 = 3;

/// Volume of sent events: -10 dBm0 (the field is the attenuation below 0 dBm0).
const VOLUME: u8 = 10;

/// An event older than this many timestamp units (two minutes) is taken for a new one: the
/// sender restarted its clock.
const STALE_WINDOW: u32 = 2 * 60 * 8_000;

/// One RFC 4733 telephone-event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// The event code (0-15 for DTMF).
    pub event: u8,
    /// The E bit: this packet ends the event.
    pub end: bool,
    /// Attenuation below 0 dBm0, 0 to 63.
    pub volume: u8,
    /// Time since the event started, in timestamp units.
    pub duration: u16,
}

/// A packet [`DtmfSender::poll_tick`] asks to be sent this tick, instead of audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    /// RTP marker bit: set on an event's first packet.
    pub marker: bool,
    /// RTP timestamp: the start of the event.
    pub timestamp: RtpTimestamp,
    /// The payload.
    pub event: TelephoneEvent,
    /// How many identical packets to send (each with its own sequence number).
    pub copies: u8,
}

/// A character that is not in the DTMF alphabet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidDigit(pub char);

/// Plays digit strings as telephone events; see the module docs.
#[derive(Debug, Clone, Default)]
pub struct DtmfSender {
    /// What is still to play.
    steps: VecDeque<Step>,
    /// The event being sent, if any.
    current: Option<Current>,
}

/// Turns received telephone events into digits; see the module docs.
#[derive(Debug, Clone, Default)]
pub struct DtmfReceiver {
    /// Timestamp of the latest event reported.
    last: Option<RtpTimestamp>,
}

#[derive(Debug, Clone, Copy)]
enum Step {
    /// Send this event.
    Event(u8),
    /// Send audio for this many more ticks (at least one).
    Pause(u32),
}

#[derive(Debug, Clone, Copy)]
struct Current {
    event: u8,
    start: RtpTimestamp,
    /// Packets sent so far.
    frames: u32,
}

impl TelephoneEvent {
    /// Parses a payload (4 bytes; more is allowed and ignored, as RFC 4733 lets a sender pack
    /// several events, of which the first is the current one).
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let [event, flags, high, low, ..] = *payload else {
            return None;
        };
        Some(Self {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([high, low]),
        })
    }

    /// The 4-byte payload.
    pub fn to_bytes(self) -> [u8; 4] {
        let flags = (u8::from(self.end) << 7) | (self.volume & 0x3F);
        let [high, low] = self.duration.to_be_bytes();
        [self.event, flags, high, low]
    }

    /// The DTMF digit this event is, if it is one.
    pub fn digit(self) -> Option<char> {
        event_to_digit(self.event)
    }
}

/// The event code of a DTMF digit (`0-9`, `*`, `#`, `A-D`, also lowercase).
pub fn digit_to_event(digit: char) -> Option<u8> {
    match digit {
        '0'..='9' => Some(digit as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(digit as u8 - b'A' + 12),
        'a'..='d' => Some(digit as u8 - b'a' + 12),
        _ => None,
    }
}

/// The DTMF digit of an event code (0-15).
pub fn event_to_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

impl DtmfSender {
    /// A sender with nothing to play.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `digits` after whatever is still playing. Refuses the whole string, queuing
    /// nothing, if any character is not a digit, `w` or `W`.
    pub fn push_digits(&mut self, digits: &str) -> Result<(), InvalidDigit> {
        let mut steps = Vec::with_capacity(digits.len() * 2);
        for c in digits.chars() {
            match c {
                'w' => steps.push(Step::Pause(SHORT_WAIT_FRAMES)),
                'W' => steps.push(Step::Pause(LONG_WAIT_FRAMES)),
                _ => {
                    let event = digit_to_event(c).ok_or(InvalidDigit(c))?;
                    steps.extend([Step::Event(event), Step::Pause(GAP_FRAMES)]);
                }
            }
        }
        self.steps.extend(steps);
        Ok(())
    }

    /// Whether everything queued has been played.
    pub fn is_idle(&self) -> bool {
        self.current.is_none() && self.steps.is_empty()
    }

    /// Call once per 20 ms tick with the RTP timestamp of the tick's audio frame. `Some`: send
    /// this packet (`copies` times) instead of audio; `None`: send audio as usual.
    #[must_use]
    pub fn poll_tick(&mut self, timestamp: RtpTimestamp) -> Option<DtmfPacket> {
        loop {
            if let Some(current) = &mut self.current {
                current.frames += 1;
                let end = current.frames >= DIGIT_FRAMES;
                let duration = current.frames * FRAME_SAMPLES as u32;
                let packet = DtmfPacket {
                    marker: current.frames == 1,
                    timestamp: current.start,
                    event: TelephoneEvent {
                        event: current.event,
                        end,
                        volume: VOLUME,
                        duration: u16::try_from(duration).unwrap_or(u16::MAX),
                    },
                    copies: if end { END_COPIES } else { 1 },
                };
                if end {
                    self.current = None;
                }
                return Some(packet);
            }
            match self.steps.front_mut()? {
                Step::Pause(frames) => {
                    *frames -= 1;
                    if *frames == 0 {
                        self.steps.pop_front();
                    }
                    return None;
                }
                Step::Event(event) => {
                    let event = *event;
                    self.steps.pop_front();
                    self.current = Some(Current {
                        event,
                        start: timestamp,
                        frames: 0,
                    });
                }
            }
        }
    }
}

impl DtmfReceiver {
    /// A receiver that has seen no event.
    pub fn new() -> Self {
        Self::default()
    }

    /// Handles the payload of one telephone-event packet with RTP `timestamp`. Returns the
    /// digit when this packet is the first seen of a new DTMF event.
    #[must_use]
    pub fn handle_payload(&mut self, timestamp: RtpTimestamp, payload: &[u8]) -> Option<char> {
        let event = TelephoneEvent::parse(payload)?;
        if let Some(last) = self.last {
            let age = last.0.wrapping_sub(timestamp.0);
            if age < STALE_WINDOW {
                // The same event again (age 0), or a late packet of an older one.
                return None;
            }
        }
        let digit = event.digit()?;
        self.last = Some(timestamp);
        Some(digit)
    }
}

impl std::fmt::Display for InvalidDigit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} is not a DTMF digit, w or W", self.0)
    }
}

impl std::error::Error for InvalidDigit {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a sender for `ticks` ticks from timestamp 1000; returns per tick the packet, if any.
    fn run(sender: &mut DtmfSender, ticks: u32) -> Vec<Option<DtmfPacket>> {
        (0..ticks)
            .map(|i| sender.poll_tick(RtpTimestamp(1000 + i * FRAME_SAMPLES as u32)))
            .collect()
    }

    #[test]
    fn one_digit_is_a_start_continuations_and_three_ends() {
        let mut sender = DtmfSender::new();
        sender.push_digits("5").unwrap();
        let ticks = run(&mut sender, 12);
        let packets: Vec<DtmfPacket> = ticks[..5].iter().map(|p| p.unwrap()).collect();
        assert!(packets[0].marker && packets[1..].iter().all(|p| !p.marker));
        assert!(packets.iter().all(|p| p.timestamp == RtpTimestamp(1000)));
        assert!(packets.iter().all(|p| p.event.event == 5));
        let durations: Vec<u16> = packets.iter().map(|p| p.event.duration).collect();
        assert_eq!(durations, [160, 320, 480, 640, 800]);
        let ends: Vec<(bool, u8)> = packets.iter().map(|p| (p.event.end, p.copies)).collect();
        assert_eq!(ends[..4], [(false, 1); 4]);
        assert_eq!(ends[4], (true, 3));
        assert!(ticks[5..10].iter().all(Option::is_none), "the gap is audio");
        assert!(sender.is_idle());
    }

    #[test]
    fn digits_waits_and_timestamps_follow_the_clock() {
        let mut sender = DtmfSender::new();
        sender.push_digits("1w#W").unwrap();
        assert_eq!(sender.push_digits("12x"), Err(InvalidDigit('x')));
        let ticks = run(&mut sender, 80);
        let starts: Vec<(usize, u8, RtpTimestamp)> = ticks
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                p.filter(|p| p.marker)
                    .map(|p| (i, p.event.event, p.timestamp))
            })
            .collect();
        // "1" at tick 0; 5 ticks of tone, 5 of gap, 25 of wait; "#" at tick 35.
        assert_eq!(
            starts,
            [
                (0, 1, RtpTimestamp(1000)),
                (35, 11, RtpTimestamp(1000 + 35 * 160))
            ]
        );
        assert!(!sender.is_idle(), "the final W is still waiting");
        let _ = run(&mut sender, 20);
        assert!(sender.is_idle());
    }

    #[test]
    fn payloads_round_trip_and_digits_map() {
        let event = TelephoneEvent {
            event: 11,
            end: true,
            volume: 10,
            duration: 800,
        };
        assert_eq!(event.to_bytes(), [11, 0x8A, 0x03, 0x20]);
        assert_eq!(TelephoneEvent::parse(&event.to_bytes()), Some(event));
        assert_eq!(TelephoneEvent::parse(&[1, 2, 3]), None);
        let all = "0123456789*#ABCD";
        for (code, c) in all.chars().enumerate() {
            assert_eq!(digit_to_event(c), Some(code as u8));
            assert_eq!(event_to_digit(code as u8), Some(c));
        }
        assert_eq!(digit_to_event('b'), Some(13));
        assert_eq!((digit_to_event('E'), event_to_digit(16)), (None, None));
    }

    /// Feeds the receiver the packets a sender makes for `digits`, through `network` (which
    /// may drop or repeat); returns the digits reported.
    fn through(digits: &str, network: impl Fn(usize, DtmfPacket) -> Vec<DtmfPacket>) -> String {
        let mut sender = DtmfSender::new();
        sender.push_digits(digits).unwrap();
        let mut receiver = DtmfReceiver::new();
        let mut heard = String::new();
        let mut index = 0;
        for packet in run(&mut sender, 400).into_iter().flatten() {
            for _ in 0..packet.copies {
                for delivered in network(index, packet) {
                    let payload = delivered.event.to_bytes();
                    heard.extend(receiver.handle_payload(delivered.timestamp, &payload));
                }
                index += 1;
            }
        }
        heard
    }

    #[test]
    fn each_event_is_reported_once_whatever_the_network_does() {
        assert_eq!(through("1234", |_, p| vec![p]), "1234");
        assert_eq!(through("55#", |_, p| vec![p, p]), "55#", "duplicates");
        // Every start packet lost: the continuations still count.
        assert_eq!(
            through("9*", |_, p| if p.marker { vec![] } else { vec![p] }),
            "9*"
        );
        // Only the end packets get through.
        let ends_only = |_, p: DtmfPacket| if p.event.end { vec![p] } else { vec![] };
        assert_eq!(through("AD0", ends_only), "AD0");
    }

    #[test]
    fn late_packets_of_an_old_event_are_ignored() {
        let mut receiver = DtmfReceiver::new();
        let start = |event: u8| TelephoneEvent {
            event,
            end: false,
            volume: 10,
            duration: 160,
        };
        assert_eq!(
            receiver.handle_payload(RtpTimestamp(8000), &start(1).to_bytes()),
            Some('1')
        );
        assert_eq!(
            receiver.handle_payload(RtpTimestamp(9600), &start(2).to_bytes()),
            Some('2')
        );
        assert_eq!(
            receiver.handle_payload(RtpTimestamp(8000), &start(1).to_bytes()),
            None
        );
        // Across the timestamp wrap.
        let mut receiver = DtmfReceiver::new();
        assert_eq!(
            receiver.handle_payload(RtpTimestamp(u32::MAX - 100), &start(3).to_bytes()),
            Some('3')
        );
        assert_eq!(
            receiver.handle_payload(RtpTimestamp(700), &start(3).to_bytes()),
            Some('3')
        );
        // A non-DTMF event (flash) and a short payload are not digits.
        assert_eq!(
            receiver.handle_payload(RtpTimestamp(5000), &start(16).to_bytes()),
            None
        );
        assert_eq!(receiver.handle_payload(RtpTimestamp(6000), &[1]), None);
    }
}
