//! SIPp and baresip as child processes for `tests/sip.rs`: free ports, scenario runs with
//! their logs kept for the failure message, a headless baresip config (tone WAV in, received
//! audio to a WAV file), and tone detection on that file; [`SipServer`], confab with SIP on a
//! free port. A test binary using it declares `mod common;` beside `mod sip_agents;`.

// Each SIP test binary uses a different part of it.
#![allow(dead_code)]

mod server;

pub(crate) use server::SipServer;

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use tokio::process::{Child, Command};

/// How long one SIPp or baresip run may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Fails the test unless `tool` is on the PATH.
pub(crate) fn require(tool: &str) {
    let found = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{tool} is not installed: run scripts/install-test-deps.sh (it installs sip-tester and baresip-core)"
    );
}

/// A loopback port free for both UDP and TCP a moment ago; see [`free_ports`].
pub(crate) fn free_port() -> u16 {
    free_ports(1)
}

/// The first of `n` consecutive loopback ports that were free for both UDP and TCP a moment
/// ago, for a tool that binds more than one (baresip's TLS listens on its SIP port + 1, SIPp's
/// media on `-mp` and the ports after it).
///
/// They are taken below the kernel's ephemeral range (`ip_local_port_range`, 32768 up by
/// default): a port the kernel handed out for `bind(0)` and given back could be handed to any
/// outgoing connection of the many processes a parallel test run starts before the tool binds
/// it, but no port below that range is ever handed out. A test process hands its ports out in
/// turn from a random start, so none of its own tools is given a port another of them was
/// given and has not bound yet (baresip binds its RTP range only when a call starts); another
/// process starts thousands of ports away.
pub(crate) fn free_ports(n: u16) -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let top = ephemeral_start().max(LOWEST_PORT + n + 1);
    let span = top - LOWEST_PORT - n;
    let _ = NEXT.compare_exchange(
        0,
        rand::Rng::gen_range(&mut rand::thread_rng(), 1..span),
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    loop {
        let offset = NEXT.fetch_add(n, Ordering::Relaxed) % span;
        let first = LOWEST_PORT + offset;
        let mut held = Vec::new();
        let free = (first..first + n).all(|port| {
            let udp = UdpSocket::bind(("127.0.0.1", port));
            let tcp = TcpListener::bind(("127.0.0.1", port));
            let ok = udp.is_ok() && tcp.is_ok();
            held.push((udp, tcp));
            ok
        });
        if free {
            return first;
        }
    }
}

/// Where the ports [`free_ports`] picks start.
const LOWEST_PORT: u16 = 10_000;

/// The first port of the kernel's ephemeral range.
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/sipp")
        .join(name)
}

/// One SIPp run, not started yet.
pub(crate) struct Sipp {
    cmd: Command,
    /// Its SIP port (where a UAS listens).
    pub(crate) port: u16,
    dir: tempfile::TempDir,
    name: String,
    /// Waits for confab's INVITE (no `-s` target).
    uas: bool,
    /// A UAS over TCP: [`Sipp::spawn`] waits until it listens.
    tcp_server: bool,
}

impl Sipp {
    fn new(file: &str) -> Sipp {
        require("sipp");
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let mut cmd = Command::new("sipp");
        cmd.arg("-sf")
            .arg(scenario(file))
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .arg("-p")
            .arg(port.to_string())
            .arg("-mp")
            .arg(free_ports(4).to_string())
            .args(["-m", "1", "-nostdin", "-timeout", "40", "-timeout_error"])
            .args(["-trace_err", "-trace_msg"])
            .arg("-error_file")
            .arg(dir.path().join("errors.log"))
            .arg("-message_file")
            .arg(dir.path().join("messages.log"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        Sipp {
            cmd,
            port,
            dir,
            name: file.to_owned(),
            uas: false,
            tcp_server: false,
        }
    }

    /// A caller sending `file`'s requests to `user` at confab's SIP port.
    pub(crate) fn uac(file: &str, confab_port: u16, user: &str) -> Sipp {
        let mut sipp = Sipp::new(file);
        sipp.cmd
            .arg("-s")
            .arg(user)
            .arg(format!("127.0.0.1:{confab_port}"));
        sipp
    }

    /// A phone waiting for confab's INVITE on [`Sipp::port`].
    pub(crate) fn uas(file: &str) -> Sipp {
        let mut sipp = Sipp::new(file);
        sipp.uas = true;
        sipp
    }

    /// Over TCP instead of UDP (`-t t1`: one connection).
    pub(crate) fn tcp(mut self) -> Sipp {
        self.cmd.args(["-t", "t1"]);
        self.tcp_server = self.uas;
        self
    }

    /// Answers challenges as `user` with `password` (`[authentication]` in a scenario), the
    /// digest covering `uri` (by default SIPp hashes `sip:HOST:PORT`, not the Request-URI).
    pub(crate) fn auth(mut self, user: &str, password: &str, uri: &str) -> Sipp {
        // SIPp puts `sip:` in front of -auth_uri itself.
        let uri = uri.strip_prefix("sip:").unwrap_or(uri);
        self.cmd
            .args(["-au", user, "-ap", password, "-auth_uri", uri]);
        self
    }

    /// Gives the scenario `[pcap]`: the G.711 A-law recording SIPp ships.
    pub(crate) fn pcap(self) -> Sipp {
        self.pcap_file("g711a.pcap")
    }

    /// Gives the scenario `[pcap]`: this one of the recordings SIPp ships
    /// (`/usr/share/sip-tester`, e.g. `dtmf_2833_1.pcap`, an RFC 4733 key 1 at payload type 101).
    pub(crate) fn pcap_file(mut self, name: &str) -> Sipp {
        let path = Path::new("/usr/share/sip-tester").join(name);
        assert!(
            path.is_file(),
            "{} is missing: run scripts/install-test-deps.sh (package sip-tester)",
            path.display()
        );
        self.cmd.arg("-key").arg("pcap").arg(path);
        self
    }

    /// Starts it; a UAS over TCP is waited for until it accepts connections.
    pub(crate) fn spawn(mut self) -> Running {
        let child = self.cmd.spawn().expect("spawning sipp");
        if self.tcp_server {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err()
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Running {
            child,
            dir: self.dir,
            name: self.name,
        }
    }

    /// Runs it to the end; fails the test unless every step passed. Returns its message log.
    pub(crate) async fn run_ok(self) -> String {
        self.spawn().finish_ok().await
    }
}

/// A SIPp run under way.
pub(crate) struct Running {
    child: Child,
    dir: tempfile::TempDir,
    name: String,
}

impl Running {
    /// Waits for the end; fails the test, with SIPp's logs, unless the scenario passed.
    /// Returns SIPp's message log (every message sent and received), for checks a scenario
    /// cannot express.
    pub(crate) async fn finish_ok(mut self) -> String {
        let status = tokio::time::timeout(RUN_TIMEOUT, self.child.wait()).await;
        let ok = matches!(&status, Ok(Ok(s)) if s.success());
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        if ok {
            return read("messages.log");
        }
        let _ = self.child.kill().await;
        panic!(
            "SIPp scenario {} failed ({status:?}).\nerrors:\n{}\nmessages:\n{}",
            self.name,
            read("errors.log"),
            read("messages.log")
        );
    }
}

/// A headless baresip with its own config directory.
pub(crate) struct Baresip {
    dir: tempfile::TempDir,
    /// Its SIP port.
    pub(crate) sip_port: u16,
}

impl Baresip {
    /// A baresip that sends a `tone_hz` sine and records what it receives; `auto_answer`
    /// answers incoming calls.
    pub(crate) fn new(tone_hz: f64, auto_answer: bool) -> Baresip {
        require("baresip");
        let dir = tempfile::tempdir().expect("tempdir");
        // Its TLS transport listens on the SIP port + 1.
        let sip_port = free_ports(2);
        let rtp = free_ports(10);
        let path = dir.path();
        std::fs::create_dir_all(path.join("rec")).expect("rec dir");
        // Longer than any call: baresip ends a call when its audio file ends.
        std::fs::write(path.join("tone.wav"), tone_wav(tone_hz, 30.0)).expect("tone");
        let config = format!(
            "sip_listen 127.0.0.1:{sip_port}\n\
             net_interface 127.0.0.1\n\
             audio_source aufile,{tone}\n\
             audio_player aubridge,nil\n\
             audio_alert aubridge,nil\n\
             ausrc_srate 8000\n\
             auplay_srate 8000\n\
             ausrc_channels 1\n\
             auplay_channels 1\n\
             rtp_ports {rtp}-{rtp_end}\n\
             module_path /usr/lib/baresip/modules\n\
             module stdio.so\n\
             module g711.so\n\
             module aufile.so\n\
             module aubridge.so\n\
             module sndfile.so\n\
             module_tmp account.so\n\
             module_app menu.so\n\
             snd_path {rec}\n",
            tone = path.join("tone.wav").display(),
            rec = path.join("rec").display(),
            rtp_end = rtp.saturating_add(9),
        );
        std::fs::write(path.join("config"), config).expect("config");
        let mode = if auto_answer { "auto" } else { "manual" };
        let account = format!(
            "<sip:bob@127.0.0.1:{sip_port}>;regint=0;answermode={mode};audio_codecs=pcmu,pcma\n"
        );
        std::fs::write(path.join("accounts"), account).expect("accounts");
        Baresip { dir, sip_port }
    }

    fn command(&self, secs: u32) -> Command {
        let mut cmd = Command::new("baresip");
        cmd.arg("-f")
            .arg(self.dir.path())
            .arg("-t")
            .arg(secs.to_string())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Calls `uri`, stays `secs` seconds, and returns the audio it received.
    pub(crate) async fn call(self, uri: &str, secs: u32) -> Vec<f64> {
        let mut cmd = self.command(secs);
        cmd.arg("-e").arg(format!("/dial {uri}"));
        self.run(cmd).await
    }

    /// Waits `secs` seconds for calls, answering them; resolves to the audio received.
    pub(crate) fn answer(self, secs: u32) -> impl std::future::Future<Output = Vec<f64>> {
        let cmd = self.command(secs);
        let child = cmd_spawn(cmd);
        async move { self.collect(child).await }
    }

    async fn run(self, cmd: Command) -> Vec<f64> {
        let child = cmd_spawn(cmd);
        self.collect(child).await
    }

    async fn collect(self, child: Child) -> Vec<f64> {
        let output = tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
            .await
            .expect("baresip ran past its -t")
            .expect("baresip output");
        let log = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        // Shown with a failing test's output only.
        eprintln!("baresip log:\n{log}");
        let recorded = std::fs::read_dir(self.dir.path().join("rec"))
            .expect("rec dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"));
        let Some(recorded) = recorded else {
            panic!("baresip recorded nothing (no call?):\n{log}");
        };
        let bytes = std::fs::read(&recorded).expect("recording");
        wav_samples(&bytes).unwrap_or_else(|| panic!("unreadable recording; baresip log:\n{log}"))
    }
}

fn cmd_spawn(mut cmd: Command) -> Child {
    cmd.spawn().expect("spawning baresip")
}

/// An 8 kHz mono 16-bit WAV of a sine at half scale.
fn tone_wav(hz: f64, seconds: f64) -> Vec<u8> {
    let rate = 8000u32;
    let n = (seconds * f64::from(rate)) as usize;
    let mut data = Vec::with_capacity(n * 2);
    for i in 0..n {
        let v = (i as f64 * hz * 2.0 * std::f64::consts::PI / f64::from(rate)).sin();
        data.extend_from_slice(&((v * 16000.0) as i16).to_le_bytes());
    }
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
    wav.extend_from_slice(&data);
    wav
}

/// The first channel of a 16-bit PCM WAV as samples in -1..1, with its rate: `(rate, samples)`
/// flattened as the rate first.
fn wav_samples(bytes: &[u8]) -> Option<Vec<f64>> {
    let mut at = 12;
    let (mut rate, mut channels) = (0u32, 1usize);
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().ok()?) as usize;
        let body = bytes.get(at + 8..(at + 8 + len).min(bytes.len()))?;
        if id == b"fmt " && body.len() >= 16 {
            channels = usize::from(u16::from_le_bytes([body[2], body[3]])).max(1);
            rate = u32::from_le_bytes(body[4..8].try_into().ok()?);
        }
        if id == b"data" {
            let mut out = vec![f64::from(rate)];
            out.extend(
                body.chunks_exact(2 * channels)
                    .map(|c| f64::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0),
            );
            return Some(out);
        }
        at += 8 + len + (len & 1);
    }
    None
}

/// Share of the audible 100 ms windows of a recording (from [`Baresip`]) in which `hz`
/// carries most of the energy (Goertzel).
pub(crate) fn tone_share(recorded: &[f64], hz: f64) -> f64 {
    let windows = tone_windows(recorded, hz);
    let audible = windows.iter().filter(|w| w.is_some()).count();
    let toned = windows.iter().filter(|w| **w == Some(true)).count();
    if audible == 0 {
        return 0.0;
    }
    toned as f64 / audible as f64
}

/// A recording's 100 ms windows as one character each, for failure messages: `#` when `hz`
/// carries most of the energy, `x` audible without it, `.` silent.
pub(crate) fn tone_timeline(recorded: &[f64], hz: f64) -> String {
    tone_windows(recorded, hz)
        .iter()
        .map(|w| match w {
            Some(true) => '#',
            Some(false) => 'x',
            None => '.',
        })
        .collect()
}

/// Each 100 ms window of a recording: `None` when silent, else whether `hz` carries most of
/// its energy.
fn tone_windows(recorded: &[f64], hz: f64) -> Vec<Option<bool>> {
    let Some((&rate, samples)) = recorded.split_first() else {
        return Vec::new();
    };
    let window = (rate / 10.0) as usize;
    if window == 0 {
        return Vec::new();
    }
    let k = 2.0 * (2.0 * std::f64::consts::PI * hz / rate).cos();
    samples
        .chunks_exact(window)
        .map(|w| {
            let energy: f64 = w.iter().map(|s| s * s).sum();
            if energy / (window as f64) < 1e-5 {
                return None;
            }
            let (mut s1, mut s2) = (0.0, 0.0);
            for &x in w {
                let s0 = x + k * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            let power = s1 * s1 + s2 * s2 - k * s1 * s2;
            // A pure tone's Goertzel power is energy * N / 2.
            Some(power / (energy * window as f64 / 2.0) > 0.5)
        })
        .collect()
}
