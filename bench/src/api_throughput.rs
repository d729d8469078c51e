//! API throughput: Update Participant on a real confab server against a bare
//! axum route of the same shape, measured side by side in one run.
//!
//! The confab side is the release `confab` binary started on a loopback port
//! with a fresh data directory, so every update is a durable SQLite commit
//! (WAL, `synchronous=FULL`, group commit). The baseline is an axum route in
//! this process that does what any handler must: routing, Basic credentials,
//! a form body and a participant-sized JSON answer, and nothing else.
//!
//! A closed-loop load generator keeps C keep-alive HTTP/1.1 connections busy,
//! one request in flight on each, and runs the two targets in interleaved
//! slices (confab, bare, confab, bare, …) so that the drift of a shared,
//! noisy machine falls on both alike. It reports throughput, p50 and p99
//! latency, and the ratios; it also reports the CPU each side and the load
//! generator spent per request, because on a small machine all three compete
//! for the same cores, and the server's CPU with no load at all (simulated
//! callers carry media). Group commit shows against one run with a single
//! connection, where every update waits for a commit of its own. Figures,
//! not pass/fail: this is not a test.
//!
//! Run: `cargo build --release -p confab && cargo run --release -p
//! confab-bench --bin api_throughput [-- --conns 32,64,128 --rounds 7
//! --slice-ms 1000 --conferences 16 --participants 4]`. The server binary is
//! looked up beside this one, or at `$CONFAB_BIN`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::extract::Path as UrlPath;
use axum::http::{HeaderMap, StatusCode};
use axum::{Form, Json, Router};
use base64::Engine;
use hyper::header::AUTHORIZATION;
use serde_json::{json, Value};
use tokio::process::Child;
use tokio::task::JoinSet;

mod confab_process;
mod loadgen;
mod stats;

use loadgen::*;
use stats::ms;

fn main() -> anyhow::Result<()> {
    let settings = Settings::from_args(std::env::args().skip(1))?;
    // The bare route gets its own runtime (two workers, like `confab
    // serve`), named so its CPU time can be told apart from the load
    // generator's in /proc.
    let bare_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(BARE_THREAD)
        .enable_all()
        .build()?;
    let loadgen = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("loadgen")
        .enable_all()
        .build()?;
    let bare_addr = bare_runtime.block_on(start_bare())?;
    loadgen.block_on(run(settings, bare_addr))
}

/// What a run measures; the defaults keep it under a minute.
struct Settings {
    /// Concurrent connections, one measurement per entry.
    conns: Vec<usize>,
    /// Interleaved rounds per concurrency; each round runs both targets.
    rounds: usize,
    /// How long each target runs per round.
    slice: Duration,
    /// Live conferences on the confab server.
    conferences: usize,
    /// Simulated participants in each conference.
    participants: usize,
}

impl Settings {
    fn from_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Settings> {
        let mut s = Settings {
            conns: vec![32, 64, 128],
            rounds: 7,
            slice: Duration::from_secs(1),
            conferences: 16,
            participants: 4,
        };
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value"))?;
            let number = || {
                value
                    .parse::<usize>()
                    .with_context(|| format!("{flag} {value}"))
            };
            match flag.as_str() {
                "--conns" => {
                    s.conns = value
                        .split(',')
                        .map(str::parse)
                        .collect::<Result<_, _>>()
                        .with_context(|| format!("--conns {value}"))?
                }
                "--rounds" => s.rounds = number()?.clamp(1, 20),
                "--slice-ms" => s.slice = Duration::from_millis(number()?.clamp(200, 10_000) as u64),
                "--conferences" => s.conferences = number()?.clamp(1, 512),
                "--participants" => s.participants = number()?.clamp(1, 64),
                _ => bail!("unknown flag {flag} (--conns, --rounds, --slice-ms, --conferences, --participants)"),
            }
        }
        if s.conns.is_empty() || s.conns.iter().any(|&c| c == 0 || c > 1024) {
            bail!("--conns takes 1 to 1024 connections per entry");
        }
        Ok(s)
    }
}

async fn run(settings: Settings, bare_addr: SocketAddr) -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let mut server = Server::start(data.path()).await?;
    let participants = server.populate(&settings).await?;
    let confab = Arc::new(Target::new(
        server.addr,
        &server.account,
        &server.token,
        &participants,
    )?);
    let bare = Arc::new(Target::new(
        bare_addr,
        &server.account,
        &server.token,
        &participants,
    )?);
    println!(
        "api_throughput: confab (pid {}) with {} conferences x {} sim participants, \
         data dir on {}, {} CPUs",
        server.pid,
        settings.conferences,
        settings.participants,
        data.path().display(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    let idle = idle_cores(server.pid).await?;
    println!(
        "confab idle: {:.0}% of a core with no API load (the simulated callers' media)",
        idle * 100.0
    );
    let serial = one_at_a_time(&confab, server.pid).await?;
    let (serial50, _) = serial.percentiles();
    println!(
        "one update at a time (a commit each, as without group commit): {:.0} updates/s, p50 {:.2}ms",
        serial.rate(),
        ms(serial50),
    );
    let mut peaks: Option<((f64, usize), (f64, usize))> = None;
    for &conns in &settings.conns {
        let result = compare(&settings, conns, &confab, &bare, server.pid).await;
        match result {
            Ok(pair) => {
                report(conns, &settings, &pair, serial.rate(), idle);
                let (c, b) = ((pair.confab.rate(), conns), (pair.bare.rate(), conns));
                peaks = Some(match peaks {
                    None => (c, b),
                    Some((pc, pb)) => (
                        if c.0 > pc.0 { c } else { pc },
                        if b.0 > pb.0 { b } else { pb },
                    ),
                });
            }
            Err(e) => println!("C={conns}: failed: {e:#}"),
        }
    }
    // Capacity: each server at the concurrency where it did best. Durable
    // writes wait for a disk flush, so confab needs more requests in flight
    // than the bare route to keep the CPUs busy.
    if let Some(((c, c_conns), (b, b_conns))) = peaks {
        println!(
            "peak throughput: confab {c:.0} req/s (C={c_conns}) | bare axum {b:.0} req/s \
             (C={b_conns}) | ratio {:.2}",
            c / b.max(f64::MIN_POSITIVE)
        );
    }
    server.stop().await;
    Ok(())
}

/// The two measurements at one concurrency.
struct Pair {
    confab: Measurement,
    bare: Measurement,
}

/// Warms both targets up, then runs them in interleaved slices.
async fn compare(
    settings: &Settings,
    conns: usize,
    confab: &Arc<Target>,
    bare: &Arc<Target>,
    confab_pid: u32,
) -> anyhow::Result<Pair> {
    let mut confab_conns = connect_all(confab.addr, conns).await?;
    let mut bare_conns = connect_all(bare.addr, conns).await?;
    run_slice(&mut confab_conns, confab, WARM_UP, confab_pid).await?;
    run_slice(&mut bare_conns, bare, WARM_UP, confab_pid).await?;
    let mut pair = Pair {
        confab: Measurement::default(),
        bare: Measurement::default(),
    };
    for _ in 0..settings.rounds {
        let slice = run_slice(&mut confab_conns, confab, settings.slice, confab_pid).await?;
        pair.confab.add(slice);
        let slice = run_slice(&mut bare_conns, bare, settings.slice, confab_pid).await?;
        pair.bare.add(slice);
    }
    Ok(pair)
}

fn report(conns: usize, settings: &Settings, pair: &Pair, serial_rate: f64, idle: f64) {
    let (c, b) = (&pair.confab, &pair.bare);
    let (c50, c99) = c.percentiles();
    let (b50, b99) = b.percentiles();
    println!(
        "C={conns} ({} interleaved rounds x {:.1} s per target)",
        settings.rounds,
        settings.slice.as_secs_f64()
    );
    println!(
        "  update-participant: {:.0} req/s p50 {:.2}ms p99 {:.2}ms | bare axum: {:.0} req/s \
         p50 {:.2}ms p99 {:.2}ms | throughput ratio {:.2} | latency ratio p50 {:.1}x p99 {:.1}x",
        c.rate(),
        ms(c50),
        ms(c99),
        b.rate(),
        ms(b50),
        ms(b99),
        c.rate() / b.rate().max(f64::MIN_POSITIVE),
        c50.as_secs_f64() / b50.as_secs_f64().max(1e-9),
        c99.as_secs_f64() / b99.as_secs_f64().max(1e-9),
    );
    let rounds = |m: &Measurement| {
        m.round_rates
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "  per round req/s: confab {} | bare {}",
        rounds(c),
        rounds(b)
    );
    let (median, low, high) = round_ratios(c, b);
    println!(
        "  throughput ratio per round (confab slice / the bare slice right after it): median \
         {median:.2}, range {low:.2}-{high:.2}"
    );
    println!(
        "  answers: confab {} B, bare {} B of JSON on average",
        c.body_bytes / c.ok.max(1),
        b.body_bytes / b.ok.max(1),
    );
    println!(
        "  errors: confab {}{} | bare {}{}",
        c.errors,
        c.first_error
            .as_ref()
            .map_or(String::new(), |e| format!(" (first: {e})")),
        b.errors,
        b.first_error
            .as_ref()
            .map_or(String::new(), |e| format!(" (first: {e})")),
    );
    // When the machine has no idle time left the run is CPU-bound, and the
    // throughput ratio follows the ratio of CPU per request, client included.
    let idle_us = idle * c.wall.as_secs_f64() * 1e6 / c.ok.max(1) as f64;
    println!(
        "  CPU per request: confab server {:.0} us ({:.0} us of it its idle load) + load generator \
         {:.0} us | bare server {:.0} us + load generator {:.0} us",
        c.server_cpu_per_request_us(),
        idle_us,
        c.loadgen_cpu_per_request_us(),
        b.server_cpu_per_request_us(),
        b.loadgen_cpu_per_request_us(),
    );
    println!(
        "  cores: server and load generator used {:.0}% | {:.0}% of them; the machine was idle \
         {:.0}% | {:.0}% of the time, and the hypervisor gave {:.0}% | {:.0}% of it to other guests",
        c.cores_busy_percent(),
        b.cores_busy_percent(),
        c.machine_idle_percent(),
        b.machine_idle_percent(),
        c.machine_steal_percent(),
        b.machine_steal_percent(),
    );
    println!(
        "  group commit: {:.1}x the one-at-a-time rate; {:.2} KiB written to disk per update",
        c.rate() / serial_rate.max(f64::MIN_POSITIVE),
        c.disk_bytes as f64 / 1024.0 / c.ok.max(1) as f64,
    );
}

/// The median, lowest and highest ratio of the rounds' rates. Each round
/// runs confab and then the bare route back to back, so a round's ratio is
/// the fairest single comparison a noisy machine allows, and the median
/// discards rounds that a burst of other load hit on one side only.
fn round_ratios(confab: &Measurement, bare: &Measurement) -> (f64, f64, f64) {
    let mut ratios: Vec<f64> = confab
        .round_rates
        .iter()
        .zip(&bare.round_rates)
        .map(|(c, b)| c / b.max(f64::MIN_POSITIVE))
        .collect();
    ratios.sort_by(f64::total_cmp);
    let Some((&low, &high)) = ratios.first().zip(ratios.last()) else {
        return (0.0, 0.0, 0.0);
    };
    let mid = ratios.len() / 2;
    let median = if ratios.len().is_multiple_of(2) {
        (ratios[mid - 1] + ratios[mid]) / 2.0
    } else {
        ratios[mid]
    };
    (median, low, high)
}

/// Confab with a single connection: every update waits for its own commit,
/// which is what the throughput would be without group commit.
async fn one_at_a_time(confab: &Arc<Target>, pid: u32) -> anyhow::Result<Measurement> {
    let mut conns = connect_all(confab.addr, 1).await?;
    run_slice(&mut conns, confab, Duration::from_millis(300), pid).await?;
    let mut serial = Measurement::default();
    serial.add(run_slice(&mut conns, confab, Duration::from_secs(1), pid).await?);
    Ok(serial)
}

/// The cores the server uses with no API load, over one second.
async fn idle_cores(pid: u32) -> anyhow::Result<f64> {
    let before = Usage::now(pid)?;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let used = Usage::now(pid)?.since(&before).confab_ticks as f64 / TICKS_PER_SECOND;
    Ok(used / started.elapsed().as_secs_f64())
}

const WARM_UP: Duration = Duration::from_secs(1);
const BARE_THREAD: &str = "bare-axum";
/// Linux reports /proc CPU times in USER_HZ ticks, 100 per second on every
/// architecture it supports.
const TICKS_PER_SECOND: f64 = 100.0;

/// The confab server under test, a child process.
struct Server {
    child: Child,
    pid: u32,
    addr: SocketAddr,
    account: String,
    token: String,
    http: reqwest::Client,
}

impl Server {
    /// Starts `confab serve` and reads the default account from its
    /// first-start message.
    async fn start(data_dir: &Path) -> anyhow::Result<Server> {
        let spawned = confab_process::spawn(data_dir).await?;
        Ok(Server {
            child: spawned.child,
            pid: spawned.pid,
            addr: spawned.addr,
            account: spawned.account,
            token: spawned.token,
            http: reqwest::Client::new(),
        })
    }

    fn base(&self) -> String {
        format!("http://{}/2010-04-01/Accounts/{}", self.addr, self.account)
    }

    /// Opens the conferences, each with its simulated participants, waits
    /// until every participant is connected, and returns the participant
    /// paths interleaved across conferences.
    async fn populate(&self, settings: &Settings) -> anyhow::Result<Vec<String>> {
        let mut joins = JoinSet::new();
        for room in 0..settings.conferences {
            let (http, base) = (self.http.clone(), self.base());
            let (account, token) = (self.account.clone(), self.token.clone());
            let count = settings.participants;
            joins.spawn(async move {
                let mut paths = Vec::with_capacity(count);
                for n in 0..count {
                    let form = [
                        ("From", "+15550100".to_owned()),
                        ("To", format!("sim:p{n}")),
                    ];
                    let created: Value = http
                        .post(format!("{base}/Conferences/bench-{room}/Participants.json"))
                        .basic_auth(&account, Some(&token))
                        .form(&form)
                        .send()
                        .await?
                        .error_for_status()?
                        .json()
                        .await?;
                    paths.push(participant_uri(&created)?);
                }
                anyhow::Ok(paths)
            });
        }
        let mut by_room = Vec::new();
        while let Some(joined) = joins.join_next().await {
            by_room.push(joined??);
        }
        let mut paths = Vec::new();
        for n in 0..settings.participants {
            paths.extend(by_room.iter().map(|room| room[n].clone()));
        }
        self.wait_connected(&paths).await?;
        Ok(paths)
    }

    async fn wait_connected(&self, paths: &[String]) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut waiting: Vec<&String> = paths.iter().collect();
        while !waiting.is_empty() {
            if Instant::now() > deadline {
                bail!("{} participants did not connect within 15 s", waiting.len());
            }
            let mut still = Vec::new();
            for path in waiting {
                let fetched: Value = self
                    .http
                    .get(format!("http://{}{path}", self.addr))
                    .basic_auth(&self.account, Some(&self.token))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                if fetched["status"] != "connected" {
                    still.push(path);
                }
            }
            waiting = still;
            if !waiting.is_empty() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    async fn stop(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

fn participant_uri(created: &Value) -> anyhow::Result<String> {
    created["uri"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("a participant without a uri: {created}"))
}

/// Serves the baseline route and returns its address.
async fn start_bare() -> anyhow::Result<SocketAddr> {
    let router = Router::new().route(
        "/2010-04-01/Accounts/{account}/Conferences/{conference}/Participants/{participant}",
        axum::routing::post(bare_update),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(addr)
}

/// The baseline: the work any Update Participant handler does besides the
/// conference itself. It checks that Basic credentials name the account
/// (without a store behind them), reads the form and answers a JSON
/// participant of the same fields and size.
async fn bare_update(
    UrlPath((account, conference, participant)): UrlPath<(String, String, String)>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Json<Value>, StatusCode> {
    let user = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.split_once(':').map(|(user, _)| user.to_owned()))
        .ok_or(StatusCode::UNAUTHORIZED)?;
    if user != account {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let muted = form.get("Muted").map(String::as_str) == Some("true");
    let call_sid = participant.trim_end_matches(".json");
    Ok(Json(json!({
        "account_sid": account,
        "call_sid": call_sid,
        "label": null,
        "call_sid_to_coach": null,
        "coaching": false,
        "conference_sid": conference,
        "date_created": "Mon, 01 Jan 2024 00:00:00 +0000",
        "date_updated": "Mon, 01 Jan 2024 00:00:01 +0000",
        "end_conference_on_exit": false,
        "muted": muted,
        "hold": false,
        "start_conference_on_enter": true,
        "status": "connected",
        "queue_time": null,
        "uri": format!(
            "/2010-04-01/Accounts/{account}/Conferences/{conference}/Participants/{call_sid}.json"
        ),
    })))
}
