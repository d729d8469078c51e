//! Mute latency: from the `200 OK` of an Update Participant `Muted=true` to the first frame a
//! listener receives without the muted caller's tone, over many mute/unmute cycles.
//!
//! The server runs in-process (`app()` plus the real media runtime), so the benchmark can read
//! the listener's recording with the arrival time of every RTP packet. Each cycle mutes the
//! talker, notes when the reply arrived, and scans the listener's packets that arrived after it
//! for the first frame in which the talker's tone is gone; then it unmutes and waits until the
//! tone is back. The target is one frame (the command waits at most one tick) plus the
//! listener's jitter buffer depth; the jitter buffer sits on the talker's incoming stream, so a
//! mute normally beats the target by that depth.
//!
//! Run with `cargo run --release -p confab-bench --bin mute_latency`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request};
use base64::Engine;
use confab::media::Recording;
use confab::state::create_account;
use confab::AppState;
use confab_core::{Account, SidStyle};
use confab_media::tone::tone_level_dbfs;
use confab_media::JitterBufferSize;
use confab_store::{SqliteStore, Store};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// Mute/unmute cycles measured.
const CYCLES: usize = 100;

/// The talker's tone.
const TALKER_HZ: f64 = 1000.0;

/// A frame with the tone below this level counts as "without the tone".
const ABSENT_DBFS: f64 = -40.0;

/// A frame with the tone above this level counts as "with the tone".
const PRESENT_DBFS: f64 = -25.0;

/// Give up on one cycle after this long.
const CYCLE_TIMEOUT: Duration = Duration::from_secs(2);

struct Bench {
    state: Arc<AppState>,
    account: Account,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("confab.db")).await?);
    let account = create_account(store.as_ref(), SidStyle::Twilio, "bench").await?;
    let bench = Bench {
        state: AppState::new(store),
        account,
    };
    let listener = bench.join("sim:listener?silence").await?;
    let talker = bench.join(&format!("sim:talker?tone={TALKER_HZ}")).await?;
    let conference = talker["conference_sid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let talker_sid = talker["call_sid"].as_str().unwrap_or_default().to_owned();
    let listener_sid = listener["call_sid"].as_str().unwrap_or_default();
    let recording = bench
        .state
        .media
        .heard()
        .get(bench.account.sid.as_str(), listener_sid)
        .ok_or_else(|| anyhow::anyhow!("no recording for the listener"))?;
    let update = format!(
        "/2010-04-01/Accounts/{}/Conferences/{conference}/Participants/{talker_sid}.json",
        bench.account.sid
    );
    // Let the conference settle: the talker's jitter buffer fills, the tone reaches the listener.
    wait_for(&recording, recording.packet_count(), |level| {
        level >= PRESENT_DBFS
    })
    .await?;

    let mut latencies = Vec::with_capacity(CYCLES);
    let mut failures = 0;
    for _ in 0..CYCLES {
        let from = recording.packet_count();
        let replied = bench.update(&update, "true").await?;
        match wait_for(&recording, from, |level| level < ABSENT_DBFS).await {
            Ok(arrival) => latencies.push(arrival.saturating_duration_since(replied)),
            Err(_) => failures += 1,
        }
        let from = recording.packet_count();
        bench.update(&update, "false").await?;
        wait_for(&recording, from, |level| level >= PRESENT_DBFS).await?;
        // A random phase against the 20 ms tick, so the cycles sample all of it.
        let pause = 40 + u64::from(rand_byte()) % 20;
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    report(&mut latencies, failures, &bench);
    Ok(())
}

impl Bench {
    async fn send(&self, method: &str, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Value> {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.account.sid, self.account.auth_token));
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Basic {token}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))?;
        let response = confab::app(self.state.clone()).oneshot(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            anyhow::bail!("{method} {path}: {status} {json}");
        }
        Ok(json)
    }

    async fn join(&self, to: &str) -> anyhow::Result<Value> {
        let path = format!(
            "/2010-04-01/Accounts/{}/Conferences/bench/Participants.json",
            self.account.sid
        );
        let form = [("From", "+15550100"), ("To", to), ("Beep", "false")];
        let created = self.send("POST", &path, &form).await?;
        let uri = format!(
            "/2010-04-01/Accounts/{}/Conferences/{}/Participants/{}.json",
            self.account.sid,
            created["conference_sid"].as_str().unwrap_or_default(),
            created["call_sid"].as_str().unwrap_or_default()
        );
        for _ in 0..500 {
            if self.send("GET", &uri, &[]).await?["status"] == "connected" {
                return Ok(created);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        anyhow::bail!("{to} never connected")
    }

    /// Sends `Muted=<muted>` and returns when the `200 OK` was in hand.
    async fn update(&self, path: &str, muted: &str) -> anyhow::Result<Instant> {
        self.send("POST", path, &[("Muted", muted)]).await?;
        Ok(Instant::now())
    }
}

/// Waits for the first packet from index `from` on whose tone level satisfies `test`; returns
/// its arrival time.
async fn wait_for(
    recording: &Recording,
    mut from: usize,
    test: impl Fn(f64) -> bool,
) -> anyhow::Result<Instant> {
    let give_up = Instant::now() + CYCLE_TIMEOUT;
    while Instant::now() < give_up {
        for (arrival, samples) in recording.packets_since(from) {
            from += 1;
            if test(tone_level_dbfs(&samples, TALKER_HZ)) {
                return Ok(arrival);
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    anyhow::bail!("the listener's audio did not change within {CYCLE_TIMEOUT:?}")
}

fn report(latencies: &mut [Duration], failures: usize, bench: &Bench) {
    latencies.sort();
    let pick = |q: f64| {
        let index = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        latencies.get(index).copied().unwrap_or_default()
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let target = Duration::from_millis(20) + JitterBufferSize::Large.delay();
    let stats = bench.state.media.stats();
    println!("mute_latency: HTTP 200 of Muted=true -> first frame at a listener without the tone");
    println!(
        "  cycles:  {} measured, {failures} timed out",
        latencies.len()
    );
    println!(
        "  p50:     {:6.1} ms   ({:.2} of target)",
        ms(pick(0.5)),
        ms(pick(0.5)) / ms(target)
    );
    println!(
        "  p99:     {:6.1} ms   ({:.2} of target)",
        ms(pick(0.99)),
        ms(pick(0.99)) / ms(target)
    );
    println!("  max:     {:6.1} ms", ms(pick(1.0)));
    println!(
        "  target:  {:6.1} ms   (one 20 ms frame + the default jitter buffer, large = 60 ms)",
        ms(target)
    );
    println!(
        "  media:   {} ticks, {} late, max tick lateness {:.1} ms",
        stats.ticks,
        stats.late_ticks,
        stats.max_lateness_us as f64 / 1000.0
    );
}

/// A pseudo-random byte without another dependency (the low bits of the clock).
fn rand_byte() -> u8 {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        >> 10) as u8
}
