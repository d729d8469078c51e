//! `sim:NAME?file=PATH` on the real binary: a WAV file in the sim-audio directory
//! (`DATA_DIR/sim-audio` by default) plays and is heard by another caller, and a path that
//! leaves the directory is refused with 400 / 21211 before any call is placed.

mod common;

use std::time::Duration;

use common::{eventually, Server};
use confab_media::tone::ToneGenerator;
use confab_media::FRAME_SAMPLES;
use serde_json::Value;

/// The file's tone, away from the built-in audio.
const FILE_HZ: f64 = 1000.0;

#[tokio::test]
async fn a_file_in_the_directory_plays_and_paths_outside_it_are_refused() {
    let data = tempfile::tempdir().expect("tempdir");
    let sim_audio = data.path().join("sim-audio");
    std::fs::create_dir_all(&sim_audio).expect("sim-audio dir");
    std::fs::write(sim_audio.join("tone.wav"), tone_wav(FILE_HZ, 4)).expect("wav");
    std::fs::write(data.path().join("x.wav"), tone_wav(FILE_HZ, 1)).expect("wav");
    let server = Server::start(data.path()).await;
    let api = server.api();

    let participants = api.twilio("Conferences/files/Participants.json");
    for to in [
        "sim:thief?file=/etc/passwd",
        "sim:thief?file=../x.wav",
        "sim:thief?file=missing.wav",
    ] {
        let reply = api
            .post_form(&participants, &[("From", "+15550100"), ("To", to)])
            .await;
        let body = reply.expect_error(400, 21211);
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains("sim-audio directory"), "{to}: {message}");
    }

    let player = api
        .add_participant("files", "sim:player?file=tone.wav")
        .await;
    let ear = api.add_participant("files", "sim:ear?silence").await;
    let conference = ear["conference_sid"].as_str().expect("conference_sid");
    for who in [&player, &ear] {
        let call = who["call_sid"].as_str().expect("call_sid");
        api.wait_participant(conference, call, "connected").await;
    }
    let ear_call = ear["call_sid"].as_str().expect("call_sid");
    let heard = format!(
        "/confab/v1/Accounts/{}/Calls/{ear_call}/Heard.json",
        api.account.sid
    );
    eventually(
        "the listener to hear the file's tone",
        Duration::from_secs(10),
        || async {
            let reply = api.get(&heard).await;
            (reply.status == 200 && hears(&reply.json(), FILE_HZ)).then_some(())
        },
    )
    .await;
}

/// Whether any window of a `Heard.json` summary has a tone near `hz`.
fn hears(summary: &Value, hz: f64) -> bool {
    summary["windows"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|w| w["tones"].as_array().into_iter().flatten())
        .filter_map(Value::as_f64)
        .any(|f| (f - hz).abs() <= 20.0)
}

/// A WAV file of `seconds` of a tone at `hz`.
fn tone_wav(hz: f64, seconds: usize) -> Vec<u8> {
    let mut samples = vec![0i16; seconds * 50 * FRAME_SAMPLES];
    ToneGenerator::with_dbfs(hz, -15.0).add_to(&mut samples);
    confab::media::wav_bytes(&samples)
}
