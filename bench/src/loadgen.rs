//! The closed-loop load generator of `api_throughput`, and the CPU
//! accounting read from `/proc` that tells how the cores were shared.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::http::StatusCode;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use super::*;

/// One side of the comparison: where requests go and what they say. Both
/// targets send the same requests, so the client's work is the same.
pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    pub(crate) host: HeaderValue,
    pub(crate) auth: HeaderValue,
    /// Participant paths, interleaved across conferences.
    pub(crate) paths: Vec<Uri>,
    /// Requests sent so far; picks the participant and the Muted value.
    pub(crate) sent: AtomicUsize,
}

impl Target {
    pub(crate) fn new(
        addr: SocketAddr,
        account: &str,
        token: &str,
        paths: &[String],
    ) -> anyhow::Result<Target> {
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{account}:{token}"));
        Ok(Target {
            addr,
            host: HeaderValue::from_str(&addr.to_string())?,
            auth: HeaderValue::from_str(&format!("Basic {credentials}"))?,
            paths: paths.iter().map(|p| p.parse()).collect::<Result<_, _>>()?,
            sent: AtomicUsize::new(0),
        })
    }

    /// The next update: participants in turn, each muted and unmuted on
    /// alternate visits, so every request changes a row.
    pub(crate) fn next_request(&self) -> Request<Full<Bytes>> {
        let n = self.sent.fetch_add(1, Ordering::Relaxed);
        let body = if (n / self.paths.len()).is_multiple_of(2) {
            Bytes::from_static(b"Muted=true")
        } else {
            Bytes::from_static(b"Muted=false")
        };
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = hyper::Method::POST;
        *request.uri_mut() = self.paths[n % self.paths.len()].clone();
        let headers = request.headers_mut();
        headers.insert(HOST, self.host.clone());
        headers.insert(AUTHORIZATION, self.auth.clone());
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        request
    }
}

pub(crate) type Connection = SendRequest<Full<Bytes>>;

pub(crate) async fn connect(addr: SocketAddr) -> anyhow::Result<Connection> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

pub(crate) async fn connect_all(addr: SocketAddr, count: usize) -> anyhow::Result<Vec<Connection>> {
    let mut conns = Vec::with_capacity(count);
    for _ in 0..count {
        conns.push(connect(addr).await?);
    }
    Ok(conns)
}

/// What one connection saw in one slice.
#[derive(Default)]
pub(crate) struct Tally {
    /// Latency of each 200 answered before the slice ended, in microseconds.
    pub(crate) latencies_us: Vec<u32>,
    /// Response body bytes of those answers.
    pub(crate) body_bytes: u64,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
}

impl Tally {
    pub(crate) fn error(&mut self, e: String) {
        self.errors += 1;
        self.first_error.get_or_insert(e);
    }
}

/// Keeps one request in flight on `conn` until `end`; reconnects once per
/// failure so one broken connection does not silence the rest of the slice.
pub(crate) async fn drive(
    mut conn: Connection,
    target: Arc<Target>,
    end: Instant,
) -> (Option<Connection>, Tally) {
    let mut tally = Tally::default();
    loop {
        let started = Instant::now();
        if started >= end {
            return (Some(conn), tally);
        }
        let answer = match conn.ready().await {
            Ok(()) => exchange(&mut conn, target.next_request()).await,
            Err(e) => Err(format!("connection: {e}")),
        };
        let finished = Instant::now();
        match answer {
            Ok(len) if finished <= end => {
                tally.body_bytes += len as u64;
                let us = (finished - started).as_micros();
                tally
                    .latencies_us
                    .push(u32::try_from(us).unwrap_or(u32::MAX));
            }
            Ok(_) => {}
            Err(e) if e.starts_with("HTTP ") => tally.error(e),
            Err(e) => {
                tally.error(e);
                match connect(target.addr).await {
                    Ok(fresh) => conn = fresh,
                    Err(_) => return (None, tally),
                }
            }
        }
    }
}

/// Sends one request and reads the whole answer, returning its length;
/// anything but 200 is an error.
pub(crate) async fn exchange(
    conn: &mut Connection,
    request: Request<Full<Bytes>>,
) -> Result<usize, String> {
    let response = conn
        .send_request(request)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    if status != StatusCode::OK {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(format!("HTTP {status}: {text}"));
    }
    Ok(body.len())
}

/// Runs every connection against `target` for `len` and gathers what they saw.
pub(crate) async fn run_slice(
    conns: &mut Vec<Connection>,
    target: &Arc<Target>,
    len: Duration,
    confab_pid: u32,
) -> anyhow::Result<Slice> {
    let before = Usage::now(confab_pid)?;
    let started = Instant::now();
    let end = started + len;
    let mut joins = JoinSet::new();
    for conn in conns.drain(..) {
        joins.spawn(drive(conn, target.clone(), end));
    }
    let mut slice = Slice::default();
    while let Some(joined) = joins.join_next().await {
        let (conn, tally) = joined?;
        conns.extend(conn);
        slice.latencies_us.extend(tally.latencies_us);
        slice.body_bytes += tally.body_bytes;
        slice.errors += tally.errors;
        if slice.first_error.is_none() {
            slice.first_error = tally.first_error;
        }
    }
    slice.wall = started.elapsed().max(len);
    slice.measured = len;
    slice.usage = Usage::now(confab_pid)?.since(&before);
    if conns.is_empty() {
        bail!(
            "every connection failed: {}",
            slice.first_error.unwrap_or_default()
        );
    }
    Ok(slice)
}

/// One target's run of one round.
#[derive(Default)]
pub(crate) struct Slice {
    pub(crate) latencies_us: Vec<u32>,
    pub(crate) body_bytes: u64,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    /// The measuring window.
    pub(crate) measured: Duration,
    /// The window plus the last requests draining, over which CPU was read.
    pub(crate) wall: Duration,
    pub(crate) usage: Usage,
}

/// All the rounds of one target at one concurrency.
#[derive(Default)]
pub(crate) struct Measurement {
    pub(crate) latencies_us: Vec<u32>,
    pub(crate) ok: u64,
    pub(crate) body_bytes: u64,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    pub(crate) measured: Duration,
    pub(crate) wall: Duration,
    pub(crate) round_rates: Vec<f64>,
    /// CPU ticks of the server under test (confab process or bare threads).
    pub(crate) server_ticks: u64,
    /// CPU ticks of the load generator (this process minus the bare threads).
    pub(crate) loadgen_ticks: u64,
    pub(crate) disk_bytes: u64,
    pub(crate) machine_idle_ticks: u64,
    pub(crate) machine_steal_ticks: u64,
    pub(crate) machine_ticks: u64,
}

impl Measurement {
    pub(crate) fn add(&mut self, slice: Slice) {
        let ok = slice.latencies_us.len() as u64;
        self.round_rates
            .push(ok as f64 / slice.measured.as_secs_f64());
        self.ok += ok;
        self.latencies_us.extend(slice.latencies_us);
        self.body_bytes += slice.body_bytes;
        self.errors += slice.errors;
        if self.first_error.is_none() {
            self.first_error = slice.first_error;
        }
        self.measured += slice.measured;
        self.wall += slice.wall;
        // Only the side under load burns CPU; the idle side adds ~nothing.
        self.server_ticks += slice.usage.confab_ticks + slice.usage.bare_ticks;
        self.loadgen_ticks += slice.usage.process_ticks - slice.usage.bare_ticks;
        self.disk_bytes += slice.usage.confab_disk_bytes;
        self.machine_idle_ticks += slice.usage.machine_idle_ticks;
        self.machine_steal_ticks += slice.usage.machine_steal_ticks;
        self.machine_ticks += slice.usage.machine_ticks;
    }

    pub(crate) fn rate(&self) -> f64 {
        self.ok as f64 / self.measured.as_secs_f64().max(1e-9)
    }

    pub(crate) fn percentiles(&self) -> (Duration, Duration) {
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        let at = |p: usize| {
            let i = (sorted.len() * p / 100).min(sorted.len().saturating_sub(1));
            Duration::from_micros(sorted.get(i).copied().unwrap_or(0).into())
        };
        (at(50), at(99))
    }

    pub(crate) fn per_request_us(&self, ticks: u64) -> f64 {
        ticks as f64 / TICKS_PER_SECOND * 1e6 / self.ok.max(1) as f64
    }

    pub(crate) fn server_cpu_per_request_us(&self) -> f64 {
        self.per_request_us(self.server_ticks)
    }

    pub(crate) fn loadgen_cpu_per_request_us(&self) -> f64 {
        self.per_request_us(self.loadgen_ticks)
    }

    pub(crate) fn machine_idle_percent(&self) -> f64 {
        100.0 * self.machine_idle_ticks as f64 / self.machine_ticks.max(1) as f64
    }

    /// Time the hypervisor gave this machine's cores to other guests.
    pub(crate) fn machine_steal_percent(&self) -> f64 {
        100.0 * self.machine_steal_ticks as f64 / self.machine_ticks.max(1) as f64
    }

    pub(crate) fn cores_busy_percent(&self) -> f64 {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let busy = (self.server_ticks + self.loadgen_ticks) as f64 / TICKS_PER_SECOND;
        100.0 * busy / (self.wall.as_secs_f64() * cores).max(1e-9)
    }
}

/// CPU and disk counters from /proc, read around each slice.
#[derive(Default, Clone, Copy)]
pub(crate) struct Usage {
    pub(crate) confab_ticks: u64,
    pub(crate) process_ticks: u64,
    pub(crate) bare_ticks: u64,
    pub(crate) confab_disk_bytes: u64,
    /// Idle, stolen and all ticks of the whole machine, every process and core.
    pub(crate) machine_idle_ticks: u64,
    pub(crate) machine_steal_ticks: u64,
    pub(crate) machine_ticks: u64,
}

impl Usage {
    pub(crate) fn now(confab_pid: u32) -> anyhow::Result<Usage> {
        let stat = |path: &str| -> anyhow::Result<u64> {
            let text = std::fs::read_to_string(path).with_context(|| path.to_owned())?;
            cpu_ticks(&text).with_context(|| format!("parsing {path}"))
        };
        let mut bare_ticks = 0;
        for task in std::fs::read_dir("/proc/self/task")? {
            let dir = task?.path();
            let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            if comm.starts_with(BARE_THREAD) {
                let text = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
                bare_ticks += cpu_ticks(&text).unwrap_or(0);
            }
        }
        let io = std::fs::read_to_string(format!("/proc/{confab_pid}/io")).unwrap_or_default();
        let confab_disk_bytes = io
            .lines()
            .find_map(|l| l.strip_prefix("write_bytes:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let machine = std::fs::read_to_string("/proc/stat")?;
        let (machine_idle_ticks, machine_steal_ticks, machine_ticks) =
            machine_ticks(&machine).context("parsing /proc/stat")?;
        Ok(Usage {
            confab_ticks: stat(&format!("/proc/{confab_pid}/stat"))?,
            process_ticks: stat("/proc/self/stat")?,
            bare_ticks,
            confab_disk_bytes,
            machine_idle_ticks,
            machine_steal_ticks,
            machine_ticks,
        })
    }

    pub(crate) fn since(&self, before: &Usage) -> Usage {
        Usage {
            confab_ticks: self.confab_ticks.saturating_sub(before.confab_ticks),
            process_ticks: self.process_ticks.saturating_sub(before.process_ticks),
            bare_ticks: self.bare_ticks.saturating_sub(before.bare_ticks),
            confab_disk_bytes: self
                .confab_disk_bytes
                .saturating_sub(before.confab_disk_bytes),
            machine_idle_ticks: self
                .machine_idle_ticks
                .saturating_sub(before.machine_idle_ticks),
            machine_steal_ticks: self
                .machine_steal_ticks
                .saturating_sub(before.machine_steal_ticks),
            machine_ticks: self.machine_ticks.saturating_sub(before.machine_ticks),
        }
    }
}

/// User plus system CPU ticks from a /proc `stat` line. The command name
/// (field 2) may contain spaces, so fields are counted after its `)`.
pub(crate) fn cpu_ticks(stat: &str) -> Option<u64> {
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the `)` come field 3 (state) onwards; utime and stime are 14, 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Idle (idle plus I/O wait), stolen and total ticks over all cores, from
/// the first line of /proc/stat.
pub(crate) fn machine_ticks(stat: &str) -> Option<(u64, u64, u64)> {
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal (guest time is already
    // counted in user).
    let total = ticks.iter().take(8).sum();
    Some((ticks.get(3)? + ticks.get(4)?, *ticks.get(7)?, total))
}
