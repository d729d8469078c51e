//! A simulated call: its id, its far end's script, and what the driver keeps about it.

use std::sync::Arc;
use std::time::Duration;

use confab_core::{Call, CallSid, CallStatus};
use confab_media::tone::{tone_level_dbfs, ToneGenerator};
use confab_media::{Frame, Mixer};
use confab_twiml::{Action, Interpreter, Source};

use super::{DIGIT_GAP, TICK};

/// Level above which a tone counts as heard in a frame.
const HEARD_DBFS: f64 = -30.0;

/// A simulated call, by creation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CallId(pub(super) usize);

/// How the far end reacts to the call.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Answer {
    /// Rings this long, then answers.
    After(Duration),
    /// Rings this long, then is busy.
    Busy(Duration),
    /// Rings until the call's timeout.
    Never,
}

/// The script of a call's far end (the simulated caller).
#[derive(Debug, Clone)]
pub(crate) struct FarEnd {
    pub(super) answer: Answer,
    /// Talks a tone at this frequency from answering on.
    pub(super) talk_hz: Option<f64>,
    /// Digits pressed, at times since the world began.
    pub(super) digits: Vec<(Duration, char)>,
    /// Hangs up at this time since the world began.
    pub(super) hang_up_at: Option<Duration>,
}

impl FarEnd {
    /// Answers `after` the call is placed.
    pub(crate) fn answers_after(after: Duration) -> FarEnd {
        FarEnd {
            answer: Answer::After(after),
            talk_hz: None,
            digits: Vec::new(),
            hang_up_at: None,
        }
    }

    /// Answers as soon as the call is placed.
    pub(crate) fn answers() -> FarEnd {
        FarEnd::answers_after(Duration::ZERO)
    }

    /// Never answers.
    pub(crate) fn never_answers() -> FarEnd {
        FarEnd {
            answer: Answer::Never,
            ..FarEnd::answers()
        }
    }

    /// Is busy `after` ringing this long.
    pub(crate) fn busy_after(after: Duration) -> FarEnd {
        FarEnd {
            answer: Answer::Busy(after),
            ..FarEnd::answers()
        }
    }

    /// Talks a steady tone at `hz` once answered.
    pub(crate) fn talks(mut self, hz: f64) -> FarEnd {
        self.talk_hz = Some(hz);
        self
    }

    /// Presses `digits` from `at` on, [`DIGIT_GAP`] apart.
    pub(crate) fn presses(mut self, at: Duration, digits: &str) -> FarEnd {
        let mut when = at;
        for digit in digits.chars() {
            self.digits.push((when, digit));
            when += DIGIT_GAP;
        }
        self
    }

    /// Hangs up at `at`.
    pub(crate) fn hangs_up_at(mut self, at: Duration) -> FarEnd {
        self.hang_up_at = Some(at);
        self
    }
}

/// One simulated call and everything the driver keeps about it.
#[derive(Debug)]
pub(crate) struct SimCall {
    /// The call record, changed only through [`Call::apply`].
    pub(crate) call: Call,
    /// Its TwiML, started when it is answered.
    pub(super) source: Source,
    /// Whether the leg is up (not hung up by us); its far end's events count only while it is.
    pub(super) leg_up: bool,
    /// Whether the actor has ended (the call ended and its last drive ran).
    pub(super) gone: bool,
    /// The far end's voice while connected.
    pub(super) talk: Option<ToneGenerator>,
    pub(super) interpreter: Option<Interpreter>,
    /// The call's own mixer while it runs TwiML outside a conference.
    pub(super) solo: Option<Mixer>,
    /// The conference a `<Dial>` put the call in (index into the world's conferences).
    pub(super) dialed: Option<usize>,
    /// The media verb playing on the solo mixer.
    pub(super) playing: Option<Playing>,
    /// Counts media verbs; results for an older one are stale.
    pub(super) seq: u64,
    /// Every status with the time it was reached, from `queued` at creation.
    pub(crate) statuses: Vec<(Duration, CallStatus)>,
    /// Every action the interpreter gave, with its time.
    pub(crate) actions: Vec<(Duration, Action)>,
    /// What the far end heard on each tick, from whichever mixer carried the call.
    pub(crate) heard: Vec<(Duration, Frame)>,
}

#[derive(Debug)]
pub(super) struct Playing {
    pub(super) seq: u64,
    pub(super) samples: Arc<[i16]>,
    pub(super) loops_left: u32,
}

impl SimCall {
    /// The call SID (also its participant key).
    pub(crate) fn sid(&self) -> &CallSid {
        &self.call.sid
    }

    /// The statuses reached, in order, with their times.
    pub(crate) fn status_log(&self) -> Vec<(Duration, &'static str)> {
        self.statuses
            .iter()
            .map(|(t, s)| (*t, s.as_str()))
            .collect()
    }

    /// The time of the first action that `matches`.
    pub(crate) fn first_action(&self, matches: impl Fn(&Action) -> bool) -> Option<Duration> {
        self.actions
            .iter()
            .find(|(_, a)| matches(a))
            .map(|(t, _)| *t)
    }

    /// Ticks on which a tone at `hz` was heard, grouped into runs `(first tick, last tick)`.
    pub(crate) fn heard_spans(&self, hz: f64) -> Vec<(Duration, Duration)> {
        let mut spans: Vec<(Duration, Duration)> = Vec::new();
        for (t, frame) in &self.heard {
            if tone_level_dbfs(frame, hz) < HEARD_DBFS {
                continue;
            }
            match spans.last_mut() {
                Some((_, last)) if *t == *last + TICK => *last = *t,
                _ => spans.push((*t, *t)),
            }
        }
        spans
    }
}
