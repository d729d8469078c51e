//! Simulated callers (`To=sim:NAME?...`).
//!
//! A simulated call rings, then answers, is busy, fails or never answers, as
//! its options say, and optionally hangs up later. It reports each step to
//! the conference actor exactly as a SIP call leg will.

use std::time::Duration;

use confab_core::endpoint::{SimAnswer, SimSpec};
use confab_core::room::CallProgress;
use confab_core::Sid;

use crate::conference::{Command, Handle};

/// Starts the call leg of a simulated caller.
pub fn place(conference: Handle, call_sid: Sid, spec: SimSpec, timeout_secs: u32) {
    tokio::spawn(async move {
        let report = |progress| conference.tell(Command::Progress(call_sid.clone(), progress));
        if report(CallProgress::Connecting).await.is_err()
            || report(CallProgress::Ringing).await.is_err()
        {
            return;
        }
        let ring = match spec.answer {
            // Without a delay, nobody-answers lasts the whole ring timeout.
            SimAnswer::NoAnswer if spec.delay_ms == 0 => u64::from(timeout_secs) * 1000,
            _ => spec.delay_ms,
        };
        tokio::time::sleep(Duration::from_millis(ring)).await;
        let outcome = match spec.answer {
            SimAnswer::Answer => CallProgress::Answered,
            SimAnswer::Busy => CallProgress::Busy,
            SimAnswer::NoAnswer => CallProgress::NoAnswer,
            SimAnswer::Failed => CallProgress::Failed,
        };
        if report(outcome).await.is_err() || outcome != CallProgress::Answered {
            return;
        }
        if let Some(after) = spec.hangup_after_ms {
            tokio::time::sleep(Duration::from_millis(after)).await;
            let _ = report(CallProgress::HungUp).await;
        }
    });
}
