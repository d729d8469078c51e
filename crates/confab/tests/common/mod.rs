//! The harness for tests that run the real `confab` binary.
//!
//! A [`Server`] is `confab serve` on a free loopback port with a data
//! directory the test owns. Starting it waits until the port answers, reads
//! the account a first start prints (or asks `confab accounts list` on a
//! later start), and keeps everything the process writes for diagnostics.
//! Dropping it kills the process, so a failing test leaves nothing behind.
//!
//! [`Api`] speaks HTTP to a server with one account's Basic credentials;
//! [`Reply`] is a response read in full, so assertions can show the body.
//! [`in_process`] drives `app()` without a socket instead.

// Each test binary uses a different part of the harness.
#![allow(dead_code)]

pub(crate) mod client;
pub(crate) mod in_process;
pub(crate) mod openapi;
pub(crate) mod web;

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// The binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_confab");

/// How long a server may take to answer on its port (a loaded 2-core machine
/// can be slow to exec and open the database).
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How long one HTTP request may take before the test gives up on it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The environment variables `confab serve` reads; cleared for every child
/// so a developer's own settings cannot leak into a test.
const CONFAB_ENV: &[&str] = &[
    "CONFAB_DATA_DIR",
    "CONFAB_LISTEN",
    "CONFAB_TLS_LISTEN",
    "CONFAB_TLS_CERT",
    "CONFAB_TLS_KEY",
    "CONFAB_CONFIG",
    "CONFAB_LOG",
    "CONFAB_MEDIA_THREADS",
    "CONFAB_MEDIA_BIND",
    "CONFAB_SIM_AUDIO_DIR",
    "CONFAB_SIP_LISTEN",
    "CONFAB_SIP_EXTERNAL_IP",
];

/// An account's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    /// The account SID, also the Basic user name.
    pub(crate) sid: String,
    /// The auth token, the Basic password.
    pub(crate) auth_token: String,
}

/// A running `confab serve`.
pub(crate) struct Server {
    /// The process; `kill_on_drop` ends it with the test.
    child: Child,
    /// Its process id, for `kill -TERM` and friends.
    pid: u32,
    /// The plain HTTP address it listens on.
    pub(crate) addr: SocketAddr,
    /// Its data directory.
    pub(crate) data_dir: PathBuf,
    /// The account printed on first start, or the oldest stored one.
    pub(crate) account: Account,
    /// Whether this start printed the first-start account lines.
    pub(crate) first_start: bool,
    /// Lines written to stdout so far.
    stdout: Lines,
    /// Lines written to stderr so far (the log).
    stderr: Lines,
}

impl Server {
    /// `confab serve --data-dir DIR --listen 127.0.0.1:PORT`.
    pub(crate) async fn start(data_dir: &Path) -> Server {
        let mut asked = None;
        let server = Server::launch(data_dir, |cmd, addr| {
            asked = Some(addr);
            cmd.arg("serve")
                .arg("--data-dir")
                .arg(data_dir)
                .arg("--listen")
                .arg(addr.to_string());
        })
        .await;
        assert_eq!(Some(server.addr), asked, "confab ignored --listen");
        server
    }

    /// Starts the binary configured by `configure` for a free address, and
    /// waits until the address the server says it listens on answers (tests
    /// that care compare it with the one they configured). `data_dir` is
    /// where the server is expected to keep its database (used to look up the
    /// account). A start that loses its port to another process between our
    /// probe and its bind is retried on a new port.
    pub(crate) async fn launch(
        data_dir: &Path,
        mut configure: impl FnMut(&mut Command, SocketAddr),
    ) -> Server {
        for _ in 0..3 {
            let addr = free_addr();
            let mut cmd = confab_command(data_dir);
            configure(&mut cmd, addr);
            cmd.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            let mut child = cmd.spawn().expect("spawning the confab binary");
            let pid = child.id().expect("a just-spawned child has a pid");
            let stdout = Lines::collect(child.stdout.take());
            let stderr = Lines::collect(child.stderr.take());
            let addr = match wait_until_answering(&mut child, &stdout, &stderr).await {
                Ok(listening) => listening,
                Err(status) => {
                    stderr.finish().await;
                    let log = stderr.text();
                    if log.contains("binding") && log.contains("in use") {
                        continue;
                    }
                    panic!("confab serve exited with {status} before answering on {addr}:\n{log}");
                }
            };
            let first = first_start_account(&stdout.text());
            let first_start = first.is_some();
            let account = match first {
                Some(account) => account,
                None => stored_accounts(data_dir)
                    .await
                    .into_iter()
                    .next()
                    .expect("a server that started has an account"),
            };
            return Server {
                child,
                pid,
                addr,
                data_dir: data_dir.to_owned(),
                account,
                first_start,
                stdout,
                stderr,
            };
        }
        panic!("confab serve could not bind a free port in three tries");
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends a signal by name (`TERM`, `INT`, `KILL`) with `kill(1)`.
    pub(crate) fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid.to_string())
            .status()
            .expect("running kill(1)");
        assert!(status.success(), "kill -{name} {} failed", self.pid);
    }

    /// Waits for the process to exit; panics (with its log) after `timeout`.
    pub(crate) async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => {
                let status = status.expect("waiting for confab");
                self.stdout.finish().await;
                self.stderr.finish().await;
                status
            }
            Err(_) => panic!(
                "confab (pid {}) still running {timeout:?} after being asked to stop; log:\n{}",
                self.pid,
                self.log()
            ),
        }
    }

    /// `kill -9`: the process dies at once, with whatever it had in memory.
    pub(crate) async fn kill9(&mut self) {
        self.child.start_kill().expect("sending SIGKILL");
        self.wait_exit(Duration::from_secs(10)).await;
    }

    /// Everything written to stdout so far.
    pub(crate) fn stdout(&self) -> String {
        self.stdout.text()
    }

    /// Everything written to stderr so far.
    pub(crate) fn log(&self) -> String {
        self.stderr.text()
    }

    /// A client with this server's account.
    pub(crate) fn api(&self) -> Api {
        self.api_as(&self.account)
    }

    /// A client with another account's credentials.
    pub(crate) fn api_as(&self, account: &Account) -> Api {
        Api {
            http: reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .build()
                .expect("building an HTTP client"),
            base: format!("http://{}", self.addr),
            account: account.clone(),
        }
    }
}

/// An HTTP client for one account of one server.
#[derive(Clone)]
pub(crate) struct Api {
    http: reqwest::Client,
    base: String,
    /// Whose credentials go in every request.
    pub(crate) account: Account,
}

impl Api {
    /// A path in the Twilio dialect under this account: `rest` follows
    /// `/2010-04-01/Accounts/{sid}/`.
    pub(crate) fn twilio(&self, rest: &str) -> String {
        format!("/2010-04-01/Accounts/{}/{rest}", self.account.sid)
    }

    /// A path in the SignalWire dialect under this account.
    pub(crate) fn signalwire(&self, rest: &str) -> String {
        format!("/api/laml/2010-04-01/Accounts/{}/{rest}", self.account.sid)
    }

    /// A request with Basic credentials; `path` starts with `/`.
    pub(crate) fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .basic_auth(&self.account.sid, Some(&self.account.auth_token))
    }

    /// GET.
    pub(crate) async fn get(&self, path: &str) -> Reply {
        Reply::send(self.request(Method::GET, path), path).await
    }

    /// POST with a form body.
    pub(crate) async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        Reply::send(self.request(Method::POST, path).form(form), path).await
    }

    /// POST with a JSON body (`Content-Type: application/json`).
    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> Reply {
        Reply::send(self.request(Method::POST, path).json(body), path).await
    }

    /// DELETE.
    pub(crate) async fn delete(&self, path: &str) -> Reply {
        Reply::send(self.request(Method::DELETE, path), path).await
    }

    /// Adds a participant to the room named `room` (201 expected) and
    /// returns the created participant.
    pub(crate) async fn add_participant(&self, room: &str, to: &str) -> Value {
        let path = self.twilio(&format!("Conferences/{room}/Participants.json"));
        self.post_form(&path, &[("From", "+15550100"), ("To", to)])
            .await
            .expect_status(201)
    }

    /// Fetches a participant until its status is `status`.
    pub(crate) async fn wait_participant(&self, conference: &str, call: &str, status: &str) {
        let path = self.twilio(&format!(
            "Conferences/{conference}/Participants/{call}.json"
        ));
        let what = format!("participant {call} to be {status}");
        eventually(&what, START_TIMEOUT, || async {
            let reply = self.get(&path).await;
            (reply.status == 200 && reply.json()["status"] == status).then_some(())
        })
        .await;
    }

    /// Fetches a conference until its status is `status`; returns it.
    pub(crate) async fn wait_conference(&self, conference: &str, status: &str) -> Value {
        let path = self.twilio(&format!("Conferences/{conference}.json"));
        let what = format!("conference {conference} to be {status}");
        eventually(&what, START_TIMEOUT, || async {
            let reply = self.get(&path).await;
            let body = reply.json();
            (reply.status == 200 && body["status"] == status).then_some(body)
        })
        .await
    }
}

/// A response, read in full.
#[derive(Debug)]
pub(crate) struct Reply {
    /// The status code.
    pub(crate) status: u16,
    /// The headers.
    pub(crate) headers: HeaderMap,
    /// The body as text.
    pub(crate) body: String,
}

impl Reply {
    /// Sends `request` and reads the whole response.
    pub(crate) async fn try_send(request: reqwest::RequestBuilder) -> reqwest::Result<Reply> {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// Sends `request`; a transport failure fails the test.
    async fn send(request: reqwest::RequestBuilder, path: &str) -> Reply {
        match Reply::try_send(request).await {
            Ok(reply) => reply,
            // The chain of sources says what failed: a timeout, a refused connection (the
            // server is gone), or a connection closed under the request.
            Err(e) => panic!("request to {path} failed: {e} ({e:?})"),
        }
    }

    /// The body as JSON (`Null` for an empty body); panics if it is not JSON.
    pub(crate) fn json(&self) -> Value {
        if self.body.is_empty() {
            return Value::Null;
        }
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("{} body is not JSON ({e}): {}", self.status, self.body))
    }

    /// Asserts the status and returns the JSON body.
    pub(crate) fn expect_status(&self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "expected {status}, got {}: {}",
            self.status, self.body
        );
        self.json()
    }

    /// Asserts an error response: status and Twilio error code.
    pub(crate) fn expect_error(&self, status: u16, code: u64) -> Value {
        let body = self.expect_status(status);
        assert_eq!(body["code"], code, "error code in {}", self.body);
        body
    }
}

/// Calls `probe` until it returns `Some`, every 50 ms for at most `timeout`.
pub(crate) async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `confab ARGS…` to completion (bounded by [`START_TIMEOUT`]), with
/// the working directory and environment of [`confab_command`].
pub(crate) async fn run_cli(data_dir: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = confab_command(data_dir);
    cmd.args(args).kill_on_drop(true);
    tokio::time::timeout(START_TIMEOUT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("confab {args:?} did not finish in {START_TIMEOUT:?}"))
        .expect("running the confab binary")
}

/// The accounts stored in `data_dir`, oldest first (`confab accounts list --json`).
pub(crate) async fn stored_accounts(data_dir: &Path) -> Vec<Account> {
    let dir = data_dir.to_str().expect("temporary paths are UTF-8");
    let output = run_cli(data_dir, &["accounts", "list", "--json", "--data-dir", dir]).await;
    assert!(
        output.status.success(),
        "confab accounts list failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let list: Value = serde_json::from_slice(&output.stdout).expect("accounts list prints JSON");
    list.as_array()
        .expect("accounts list prints an array")
        .iter()
        .map(|a| Account {
            sid: a["sid"].as_str().expect("sid").to_owned(),
            auth_token: a["auth_token"].as_str().expect("auth_token").to_owned(),
        })
        .collect()
}

/// The binary with a clean `CONFAB_*` environment, run from inside the test's
/// temporary directory so a default `./confab-data` can never land in the repo.
pub(crate) fn confab_command(data_dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    for name in CONFAB_ENV {
        cmd.env_remove(name);
    }
    // Servers run in parallel: none takes the default SIP port unless a test asks
    // (`--sip-listen` on the command line wins over the environment).
    cmd.env("CONFAB_SIP_LISTEN", "off");
    let cwd = if data_dir.is_dir() {
        Some(data_dir)
    } else {
        data_dir.parent()
    };
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// A loopback address with a port that was free a moment ago.
pub(crate) fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding a probe socket on 127.0.0.1")
}

/// The SID and token of the first-start lines ("Account SID: …", "Auth token: …").
fn first_start_account(stdout: &str) -> Option<Account> {
    let value = |prefix: &str| {
        stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_owned()))
    };
    Some(Account {
        sid: value("Account SID:")?,
        auth_token: value("Auth token:")?,
    })
}

/// Waits until the server printed its listening line and the address in it
/// accepts a connection; returns that address, or the exit status if the
/// process ended instead.
async fn wait_until_answering(
    child: &mut Child,
    stdout: &Lines,
    stderr: &Lines,
) -> Result<SocketAddr, ExitStatus> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("polling the confab process") {
            return Err(status);
        }
        if let Some(addr) = listening_addr(&stdout.text()) {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(addr);
            }
        }
        assert!(
            Instant::now() < deadline,
            "confab did not answer within {START_TIMEOUT:?}; stdout:\n{}\nlog:\n{}",
            stdout.text(),
            stderr.text()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The address of the "confab listening on http://ADDR" line.
fn listening_addr(stdout: &str) -> Option<SocketAddr> {
    stdout.lines().find_map(|line| {
        line.trim()
            .strip_prefix("confab listening on http://")?
            .parse()
            .ok()
    })
}

/// A test that fails with a server running shows what the server wrote to stderr last (a
/// panic in one of its tasks, a warning), which the test itself never prints.
impl Drop for Server {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let log = self.stderr.text();
        let lines: Vec<&str> = log.lines().collect();
        let tail = &lines[lines.len().saturating_sub(80)..];
        eprintln!(
            "--- the last {} lines confab serve (pid {}) wrote to stderr ---\n{}\n---",
            tail.len(),
            self.pid,
            tail.join("\n")
        );
    }
}

/// The lines of one output stream of the child, collected as they come.
struct Lines {
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl Lines {
    fn collect(stream: Option<impl AsyncRead + Unpin + Send + 'static>) -> Lines {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = stream.map(|stream| {
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    sink.lock().expect("output lock").push(line);
                }
            })
        });
        Lines { lines, reader }
    }

    /// Waits (briefly) until the stream has been read to its end, after the
    /// process exited.
    async fn finish(&self) {
        if let Some(reader) = &self.reader {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !reader.is_finished() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    fn text(&self) -> String {
        self.lines.lock().expect("output lock").join("\n")
    }
}
