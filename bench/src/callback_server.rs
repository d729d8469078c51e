//! The confab server of the `callbacks` benchmark: the release binary as users run it
//! (`confab serve` with a fresh data directory on a loopback port), a child process whose
//! CPU time is read apart from the load generator's and the receiver's.
//!
//! Its conferences come in two sets of the same shape: one whose first participant
//! subscribed every conference event to the receiver, one without any callback, so the cost
//! of the callbacks is the difference between the two under the same load.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::Value;
use tokio::process::Child;
use tokio::task::JoinSet;

use crate::confab_process;

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
        let spawned = confab_process::spawn(data_dir).await?;
        Ok(ConfabServer {
            child: spawned.child,
            pid: spawned.pid,
            addr: spawned.addr,
            account: spawned.account,
            token: spawned.token,
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

/// A created participant's URI and `CallSid`.
fn participant(created: &Value) -> anyhow::Result<(String, String)> {
    let uri = created["uri"].as_str();
    let call_sid = created["call_sid"].as_str();
    match (uri, call_sid) {
        (Some(uri), Some(call_sid)) => Ok((uri.to_owned(), call_sid.to_owned())),
        _ => bail!("a participant without a uri or call_sid: {created}"),
    }
}
