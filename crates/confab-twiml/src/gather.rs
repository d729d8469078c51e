//! The `<Gather>` state machine: prompts, barge-in, digits, timeout.
//!
//! A `<Gather>` plays its nested prompts in order while listening for DTMF. The first digit
//! stops the prompt playing ("barge-in") and skips the rest. After the prompts, and after each
//! digit, the caller has `timeout` seconds for the next digit. Gathering ends when `numDigits`
//! digits are in, when `finishOnKey` is pressed (the key itself is not part of `Digits`), or on
//! the timeout. With digits, the action is requested with `Digits` and `FinishedOnKey`; with
//! none, the call goes on with the next verb unless `actionOnEmptyResult` is set.
//!
//! [`GatherRun`] decides; the interpreter carries its [`GatherStep`]s out (media actions and
//! the timer), so this module knows nothing about actions or documents.

use std::time::Instant;

use confab_core::HttpMethod;

use crate::verb::{Gather, Prompt};

/// The longest `Digits` kept; further digits are ignored (a bound for a stuck key).
const MAX_DIGITS: usize = 256;

/// One `<Gather>` in progress.
#[derive(Debug)]
pub(crate) struct GatherRun {
    /// The verb (its prompts are taken one by one).
    gather: Gather,
    /// Index of the prompt playing (while prompting).
    prompt: usize,
    /// Where the gather is.
    phase: Phase,
    /// Digits collected so far.
    digits: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A prompt plays; `pause` when it is a `<Pause>` (timed by the engine, not media).
    Prompting { pause: bool },
    /// The prompts are over: waiting for a digit until the deadline.
    Waiting,
}

/// What the interpreter must do for the gather.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum GatherStep {
    /// Nothing changes.
    Nothing,
    /// Play this prompt; report [`GatherRun::prompt_done`] when it ends (media finished, or
    /// the engine's timer for a pause).
    Prompt(Prompt),
    /// Stop the media playing, then do the inner step.
    StopPrompt(Box<GatherStep>),
    /// Wait for digits until this instant, then report [`GatherRun::timeout`].
    Wait(Instant),
    /// Nothing gathered: go on with the next verb.
    NextVerb,
    /// Request the action (`None` = the current document) with these parameters.
    Submit {
        /// `action` as written.
        action: Option<String>,
        /// `method`.
        method: HttpMethod,
        /// `Digits` (when any) and `FinishedOnKey`.
        params: Vec<(String, String)>,
    },
}

impl GatherRun {
    /// Starts `gather` at `now`: its first prompt, or the wait when it has none.
    pub(crate) fn start(now: Instant, gather: Gather) -> (GatherRun, GatherStep) {
        let mut run = GatherRun {
            gather,
            prompt: 0,
            phase: Phase::Waiting,
            digits: String::new(),
        };
        let step = run.play_prompt(now);
        (run, step)
    }

    /// The prompt playing has ended.
    pub(crate) fn prompt_done(&mut self, now: Instant) -> GatherStep {
        if !matches!(self.phase, Phase::Prompting { .. }) {
            return GatherStep::Nothing;
        }
        self.prompt += 1;
        self.play_prompt(now)
    }

    /// The engine's timer fired.
    pub(crate) fn timeout(&mut self, now: Instant) -> GatherStep {
        match self.phase {
            Phase::Prompting { pause: true } => self.prompt_done(now),
            Phase::Prompting { pause: false } => GatherStep::Nothing,
            Phase::Waiting => self.submit(None),
        }
    }

    /// The caller pressed `digit`.
    pub(crate) fn digit(&mut self, now: Instant, digit: char) -> GatherStep {
        let dtmf = matches!(digit, '0'..='9' | '*' | '#' | 'A'..='D');
        if !dtmf || !self.gather.input.dtmf() {
            return GatherStep::Nothing;
        }
        let barged_in_media = self.phase == Phase::Prompting { pause: false };
        self.phase = Phase::Waiting;
        let step = if Some(digit) == self.gather.finish_on_key {
            self.submit(Some(digit))
        } else {
            if self.digits.len() < MAX_DIGITS {
                self.digits.push(digit);
            }
            let wanted = self.gather.num_digits.and_then(|n| usize::try_from(n).ok());
            if wanted.is_some_and(|n| self.digits.len() >= n) {
                self.submit(None)
            } else {
                GatherStep::Wait(now + self.gather.timeout)
            }
        };
        if barged_in_media {
            GatherStep::StopPrompt(Box::new(step))
        } else {
            step
        }
    }

    fn play_prompt(&mut self, now: Instant) -> GatherStep {
        match self.gather.prompts.get(self.prompt) {
            Some(prompt) => {
                self.phase = Phase::Prompting {
                    pause: matches!(prompt, Prompt::Pause(_)),
                };
                GatherStep::Prompt(prompt.clone())
            }
            None => {
                self.phase = Phase::Waiting;
                GatherStep::Wait(now + self.gather.timeout)
            }
        }
    }

    fn submit(&mut self, finished_on_key: Option<char>) -> GatherStep {
        if self.digits.is_empty() && !self.gather.action_on_empty_result {
            return GatherStep::NextVerb;
        }
        let mut params = Vec::with_capacity(2);
        if !self.digits.is_empty() {
            params.push(("Digits".to_owned(), std::mem::take(&mut self.digits)));
        }
        let key = finished_on_key.map(String::from).unwrap_or_default();
        params.push(("FinishedOnKey".to_owned(), key));
        GatherStep::Submit {
            action: self.gather.action.clone(),
            method: self.gather.method,
            params,
        }
    }
}
