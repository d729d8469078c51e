//! What the two SIP benchmarks (`sip_call_setup`, `sip_conference`) share: the release confab
//! as a child process with SIP on a free port, its API, a local web app that answers the
//! numbers' `VoiceUrl` with `<Dial><Conference>` and counts the join callbacks, SIPp runs
//! (scenarios in `bench/data/`) with their statistics, per-call response times and message
//! trace, and the CPU time of each of confab's threads.

// Each benchmark uses a part of it.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use serde_json::Value;
use tokio::process::{Child, Command};

use crate::confab_process::{self, Spawned};

/// The release server with SIP on a free loopback port.
pub(crate) struct Confab {
    spawned: Spawned,
    /// UDP and TCP SIP port.
    pub(crate) sip: SocketAddr,
    /// Its API with the account's credentials.
    pub(crate) api: Api,
}

/// confab's HTTP API with the first account's credentials; cheap to clone into tasks.
#[derive(Clone)]
pub(crate) struct Api {
    http: reqwest::Client,
    addr: SocketAddr,
    account: String,
    token: String,
}

impl Confab {
    /// Starts `confab serve` in `data_dir` with one media thread (so no SIP call's RTP is
    /// moved by a re-INVITE the scripted SIPp callers have no step for) and `extra` arguments.
    pub(crate) async fn start(data_dir: &Path, extra: &[String]) -> anyhow::Result<Confab> {
        let sip = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut args = vec!["--media-threads".to_owned(), "1".to_owned()];
        args.extend_from_slice(extra);
        // Warnings, except the media engine's about an RTP address taken over: every call
        // that moves from its own mix into a conference logs one (reported in issue 11's notes).
        let log = "warn,confab::media::engine=error";
        let spawned = confab_process::spawn_with(data_dir, &sip.to_string(), &args, log).await?;
        let api = Api {
            http: reqwest::Client::new(),
            addr: spawned.addr,
            account: spawned.account.clone(),
            token: spawned.token.clone(),
        };
        Ok(Confab { spawned, sip, api })
    }

    /// The process id, for its CPU counters.
    pub(crate) fn pid(&self) -> u32 {
        self.spawned.pid
    }

    /// CPU seconds of each of confab's threads so far, by name (numbered threads under their
    /// common name: `confab-media` for `confab-media-0`, ...).
    pub(crate) fn thread_cpu(&self) -> BTreeMap<String, f64> {
        crate::stats::thread_cpu(self.spawned.pid)
    }
}

impl Api {
    /// `http://127.0.0.1:PORT/2010-04-01/Accounts/AC.../{rest}`.
    pub(crate) fn url(&self, rest: &str) -> String {
        format!(
            "http://{}/2010-04-01/Accounts/{}/{rest}",
            self.addr, self.account
        )
    }

    /// A form POST under the account; the JSON answer of a 2xx, an error otherwise.
    pub(crate) async fn post(&self, rest: &str, form: &[(&str, &str)]) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(self.url(rest))
            .basic_auth(&self.account, Some(&self.token))
            .form(form)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("POST {rest}: {status} {body}");
        }
        Ok(body)
    }

    /// A DELETE under the account.
    pub(crate) async fn delete(&self, rest: &str) -> anyhow::Result<()> {
        self.http
            .delete(self.url(rest))
            .basic_auth(&self.account, Some(&self.token))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// The account SID.
    pub(crate) fn account(&self) -> &str {
        &self.account
    }

    /// A GET under the account.
    pub(crate) async fn get(&self, rest: &str) -> anyhow::Result<Value> {
        self.get_path(&format!("/2010-04-01/Accounts/{}/{rest}", self.account))
            .await
    }

    /// A GET of any path (`/confab/v1/...`) with the account's credentials.
    pub(crate) async fn get_path(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(format!("http://{}{path}", self.addr))
            .basic_auth(&self.account, Some(&self.token))
            .send()
            .await?
            .error_for_status()?;
        Ok(response.json().await?)
    }

    /// Creates `number` with `voice_url` (POSTed).
    pub(crate) async fn number(&self, number: &str, voice_url: &str) -> anyhow::Result<()> {
        let form = [
            ("PhoneNumber", number),
            ("VoiceUrl", voice_url),
            ("VoiceMethod", "POST"),
        ];
        self.post("IncomingPhoneNumbers.json", &form).await?;
        Ok(())
    }

    /// Calls not yet over (queued, ringing or in progress).
    pub(crate) async fn live_calls(&self) -> anyhow::Result<usize> {
        let mut live = 0;
        for status in ["queued", "ringing", "in-progress"] {
            let page = self
                .get(&format!("Calls.json?Status={status}&PageSize=1000"))
                .await?;
            live += page["calls"].as_array().map_or(0, Vec::len);
        }
        Ok(live)
    }

    /// Waits until no call is live (at most `timeout`); how many still were.
    pub(crate) async fn wait_quiet(&self, timeout: Duration) -> anyhow::Result<usize> {
        let give_up = Instant::now() + timeout;
        loop {
            let live = self.live_calls().await?;
            if live == 0 || Instant::now() > give_up {
                return Ok(live);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The media threads' tick counters from `/metrics`: (ticks, late ticks) over all threads.
    pub(crate) async fn media_ticks(&self) -> anyhow::Result<(u64, u64)> {
        let text = self
            .http
            .get(format!("http://{}/metrics", self.addr))
            .send()
            .await?
            .text()
            .await?;
        let sum = |metric: &str| -> u64 {
            text.lines()
                .filter(|l| l.starts_with(metric))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>() as u64
        };
        Ok((
            sum("confab_media_tick_lateness_seconds_count"),
            sum("confab_media_late_ticks_total"),
        ))
    }
}

/// The one-, five- and fifteen-minute load averages, as `/proc/loadavg` has them.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_owned())
}

/// A loopback port free for both UDP and TCP a moment ago.
pub(crate) fn free_port() -> u16 {
    loop {
        let Ok(udp) = UdpSocket::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = udp.local_addr() else {
            continue;
        };
        if TcpListener::bind(addr).is_ok() {
            return addr.port();
        }
    }
}

/// The application: `POST /voice` answers `<Dial><Conference>` into one of `rooms`
/// conferences named `{prefix}-{n}` (round robin); `POST /events` records participant-join
/// callbacks.
pub(crate) struct WebApp {
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    state: Arc<Seen>,
}

struct Seen {
    /// VoiceUrl requests so far.
    voice: AtomicUsize,
    /// Room name prefix and the number of rooms, changed between phases.
    rooms: Mutex<(String, usize)>,
    /// Attributes of `<Conference>` (e.g. `beep="false"`), with `{events}` for the callback URL.
    attributes: String,
    /// Participant-join callbacks: when each `CallSid` joined.
    joins: Mutex<HashMap<String, Instant>>,
    events_url: String,
}

impl WebApp {
    /// Serves the app on a loopback port; `attributes` go into every `<Conference>` (the text
    /// `{events}` becomes the URL of `/events`).
    pub(crate) async fn start(attributes: &str) -> anyhow::Result<WebApp> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let events_url = format!("{base}/events");
        let state = Arc::new(Seen {
            voice: AtomicUsize::new(0),
            rooms: Mutex::new(("room".to_owned(), 1)),
            attributes: attributes.replace("{events}", &events_url),
            joins: Mutex::new(HashMap::new()),
            events_url,
        });
        let app = Router::new()
            .route("/voice", post(voice))
            .route("/events", post(events))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(WebApp { base, state })
    }

    /// The VoiceUrl.
    pub(crate) fn voice_url(&self) -> String {
        format!("{}/voice", self.base)
    }

    /// The conference callback URL.
    pub(crate) fn events_url(&self) -> &str {
        &self.state.events_url
    }

    /// From now on calls go to `{prefix}-0` .. `{prefix}-{rooms - 1}`.
    pub(crate) fn set_rooms(&self, prefix: &str, rooms: usize) {
        *lock(&self.state.rooms) = (prefix.to_owned(), rooms.max(1));
    }

    /// VoiceUrl requests so far.
    pub(crate) fn voice_requests(&self) -> usize {
        self.state.voice.load(Ordering::Relaxed)
    }

    /// The join callbacks so far, emptied.
    pub(crate) fn take_joins(&self) -> HashMap<String, Instant> {
        std::mem::take(&mut *lock(&self.state.joins))
    }

    /// Join callbacks so far.
    pub(crate) fn joins(&self) -> usize {
        lock(&self.state.joins).len()
    }
}

async fn voice(State(seen): State<Arc<Seen>>) -> impl IntoResponse {
    let n = seen.voice.fetch_add(1, Ordering::Relaxed);
    let (prefix, rooms) = lock(&seen.rooms).clone();
    let twiml = format!(
        "<Response><Dial><Conference {}>{prefix}-{}</Conference></Dial></Response>",
        seen.attributes,
        n % rooms
    );
    ([(header::CONTENT_TYPE, "text/xml")], twiml)
}

async fn events(State(seen): State<Arc<Seen>>, body: Bytes) -> impl IntoResponse {
    let now = Instant::now();
    let mut call = None;
    let mut join = false;
    for (key, value) in form_urlencoded::parse(&body) {
        match key.as_ref() {
            "CallSid" => call = Some(value.into_owned()),
            "StatusCallbackEvent" => join = value == "participant-join",
            _ => {}
        }
    }
    if let (true, Some(call)) = (join, call) {
        lock(&seen.joins).entry(call).or_insert(now);
    }
    axum::http::StatusCode::NO_CONTENT
}

/// A SIPp run, not started yet: a scenario of `bench/data/` against confab's SIP port.
pub(crate) struct Sipp {
    cmd: Command,
    dir: tempfile::TempDir,
}

impl Sipp {
    /// `sipp -sf bench/data/{scenario} TARGET -s {service}` on a free port, writing its
    /// statistics (every second) and per-call response times into a directory of its own;
    /// `args` add rate, limits, keys.
    pub(crate) fn new(
        scenario: &str,
        target: SocketAddr,
        service: &str,
        args: &[String],
    ) -> anyhow::Result<Sipp> {
        let dir = tempfile::tempdir()?;
        let mut cmd = Command::new("sipp");
        cmd.arg("-sf")
            .arg(scenario_path(scenario))
            .arg(target.to_string())
            .arg("-s")
            .arg(service)
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-p"])
            .arg(free_port().to_string())
            .args(["-nostdin", "-trace_stat", "-fd", "1", "-trace_rtt"])
            .args(["-rtt_freq", "1", "-trace_err", "-timeout", "120"])
            .arg("-stf")
            .arg(dir.path().join("stat.csv"))
            .arg("-error_file")
            .arg(dir.path().join("errors.log"))
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        Ok(Sipp { cmd, dir })
    }

    /// Also writes every message sent and received (for [`SippRun::trace`]).
    pub(crate) fn trace_messages(mut self) -> Sipp {
        self.cmd
            .arg("-trace_msg")
            .arg("-message_file")
            .arg(self.dir.path().join("messages.log"));
        self
    }

    /// Starts it.
    pub(crate) fn spawn(mut self) -> anyhow::Result<RunningSipp> {
        let child = self
            .cmd
            .spawn()
            .context("starting sipp (Debian package sip-tester: scripts/install-test-deps.sh)")?;
        Ok(RunningSipp {
            child,
            dir: self.dir,
        })
    }
}

/// A SIPp run under way.
pub(crate) struct RunningSipp {
    child: Child,
    dir: tempfile::TempDir,
}

impl RunningSipp {
    /// The SIPp process's id, while it runs.
    #[allow(dead_code)]
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits until it ends (killing it after `timeout`) and reads what it wrote.
    pub(crate) async fn finish(mut self, timeout: Duration) -> anyhow::Result<SippRun> {
        let status = match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => status?,
            Err(_) => {
                let _ = self.child.kill().await;
                bail!("sipp ran longer than {timeout:?}");
            }
        };
        let dir = self.dir.path();
        let stats = last_stat_row(&std::fs::read_to_string(dir.join("stat.csv"))?);
        let rtds = response_times(dir)?;
        let trace = std::fs::read_to_string(dir.join("messages.log"))
            .ok()
            .map(|log| Trace::read(&log));
        let errors = std::fs::read_to_string(dir.join("errors.log")).unwrap_or_default();
        Ok(SippRun {
            status,
            stats,
            rtds,
            trace,
            errors,
        })
    }
}

/// What a finished SIPp run reported.
pub(crate) struct SippRun {
    /// 0 when every call succeeded.
    pub(crate) status: ExitStatus,
    /// The last row of its statistics file, by column (`SuccessfulCall(C)`, ...).
    pub(crate) stats: HashMap<String, String>,
    /// INVITE to 200 of every call (`rtd="true"` on the 200).
    pub(crate) rtds: Vec<Duration>,
    /// Counts from its message trace, when it kept one.
    pub(crate) trace: Option<Trace>,
    /// Its error log.
    pub(crate) errors: String,
}

impl SippRun {
    /// A cumulative counter of the statistics file (0 if absent).
    pub(crate) fn count(&self, column: &str) -> u64 {
        self.stats
            .get(column)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
}

/// Repeated messages in a SIPp message trace. A message is repeated when one with the same
/// Call-ID, CSeq and start line went the same way before in that call.
#[derive(Debug, Default, Clone)]
pub(crate) struct Trace {
    /// Messages SIPp received (all from confab).
    pub(crate) received: u64,
    /// Of those, repeats: confab retransmitted, or answered a retransmission again.
    pub(crate) received_repeats: u64,
    /// Repeated 200s to INVITEs (confab's 2xx retransmissions, RFC 3261 §13.3.1.4).
    pub(crate) repeated_invite_200s: u64,
    /// Requests SIPp sent again (INVITE, BYE; not ACKs, which answer a repeated 200).
    pub(crate) sent_request_repeats: u64,
    /// Each call's first INVITE sent to its first 200 to it received, from the trace's
    /// timestamps (microseconds, where SIPp's own response times tick in milliseconds).
    pub(crate) invite_to_200: Vec<Duration>,
}

impl Trace {
    fn read(log: &str) -> Trace {
        let mut trace = Trace::default();
        let mut seen: HashSet<(bool, String, String, String)> = HashSet::new();
        let mut invites: HashMap<String, f64> = HashMap::new();
        for entry in log.split("----------------------------------------------- ") {
            let mut lines = entry.lines();
            let at = lines.next().and_then(seconds_of_day);
            let Some(kind) = lines.next() else {
                continue;
            };
            let received = kind.contains("message received");
            if !received && !kind.contains("message sent") {
                continue;
            }
            let mut lines = lines.skip_while(|l| l.trim().is_empty());
            let start = lines.next().unwrap_or("").trim().to_owned();
            let (mut call_id, mut cseq) = (String::new(), String::new());
            for line in lines.by_ref().take_while(|l| !l.trim().is_empty()) {
                let Some((name, value)) = line.split_once(':') else {
                    continue;
                };
                match name.trim().to_ascii_lowercase().as_str() {
                    "call-id" | "i" => call_id = value.trim().to_owned(),
                    "cseq" => cseq = value.trim().to_owned(),
                    _ => {}
                }
            }
            if let Some(at) = at {
                if !received && start.starts_with("INVITE ") {
                    invites.entry(call_id.clone()).or_insert(at);
                } else if received && start.starts_with("SIP/2.0 200") && cseq.ends_with("INVITE") {
                    if let Some(sent) = invites.remove(&call_id) {
                        // A day's wrap between the two is the only way `at` can be smaller.
                        let took = (at - sent).rem_euclid(86_400.0);
                        trace.invite_to_200.push(Duration::from_secs_f64(took));
                    }
                }
            }
            let repeat = !seen.insert((received, call_id, cseq.clone(), start.clone()));
            if received {
                trace.received += 1;
                if repeat {
                    trace.received_repeats += 1;
                    if start.starts_with("SIP/2.0 200") && cseq.ends_with("INVITE") {
                        trace.repeated_invite_200s += 1;
                    }
                }
            } else if repeat && !start.starts_with("ACK") {
                trace.sent_request_repeats += 1;
            }
        }
        trace
    }

    /// Repeats confab sent on its own (timers), not in answer to a repeated request.
    pub(crate) fn confab_retransmissions(&self) -> u64 {
        self.received_repeats
            .saturating_sub(self.sent_request_repeats)
    }
}

/// `2026-12-01 17:34:26.941931` (a trace entry's first line) as seconds since midnight.
fn seconds_of_day(line: &str) -> Option<f64> {
    let time = line.split_whitespace().nth(1)?;
    let mut parts = time.split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    Some(h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?)
}

/// A scenario file of `bench/data/`.
pub(crate) fn scenario_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
}

fn last_stat_row(csv: &str) -> HashMap<String, String> {
    let lines: Vec<&str> = csv.lines().filter(|l| !l.trim().is_empty()).collect();
    let (Some(header), Some(last)) = (lines.first(), lines.get(1..).and_then(<[_]>::last)) else {
        return HashMap::new();
    };
    header
        .split(';')
        .zip(last.split(';'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Every response time SIPp's `-trace_rtt` file holds (`date_ms;response_time_ms;rtd_no`).
fn response_times(dir: &Path) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::new();
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with("_rtt.csv") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path())?;
        for line in text.lines().skip(1) {
            let ms = line
                .split(';')
                .nth(1)
                .and_then(|v| v.trim().parse::<f64>().ok());
            if let Some(ms) = ms {
                times.push(Duration::from_secs_f64(ms / 1000.0));
            }
        }
    }
    Ok(times)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
