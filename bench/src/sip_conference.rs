//! One conference of 250 SIP callers sending G.711 RTP, beside one of 250 simulated callers
//! sending the same audio, in one run: the media thread's CPU per participant on each side,
//! their ratio, and the late media ticks.
//!
//! The server is the release binary as a child process (`cargo build --release -p confab`
//! first), SIP on a free loopback port, one media thread (a conference lives on one media
//! thread anyway; with one, no SIP call's RTP is moved by a re-INVITE the scripted callers have
//! no step for). After the window one caller of each conference is replaced by a silent
//! simulated listener (a conference holds at most 250) whose recording (`Heard.json`) shows
//! that the mix carried the callers' audio.
//!
//! - **sip**: SIPp (`bench/data/sip_conference.xml`) calls a number whose VoiceUrl (a web app
//!   in this process) `<Dial>`s the conference, `--rate` calls/s; each caller offers PCMA at a
//!   port of its own (`[auto_media_port]`) and plays a pcap with `play_pcap_audio` until confab
//!   ends the conference and BYEs it. The pcap is written by the benchmark from SIPp's
//!   `/usr/share/sip-tester/g711a.pcap`: its A-law audio, looped to `AUDIO_SECONDS` and cut
//!   into 20 ms packets with continuous sequence numbers and timestamps. (Replayed as it is,
//!   the capture sends 30 ms packets, and a loop repeats its 236 sequence numbers, which a
//!   jitter buffer rightly drops as late: the callers would fall silent after 7 s.)
//! - **sim**: Participants create of `sim:pN?file=loop.wav` at the same rate, the same audio
//!   decoded to a WAV in the server's sim-audio directory, while this process holds as many
//!   raw UDP sockets open as SIPp's pcap plays do: the kernel copies every UDP datagram on the
//!   host to each of them, in the sender's time, so the SIP side's media thread pays for them
//!   (see [`RawSockets`]) and the sim side must too for the ratio to be confab's own.
//! - **sim-bare**: the same without the raw sockets, to show what they cost.
//!
//! Once every caller is connected and a second has passed, the window (`--window-s`) is
//! measured: CPU seconds of confab's threads by name (`/proc/PID/task`), and media ticks and
//! late ticks from `/metrics`. The figure is the `confab-media` thread's CPU per participant
//! per tick; the sim side's callers send from `confab-sim-media`, a thread of the same process
//! that the SIP side has in SIPp, so process CPU is shown without it. Rounds alternate the
//! order of the sides. Targets (issue 11): sip/sim <= 1.3, no late tick.
//!
//! Run with `cargo build --release -p confab && cargo run --release -p confab-bench --bin
//! sip_conference [-- --callers 250 --rate 100 --window-s 5 --rounds 3 --pin off]` (needs `sipp`;
//! `--pin on` runs each window with the media thread alone on CPU 0, see [`pin_for_window`]).

// Only `spawn_with` and what it returns are used here.
#[allow(dead_code)]
mod confab_process;
mod pin;
mod sip_load;
mod stats;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

use sip_load::{load_average, Api, Confab, Sipp, WebApp};
use stats::{cpu_between, median};

/// The number the SIP callers call.
const NUMBER: &str = "+15550300000";

/// Audio each caller has to send: more than any phase lasts.
const AUDIO_SECONDS: usize = 16;

/// SIPp's recording of G.711 A-law speech (Debian package sip-tester).
const SIPP_PCAP: &str = "/usr/share/sip-tester/g711a.pcap";

/// The media tick.
const TICK: f64 = 0.020;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_args(std::env::args().skip(1))?;
    let dir = tempfile::tempdir()?;
    let audio = looped_alaw(&std::fs::read(SIPP_PCAP).with_context(|| {
        format!("{SIPP_PCAP} (package sip-tester: scripts/install-test-deps.sh)")
    })?)?;
    let pcap = dir.path().join("loop_20ms.pcap");
    std::fs::write(&pcap, pcap_of(&audio))?;
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("sim-audio"))?;
    std::fs::write(data.join("sim-audio/loop.wav"), wav_of(&audio))?;
    let confab = Confab::start(&data, &[]).await?;
    let web = WebApp::start(r#"beep="false""#).await?;
    confab.api.number(NUMBER, &web.voice_url()).await?;
    println!(
        "sip_conference: {} SIPp callers (g711a.pcap audio in 20 ms PCMA packets) vs {} sim \
         callers (the same audio) in one conference each, joined at {}/s, {} s measured, release \
         confab pid {} (1 media thread), {} CPUs, load average {}",
        settings.callers,
        settings.callers,
        settings.rate,
        settings.window.as_secs(),
        confab.pid(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    let mut rounds = Vec::new();
    for round in 0..settings.rounds {
        let order = if round % 2 == 0 {
            [Side::Sip, Side::Sim, Side::SimBare]
        } else {
            [Side::SimBare, Side::Sim, Side::Sip]
        };
        let mut done: [Option<Window>; 3] = [None, None, None];
        for side in order {
            let window = phase(&confab, &web, &settings, &pcap, side, round).await?;
            window.print(round, &settings);
            done[side as usize] = Some(window);
        }
        if let [Some(sip), Some(sim), Some(bare)] = done {
            let n = settings.callers;
            let per = |w: &Window| w.media_us_per_participant_tick(n).max(f64::MIN_POSITIVE);
            let ratio = per(&sip) / per(&sim);
            println!(
                "  round {round} ratio sip/sim media thread CPU per participant: {ratio:.2} \
                 (target <= 1.30); sip/sim without the raw sockets {:.2}; process without sim \
                 media {:.2}; load average {}",
                per(&sip) / per(&bare),
                sip.server_cpu() / sim.server_cpu().max(f64::MIN_POSITIVE),
                load_average()
            );
            rounds.push((ratio, per(&sip) / per(&bare), sip.late + sim.late));
        }
    }
    let ratios: Vec<f64> = rounds.iter().map(|r| r.0).collect();
    let bare: Vec<f64> = rounds.iter().map(|r| r.1).collect();
    let late: u64 = rounds.iter().map(|r| r.2).sum();
    let list = |v: &[f64]| {
        v.iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "summary over {} rounds: sip/sim media thread CPU per participant median {:.2} (rounds \
         {}; target <= 1.30), against sims without the raw sockets {:.2} (rounds {}); late \
         ticks in the sip and sim windows {late} (target 0)",
        rounds.len(),
        median(&ratios),
        list(&ratios),
        median(&bare),
        list(&bare),
    );
    Ok(())
}

struct Settings {
    callers: usize,
    rate: usize,
    window: Duration,
    rounds: usize,
    /// Whether each window runs with confab's media thread alone on CPU 0 and everything
    /// else (SIPp, the simulated callers' thread, confab's other threads, this process) on
    /// CPU 1.
    pin: bool,
}

impl Settings {
    fn from_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Settings> {
        let mut s = Settings {
            callers: 250,
            rate: 100,
            window: Duration::from_secs(5),
            rounds: 3,
            pin: false,
        };
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value"))?;
            if flag == "--pin" {
                s.pin = value == "on";
                continue;
            }
            let number = value
                .parse::<usize>()
                .with_context(|| format!("{flag} {value}"))?;
            match flag.as_str() {
                "--callers" => s.callers = number.clamp(1, 2000),
                "--rate" => s.rate = number.clamp(1, 500),
                "--window-s" => s.window = Duration::from_secs(number.clamp(1, 20) as u64),
                "--rounds" => s.rounds = number.clamp(1, 9),
                _ => bail!("unknown flag {flag} (--callers, --rate, --window-s, --rounds, --pin)"),
            }
        }
        Ok(s)
    }
}

/// Puts confab's media thread alone on CPU 0 and everything else of this run on CPU 1: the
/// load generators (SIPp, whose pcap play runs a thread per call, and confab's own simulated
/// callers' thread) then do not preempt the thread that is measured.
fn pin_for_window(confab: u32, sipp: Option<u32>) -> anyhow::Result<()> {
    pin::process(std::process::id(), 1)?;
    pin::process(confab, 1)?;
    if let Some(sipp) = sipp {
        pin::process(sipp, 1)?;
    }
    let media = pin::threads_named(confab, "confab-media-");
    if media.is_empty() {
        bail!("confab {confab} has no media thread to pin");
    }
    for tid in media {
        pin::thread(tid, 0)?;
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Sip,
    /// Simulated callers, with as many raw UDP sockets open as SIPp's pcap plays hold.
    Sim,
    /// Simulated callers without them.
    SimBare,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Sip => "sip",
            Side::Sim => "sim",
            Side::SimBare => "sim-bare",
        }
    }
}

/// One side's measured window.
struct Window {
    side: Side,
    /// CPU seconds of confab's threads by name during the window.
    cpu: BTreeMap<String, f64>,
    seconds: f64,
    /// Media ticks run and late during the window.
    ticks: u64,
    late: u64,
    /// Share of the listener's 100 ms windows louder than -40 dBFS (see [`listen`]).
    listener_loud: f64,
    /// How long until every caller was connected.
    joined_after: Duration,
    /// SIP: calls SIPp counted as successful, and failed.
    succeeded: u64,
    failed: u64,
}

impl Window {
    fn media_us_per_participant_tick(&self, callers: usize) -> f64 {
        let media = self.cpu.get("confab-media").copied().unwrap_or(0.0);
        let ticks = self.seconds / TICK;
        1e6 * media / (callers as f64 * ticks.max(1.0))
    }

    /// Process CPU seconds per second, without the simulated callers' RTP thread.
    fn server_cpu(&self) -> f64 {
        let total: f64 = self
            .cpu
            .iter()
            .filter(|(name, _)| !name.starts_with("confab-sim-med"))
            .map(|(_, s)| s)
            .sum();
        total / self.seconds.max(1e-9)
    }

    fn print(&self, round: usize, s: &Settings) {
        let sip = if self.side == Side::Sip {
            format!(
                " | SIPp: {} calls succeeded, {} failed",
                self.succeeded, self.failed
            )
        } else {
            String::new()
        };
        println!(
            "  round {round} {}: {} connected in {:.1} s | media thread {:.2} us per \
             participant per tick | {} ticks, {} late | process {:.2} CPU/s without sim media | \
             listener heard audio in {:.0}% of 100 ms{sip}",
            self.side.name(),
            s.callers,
            self.joined_after.as_secs_f64(),
            self.media_us_per_participant_tick(s.callers),
            self.ticks,
            self.late,
            self.server_cpu(),
            100.0 * self.listener_loud,
        );
        let threads: Vec<String> = self
            .cpu
            .iter()
            .filter(|(_, c)| **c > 0.005)
            .map(|(n, c)| format!("{n} {:.2}", c / self.seconds.max(1e-9)))
            .collect();
        println!("  {:>10} CPU/s by thread: {}", "", threads.join(", "));
    }
}

/// Fills one conference from one side, measures the window, ends it.
async fn phase(
    confab: &Confab,
    web: &WebApp,
    s: &Settings,
    pcap: &Path,
    side: Side,
    round: usize,
) -> anyhow::Result<Window> {
    let prefix = format!("{}conf{round}", side.name());
    let room = format!("{prefix}-0");
    web.set_rooms(&prefix, 1);
    let api = &confab.api;
    let started = Instant::now();
    let mut phones = None;
    let mut raw = RawSockets::default();
    let sipp = match side {
        Side::Sip => {
            let base = media_port_base();
            phones = Some(Phones::bind(base, s.callers).await?);
            let args: Vec<String> = [
                "-r",
                &s.rate.to_string(),
                "-m",
                &s.callers.to_string(),
                "-l",
                &s.callers.to_string(),
                "-mp",
                &base.to_string(),
                "-key",
                "pcap",
                &pcap.display().to_string(),
            ]
            .iter()
            .map(|a| a.to_string())
            .collect();
            Some(Sipp::new("sip_conference.xml", confab.sip, NUMBER, &args)?.spawn()?)
        }
        Side::Sim => {
            raw = RawSockets::open(s.callers)?;
            add_sims(api, &room, s).await?;
            None
        }
        Side::SimBare => {
            add_sims(api, &room, s).await?;
            None
        }
    };
    let conference = conference_named(api, &room).await?;
    wait_connected(api, &conference, s.callers).await?;
    let joined_after = started.elapsed();
    if s.pin {
        pin_for_window(confab.pid(), sipp.as_ref().and_then(|sipp| sipp.pid()))?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = confab.thread_cpu();
    let (ticks_before, at) = (confab.api.media_ticks().await?, Instant::now());
    tokio::time::sleep(s.window).await;
    let after = confab.thread_cpu();
    let ticks_after = confab.api.media_ticks().await?;
    let seconds = at.elapsed().as_secs_f64();
    let listener_loud = listen(api, &conference, &room).await?;
    api.post(
        &format!("Conferences/{conference}.json"),
        &[("Status", "completed")],
    )
    .await?;
    let (succeeded, failed) = match sipp {
        Some(sipp) => {
            let run = sipp.finish(Duration::from_secs(60)).await?;
            (run.count("SuccessfulCall(C)"), run.count("FailedCall(C)"))
        }
        None => (0, 0),
    };
    drop((phones, raw));
    let left = api.wait_quiet(Duration::from_secs(30)).await?;
    if left > 0 {
        println!("  ({left} calls still live after the conference ended)");
    }
    Ok(Window {
        side,
        cpu: cpu_between(&before, &after),
        seconds,
        ticks: ticks_after.0 - ticks_before.0,
        late: ticks_after.1 - ticks_before.1,
        listener_loud,
        joined_after,
        succeeded,
        failed,
    })
}

/// The live conference called `room`, once it exists (at most 30 s).
async fn conference_named(api: &Api, room: &str) -> anyhow::Result<String> {
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        let path = format!("Conferences.json?FriendlyName={room}&Status=in-progress");
        if let Some(sid) = api.get(&path).await?["conferences"][0]["sid"].as_str() {
            return Ok(sid.to_owned());
        }
        if Instant::now() > give_up {
            bail!("conference {room} did not start within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// After the window: one caller makes room (a conference holds at most 250) for a silent
/// simulated listener, whose recording tells whether the mix carried the callers' audio: the
/// share of its 100 ms windows louder than -40 dBFS over 1.5 s.
async fn listen(api: &Api, conference: &str, room: &str) -> anyhow::Result<f64> {
    let path = format!("Conferences/{conference}/Participants.json?PageSize=1000");
    let members = api.get(&path).await?;
    let first = members["participants"][0]["call_sid"]
        .as_str()
        .context("no participant")?
        .to_owned();
    api.delete(&format!(
        "Conferences/{conference}/Participants/{first}.json"
    ))
    .await?;
    let listener = participant(api, room, "sim:listener").await?;
    let call = listener["call_sid"].as_str().context("no call_sid")?;
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let heard = api.get_path(&heard_path(api, call)).await?;
    // From 200 ms on: the first frames after the join are not the callers' yet.
    Ok(loud_share(&heard, 200))
}

async fn participant(api: &Api, room: &str, to: &str) -> anyhow::Result<Value> {
    let form = [("From", "+15550100"), ("To", to), ("Beep", "false")];
    api.post(&format!("Conferences/{room}/Participants.json"), &form)
        .await
}

/// Adds the simulated callers at the SIP side's rate.
async fn add_sims(api: &Api, room: &str, s: &Settings) -> anyhow::Result<()> {
    let interval = Duration::from_secs_f64(1.0 / s.rate as f64);
    let start = tokio::time::Instant::now();
    let mut creates = tokio::task::JoinSet::new();
    for i in 0..s.callers {
        tokio::time::sleep_until(start + interval * i as u32).await;
        let (api, room) = (api.clone(), room.to_owned());
        creates.spawn(
            async move { participant(&api, &room, &format!("sim:p{i}?file=loop.wav")).await },
        );
    }
    while let Some(created) = creates.join_next().await {
        created??;
    }
    Ok(())
}

/// Waits until `count` participants of `conference` are connected (at most 60 s).
async fn wait_connected(api: &Api, conference: &str, count: usize) -> anyhow::Result<()> {
    let give_up = Instant::now() + Duration::from_secs(60);
    let path = format!("Conferences/{conference}/Participants.json?PageSize=1000");
    loop {
        let page = api.get(&path).await?;
        let connected = page["participants"].as_array().map_or(0, |ps| {
            ps.iter().filter(|p| p["status"] == "connected").count()
        });
        if connected >= count {
            return Ok(());
        }
        if Instant::now() > give_up {
            bail!("only {connected} of {count} participants connected within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn heard_path(api: &Api, call: &str) -> String {
    format!(
        "/confab/v1/Accounts/{}/Calls/{call}/Heard.json",
        api.account()
    )
}

/// Share of the recording's 100 ms windows from `from_ms` on louder than -40 dBFS.
fn loud_share(heard: &Value, from_ms: u64) -> f64 {
    let windows: Vec<&Value> = heard["windows"]
        .as_array()
        .map(|w| {
            w.iter()
                .filter(|w| w["start_ms"].as_u64().unwrap_or(0) >= from_ms)
                .collect()
        })
        .unwrap_or_default();
    let loud = windows
        .iter()
        .filter(|w| w["rms_dbfs"].as_f64().unwrap_or(-120.0) > -40.0)
        .count();
    loud as f64 / windows.len().max(1) as f64
}

/// The phones' RTP sockets. SIPp advertises `[auto_media_port]` (the base of `-mp`, then 4
/// more per call) but binds only the base and base + 2: its pcap play sends from the others
/// without a socket, so confab's RTP to them would meet closed ports (and cost the sending
/// media thread the kernel's port-unreachable path). Like a phone, and like the simulated
/// callers, these sockets take that RTP and read it.
struct Phones {
    readers: tokio::task::JoinSet<()>,
}

impl Phones {
    async fn bind(base: u16, callers: usize) -> anyhow::Result<Phones> {
        let mut readers = tokio::task::JoinSet::new();
        // Call 1 gets the base, which SIPp holds itself.
        for n in 1..callers {
            let port = base as usize + 4 * n;
            let Ok(port) = u16::try_from(port) else {
                break;
            };
            let socket = tokio::net::UdpSocket::bind(("127.0.0.1", port)).await?;
            readers.spawn(async move {
                let mut buf = [0u8; 2048];
                while socket.recv(&mut buf).await.is_ok() {}
            });
        }
        Ok(Phones { readers })
    }
}

impl Drop for Phones {
    fn drop(&mut self) {
        self.readers.abort_all();
    }
}

/// Raw UDP sockets like the one each of SIPp's pcap plays opens to send its packets. Linux
/// hands a copy of every UDP datagram on the host to every raw UDP socket, and on loopback it
/// does so in the sender's system time: with 250 pcap plays running, each datagram confab
/// sends costs the media thread 250 copies (perf: `raw_local_deliver` took a quarter of its
/// samples). Held open (never read, as SIPp never reads them) during the sim side's window,
/// they put both sides on the same footing; the sim-bare side runs without them.
#[derive(Default)]
struct RawSockets {
    /// Held, never read.
    _sockets: Vec<socket2::Socket>,
}

impl RawSockets {
    fn open(count: usize) -> anyhow::Result<RawSockets> {
        // SOCK_RAW (Linux's value; socket2 names it only with its `all` feature).
        let raw = socket2::Type::from(3);
        (0..count)
            .map(|_| {
                socket2::Socket::new(socket2::Domain::IPV4, raw, Some(socket2::Protocol::UDP))
                    .context("a raw UDP socket (needs CAP_NET_RAW, as SIPp's pcap play does)")
            })
            .collect::<anyhow::Result<_>>()
            .map(|sockets| RawSockets { _sockets: sockets })
    }
}

/// A base for SIPp's `[auto_media_port]` (it steps by 4 per call) with 2,000 ports that were
/// free a moment ago (base + 2 too, which SIPp binds for video).
fn media_port_base() -> u16 {
    for base in (30_000..60_000).step_by(2_000) {
        let free = std::net::UdpSocket::bind(("127.0.0.1", base + 2)).is_ok()
            && (base..base + 2_000)
                .step_by(4)
                .all(|port| std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok());
        if free {
            return base;
        }
    }
    30_000
}

/// The A-law audio of SIPp's capture (the payloads of its RTP packets in order), repeated to
/// [`AUDIO_SECONDS`].
fn looped_alaw(capture: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut audio = Vec::new();
    let mut at = 24;
    while at + 16 <= capture.len() {
        let len = u32::from_le_bytes(capture[at + 8..at + 12].try_into()?) as usize;
        let frame = capture
            .get(at + 16..at + 16 + len)
            .context("truncated capture")?;
        at += 16 + len;
        // Ethernet, IPv4 (its header length), UDP, then a 12-byte RTP header without CSRCs.
        let ip_header = usize::from(frame.get(14).context("short frame")? & 0x0f) * 4;
        let rtp = frame.get(14 + ip_header + 8..).context("short frame")?;
        audio.extend_from_slice(rtp.get(12..).context("short RTP packet")?);
    }
    if audio.is_empty() {
        bail!("no audio in {SIPP_PCAP}");
    }
    let wanted = AUDIO_SECONDS * 8000;
    Ok(audio.iter().copied().cycle().take(wanted).collect())
}

/// A pcap (Ethernet) of `audio` as RTP, PCMA, one 160-byte packet every 20 ms.
fn pcap_of(audio: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    // The classic pcap header: magic, version 2.4, no time zone, 64 KB snaplen, Ethernet.
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (n, payload) in audio.chunks_exact(160).enumerate() {
        let mut rtp = vec![0x80, if n == 0 { 0x88 } else { 0x08 }];
        rtp.extend_from_slice(&(n as u16).to_be_bytes());
        rtp.extend_from_slice(&((n as u32) * 160).to_be_bytes());
        rtp.extend_from_slice(&0x0c0f_ab00u32.to_be_bytes());
        rtp.extend_from_slice(payload);
        let udp_len = 8 + rtp.len();
        let ip_len = 20 + udp_len;
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&(ip_len as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
        let checksum = ip_checksum(&ip);
        ip[10..12].copy_from_slice(&checksum.to_be_bytes());
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&5000u16.to_be_bytes());
        frame.extend_from_slice(&6000u16.to_be_bytes());
        frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(&rtp);
        let micros = n as u64 * 20_000;
        out.extend_from_slice(&((micros / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((micros % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    out
}

fn ip_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// `audio` decoded to an 8 kHz mono 16-bit WAV.
fn wav_of(audio: &[u8]) -> Vec<u8> {
    let data: Vec<u8> = audio
        .iter()
        .flat_map(|&code| confab_media::g711::alaw_to_linear(code).to_le_bytes())
        .collect();
    let mut wav = Vec::with_capacity(44 + data.len());
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&8000u32.to_le_bytes());
    wav.extend_from_slice(&16_000u32.to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
    wav.extend_from_slice(&data);
    wav
}
