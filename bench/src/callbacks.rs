//! Status callbacks: how many a confab server delivers per second, how long after the API's
//! answer each one reaches the application, and what subscribing to them costs the API, all
//! measured in one run.
//!
//! The server is the release `confab` binary (`confab serve`, a fresh SQLite data directory,
//! a loopback port). It holds two sets of conferences of the same shape, silent simulated
//! callers in each: in one set the first participant subscribed every conference event
//! (`ConferenceStatusCallbackEvent=start end join leave mute hold modify speaker
//! announcement`) to a receiver in this process (see `callback_receiver.rs`), in the other
//! nobody subscribed anything. The load is Update Participant `Muted=true`/`false`, the
//! cheapest source of events: each update changes the participant and causes exactly one
//! `participant-mute` or `participant-unmute`, written to the outbox in the update's store
//! batch and delivered by the server's worker, one conference's callbacks after another.
//!
//! 1. **Delivery.** An open-loop load generator sends updates to the subscribed set at a
//!    fixed rate, whatever the answers take: first about 1,000 events/s for the latency,
//!    then rising steps. Each update is matched with its callback (the n-th update of a
//!    participant with the n-th mute or unmute callback about its `CallSid`, whose `Muted`
//!    must agree), and its latency is from the `200` of the update to the callback's
//!    arrival, both read from this process's clock. A step is *sustained* when the
//!    callbacks keep up: at its end fewer than 5% of its events (and at most 50) are still
//!    undelivered. After each step the benchmark waits until every callback arrived.
//! 2. **Cost.** The closed-loop benchmark of `api_throughput` (C connections, one update in
//!    flight on each), run in interleaved slices on the subscribed set and on the other; the
//!    ratio of their throughputs. The callbacks a slice left queued are delivered before the
//!    next slice starts, and the CPU spent on them counts towards the subscribed side.
//!
//! At the end the receiver's record is audited: every callback signed correctly, every
//! conference's `SequenceNumber`s rising by one from 1, the `Timestamp`s current. Figures,
//! not pass/fail: the targets (>= 5,000 callbacks/s sustained, p99 <= 50 ms at 1,000
//! events/s, cost ratio >= 0.8) are printed beside what was measured.
//!
//! Run: `cargo build --release -p confab -p confab-bench && cargo run --release -p
//! confab-bench --bin callbacks [-- --conferences 64 --participants 2 --conns 64
//! --latency-rate 1000 --latency-secs 8 --rates 3000,5000,7000 --step-secs 3
//! --api-conns 64 --rounds 5 --slice-ms 1000 --pin off]`. The server binary is looked up
//! beside this one, or at `$CONFAB_BIN`. `--pin on` binds confab to CPU 0 and this process
//! to CPU 1 (`taskset`), so that the load generator and receiver do not take confab's core.
//!
//! Two cost ratios are printed: the throughput ratio, on a machine whose cores run the load
//! generator and the receiver beside confab, and the ratio of confab's own CPU per update
//! without and with callbacks, which is what a deployment pays (its receiver runs on the
//! application's machine). Beside them: confab's CPU per update by thread, the same outside
//! the media threads with its kernel share (the kernel time a callback adds, next to the
//! allowance the 0.8 target leaves it), and the switches to each thread per update.

mod callback_load;
mod callback_receiver;
mod callback_server;
mod confab_process;
// The load generator of `api_throughput`; this benchmark uses most of it.
#[allow(dead_code)]
mod loadgen;
mod pin;
mod stats;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use callback_load::{Fleet, Step};
use callback_receiver::{Audit, Receiver, RECEIVER_THREAD};
use callback_server::{ConfabServer, EVERY_EVENT};
use loadgen::{connect_all, run_slice, Measurement, Target, Usage};
use stats::{cpu_between, median, ms, percentile, thread_cpu, thread_kernel, thread_slices};

fn main() -> anyhow::Result<()> {
    let settings = Settings::from_args(std::env::args().skip(1))?;
    // The receiver gets a runtime of its own, named so that its CPU time can be told apart
    // from the load generator's in /proc.
    let receiver = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(RECEIVER_THREAD)
        .enable_all()
        .build()?;
    let loadgen = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("loadgen")
        .enable_all()
        .build()?;
    loadgen.block_on(run(settings, receiver.handle().clone()))
}

/// `loadgen.rs` counts the CPU of the threads by this name apart from its own (the bare
/// route's in `api_throughput`): here they are the receiver's.
const BARE_THREAD: &str = RECEIVER_THREAD;
/// Linux reports /proc CPU times in USER_HZ ticks, 100 per second.
const TICKS_PER_SECOND: f64 = 100.0;

/// What a run measures; the defaults keep it around a minute.
pub(crate) struct Settings {
    /// Conferences in each set.
    conferences: usize,
    /// Simulated callers in each conference.
    participants: usize,
    /// Connections of the open-loop load.
    conns: usize,
    /// Events per second of the latency measurement.
    latency_rate: f64,
    /// How long the latency measurement runs.
    latency_len: Duration,
    /// Offered events per second of the delivery steps.
    rates: Vec<f64>,
    /// How long each step runs.
    step_len: Duration,
    /// Connections of the closed-loop cost comparison.
    api_conns: usize,
    /// Interleaved rounds of the cost comparison.
    rounds: usize,
    /// How long each side runs per round.
    slice: Duration,
    /// Pin confab to CPU 0 and this process (load generator, receiver) to CPU 1, with
    /// `taskset`: confab's throughput then is not taken by its own load.
    pin: bool,
}

impl Settings {
    fn from_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Settings> {
        let mut s = Settings {
            conferences: 64,
            participants: 2,
            conns: 64,
            latency_rate: 1000.0,
            latency_len: Duration::from_secs(8),
            rates: vec![3000.0, 5000.0, 7000.0],
            step_len: Duration::from_secs(3),
            api_conns: 64,
            rounds: 5,
            slice: Duration::from_secs(1),
            pin: false,
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
                "--conferences" => s.conferences = number()?.clamp(1, 512),
                "--participants" => s.participants = number()?.clamp(1, 16),
                "--conns" => s.conns = number()?.clamp(1, 512),
                "--latency-rate" => s.latency_rate = number()?.clamp(10, 50_000) as f64,
                "--latency-secs" => {
                    s.latency_len = Duration::from_secs(number()?.clamp(1, 60) as u64)
                }
                "--rates" => {
                    s.rates = value
                        .split(',')
                        .map(|r| r.parse::<f64>().map(|r| r.clamp(10.0, 100_000.0)))
                        .collect::<Result<_, _>>()
                        .with_context(|| format!("--rates {value}"))?
                }
                "--step-secs" => s.step_len = Duration::from_secs(number()?.clamp(1, 30) as u64),
                "--api-conns" => s.api_conns = number()?.clamp(1, 512),
                "--rounds" => s.rounds = number()?.clamp(1, 20),
                "--pin" => s.pin = value == "on",
                "--slice-ms" => {
                    s.slice = Duration::from_millis(number()?.clamp(200, 10_000) as u64)
                }
                _ => bail!(
                    "unknown flag {flag} (--conferences, --participants, --conns, --latency-rate, \
                     --latency-secs, --rates, --step-secs, --api-conns, --rounds, --slice-ms, \
                     --pin on|off)"
                ),
            }
        }
        Ok(s)
    }
}

async fn run(settings: Settings, receiver_runtime: tokio::runtime::Handle) -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let mut server = ConfabServer::start(data.path()).await?;
    let receiver = Receiver::start(&receiver_runtime, &server.token)?;
    let (count, size) = (settings.conferences, settings.participants);
    let subscribed = server.open("cb", count, size, Some(&receiver.url)).await?;
    let plain = server.open("plain", count, size, None).await?;
    println!(
        "callbacks: confab (pid {}) with {count} conferences x {size} sim callers subscribed \
         to \"{EVERY_EVENT}\" at {} and {count} x {size} without callbacks; data dir on {}, {} CPUs",
        server.pid,
        receiver.url,
        data.path().display(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!("load average at the start: {}", load_average());
    if settings.pin {
        pin::process(server.pid, 0)?;
        pin::process(std::process::id(), 1)?;
        println!("pinned: confab to CPU 0, the load generator and the receiver to CPU 1");
    }
    let idle = idle_cores(server.pid).await?;
    println!(
        "confab idle: {:.0}% of a core with no API load (the simulated callers' media)",
        idle * 100.0
    );

    let fleet = Arc::new(Fleet::new(&server, &subscribed)?);
    let mut conns = connect_all(server.addr, settings.conns).await?;
    let warm_up = Step::run(&fleet, &receiver, &mut conns, 1000.0, WARM_UP, server.pid).await?;
    println!(
        "warm-up: {} updates at 1000/s, their callbacks all in after {:.0} ms",
        warm_up.updates,
        ms(warm_up.drain)
    );
    println!("1. delivery: open-loop updates on the subscribed set, one callback each");
    let latency = Step::run(
        &fleet,
        &receiver,
        &mut conns,
        settings.latency_rate,
        settings.latency_len,
        server.pid,
    )
    .await?;
    latency.report();
    let p99 = percentile(&latency.latencies, 99);
    println!(
        "  target p99 <= 50 ms at {:.0} events/s: {}",
        settings.latency_rate,
        verdict(ms(p99) <= 50.0, ms(p99) / 50.0, "of the bound")
    );
    let mut sustained: Option<f64> = None;
    for &rate in &settings.rates {
        let step = Step::run(
            &fleet,
            &receiver,
            &mut conns,
            rate,
            settings.step_len,
            server.pid,
        )
        .await?;
        step.report();
        if step.kept_up() {
            sustained = Some(sustained.unwrap_or(0.0).max(step.delivered_rate()));
        }
    }
    match sustained {
        Some(rate) => println!(
            "  sustained: {rate:.0} callbacks/s (the best step that kept up); target >= 5,000: {}",
            verdict(rate >= 5000.0, rate / 5000.0, "of the target")
        ),
        None => println!("  sustained: no step kept up; target >= 5,000: missed"),
    }
    fleet.unmute_all(&receiver, &mut conns).await?;
    drop(conns);

    compare(
        &settings,
        &server,
        &receiver,
        &subscribed.paths,
        &plain.paths,
    )
    .await?;
    audit(&receiver);
    println!("load average at the end: {}", load_average());
    server.stop().await;
    Ok(())
}

/// Part 2: the closed-loop update benchmark on the subscribed set beside the plain one.
async fn compare(
    settings: &Settings,
    server: &ConfabServer,
    receiver: &Receiver,
    subscribed: &[String],
    plain: &[String],
) -> anyhow::Result<()> {
    let target = |paths: &[String]| {
        Target::new(server.addr, &server.account, &server.token, paths).map(Arc::new)
    };
    let (with, without) = (target(subscribed)?, target(plain)?);
    let mut with_conns = connect_all(server.addr, settings.api_conns).await?;
    let mut without_conns = connect_all(server.addr, settings.api_conns).await?;
    let (mut with_m, mut without_m) = (Measurement::default(), Measurement::default());
    let (mut with_cpu, mut without_cpu) = (Usage::default(), Usage::default());
    let (mut backlogs, mut drains) = (Vec::new(), Vec::new());
    let (mut with_threads, mut without_threads) = (BTreeMap::new(), BTreeMap::new());
    let (mut with_slices, mut without_slices) = (BTreeMap::new(), BTreeMap::new());
    let (mut with_kernel, mut without_kernel) = (BTreeMap::new(), BTreeMap::new());
    let mut delivered = 0;
    for round in 0..=settings.rounds {
        // Round 0 warms both sides up and is not counted.
        let len = if round == 0 { WARM_UP } else { settings.slice };
        let (mutes, sent) = (
            receiver.mutes(),
            with.sent.load(std::sync::atomic::Ordering::Relaxed),
        );
        let (before, threads, slices, kernel, arrived) = (
            Usage::now(server.pid)?,
            thread_cpu(server.pid),
            thread_slices(server.pid),
            thread_kernel(server.pid),
            receiver.count(),
        );
        let slice = run_slice(&mut with_conns, &with, len, server.pid).await?;
        let arrived = receiver.count() - arrived;
        let expected =
            with.sent.load(std::sync::atomic::Ordering::Relaxed) - sent - slice.errors as usize;
        let backlog = (mutes + expected).saturating_sub(receiver.mutes());
        let ended = Instant::now();
        receiver
            .wait_for_mutes(mutes + expected, Duration::from_millis(500))
            .await;
        let drain = receiver
            .last_arrival()
            .map_or(Duration::ZERO, |at| at.saturating_duration_since(ended));
        let used = Usage::now(server.pid)?.since(&before);
        let (with_after, with_slices_after, with_kernel_after) = (
            thread_cpu(server.pid),
            thread_slices(server.pid),
            thread_kernel(server.pid),
        );
        let plain_slice = run_slice(&mut without_conns, &without, len, server.pid).await?;
        if round == 0 {
            continue;
        }
        add_spent(&mut with_threads, cpu_between(&threads, &with_after));
        add_spent(
            &mut without_threads,
            cpu_between(&with_after, &thread_cpu(server.pid)),
        );
        add_spent(&mut with_slices, cpu_between(&slices, &with_slices_after));
        add_spent(&mut with_kernel, cpu_between(&kernel, &with_kernel_after));
        add_spent(
            &mut without_kernel,
            cpu_between(&with_kernel_after, &thread_kernel(server.pid)),
        );
        add_spent(
            &mut without_slices,
            cpu_between(&with_slices_after, &thread_slices(server.pid)),
        );
        delivered += arrived;
        add_usage(&mut with_cpu, &used);
        add_usage(&mut without_cpu, &plain_slice.usage);
        backlogs.push(backlog);
        drains.push(drain);
        with_m.add(slice);
        without_m.add(plain_slice);
    }
    let cost = Cost {
        with: &with_m,
        without: &without_m,
        with_cpu: &with_cpu,
        without_cpu: &without_cpu,
        with_threads: &with_threads,
        without_threads: &without_threads,
        with_slices: &with_slices,
        without_slices: &without_slices,
        with_kernel: &with_kernel,
        without_kernel: &without_kernel,
        delivered,
        backlogs: &backlogs,
        drains: &drains,
    };
    cost.report(settings);
    Ok(())
}

/// What the cost comparison measured.
struct Cost<'a> {
    with: &'a Measurement,
    without: &'a Measurement,
    /// CPU over the subscribed slices and the delivery of what they left queued.
    with_cpu: &'a Usage,
    without_cpu: &'a Usage,
    /// The server's CPU ticks by thread name over the same spans.
    with_threads: &'a BTreeMap<String, f64>,
    without_threads: &'a BTreeMap<String, f64>,
    /// The times each thread name was switched to over the same spans.
    with_slices: &'a BTreeMap<String, f64>,
    without_slices: &'a BTreeMap<String, f64>,
    /// The kernel's share of `with_threads` and `without_threads`.
    with_kernel: &'a BTreeMap<String, f64>,
    without_kernel: &'a BTreeMap<String, f64>,
    /// Callbacks that arrived during the subscribed slices.
    delivered: usize,
    /// Callbacks still queued when each subscribed slice ended, and how long they took.
    backlogs: &'a [usize],
    drains: &'a [Duration],
}

impl Cost<'_> {
    fn report(&self, settings: &Settings) {
        let (with, without) = (self.with, self.without);
        let (w50, w99) = with.percentiles();
        let (p50, p99) = without.percentiles();
        println!(
            "2. cost: closed-loop updates, C={} ({} interleaved rounds x {:.1} s per side)",
            settings.api_conns,
            settings.rounds,
            settings.slice.as_secs_f64()
        );
        println!(
            "  with callbacks: {:.0} updates/s p50 {:.2}ms p99 {:.2}ms | without: {:.0} updates/s \
             p50 {:.2}ms p99 {:.2}ms | errors {} | {}",
            with.rate(),
            ms(w50),
            ms(w99),
            without.rate(),
            ms(p50),
            ms(p99),
            with.errors,
            without.errors,
        );
        let ratios: Vec<f64> = with
            .round_rates
            .iter()
            .zip(&without.round_rates)
            .map(|(w, p)| w / p.max(f64::MIN_POSITIVE))
            .collect();
        let (low, high) = stats::range(&ratios);
        let ratio = with.rate() / without.rate().max(f64::MIN_POSITIVE);
        println!(
            "  throughput ratio {ratio:.2} (per round: median {:.2}, range {low:.2}-{high:.2}); \
             target >= 0.8: {}",
            median(&ratios),
            verdict(ratio >= 0.8, ratio / 0.8, "of the target")
        );
        let most = self.backlogs.iter().max().copied().unwrap_or(0);
        let longest = self.drains.iter().max().copied().unwrap_or_default();
        println!(
            "  callbacks delivered while the subscribed side ran: {:.0}/s; still queued when a \
             slice ended: at most {most}, all delivered {:.0} ms later at the latest",
            self.delivered as f64 / with.measured.as_secs_f64().max(1e-9),
            ms(longest)
        );
        let per_update = |ticks: u64, m: &Measurement| {
            ticks as f64 / TICKS_PER_SECOND * 1e6 / m.ok.max(1) as f64
        };
        let (own_with, own_without) = (
            per_update(self.with_cpu.confab_ticks, with),
            per_update(self.without_cpu.confab_ticks, without),
        );
        println!(
            "  confab CPU per update: {own_with:.0} us with its callback stored and delivered | \
             {own_without:.0} us without; the receiver {:.0} us per callback",
            per_update(self.with_cpu.bare_ticks, with),
        );
        // At 0.8 a callback may cost a quarter of what an update costs without one. Its HTTP
        // exchange (one request written, one answer read, as Twilio sends callbacks) has a
        // kernel share no user-space change removes; printed beside that allowance. The media
        // threads are left out: their cost is per second, not per update.
        let off_media = |kernel: &BTreeMap<String, f64>, m: &Measurement| {
            let seconds: f64 = kernel
                .iter()
                .filter(|(name, _)| {
                    !name.starts_with("confab-media") && !name.starts_with("confab-sim")
                })
                .map(|(_, s)| s)
                .sum();
            seconds * 1e6 / m.ok.max(1) as f64
        };
        let (kernel_with, kernel_without) = (
            off_media(self.with_kernel, with),
            off_media(self.without_kernel, without),
        );
        let (off_media_with, off_media_without) = (
            off_media(self.with_threads, with),
            off_media(self.without_threads, without),
        );
        println!(
            "  confab CPU per update outside the media threads: {off_media_with:.0} us with | \
             {off_media_without:.0} us without; of it in the kernel {kernel_with:.0} | \
             {kernel_without:.0} us: {:.0} us of kernel time more per callback, against the \
             {:.0} us in all that the 0.8 target allows a callback",
            kernel_with - kernel_without,
            off_media_without / 4.0
        );
        // The throughput ratio above is of a machine whose cores also run the load generator
        // and the receiver; a real application's receiver runs elsewhere. What confab itself
        // pays is the ratio of its own CPU per update.
        println!(
            "  confab's own cost ratio (CPU per update without / with callbacks, the receiver \
             not counted; a real application's receiver runs on another machine): {:.2}; \
             target >= 0.8: {}",
            own_without / own_with.max(f64::MIN_POSITIVE),
            verdict(
                own_without >= 0.8 * own_with,
                own_without / own_with.max(f64::MIN_POSITIVE) / 0.8,
                "of the target"
            )
        );
        let by_thread = |with_map: &BTreeMap<String, f64>,
                         without_map: &BTreeMap<String, f64>,
                         scale: f64,
                         digits: usize| {
            let per_update = |v: f64, m: &Measurement| v * scale / m.ok.max(1) as f64;
            with_map
                .iter()
                .map(|(name, &spent)| {
                    let plain = without_map.get(name).copied().unwrap_or(0.0);
                    format!(
                        "{name} {:.digits$} | {:.digits$}",
                        per_update(spent, with),
                        per_update(plain, without)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "  confab CPU per update by thread, us with | without: {}",
            by_thread(self.with_threads, self.without_threads, 1e6, 0)
        );
        // A switch to a thread costs the switch itself and the caches it cools: on a busy
        // core, where confab's threads share one CPU, wake-ups are a cost of their own.
        println!(
            "  switches to each thread per update, with | without: {}",
            by_thread(self.with_slices, self.without_slices, 1.0, 2)
        );
    }
}

/// The receiver's whole record: signatures, sequence numbers, timestamps, and the events.
fn audit(receiver: &Receiver) {
    let arrivals = receiver.all();
    let audit = Audit::of(&arrivals);
    let mut events = BTreeMap::<&str, usize>::new();
    for arrival in &arrivals {
        *events.entry(arrival.event.as_str()).or_default() += 1;
    }
    let events: Vec<String> = events.iter().map(|(e, n)| format!("{e} {n}")).collect();
    println!(
        "audit: {} callbacks from {} conferences ({}); {} badly signed, {} out of sequence, \
         {} without a Timestamp, Timestamps at most {} s old",
        audit.callbacks,
        audit.conferences,
        events.join(", "),
        audit.unsigned,
        audit.out_of_sequence,
        audit.unstamped,
        audit.max_stamp_age_s,
    );
}

/// Adds what each thread name spent in a slice to its sum over the slices.
fn add_spent(sum: &mut BTreeMap<String, f64>, spent: BTreeMap<String, f64>) {
    for (name, seconds) in spent {
        *sum.entry(name).or_default() += seconds;
    }
}

fn add_usage(sum: &mut Usage, more: &Usage) {
    sum.confab_ticks += more.confab_ticks;
    sum.bare_ticks += more.bare_ticks;
    sum.process_ticks += more.process_ticks;
}

/// The machine's 1, 5 and 15 minute load averages: how busy the shared cores were.
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// "met" or "missed", with how far from the target.
fn verdict(met: bool, fraction: f64, of: &str) -> String {
    let word = if met { "met" } else { "missed" };
    format!("{word} ({:.0}% {of})", fraction * 100.0)
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
