//! Simulated callers (`To=sim:NAME?...`).
//!
//! A simulated call rings, then answers, is busy, fails or never answers, as
//! its options say, and optionally hangs up later. It reports each step to
//! the conference actor exactly as a SIP call leg will.
//!
//! Its audio is a separate RTP endpoint ([`crate::media::SimPeer`]) made when
//! the call is placed: the conference connects it when the call joins and
//! drops it when the call leaves. What it heard stays available under the
//! call SID (`Calls/{CallSid}/Heard.wav` and `Heard.json`).

use std::time::Duration;

use confab_core::endpoint::{SimAnswer, SimSpec};
use confab_core::room::CallProgress;
use confab_core::Sid;

use crate::conference::{Command, Handle};
use crate::media::{Media, SimAudio, SimPeer};

/// Makes the RTP endpoint of a simulated caller and keeps its recording for
/// the Heard routes. `None` (logged) if no socket could be had: the call then
/// goes on without audio rather than failing.
pub fn media_peer(media: &Media, spec: &SimSpec, account: &Sid, call_sid: &Sid) -> Option<SimPeer> {
    let audio = match &spec.audio {
        confab_core::endpoint::SimAudio::Silence => SimAudio::Silence,
        confab_core::endpoint::SimAudio::Tone(hz) => SimAudio::Tone(f64::from(*hz)),
        confab_core::endpoint::SimAudio::File(path) => SimAudio::File(path.into()),
    };
    match media.sims().spawn(audio) {
        Ok(peer) => {
            let recording = peer.recording().clone();
            media
                .heard()
                .insert(account.as_str(), call_sid.as_str(), recording);
            Some(peer)
        }
        Err(error) => {
            tracing::error!(%error, %call_sid, "no socket for a simulated caller's audio");
            None
        }
    }
}

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
