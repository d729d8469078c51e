//! Hold mix cost: what 50 participants on hold with their own `HoldUrl` cost the media thread,
//! beside the same 50 on hold with the built-in hold music, in one conference of 200 simulated
//! callers.
//!
//! confab runs in this process (`app()` over SQLite, the real media runtime, simulated callers
//! over loopback RTP, as in `hold_latency`). One conference of 200: 3 talkers sending tones, the
//! rest silence, and 50 of the silent ones on hold. The run alternates two phases on that same
//! conference, in pairs whose order alternates (built-in first, then URL first, ...) so that the
//! drift of a shared machine falls on both alike:
//!
//! - **built-in**: the 50 are held with `HoldUrl=""`, the built-in hold music;
//! - **url**: each of the 50 gets its own `HoldUrl`, a TwiML document of its own with
//!   `<Play loop="0">` of its own 2 s MP3 (cached by `max-age` after the first url phase), so
//!   50 programs stream 1000 Hz into 50 streamed hold sources, a second at a time.
//!
//! Each phase switches the 50 (one Update Participant each), lets the change settle, then
//! measures: the CPU time of the media threads (from `/proc`, per thread) over the media ticks
//! run, per tick and per participant; and the late ticks. At the end of each phase the held
//! callers' recordings are checked for the phase's audio, so a phase that did not play what it
//! claims is seen. The target (url / built-in <= 1.2, no late ticks) is printed beside
//! the figures, not asserted.
//!
//! Run with `cargo run --release -p confab-bench --bin hold_mix_cost [-- --pairs 5]`.

mod hold_setup;
mod stats;

use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use confab_media::source::HOLD_MUSIC_HZ;
use confab_media::tone::tone_level_dbfs;

use hold_setup::{AudioSite, Joined, Server, PRESENT_DBFS, TONE_HZ};
use stats::{cpu_seconds, median, range, threads_cpu_seconds};

/// Participants in the conference.
const SIZE: usize = 200;

/// Of them, on hold.
const HELD: usize = 50;

/// Of them, talking (the first ones; the held ones come after them).
const TALKERS: usize = 3;

/// After a switch, before the measurement: programs fetch and start streaming.
const SETTLE: Duration = Duration::from_millis(1500);

/// One phase's measurement.
const MEASURE: Duration = Duration::from_secs(4);

/// Media thread names start with this.
const MEDIA_THREAD: &str = "confab-media";

/// What the 50 held callers hear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Builtin,
    Url,
}

/// One phase's figures.
struct Phase {
    mode: Mode,
    /// Media thread CPU per tick, in microseconds.
    tick_us: f64,
    /// Ticks run.
    ticks: u64,
    /// Late ticks during the measurement.
    late: u64,
    /// Cores the whole process used.
    process_cores: f64,
    /// Held callers that heard the phase's audio at its end.
    hearing: usize,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let pairs = pairs_from_args()?;
    let site = AudioSite::start(Vec::new()).await?;
    let server = Server::start().await?;
    println!(
        "hold_mix_cost: media thread CPU per tick, {SIZE} callers ({TALKERS} talking), {HELD} on \
         hold with their own HoldUrl vs the built-in hold music"
    );
    let mut joined = Vec::with_capacity(SIZE);
    for i in 0..SIZE {
        let to = if i < TALKERS {
            format!("sim:talker{i}?tone={}", 400 + 200 * i)
        } else {
            format!("sim:caller{i}?silence")
        };
        joined.push(server.join("hold-mix", &to).await?);
    }
    for p in &joined {
        server.connected(p).await?;
    }
    let held = &joined[TALKERS..TALKERS + HELD];
    switch(&server, &site, held, Mode::Builtin).await?;
    tokio::time::sleep(SETTLE).await;
    println!(
        "{pairs} pairs of phases ({:?} settle + {:?} measured each), order alternating",
        SETTLE, MEASURE
    );
    println!(
        "  {:>4} {:<9} {:>10} {:>14} {:>6} {:>5} {:>6} {:>8}",
        "pair", "phase", "us/tick", "us/tick/part.", "ticks", "late", "cores", "hearing"
    );
    let mut phases: Vec<(usize, Phase)> = Vec::new();
    for pair in 0..pairs {
        let order = if pair % 2 == 0 {
            [Mode::Builtin, Mode::Url]
        } else {
            [Mode::Url, Mode::Builtin]
        };
        for mode in order {
            switch(&server, &site, held, mode).await?;
            tokio::time::sleep(SETTLE).await;
            let phase = measure(&server, held, mode).await?;
            println!(
                "  {:>4} {:<9} {:>10.1} {:>14.3} {:>6} {:>5} {:>6.2} {:>5}/{HELD}",
                pair + 1,
                label(mode),
                phase.tick_us,
                phase.tick_us / SIZE as f64,
                phase.ticks,
                phase.late,
                phase.process_cores,
                phase.hearing
            );
            phases.push((pair, phase));
        }
    }
    report(&server, &site, pairs, &phases);
    Ok(())
}

/// Puts the held callers on `mode`'s hold audio (they stay on hold).
async fn switch(
    server: &Server,
    site: &AudioSite,
    held: &[Joined],
    mode: Mode,
) -> anyhow::Result<()> {
    for (j, p) in held.iter().enumerate() {
        let url = match mode {
            Mode::Builtin => String::new(),
            Mode::Url => format!("{}/loop/held{j}.xml", site.base),
        };
        let form = [("Hold", "true"), ("HoldUrl", url.as_str())];
        server
            .send("POST", &server.participant_path(p), &form)
            .await?;
    }
    Ok(())
}

/// Measures one phase.
async fn measure(server: &Server, held: &[Joined], mode: Mode) -> anyhow::Result<Phase> {
    let media = &server.state.media;
    let before = (
        media.stats(),
        threads_cpu_seconds(MEDIA_THREAD),
        cpu_seconds(),
    );
    tokio::time::sleep(MEASURE).await;
    let after = (
        media.stats(),
        threads_cpu_seconds(MEDIA_THREAD),
        cpu_seconds(),
    );
    let ticks = after.0.ticks - before.0.ticks;
    let mut hearing = 0;
    for p in held {
        let recording = server.recording(p)?;
        let last = recording.packet_count().saturating_sub(5);
        let frames = recording.packets_since(last);
        let heard = frames
            .iter()
            .filter(|(_, frame)| hears(mode, frame))
            .count();
        hearing += usize::from(heard * 2 > frames.len());
    }
    Ok(Phase {
        mode,
        tick_us: (after.1 - before.1) * 1e6 / ticks.max(1) as f64,
        ticks,
        late: after.0.late_ticks - before.0.late_ticks,
        process_cores: (after.2 - before.2) / MEASURE.as_secs_f64(),
        hearing,
    })
}

/// Whether a frame carries `mode`'s hold audio.
fn hears(mode: Mode, frame: &[i16]) -> bool {
    match mode {
        Mode::Builtin => HOLD_MUSIC_HZ
            .iter()
            .any(|&hz| tone_level_dbfs(frame, hz) >= PRESENT_DBFS),
        Mode::Url => tone_level_dbfs(frame, TONE_HZ) >= PRESENT_DBFS,
    }
}

fn report(server: &Server, site: &AudioSite, pairs: usize, phases: &[(usize, Phase)]) {
    let of = |pair: usize, mode: Mode| {
        phases
            .iter()
            .find(|(p, phase)| *p == pair && phase.mode == mode)
            .map(|(_, phase)| phase)
    };
    let ratios: Vec<f64> = (0..pairs)
        .filter_map(|pair| Some(of(pair, Mode::Url)?.tick_us / of(pair, Mode::Builtin)?.tick_us))
        .collect();
    let per_part = |mode: Mode| {
        median(
            &phases
                .iter()
                .filter(|(_, p)| p.mode == mode)
                .map(|(_, p)| p.tick_us / SIZE as f64)
                .collect::<Vec<_>>(),
        )
    };
    let (lo, hi) = range(&ratios);
    let ratio = median(&ratios);
    let late = |mode: Mode| -> u64 {
        phases
            .iter()
            .filter(|(_, p)| p.mode == mode)
            .map(|(_, p)| p.late)
            .sum()
    };
    println!(
        "per participant per tick (median of phases): built-in {:.3} us, url {:.3} us",
        per_part(Mode::Builtin),
        per_part(Mode::Url)
    );
    println!(
        "url / built-in tick cost: {ratio:.3} (median of {} pairs, range {lo:.3}-{hi:.3}); \
         target <= 1.2: {}",
        ratios.len(),
        if ratio <= 1.2 { "met" } else { "MISSED" }
    );
    let stats = server.state.media.stats();
    println!(
        "late ticks while measuring: built-in {}, url {} (target 0); over the whole run {} of {} \
         ticks, max tick lateness {:.1} ms, longest tick {:.1} ms",
        late(Mode::Builtin),
        late(Mode::Url),
        stats.late_ticks,
        stats.ticks,
        stats.max_lateness_us as f64 / 1000.0,
        stats.max_work_us as f64 / 1000.0
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "machine load average (1, 5, 15 min): {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let served = &site.served;
    println!(
        "site: {} TwiML documents and {} MP3 bodies sent ({HELD} programs per url phase)",
        served.documents.load(Ordering::Relaxed),
        served.tones.load(Ordering::Relaxed)
    );
}

fn label(mode: Mode) -> &'static str {
    match mode {
        Mode::Builtin => "built-in",
        Mode::Url => "url",
    }
}

fn pairs_from_args() -> anyhow::Result<usize> {
    let mut args = std::env::args().skip(1);
    let mut pairs = 5;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--pairs" => {
                pairs = args
                    .next()
                    .context("--pairs needs a number")?
                    .parse()
                    .context("--pairs needs a number")?;
            }
            other => anyhow::bail!("unknown argument {other:?} (expected --pairs N)"),
        }
    }
    anyhow::ensure!(pairs > 0, "--pairs must be at least 1");
    Ok(pairs)
}
