//! The confab server of the `callbacks` benchmark: the release binary as users run it
//! (`confab serve` with a fresh data directory on a loopback port), a child process whose
//! CPU time is read apart from the load generator's and the receiver's.
//!
//! Its conferences come in two sets of the same shape: one whose first participant
//! subscribed every conference event to the receiver, one without any callback, so the cost
//! of the callbacks is the difference between the two under the same load.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinSet;

/// Every conference event there is to subscribe, as `ConferenceStatusCallbackEvent`.
pub(crate) const EVERY_EVENT: &str = "start end join leave mute hold modify speaker announcement";

/// The running server.
pub(crate) struct ConfabServer {
    /// Killed when dropped, too.
    child: Child,
    /// For the CPU and disk counters in /proc.
    pub(crate) pid: u32,
    /// Its plain HTTP API.
    pub(crate) addr: SocketAddr,
    /// The account made on first start.
    pub(crate) account: String,
    /// Its auth token: the API's password and the key of the callbacks' signatures.
    pub(crate) token: String,
    /// For setting up conferences (the measured requests go through the load generator).
    http: reqwest::Client,
}

/// A set of conferences and their participants.
pub(crate) struct Conferences {
    /// Participant URIs (`/2010-04-01/.../Participants/CA....json`), interleaved across
    /// conferences: the first participant of each conference, then the second of each, ...
    pub(crate) paths: Vec<String>,
    /// The participants' `CallSid`s, in the order of `paths`.
    pub(crate) call_sids: Vec<String>,
}

impl ConfabServer {
    /// Starts `confab serve` in `data_dir` and reads the account from its first-start lines.
    pub(crate) async fn start(data_dir: &Path) -> anyhow::Result<ConfabServer> {
        let binary = confab_binary()?;
        let addr = StdListener::bind("127.0.0.1:0")?.local_addr()?;
        let mut child = Command::new(&binary)
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(addr.to_string())
            // No SIP: a benchmark must not need (or take) the default SIP port.
            .arg("--sip-listen")
            .arg("off")
            .env("CONFAB_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let stdout = child.stdout.take().context("the server's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let (mut account, mut token) = (None, None);
        let first_start = async {
            while let Some(line) = lines.next_line().await? {
                let line = line.trim();
                if let Some(v) = line.strip_prefix("Account SID:") {
                    account = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("Auth token:") {
                    token = Some(v.trim().to_owned());
                } else if line.starts_with("confab listening on http://") {
                    return anyhow::Ok(());
                }
            }
            bail!("the server closed its stdout before it listened")
        };
        tokio::time::timeout(Duration::from_secs(30), first_start)
            .await
            .context("the server did not listen within 30 s")??;
        // Drain stdout from now on, so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(ConfabServer {
            child,
            pid,
            addr,
            account: account.context("no \"Account SID:\" line on first start")?,
            token: token.context("no \"Auth token:\" line on first start")?,
            http: reqwest::Client::new(),
        })
    }

    /// Opens `count` conferences named `{prefix}-{n}` with `size` silent simulated callers
    /// each, the first of whom subscribes every conference event to `callback_url` if one is
    /// given, and waits until every caller is connected.
    pub(crate) async fn open(
        &self,
        prefix: &str,
        count: usize,
        size: usize,
        callback_url: Option<&str>,
    ) -> anyhow::Result<Conferences> {
        let mut joins = JoinSet::new();
        for room in 0..count {
            let http = self.http.clone();
            let uri = format!(
                "http://{}/2010-04-01/Accounts/{}/Conferences/{prefix}-{room}/Participants.json",
                self.addr, self.account
            );
            let (account, token) = (self.account.clone(), self.token.clone());
            let callback_url = callback_url.map(str::to_owned);
            joins.spawn(async move {
                let mut joined = Vec::with_capacity(size);
                for n in 0..size {
                    let mut form = vec![
                        ("From", "+15550100".to_owned()),
                        ("To", format!("sim:p{n}")),
                    ];
                    if let (0, Some(url)) = (n, &callback_url) {
                        form.push(("ConferenceStatusCallback", url.clone()));
                        form.push(("ConferenceStatusCallbackEvent", EVERY_EVENT.to_owned()));
                    }
                    let created: Value = http
                        .post(&uri)
                        .basic_auth(&account, Some(&token))
                        .form(&form)
                        .send()
                        .await?
                        .error_for_status()?
                        .json()
                        .await?;
                    joined.push(participant(&created)?);
                }
                anyhow::Ok(joined)
            });
        }
        let mut rooms = Vec::with_capacity(count);
        while let Some(room) = joins.join_next().await {
            rooms.push(room??);
        }
        let mut conferences = Conferences {
            paths: Vec::new(),
            call_sids: Vec::new(),
        };
        for n in 0..size {
            for (path, call_sid) in rooms.iter().map(|room| room[n].clone()) {
                conferences.paths.push(path);
                conferences.call_sids.push(call_sid);
            }
        }
        self.wait_connected(&conferences.paths).await?;
        Ok(conferences)
    }

    async fn wait_connected(&self, paths: &[String]) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut waiting: Vec<&String> = paths.iter().collect();
        while !waiting.is_empty() {
            if Instant::now() > deadline {
                bail!("{} participants did not connect within 20 s", waiting.len());
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

    /// Stops the server.
    pub(crate) async fn stop(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// The CPU ticks of each of `pid`'s threads so far, summed by thread name, numbered threads
/// (`confab-media-0`, `confab-media-1`) under their common name. A thread that ended is not
/// counted, so read this around a measurement, not across the server's life.
pub(crate) fn thread_ticks(pid: u32) -> BTreeMap<String, u64> {
    let mut ticks = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return ticks;
    };
    for task in tasks.flatten() {
        let dir = task.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        let name = comm
            .trim()
            .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        *ticks.entry(name.to_owned()).or_default() += super::loadgen::cpu_ticks(&stat).unwrap_or(0);
    }
    ticks
}

/// What each thread name spent between two [`thread_ticks`] readings, added to `sum`.
pub(crate) fn add_thread_ticks(
    sum: &mut BTreeMap<String, u64>,
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) {
    for (name, ticks) in after {
        let spent = ticks.saturating_sub(before.get(name).copied().unwrap_or(0));
        *sum.entry(name.clone()).or_default() += spent;
    }
}

/// A created participant's URI and `CallSid`.
fn participant(created: &Value) -> anyhow::Result<(String, String)> {
    let uri = created["uri"].as_str();
    let call_sid = created["call_sid"].as_str();
    match (uri, call_sid) {
        (Some(uri), Some(call_sid)) => Ok((uri.to_owned(), call_sid.to_owned())),
        _ => bail!("a participant without a uri or call_sid: {created}"),
    }
}

/// `$CONFAB_BIN`, or `confab` beside this binary (both built into one target directory).
fn confab_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("CONFAB_BIN") {
        return Ok(PathBuf::from(path));
    }
    let beside = std::env::current_exe()?.with_file_name("confab");
    if !beside.exists() {
        bail!(
            "{} not found: build it first with `cargo build --release -p confab` (same \
             CARGO_TARGET_DIR), or set CONFAB_BIN",
            beside.display()
        );
    }
    Ok(beside)
}
