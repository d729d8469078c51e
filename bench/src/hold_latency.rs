//! Hold latency: from the `200 OK` of an Update Participant `Hold=true` to the first frame of
//! the hold audio at the held caller, for four kinds of hold audio measured interleaved in one
//! run:
//!
//! - **built-in**: `HoldUrl=""`, the built-in hold music (1350-2250 Hz), the baseline;
//! - **cached**: a `HoldUrl` held before, whose answer carried `Cache-Control: max-age` and an
//!   `ETag`: served from the media cache without a request, its decoded samples from the
//!   decoded cache;
//! - **revalidated**: a `HoldUrl` held before whose answer carried only an `ETag`
//!   (`no-cache`): every hold asks again with `If-None-Match` and gets a 304;
//! - **uncached**: a new URL every time, a ~5 MB MP3 (21 minutes) without caching headers:
//!   downloaded from the local server and decoded from its start.
//!
//! Every file is the 1000 Hz tone of confab-media's golden `tone_1k.mp3`, repeated (see
//! `hold_setup`), so the held caller's recording tells the URL audio from the built-in music and
//! from the other caller's 500 Hz. The conference has two simulated callers: the one put on hold
//! (sending silence) and a talker. Each cycle holds the caller, notes when the `200` was in hand,
//! scans the packets the caller received from just before the request for the first frame with
//! the variant's tone (the approach of `mute_latency`), then unholds it and waits until it hears
//! the talker again. The caller's RTP comes straight from the mixer (no jitter buffer on the way
//! out), so the built-in latency is the wait for the next tick plus loopback delivery.
//!
//! An uncached hold decodes the whole file on the blocking pool even after the caller was
//! unheld (so that the decoded cache gets it); the benchmark waits for the process to be idle
//! again after each one, so that every cycle starts on a quiet server, and reports how long that
//! took. The targets of issue 9 (cached within 2 ticks, 40 ms, of the built-in latency; uncached
//! p99 <= 250 ms) are printed beside the figures, never asserted.
//!
//! Run with `cargo run --release -p confab-bench --bin hold_latency [-- --rounds 40]`.

mod hold_setup;
mod stats;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use confab::media::Recording;
use confab_media::decode::{AudioKind, Decoder};
use confab_media::source::HOLD_MUSIC_HZ;
use confab_media::tone::tone_level_dbfs;
use confab_media::SAMPLE_RATE;

use hold_setup::{
    long_tone_mp3, AudioSite, Server, ABSENT_DBFS, PRESENT_DBFS, TONE_HZ, TONE_SECONDS,
};
use stats::{cpu_seconds, median_duration, ms, percentile};

/// Copies of the 2 s tone in the long file: 640 * 8 kB = 5 MB, 21 minutes.
const COPIES: usize = 640;

/// The talker's tone, away from the hold tones.
const TALKER_HZ: f64 = 500.0;

/// Samples in one 20 ms frame.
const FRAME: usize = 160;

/// One frame's length.
const FRAME_TIME: Duration = Duration::from_millis(20);

/// Give up on one cycle's audio after this long.
const CYCLE_TIMEOUT: Duration = Duration::from_secs(5);

/// The process counts as idle when it uses at most this many cores more than before any hold.
const IDLE_MARGIN: f64 = 0.25;

/// Give up waiting for the process to be idle after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The kinds of hold audio compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Builtin,
    Cached,
    Revalidated,
    Uncached,
}

const VARIANTS: [Variant; 4] = [
    Variant::Builtin,
    Variant::Cached,
    Variant::Revalidated,
    Variant::Uncached,
];

/// What one variant measured.
#[derive(Default)]
struct Figures {
    /// From the `200` to the first frame of the hold audio (0 for one that came before it):
    /// for a file, the frame its first sample went out in.
    latencies: Vec<Duration>,
    /// From the `200` to the first frame with the variant's tone.
    raw: Vec<Duration>,
    /// From sending the update to its `200`.
    replies: Vec<Duration>,
    /// Cycles whose first frame arrived before the `200` was in hand.
    early: usize,
    /// Cycles whose audio never came.
    timeouts: usize,
    /// Late media ticks from the update to the unhold.
    late: u64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let rounds = rounds_from_args()?;
    let long = long_tone_mp3(COPIES);
    println!(
        "hold_latency: HTTP 200 of Hold=true -> first frame of the hold audio at the held caller"
    );
    let lead_in = check_long_file(long.clone()).await?;

    let site = AudioSite::start(long).await?;
    let server = Server::start().await?;
    let held = server.join("hold-latency", "sim:held?silence").await?;
    let talker = server
        .join("hold-latency", &format!("sim:talker?tone={TALKER_HZ}"))
        .await?;
    server.connected(&held).await?;
    server.connected(&talker).await?;
    let mut bench = Bench {
        path: server.participant_path(&held),
        recording: server.recording(&held)?,
        server,
        site,
        uncached: 0,
        idle_cores: 0.0,
    };
    bench.wait_until(0, unheld).await?;
    bench.idle_cores = busy_cores(Duration::from_secs(1)).await;

    // One unmeasured cycle of each: the cached files get into both caches, the connection to
    // the site is opened.
    for variant in VARIANTS {
        bench.cycle(variant).await?;
        bench.wait_idle().await;
    }
    let mut figures: Vec<Figures> = VARIANTS.iter().map(|_| Figures::default()).collect();
    let mut idle_waits = Vec::new();
    let mut late_while_decoding = 0;
    for round in 0..rounds {
        // Each variant takes each place in the order equally often.
        for k in 0..VARIANTS.len() {
            let index = (round + k) % VARIANTS.len();
            let variant = VARIANTS[index];
            let late_before = bench.server.state.media.stats().late_ticks;
            let measured = bench.cycle(variant).await?;
            let f = &mut figures[index];
            f.late += bench.server.state.media.stats().late_ticks - late_before;
            let Some(cycle) = measured else {
                f.timeouts += 1;
                continue;
            };
            // The frame the file's first sample went out in, `lead_in` before its tone.
            let lead = if variant == Variant::Builtin {
                Duration::ZERO
            } else {
                lead_in
            };
            let first_frame = cycle.heard.checked_sub(lead).unwrap_or(cycle.heard);
            f.replies.push(cycle.replied - cycle.sent);
            f.raw
                .push(cycle.heard.saturating_duration_since(cycle.replied));
            match first_frame.checked_duration_since(cycle.replied) {
                Some(latency) => f.latencies.push(latency),
                None => {
                    f.early += 1;
                    f.latencies.push(Duration::ZERO);
                }
            }
            if variant == Variant::Uncached {
                let late_before = bench.server.state.media.stats().late_ticks;
                idle_waits.push(bench.wait_idle().await);
                late_while_decoding += bench.server.state.media.stats().late_ticks - late_before;
            }
            // A random phase against the 20 ms tick, so the cycles sample all of it.
            tokio::time::sleep(Duration::from_millis(40 + u64::from(rand_byte()) % 20)).await;
        }
    }
    report(&bench, rounds, &figures, &idle_waits, late_while_decoding);
    Ok(())
}

/// One measured hold.
struct Cycle {
    /// When the update was sent.
    sent: Instant,
    /// When its `200` was in hand.
    replied: Instant,
    /// When the first frame with the variant's tone arrived.
    heard: Instant,
}

struct Bench {
    server: Server,
    site: AudioSite,
    /// The held caller's Update Participant path.
    path: String,
    /// What the held caller heard.
    recording: std::sync::Arc<Recording>,
    /// Uncached URLs used so far.
    uncached: usize,
    /// Cores the process used before any hold.
    idle_cores: f64,
}

impl Bench {
    /// Holds with `variant`'s audio, measures, unholds; `None` if the audio never came.
    async fn cycle(&mut self, variant: Variant) -> anyhow::Result<Option<Cycle>> {
        let url = match variant {
            Variant::Builtin => String::new(),
            Variant::Cached => format!("{}/cached/hold.mp3", self.site.base),
            Variant::Revalidated => format!("{}/revalidated/hold.mp3", self.site.base),
            Variant::Uncached => {
                self.uncached += 1;
                format!("{}/uncached/hold-{}.mp3", self.site.base, self.uncached)
            }
        };
        let from = self.recording.packet_count();
        let sent = Instant::now();
        let form = [("Hold", "true"), ("HoldUrl", url.as_str())];
        self.server.send("POST", &self.path, &form).await?;
        let replied = Instant::now();
        let heard = self
            .wait_until(from, |frame| hears(variant, frame))
            .await
            .ok();
        let from = self.recording.packet_count();
        self.server
            .send("POST", &self.path, &[("Hold", "false")])
            .await?;
        self.wait_until(from, unheld)
            .await
            .context("the caller did not hear the conference again after Hold=false")?;
        Ok(heard.map(|heard| Cycle {
            sent,
            replied,
            heard,
        }))
    }

    /// The arrival of the first packet from index `from` on whose frame passes `test`.
    async fn wait_until(
        &self,
        mut from: usize,
        test: impl Fn(&[i16]) -> bool,
    ) -> anyhow::Result<Instant> {
        let give_up = Instant::now() + CYCLE_TIMEOUT;
        while Instant::now() < give_up {
            for (arrival, samples) in self.recording.packets_since(from) {
                from += 1;
                if test(&samples) {
                    return Ok(arrival);
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        anyhow::bail!("the held caller's audio did not change within {CYCLE_TIMEOUT:?}")
    }

    /// Waits until the process is about as busy as before any hold (an uncached file's decode
    /// has run to its end); returns how long that took.
    async fn wait_idle(&self) -> Duration {
        let started = Instant::now();
        while started.elapsed() < IDLE_TIMEOUT {
            if busy_cores(Duration::from_millis(250)).await <= self.idle_cores + IDLE_MARGIN {
                break;
            }
        }
        started.elapsed()
    }
}

/// Whether a frame carries `variant`'s hold audio.
fn hears(variant: Variant, frame: &[i16]) -> bool {
    match variant {
        Variant::Builtin => HOLD_MUSIC_HZ
            .iter()
            .any(|&hz| tone_level_dbfs(frame, hz) >= PRESENT_DBFS),
        _ => tone_level_dbfs(frame, TONE_HZ) >= PRESENT_DBFS,
    }
}

/// Whether a frame is the conference (the talker) and no hold audio.
fn unheld(frame: &[i16]) -> bool {
    tone_level_dbfs(frame, TALKER_HZ) >= PRESENT_DBFS
        && tone_level_dbfs(frame, TONE_HZ) < ABSENT_DBFS
        && HOLD_MUSIC_HZ
            .iter()
            .all(|&hz| tone_level_dbfs(frame, hz) < ABSENT_DBFS)
}

/// Cores this process kept busy over `window`.
async fn busy_cores(window: Duration) -> f64 {
    let before = cpu_seconds();
    tokio::time::sleep(window).await;
    (cpu_seconds() - before) / window.as_secs_f64()
}

/// Decodes the long file the way confab does, to show it plays (and what an uncached hold
/// costs in the background).
/// Returns the time the decoded file takes to reach the tone (its lead-in).
async fn check_long_file(long: Vec<u8>) -> anyhow::Result<Duration> {
    let bytes = long.len();
    let kind = AudioKind::detect(Some("audio/mpeg"), &long);
    anyhow::ensure!(
        kind == Some(AudioKind::Mp3),
        "the long file is not seen as MP3: {kind:?}"
    );
    let (first, total, samples, toned, lead_in) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut decoder = Decoder::new(AudioKind::Mp3, long)?;
        let (mut first, mut samples, mut chunks, mut toned) = (None, 0usize, 0usize, 0usize);
        let mut lead_in = None;
        while let Some(chunk) = decoder.next_chunk()? {
            first.get_or_insert_with(|| started.elapsed());
            if lead_in.is_none() {
                // The mixer plays the stream from its first sample, one frame per tick.
                lead_in = chunk
                    .chunks_exact(FRAME)
                    .position(|frame| tone_level_dbfs(frame, TONE_HZ) >= PRESENT_DBFS);
            }
            samples += chunk.len();
            chunks += 1;
            // The middle frame of every second: the tone, except where two copies meet.
            let mid = chunk.len() / 2;
            if let Some(frame) = chunk.get(mid..mid + 160) {
                toned += usize::from(tone_level_dbfs(frame, TONE_HZ) >= PRESENT_DBFS);
            }
        }
        let toned = toned as f64 / chunks.max(1) as f64;
        let lead_in = lead_in.context("the first second of the file does not carry the tone")?;
        anyhow::Ok((
            first.unwrap_or_default(),
            started.elapsed(),
            samples,
            toned,
            lead_in,
        ))
    })
    .await??;
    let seconds = samples as f64 / f64::from(SAMPLE_RATE);
    let expected = (COPIES as u64 * TONE_SECONDS) as f64;
    println!(
        "the uncached file: {:.2} MB MP3, {COPIES} copies of tone_1k.mp3 (Info frame dropped): \
         confab decodes {:.1} min of audio (at least {:.1} expected), {:.0}% of its seconds carry the tone",
        bytes as f64 / 1e6,
        seconds / 60.0,
        expected / 60.0,
        toned * 100.0
    );
    println!(
        "  decoding it here took {:.2} s in all ({:.0}x real time), {:.1} ms for the first second",
        total.as_secs_f64(),
        seconds / total.as_secs_f64().max(1e-9),
        ms(first)
    );
    println!(
        "  its decoded audio reaches the tone in frame {} (from 0): {:.0} ms of encoder delay and \
         fade-in that the URL variants' latencies below have taken off (the raw p50 beside them)",
        lead_in,
        ms(FRAME_TIME * lead_in as u32)
    );
    anyhow::ensure!(
        seconds >= expected * 0.95,
        "confab decoded only {seconds:.0} s of the {expected:.0} s file"
    );
    Ok(FRAME_TIME * lead_in as u32)
}

fn report(
    bench: &Bench,
    rounds: usize,
    figures: &[Figures],
    idle_waits: &[Duration],
    late_while_decoding: u64,
) {
    println!(
        "{rounds} rounds, the four variants interleaved (each in every place of the order); \
         p99 of {rounds} samples is their {}th",
        rounds * 99 / 100 + 1
    );
    println!(
        "  {:<34} {:>8} {:>8} {:>8} {:>8}  {:>9} {:>9}  early/timeouts",
        "variant", "p50", "p90", "p99", "max", "tone p50", "200 p50"
    );
    for (variant, f) in VARIANTS.iter().zip(figures) {
        println!(
            "  {:<34} {:>5.1} ms {:>5.1} ms {:>5.1} ms {:>5.1} ms  {:>6.1} ms {:>6.2} ms  {}/{}",
            label(*variant),
            ms(percentile(&f.latencies, 50)),
            ms(percentile(&f.latencies, 90)),
            ms(percentile(&f.latencies, 99)),
            ms(percentile(&f.latencies, 100)),
            ms(percentile(&f.raw, 50)),
            ms(percentile(&f.replies, 50)),
            f.early,
            f.timeouts
        );
    }
    let at = |i: usize, p: usize| ms(percentile(&figures[i].latencies, p));
    for (i, name) in [(1, "cached"), (2, "revalidated"), (3, "uncached")] {
        println!(
            "  {name:<12} - built-in: p50 {:+6.1} ms, p99 {:+6.1} ms",
            at(i, 50) - at(0, 50),
            at(i, 99) - at(0, 99)
        );
    }
    let cached_gap = at(1, 50) - at(0, 50);
    let cached_gap_99 = at(1, 99) - at(0, 99);
    println!(
        "  target: cached within 40 ms of built-in: p50 {:.1} ms, p99 {:.1} ms ({}); \
         uncached p99 <= 250 ms: {:.1} ms ({})",
        cached_gap,
        cached_gap_99,
        verdict(cached_gap.max(cached_gap_99) <= 40.0),
        at(3, 99),
        verdict(at(3, 99) <= 250.0)
    );
    let served = &bench.site.served;
    println!(
        "  site: cached file sent {} times, revalidated file {} times and 304 {} times, \
         uncached files {} times",
        served.cached.load(Ordering::Relaxed),
        served.revalidated.load(Ordering::Relaxed),
        served.not_modified.load(Ordering::Relaxed),
        served.uncached.load(Ordering::Relaxed)
    );
    println!(
        "  after each uncached hold the process was busy decoding the rest of the file for {:.1} s \
         (median; the benchmark waits for it, so every cycle starts idle)",
        median_duration(idle_waits).as_secs_f64()
    );
    let stats = bench.server.state.media.stats();
    let late: Vec<String> = figures.iter().map(|f| f.late.to_string()).collect();
    println!(
        "  media: {} ticks, {} late (during the cycles of (a), (b), (b'), (c): {}; while the \
         uncached files decoded: {late_while_decoding}), max tick lateness {:.1} ms; load average {}",
        stats.ticks,
        stats.late_ticks,
        late.join(", "),
        stats.max_lateness_us as f64 / 1000.0,
        load_average()
    );
}

/// The machine's 1-minute load average (other work on a shared machine shows here).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn label(variant: Variant) -> &'static str {
    match variant {
        Variant::Builtin => "(a) built-in hold music",
        Variant::Cached => "(b) cached URL (max-age + ETag)",
        Variant::Revalidated => "(b') revalidated URL (ETag, 304)",
        Variant::Uncached => "(c) uncached 5 MB MP3",
    }
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

fn rounds_from_args() -> anyhow::Result<usize> {
    let mut args = std::env::args().skip(1);
    let mut rounds = 40;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => {
                rounds = args
                    .next()
                    .context("--rounds needs a number")?
                    .parse()
                    .context("--rounds needs a number")?;
            }
            other => anyhow::bail!("unknown argument {other:?} (expected --rounds N)"),
        }
    }
    anyhow::ensure!(rounds > 0, "--rounds must be at least 1");
    Ok(rounds)
}

/// A pseudo-random byte without another dependency (the low bits of the clock).
fn rand_byte() -> u8 {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        >> 10) as u8
}
