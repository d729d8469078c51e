//! Simulated callers (`To=sim:NAME?...`) as call legs.
//!
//! A simulated call rings, then answers, is busy, fails or never answers, as its options
//! say, and optionally hangs up later; after answering it may send DTMF (`digits=`). It
//! reports each step to its call actor as a [`LegEvent`], exactly as a SIP leg will.
//!
//! Its audio is a separate RTP endpoint ([`SimPeer`]) made when the call is placed: the call
//! actor connects it to whichever mixer carries the call, and dropping the leg ends its RTP.
//! What it heard stays available under the call SID (`Calls/{CallSid}/Heard.wav` and
//! `Heard.json`).
//!
//! # Files
//!
//! `sim:NAME?file=PATH` plays a WAV file from the server's disk, so PATH is confined to the
//! sim-audio directory ([`MediaConfig::sim_audio_dir`](crate::media::MediaConfig)): it is
//! resolved relative to it, canonicalized (following every symlink), and refused unless the
//! result is a regular file inside the directory. The check is done by the HTTP handler before
//! the call is created ([`confine_file`]), which answers 400 with one message whatever the
//! reason, so the API tells nothing about files outside the directory; the call then plays the
//! canonical path.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use confab_core::endpoint::{Endpoint, SimAnswer, SimSpec};
use confab_core::error::codes;
use confab_core::{AccountSid, ApiError, CallSid};
use confab_media::Codec;
use tokio::task::JoinHandle;

use super::leg::{Leg, LegEvent, LegEvents, LegMedia};
use crate::media::{Media, SimPeer};

/// A simulated caller's leg: the task that plays its script and its RTP endpoint.
pub struct SimLeg {
    /// The caller's RTP endpoint; `None` if no socket could be had (the call goes on
    /// without audio).
    peer: Option<SimPeer>,
    /// `digits=`: sent once the caller's RTP is first connected after answering.
    digits: Option<String>,
    /// The script (ring, answer, hang up); aborted on hang-up.
    script: JoinHandle<()>,
}

impl SimLeg {
    /// Places a simulated call: makes its RTP endpoint (keeping its recording for the Heard
    /// routes) and starts its script, which reports to `events`.
    pub fn place(
        media: &Media,
        spec: &SimSpec,
        account: &AccountSid,
        call_sid: &CallSid,
        timeout_secs: u32,
        events: LegEvents,
    ) -> SimLeg {
        let peer = media_peer(media, spec, account, call_sid);
        let remote = peer.as_ref().map(SimPeer::local_addr);
        let script = tokio::spawn(script(spec.clone(), timeout_secs, remote, events));
        SimLeg {
            peer,
            digits: spec.digits.clone(),
            script,
        }
    }
}

impl Leg for SimLeg {
    fn connect_media(&mut self, local: SocketAddr) {
        if let Some(peer) = &self.peer {
            peer.connect(local);
            if let Some(digits) = self.digits.take() {
                // Checked when the endpoint was parsed; a refusal here is only logged.
                if let Err(e) = peer.send_digits(&digits) {
                    tracing::warn!(digit = %e.0, "a simulated caller's digits were refused");
                }
            }
        }
    }

    fn hang_up(&mut self) {
        self.script.abort();
        self.peer = None;
    }
}

impl Drop for SimLeg {
    fn drop(&mut self) {
        self.script.abort();
    }
}

/// The RTP endpoint of a simulated caller, its recording kept for the Heard routes. `None`
/// (logged) if no socket could be had.
fn media_peer(
    media: &Media,
    spec: &SimSpec,
    account: &AccountSid,
    call_sid: &CallSid,
) -> Option<SimPeer> {
    match media.sims().spawn(spec.audio.clone()) {
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

/// Rings, answers (or not) and hangs up as the spec says.
async fn script(spec: SimSpec, timeout_secs: u32, remote: Option<SocketAddr>, events: LegEvents) {
    if events.send(LegEvent::Ringing).is_err() {
        return;
    }
    let ring = match spec.answer {
        // Without a delay, nobody-answers lasts the whole ring timeout.
        SimAnswer::NoAnswer if spec.delay_ms == 0 => u64::from(timeout_secs) * 1000,
        _ => spec.delay_ms,
    };
    tokio::time::sleep(Duration::from_millis(ring)).await;
    let outcome = match (spec.answer, remote) {
        (SimAnswer::Answer, Some(remote)) => LegEvent::Answered(LegMedia {
            remote,
            codec: Codec::Pcmu,
            telephone_event: Some(SIM_TELEPHONE_EVENT),
            latch: None,
        }),
        (SimAnswer::Answer, None) | (SimAnswer::Failed, _) => LegEvent::Failed,
        (SimAnswer::Busy, _) => LegEvent::Busy,
        (SimAnswer::NoAnswer, _) => LegEvent::NoAnswer,
    };
    let answered = matches!(outcome, LegEvent::Answered(_));
    if events.send(outcome).is_err() || !answered {
        return;
    }
    if let Some(after) = spec.hangup_after_ms {
        tokio::time::sleep(Duration::from_millis(after)).await;
        let _ = events.send(LegEvent::HungUp);
    }
}

/// The payload type simulated callers use for RFC 4733 telephone events.
pub const SIM_TELEPHONE_EVENT: u8 = 101;

/// Checks that a simulated caller's `file=PATH` names a file inside `dir` (see the module docs)
/// and makes the endpoint play its canonical path; other endpoints pass unchanged.
pub fn confine_file(endpoint: &mut Endpoint, dir: Option<&Path>) -> Result<(), ApiError> {
    let Endpoint::Sim(spec) = endpoint else {
        return Ok(());
    };
    let confab_core::endpoint::SimAudio::File(requested) = &mut spec.audio else {
        return Ok(());
    };
    let Some(file) = dir.and_then(|dir| file_inside(dir, requested)) else {
        tracing::warn!(file = %requested, "simulated caller's file refused: not in the sim-audio directory");
        return Err(ApiError::invalid(
            codes::INVALID_TO,
            format!(
                "Invalid To: file {requested:?} is not a file in the server's sim-audio directory"
            ),
        ));
    };
    *requested = file.to_string_lossy().into_owned();
    Ok(())
}

/// `requested` resolved inside `dir`, if it is a regular file there after following symlinks.
fn file_inside(dir: &Path, requested: &str) -> Option<PathBuf> {
    let root = dir.canonicalize().ok()?;
    // Joining an absolute path replaces the root: it is then accepted only if it is inside.
    let file = root.join(requested).canonicalize().ok()?;
    (file.starts_with(&root) && file.is_file()).then_some(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_confined_to_the_directory() {
        let outer = tempfile::tempdir().expect("tempdir");
        let dir = outer.path().join("sim-audio");
        std::fs::create_dir_all(dir.join("sub")).expect("dirs");
        std::fs::write(dir.join("a.wav"), b"x").expect("file");
        std::fs::write(dir.join("sub/b.wav"), b"x").expect("file");
        std::fs::write(outer.path().join("x.wav"), b"x").expect("file");
        let inside = |p: &str| file_inside(&dir, p);
        assert!(inside("a.wav").is_some());
        assert!(inside("sub/b.wav").is_some());
        assert!(inside("sub/../a.wav").is_some());
        let absolute = dir.join("a.wav");
        assert!(inside(&absolute.to_string_lossy()).is_some());
        assert!(inside("../x.wav").is_none());
        assert!(inside("/etc/passwd").is_none());
        assert!(inside(&outer.path().join("x.wav").to_string_lossy()).is_none());
        assert!(inside("missing.wav").is_none());
        assert!(inside("sub").is_none(), "a directory is no file");
        assert!(inside("").is_none());
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_out_of_the_directory_are_refused() {
        let outer = tempfile::tempdir().expect("tempdir");
        let dir = outer.path().join("sim-audio");
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(outer.path().join("x.wav"), b"x").expect("file");
        std::fs::write(dir.join("a.wav"), b"x").expect("file");
        std::os::unix::fs::symlink(outer.path().join("x.wav"), dir.join("out.wav"))
            .expect("symlink");
        std::os::unix::fs::symlink(dir.join("a.wav"), dir.join("in.wav")).expect("symlink");
        assert!(file_inside(&dir, "out.wav").is_none());
        assert_eq!(
            file_inside(&dir, "in.wav"),
            dir.join("a.wav").canonicalize().ok()
        );
    }

    #[test]
    fn requests_get_the_canonical_path_or_a_400() {
        let create = |to: &str| Endpoint::parse(to).expect("valid endpoint");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.wav"), b"x").expect("file");
        let mut tone = create("sim:t?tone=440");
        assert!(confine_file(&mut tone, None).is_ok(), "no file, no check");
        let mut ok = create("sim:f?file=a.wav");
        assert!(confine_file(&mut ok, Some(dir.path())).is_ok());
        let Endpoint::Sim(spec) = &ok else {
            panic!("a sim endpoint");
        };
        let want = dir.path().join("a.wav").canonicalize().expect("canonical");
        let played = confab_core::endpoint::SimAudio::File(want.to_string_lossy().into_owned());
        assert_eq!(spec.audio, played);
        for to in ["sim:f?file=/etc/passwd", "sim:f?file=../x.wav"] {
            let error = confine_file(&mut create(to), Some(dir.path())).expect_err(to);
            assert_eq!((error.status, error.code), (400, codes::INVALID_TO), "{to}");
        }
        let error = confine_file(&mut create("sim:f?file=a.wav"), None).expect_err("no dir");
        assert_eq!(error.code, codes::INVALID_TO);
    }
}
