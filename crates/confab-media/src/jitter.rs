//! A jitter buffer: one per remote participant, between the RTP socket and the mixer.
//!
//! Packets leave a phone every 20 ms but arrive with uneven delays, sometimes out of order,
//! twice, or not at all. The mixer, on the other hand, takes exactly one frame per participant
//! every 20 ms. The jitter buffer sits in between: it holds packets for a short while (its
//! depth), hands them out in sequence order one per tick, and invents something plausible for a
//! packet that is missing when its turn comes.
//!
//! # Depth
//!
//! The depth is Twilio's per-participant `JitterBufferSize`: `off` (0 ms), `small` (20 ms),
//! `medium` (40 ms) or `large` (60 ms, the default). After the first packet of a talk spurt
//! arrives, playout waits that long before it starts, so later packets delayed by up to the
//! depth are still in time. With `off` there is no wait: a packet that misses its tick is
//! dropped, as Twilio documents.
//!
//! # Policy
//!
//! Every received packet gets a 64-bit extended sequence number (so the 16-bit wrap never
//! matters) and is then
//! - **late** if its turn has passed (it was played, concealed or skipped): dropped;
//! - a **duplicate** if the same number is already waiting: dropped;
//! - a **jump** if it is more than [`MAX_JUMP`] packets away from the stream, or carries a new
//!   SSRC: the sender restarted, so the buffer starts over with it;
//! - **too early** if it lies beyond the buffer's [`CAPACITY`]: playout skips forward to make
//!   room, dropping the oldest waiting frames, so latency stays bounded;
//! - otherwise stored.
//!
//! Latency is also bounded when the sender's clock runs slightly fast: when more than the depth
//! plus [`EXCESS_FRAMES`] frames are waiting, one frame is dropped per tick until that is no
//! longer so.
//!
//! # Concealment
//!
//! A missing packet is replaced by the previous frame at half the level, then a quarter, then an
//! eighth ([`CONCEAL_FRAMES`] frames), then silence. This hides a single lost packet well and
//! fades out instead of buzzing when a stream stops. When nothing is left to play after the
//! concealment, the buffer goes idle and the next packet starts a new talk spurt with the full
//! depth. Going idle also forgives the numbers that were concealed: only packets up to the last
//! one actually played count as late from then on, because a sender that paused (silence
//! suppression) continues its numbering where it stopped.

use std::time::Instant;

use crate::g711::Codec;
use crate::rtp::{RtpPacket, SeqExtender, Ssrc};

/// Frames the buffer can hold (one second of audio).
pub const CAPACITY: usize = 50;

/// Packets more than this far from the stream mean the sender restarted its numbering.
pub const MAX_JUMP: u64 = 500;

/// Frames that may wait beyond the depth before the buffer starts dropping to catch up.
pub const EXCESS_FRAMES: usize = 3;

/// Consecutive frames concealed by fading the last frame before falling silent.
pub const CONCEAL_FRAMES: u32 = 3;

/// Twilio's `JitterBufferSize` (confab-core's type): how long playout waits before starting.
pub use confab_core::JitterBufferSize;

/// What [`JitterBuffer::poll_frame`] hands out for one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Playout<'a> {
    /// The payload of the packet whose turn it is.
    Packet(&'a [u8]),
    /// The packet is missing; this payload is a faded copy of the previous frame.
    Concealed(&'a [u8]),
    /// Nothing to play: before the first packet, while waiting out the depth, or after a gap.
    Silence,
}

/// Counters for monitoring and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets given to [`JitterBuffer::handle_packet`].
    pub received: u64,
    /// Packets handed out in their turn.
    pub played: u64,
    /// Packets dropped because the same sequence number was already waiting.
    pub duplicates: u64,
    /// Packets dropped because their turn had passed.
    pub late: u64,
    /// Frames replaced by a faded copy of the previous one.
    pub concealed: u64,
    /// Frames skipped to bound latency (overflow or a fast sender).
    pub dropped: u64,
    /// Times the buffer started over because of a sequence jump or a new SSRC.
    pub resyncs: u64,
}

/// The jitter buffer of one incoming stream; see the module docs.
#[derive(Debug)]
pub struct JitterBuffer {
    /// Configured depth.
    size: JitterBufferSize,
    /// Codec of the payloads, needed to fade them for concealment.
    codec: Codec,
    /// Ring of waiting packets, indexed by extended sequence number modulo [`CAPACITY`].
    slots: Vec<Slot>,
    /// Turns 16-bit sequence numbers into 64-bit ones.
    extender: SeqExtender,
    /// SSRC of the current stream, to notice a restarted sender.
    ssrc: Option<Ssrc>,
    /// Playout state.
    state: State,
    /// Extended sequence number of the next frame to hand out.
    next_play: u64,
    /// Packets numbered below this are late.
    floor: u64,
    /// Extended sequence number of the last packet handed out, if any.
    last_played: Option<u64>,
    /// Number of occupied slots.
    waiting: usize,
    /// The last frame handed out as a packet; faded for concealment.
    last: Vec<u8>,
    /// Consecutive frames concealed or silent since the last real packet.
    missing_run: u32,
    /// Output buffer for concealed frames.
    concealed: Vec<u8>,
    /// Payload buffers no slot holds. A slot takes one when it stores a packet and gives it
    /// back when the packet is played or dropped, so a steady stream cycles through the few
    /// buffers that are waiting at a time instead of through one per slot: with thousands of
    /// participants, each one's whole ring would be the media thread's working set.
    spare: Vec<Vec<u8>>,
    /// Counters.
    stats: JitterStats,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing to play; waiting for a packet.
    Idle,
    /// A talk spurt began at `since`; playout starts once the depth has passed.
    Priming { since: Instant },
    /// Handing out one frame per tick.
    Playing,
}

#[derive(Debug, Clone, Default)]
struct Slot {
    /// Extended sequence number of the packet held, if any.
    seq: Option<u64>,
    /// Its payload, in a buffer from `JitterBuffer::spare` (empty, without an allocation,
    /// while the slot holds nothing).
    payload: Vec<u8>,
}

impl JitterBuffer {
    /// An empty buffer for a stream of `codec` payloads, one 20 ms frame per packet.
    pub fn new(size: JitterBufferSize, codec: Codec) -> Self {
        Self {
            size,
            codec,
            slots: vec![Slot::default(); CAPACITY],
            extender: SeqExtender::new(),
            ssrc: None,
            state: State::Idle,
            next_play: 0,
            floor: 0,
            last_played: None,
            waiting: 0,
            last: Vec::new(),
            missing_run: 0,
            concealed: Vec::new(),
            spare: Vec::new(),
            stats: JitterStats::default(),
        }
    }

    /// Stores a received media packet. Call for every RTP packet of this participant's audio
    /// payload type (not for DTMF or comfort noise), as it arrives, with its arrival time.
    pub fn handle_packet(&mut self, now: Instant, packet: &RtpPacket<'_>) {
        self.stats.received += 1;
        if self.ssrc.is_some_and(|s| s != packet.ssrc) {
            self.restart();
        }
        self.ssrc = Some(packet.ssrc);
        let previous = self.extender.highest();
        let mut seq = self.extender.extend(packet.sequence);
        if previous.is_some_and(|highest| seq.abs_diff(highest) > MAX_JUMP) {
            self.restart();
            seq = self.extender.extend(packet.sequence);
        }
        if seq < self.floor {
            self.stats.late += 1;
            return;
        }
        match self.state {
            State::Idle => {
                self.state = State::Priming { since: now };
                self.next_play = seq;
            }
            State::Priming { .. } if seq < self.next_play => self.next_play = seq,
            _ => {}
        }
        if seq >= self.next_play + CAPACITY as u64 {
            self.skip_to(seq + 1 - CAPACITY as u64);
        }
        self.store(seq, packet.payload);
    }

    /// Hands out the frame for this tick. Call exactly once per mixer tick (every 20 ms), with
    /// the tick's time; the returned payload is valid until the next call.
    #[must_use]
    pub fn poll_frame(&mut self, now: Instant) -> Playout<'_> {
        match self.state {
            State::Idle => return Playout::Silence,
            State::Priming { since } if now < since + self.size.delay() => {
                return Playout::Silence;
            }
            State::Priming { .. } => self.state = State::Playing,
            State::Playing => {}
        }
        if self.waiting > self.size.frames() + 1 + EXCESS_FRAMES {
            // The sender is ahead of us: drop one frame to pull latency back.
            self.skip_to(self.next_play + 1);
        }
        let seq = self.next_play;
        self.next_play += 1;
        self.floor = self.next_play;
        let slot = &mut self.slots[slot_index(seq)];
        if slot.seq == Some(seq) {
            slot.seq = None;
            self.waiting -= 1;
            // The frame played before goes back to the spare buffers.
            let previous = std::mem::replace(&mut self.last, std::mem::take(&mut slot.payload));
            if previous.capacity() > 0 {
                self.spare.push(previous);
            }
            self.last_played = Some(seq);
            self.missing_run = 0;
            self.stats.played += 1;
            return Playout::Packet(&self.last);
        }
        self.conceal()
    }

    /// Counters since creation.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// The configured depth.
    pub fn size(&self) -> JitterBufferSize {
        self.size
    }

    /// Frames waiting to be played.
    pub fn waiting(&self) -> usize {
        self.waiting
    }

    /// Produces the output for a missing frame and goes idle once there is nothing left.
    fn conceal(&mut self) -> Playout<'_> {
        self.missing_run += 1;
        if self.missing_run > CONCEAL_FRAMES || self.last.is_empty() {
            if self.waiting == 0 {
                // Going idle: a sender that merely paused continues its numbering right after
                // the last packet played, so concealed numbers must not count as late.
                self.state = State::Idle;
                self.floor = self.last_played.map_or(0, |s| s + 1);
            }
            return Playout::Silence;
        }
        self.stats.concealed += 1;
        let shift = self.missing_run;
        let codec = self.codec;
        self.concealed.clear();
        self.concealed.extend(
            self.last
                .iter()
                .map(|&b| codec.encode_sample(codec.decode_sample(b) >> shift)),
        );
        Playout::Concealed(&self.concealed)
    }

    /// Puts a packet in its slot unless the same number is already there.
    fn store(&mut self, seq: u64, payload: &[u8]) {
        let slot = &mut self.slots[slot_index(seq)];
        if slot.seq == Some(seq) {
            self.stats.duplicates += 1;
            return;
        }
        if slot.seq.is_none() {
            self.waiting += 1;
            slot.payload = self.spare.pop().unwrap_or_default();
        }
        slot.seq = Some(seq);
        slot.payload.clear();
        slot.payload.extend_from_slice(payload);
    }

    /// Moves playout forward to `seq`, dropping whatever waits before it.
    fn skip_to(&mut self, seq: u64) {
        let skipped = seq.saturating_sub(self.next_play).min(CAPACITY as u64);
        for s in seq - skipped..seq {
            let slot = &mut self.slots[slot_index(s)];
            if slot.seq == Some(s) {
                slot.seq = None;
                self.spare.push(std::mem::take(&mut slot.payload));
                self.waiting -= 1;
                self.stats.dropped += 1;
            }
        }
        self.next_play = seq;
        self.floor = self.floor.max(seq);
    }

    /// Forgets everything about the stream, as if no packet had been received.
    fn restart(&mut self) {
        self.stats.resyncs += 1;
        for slot in &mut self.slots {
            if slot.seq.take().is_some() {
                self.spare.push(std::mem::take(&mut slot.payload));
            }
        }
        self.waiting = 0;
        self.extender.reset();
        self.state = State::Idle;
        self.next_play = 0;
        self.floor = 0;
        self.last_played = None;
        self.missing_run = 0;
    }
}

fn slot_index(seq: u64) -> usize {
    (seq % CAPACITY as u64) as usize
}

#[cfg(test)]
mod tests;
