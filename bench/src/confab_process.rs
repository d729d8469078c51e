//! The release `confab` binary as a child process, for the benchmarks that measure the real
//! server over real sockets (`api_throughput`, `callbacks`): started without SIP in a data
//! directory of its own, with the account its first start prints.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running `confab serve` and its default account.
pub(crate) struct Spawned {
    /// The process; killed when dropped.
    pub(crate) child: Child,
    pub(crate) pid: u32,
    /// Its HTTP API.
    pub(crate) addr: SocketAddr,
    pub(crate) account: String,
    pub(crate) token: String,
}

/// Starts `confab serve` in `data_dir` on a free loopback port and reads the account from its
/// first-start lines.
pub(crate) async fn spawn(data_dir: &Path) -> anyhow::Result<Spawned> {
    spawn_with(data_dir, "off", &[], "warn").await
}

/// [`spawn`] with SIP on `sip_listen` (`off` for none), more `serve` arguments and the log
/// filter `log` (`CONFAB_LOG`; the SIP benchmarks pass `127.0.0.1:PORT`, `--media-threads`).
pub(crate) async fn spawn_with(
    data_dir: &Path,
    sip_listen: &str,
    args: &[String],
    log: &str,
) -> anyhow::Result<Spawned> {
    let binary = confab_binary()?;
    let addr = StdListener::bind("127.0.0.1:0")?.local_addr()?;
    let mut child = Command::new(&binary)
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--listen")
        .arg(addr.to_string())
        // No SIP unless asked: a benchmark must not need (or take) the default SIP port.
        .arg("--sip-listen")
        .arg(sip_listen)
        .args(args)
        .env("CONFAB_LOG", log)
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
    Ok(Spawned {
        child,
        pid,
        addr,
        account: account.context("no \"Account SID:\" line on first start")?,
        token: token.context("no \"Auth token:\" line on first start")?,
    })
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
