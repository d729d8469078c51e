//! SIP call setup rate: SIPp places short calls at a fixed rate to a number whose VoiceUrl
//! `<Dial>`s one of 16 conferences, beside the same calls made through the API (Calls create
//! of simulated callers whose `Url` is the same VoiceUrl), in one run.
//!
//! The server is the release binary as a child process (`cargo build --release -p confab`
//! first), with SIP on a free loopback port and one media thread (so no SIP call's RTP is moved
//! by a re-INVITE, for which the scripted caller has no step). The web app (in this process)
//! answers the VoiceUrl with `<Dial><Conference statusCallback=... statusCallbackEvent="join">`
//! for the conferences in turn and records each participant-join callback, which is how both
//! sides count a call as set up: it reached its conference.
//!
//! - **sip**: SIPp (`bench/data/sip_call_setup.xml`) at `--rate` calls/s, `--calls` calls:
//!   INVITE with a PCMU offer (confab's RTP goes to a sink socket in this process; the caller
//!   sends none), 200 timed by SIPp (`rtd`), ACK, `--hold-ms`, BYE. SIPp's message trace tells
//!   confab's retransmissions apart from its answers to SIPp's own: a message confab sent twice
//!   in a call (same Call-ID, CSeq and start line) is a retransmission of confab's unless SIPp
//!   had repeated the request it answers. SIPp's `Retransmissions(C)` counts SIPp's own
//!   (timer retransmissions, and ACKs re-sent for a repeated 200).
//! - **api**: Calls create of `sim:cN?hangup=HOLD` with `Url` = the VoiceUrl, paced at the
//!   same rate (open loop); the latency is create to `201`, and create to the join callback.
//!
//! For each, the join rate (callbacks per second between the 10th and 90th percentile join),
//! the calls that failed or never joined, and confab's CPU from the first call to the last
//! call's end, per call: all threads, and without the `confab-sim-media` thread (the simulated
//! callers' own RTP, which the SIP side has in SIPp). A warm-up of `--warm-up` calls each way
//! comes first, unmeasured; rounds alternate which side goes first.
//! Targets (issue 11): every call succeeds, 0 retransmissions from confab, INVITE-to-200 p99
//! printed; the ratios sip/api put the figures beside a reference measured in the same run.
//!
//! Run with `cargo build --release -p confab && cargo run --release -p confab-bench --bin
//! sip_call_setup [-- --calls 2000 --warm-up 200 --rate 200 --hold-ms 1500 --rounds 2]` (needs
//! `sipp`).

// Only `spawn_with` and what it returns are used here.
#[allow(dead_code)]
mod confab_process;
mod sip_load;
mod stats;

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::task::JoinSet;

use sip_load::{load_average, Confab, Sipp, Trace, WebApp};
use stats::cpu_between;
use stats::{median, ms, percentile};

/// The number SIPp calls.
const NUMBER: &str = "+15550200000";

/// Conferences the calls are spread over.
const ROOMS: usize = 16;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_args(std::env::args().skip(1))?;
    let dir = tempfile::tempdir()?;
    let confab = Confab::start(dir.path(), &[]).await?;
    let web = WebApp::start(r#"statusCallback="{events}" statusCallbackEvent="join""#).await?;
    confab.api.number(NUMBER, &web.voice_url()).await?;
    let sink = Sink::start()?;
    println!(
        "sip_call_setup: {} calls at {}/s held {} ms into {ROOMS} conferences, SIPp to a number \
         vs Calls create of sim callers (same VoiceUrl), release confab pid {} (1 media thread), \
         {} CPUs, load average {}",
        settings.calls,
        settings.rate,
        settings.hold.as_millis(),
        confab.pid(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    // A first, unmeasured round of each kind: a fresh process's first calls pay for caches,
    // connection pools and the database's first pages.
    let warm_up = Settings {
        calls: settings.warm_up,
        ..settings
    };
    if warm_up.calls > 0 {
        sip_phase(&confab, &web, &warm_up, usize::MAX, sink.port).await?;
        api_phase(&confab, &web, &warm_up, usize::MAX).await?;
    }
    let mut rounds: Vec<[Phase; 2]> = Vec::new();
    for round in 0..settings.rounds {
        let order = if round % 2 == 0 {
            [Side::Sip, Side::Api]
        } else {
            [Side::Api, Side::Sip]
        };
        let mut done: [Option<Phase>; 2] = [None, None];
        for side in order {
            let phase = match side {
                Side::Sip => sip_phase(&confab, &web, &settings, round, sink.port).await?,
                Side::Api => api_phase(&confab, &web, &settings, round).await?,
            };
            phase.print(round, &settings);
            done[side as usize] = Some(phase);
        }
        if let [Some(sip), Some(api)] = done {
            println!(
                "  round {round} ratios sip/api: join rate {:.2}, CPU per call {:.2} (without \
                 sim media {:.2}); load average {}",
                sip.join_rate() / api.join_rate().max(f64::MIN_POSITIVE),
                sip.cpu_per_call() / api.cpu_per_call().max(f64::MIN_POSITIVE),
                sip.server_cpu_per_call() / api.server_cpu_per_call().max(f64::MIN_POSITIVE),
                load_average()
            );
            rounds.push([sip, api]);
        }
    }
    summarize(&rounds);
    sink.stop();
    Ok(())
}

/// What a run measures.
#[derive(Clone, Copy)]
struct Settings {
    calls: usize,
    /// Calls of each kind placed before the measured rounds.
    warm_up: usize,
    rate: usize,
    hold: Duration,
    rounds: usize,
}

impl Settings {
    fn from_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Settings> {
        let mut s = Settings {
            calls: 2000,
            warm_up: 200,
            rate: 200,
            hold: Duration::from_millis(1500),
            rounds: 2,
        };
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value"))?;
            let number = value
                .parse::<usize>()
                .with_context(|| format!("{flag} {value}"))?;
            match flag.as_str() {
                "--calls" => s.calls = number.clamp(10, 20_000),
                "--rate" => s.rate = number.clamp(1, 1000),
                "--hold-ms" => s.hold = Duration::from_millis(number.clamp(100, 10_000) as u64),
                "--rounds" => s.rounds = number.clamp(1, 9),
                "--warm-up" => s.warm_up = number.min(5000),
                _ => bail!("unknown flag {flag} (--calls, --warm-up, --rate, --hold-ms, --rounds)"),
            }
        }
        Ok(s)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Sip,
    Api,
}

/// One side's calls of one round.
struct Phase {
    side: Side,
    /// Calls that succeeded (SIPp's count; for the API a 201 and a join).
    succeeded: u64,
    failed: u64,
    /// Calls whose participant-join callback came.
    joined: usize,
    /// Join callback arrivals.
    joins: Vec<Instant>,
    /// SIP: INVITE to 200; API: create to 201.
    setup: Vec<Duration>,
    /// API: create to the join callback.
    to_join: Vec<Duration>,
    /// confab's CPU seconds by thread over the phase.
    cpu: BTreeMap<String, f64>,
    /// SIP: SIPp's retransmissions and the repeats in its trace.
    retransmissions: u64,
    trace: Option<Trace>,
    /// Calls still live when the phase gave up waiting.
    left_live: usize,
    calls: usize,
}

impl Phase {
    /// Join callbacks per second between the 10th and 90th percentile join.
    fn join_rate(&self) -> f64 {
        let mut at = self.joins.clone();
        at.sort_unstable();
        let (lo, hi) = (at.len() / 10, at.len() * 9 / 10);
        match (at.get(lo), at.get(hi)) {
            (Some(l), Some(h)) if h > l => (hi - lo) as f64 / (*h - *l).as_secs_f64(),
            _ => 0.0,
        }
    }

    fn cpu_per_call(&self) -> f64 {
        self.cpu.values().sum::<f64>() / self.calls.max(1) as f64
    }

    /// Without the simulated callers' RTP thread.
    fn server_cpu_per_call(&self) -> f64 {
        // Thread names are cut to 15 bytes: `confab-sim-media` reads `confab-sim-medi`.
        let sim: f64 = self
            .cpu
            .iter()
            .filter(|(name, _)| name.starts_with("confab-sim-med"))
            .map(|(_, s)| s)
            .sum();
        (self.cpu.values().sum::<f64>() - sim) / self.calls.max(1) as f64
    }

    fn print(&self, round: usize, settings: &Settings) {
        let name = match self.side {
            Side::Sip => "sip",
            Side::Api => "api",
        };
        let setup_name = match self.side {
            Side::Sip => "INVITE->200",
            Side::Api => "create->201",
        };
        println!(
            "  round {round} {name}: {} succeeded, {} failed, {} of {} joined, {:.0} joins/s \
             (offered {}/s) | {setup_name} p50 {:.1} ms p99 {:.1} ms max {:.1} ms | {:.2} ms CPU \
             per call ({:.2} without sim media){}",
            self.succeeded,
            self.failed,
            self.joined,
            self.calls,
            self.join_rate(),
            settings.rate,
            ms(percentile(&self.setup, 50)),
            ms(percentile(&self.setup, 99)),
            ms(percentile(&self.setup, 100)),
            1000.0 * self.cpu_per_call(),
            1000.0 * self.server_cpu_per_call(),
            if self.left_live > 0 {
                format!(", {} calls still live", self.left_live)
            } else {
                String::new()
            }
        );
        if !self.to_join.is_empty() {
            println!(
                "  {:>12} create->join callback p50 {:.1} ms p99 {:.1} ms",
                "",
                ms(percentile(&self.to_join, 50)),
                ms(percentile(&self.to_join, 99)),
            );
        }
        if let Some(trace) = &self.trace {
            println!(
                "  {:>12} retransmissions: SIPp's Retransmissions(C) {}, SIPp re-sent {} \
                 requests; confab sent {} messages, {} repeats: {} answering SIPp's repeats, {} \
                 on its own ({} repeated 200s to INVITE)",
                "",
                self.retransmissions,
                trace.sent_request_repeats,
                trace.received,
                trace.received_repeats,
                trace.received_repeats - trace.confab_retransmissions(),
                trace.confab_retransmissions(),
                trace.repeated_invite_200s,
            );
        }
        let threads: Vec<String> = self
            .cpu
            .iter()
            .filter(|(_, s)| **s > 0.005)
            .map(|(n, s)| format!("{n} {:.2}", 1000.0 * s / self.calls.max(1) as f64))
            .collect();
        println!(
            "  {:>12} ms CPU per call by thread: {}",
            "",
            threads.join(", ")
        );
    }
}

async fn sip_phase(
    confab: &Confab,
    web: &WebApp,
    s: &Settings,
    round: usize,
    sink_port: u16,
) -> anyhow::Result<Phase> {
    web.set_rooms(&format!("sip{round}"), ROOMS);
    web.take_joins();
    let before = confab.thread_cpu();
    let args: Vec<String> = [
        "-r",
        &s.rate.to_string(),
        "-m",
        &s.calls.to_string(),
        "-l",
        &(s.calls.max(1000)).to_string(),
        "-d",
        &s.hold.as_millis().to_string(),
        "-key",
        "sink_port",
        &sink_port.to_string(),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let sipp = Sipp::new("sip_call_setup.xml", confab.sip, NUMBER, &args)?
        .trace_messages()
        .spawn()?;
    let run = sipp.finish(Duration::from_secs(150)).await?;
    wait_joins(web, s.calls).await;
    let left_live = confab.api.wait_quiet(Duration::from_secs(20)).await?;
    let cpu = cpu_between(&before, &confab.thread_cpu());
    if !run.errors.trim().is_empty() {
        let first: Vec<&str> = run.errors.lines().take(6).collect();
        println!("  SIPp errors (first lines):\n    {}", first.join("\n    "));
    }
    let joins: Vec<Instant> = web.take_joins().into_values().collect();
    Ok(Phase {
        side: Side::Sip,
        succeeded: run.count("SuccessfulCall(C)"),
        failed: run.count("FailedCall(C)"),
        joined: joins.len(),
        joins,
        // The trace's microsecond timestamps; SIPp's own response times tick in 4 ms steps
        // on this machine.
        setup: match &run.trace {
            Some(trace) if !trace.invite_to_200.is_empty() => trace.invite_to_200.clone(),
            _ => run.rtds.clone(),
        },
        to_join: Vec::new(),
        cpu,
        retransmissions: run.count("Retransmissions(C)"),
        trace: run.trace,
        left_live,
        calls: s.calls,
    })
}

async fn api_phase(
    confab: &Confab,
    web: &WebApp,
    s: &Settings,
    round: usize,
) -> anyhow::Result<Phase> {
    web.set_rooms(&format!("api{round}"), ROOMS);
    web.take_joins();
    let before = confab.thread_cpu();
    let api = confab.api.clone();
    let interval = Duration::from_secs_f64(1.0 / s.rate as f64);
    let start = tokio::time::Instant::now();
    let mut creates = JoinSet::new();
    for i in 0..s.calls {
        tokio::time::sleep_until(start + interval * i as u32).await;
        let (api, voice) = (api.clone(), web.voice_url());
        let to = format!("sim:c{i}?hangup={}", s.hold.as_millis());
        creates.spawn(async move {
            let sent = Instant::now();
            let form = [
                ("To", to.as_str()),
                ("From", "+15550100"),
                ("Url", voice.as_str()),
                ("Method", "POST"),
            ];
            let created = api.post("Calls.json", &form).await;
            (sent, sent.elapsed(), created)
        });
    }
    let mut created = Vec::new();
    let (mut setup, mut failed) = (Vec::new(), 0u64);
    while let Some(done) = creates.join_next().await {
        let (sent, latency, answer) = done?;
        match answer
            .ok()
            .and_then(|b| b["sid"].as_str().map(str::to_owned))
        {
            Some(sid) => {
                setup.push(latency);
                created.push((sid, sent));
            }
            None => failed += 1,
        }
    }
    wait_joins(web, created.len()).await;
    let left_live = confab.api.wait_quiet(Duration::from_secs(20)).await?;
    let cpu = cpu_between(&before, &confab.thread_cpu());
    let joins = web.take_joins();
    let to_join: Vec<Duration> = created
        .iter()
        .filter_map(|(sid, sent)| joins.get(sid).map(|at| at.duration_since(*sent)))
        .collect();
    let joined = to_join.len();
    Ok(Phase {
        side: Side::Api,
        succeeded: joined as u64,
        failed: failed + (created.len() - joined) as u64,
        joined,
        joins: joins.into_values().collect(),
        setup,
        to_join,
        cpu,
        retransmissions: 0,
        trace: None,
        left_live,
        calls: s.calls,
    })
}

/// Waits until `expected` join callbacks came, or 10 s without a new one.
async fn wait_joins(web: &WebApp, expected: usize) {
    let mut last = (web.joins(), Instant::now());
    while web.joins() < expected && last.1.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = web.joins();
        if now != last.0 {
            last = (now, Instant::now());
        }
    }
}

/// Medians over the rounds and the ratios.
fn summarize(rounds: &[[Phase; 2]]) {
    if rounds.is_empty() {
        return;
    }
    let of = |side: usize, f: &dyn Fn(&Phase) -> f64| -> Vec<f64> {
        rounds.iter().map(|r| f(&r[side])).collect()
    };
    let p99: Vec<f64> = of(0, &|p| ms(percentile(&p.setup, 99)));
    let failed: u64 = rounds
        .iter()
        .map(|r| r[0].failed + (r[0].calls - r[0].joined) as u64)
        .sum();
    let own: u64 = rounds
        .iter()
        .filter_map(|r| r[0].trace.as_ref())
        .map(|t| t.confab_retransmissions())
        .sum();
    let cpu_ratio: Vec<f64> = rounds
        .iter()
        .map(|r| r[0].cpu_per_call() / r[1].cpu_per_call().max(f64::MIN_POSITIVE))
        .collect();
    let server_ratio: Vec<f64> = rounds
        .iter()
        .map(|r| r[0].server_cpu_per_call() / r[1].server_cpu_per_call().max(f64::MIN_POSITIVE))
        .collect();
    let rate_ratio: Vec<f64> = rounds
        .iter()
        .map(|r| r[0].join_rate() / r[1].join_rate().max(f64::MIN_POSITIVE))
        .collect();
    println!(
        "summary over {} rounds: sip INVITE->200 p99 {:.1} ms (median round); sip calls failed \
         or not joined: {failed} (target 0); confab's own retransmissions: {own} (target 0)",
        rounds.len(),
        median(&p99)
    );
    println!(
        "  medians sip/api: join rate {:.2}, CPU per call {:.2}, without sim media {:.2} \
         (sip {:.2} ms, api {:.2} ms per call)",
        median(&rate_ratio),
        median(&cpu_ratio),
        median(&server_ratio),
        1000.0 * median(&of(0, &|p| p.server_cpu_per_call())),
        1000.0 * median(&of(1, &|p| p.server_cpu_per_call())),
    );
}

/// A socket that takes confab's RTP to the SIP callers and throws it away.
struct Sink {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Sink {
    fn start() -> anyhow::Result<Sink> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(Duration::from_millis(100)))?;
        let port = socket.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("rtp-sink".into())
            .spawn(move || {
                let mut buf = [0u8; 2048];
                while !flag.load(Ordering::Relaxed) {
                    let _ = socket.recv(&mut buf);
                }
            })?;
        Ok(Sink { port, stop, thread })
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}
