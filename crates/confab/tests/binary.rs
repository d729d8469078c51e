//! The real `confab` binary on a real socket with a real SQLite file: first
//! start, account management beside a running server, a participant's life
//! over HTTP in both dialects, signals, recovery after `kill -9`, and the
//! configuration sources.

mod common;

use std::time::Duration;

use common::{run_cli, Account, Server};
use serde_json::{json, Value};

/// How long a stop signal may take to end the process.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn first_start_prints_the_account_and_later_starts_reuse_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(dir.path()).await;
    assert!(server.first_start, "stdout:\n{}", server.stdout());
    let account = server.account.clone();
    assert!(is_twilio_sid("AC", &account.sid), "{}", account.sid);
    assert_eq!(account.auth_token.len(), 32, "{}", account.auth_token);

    // The printed curl line names this account and server, and works.
    let stdout = server.stdout();
    let curl = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("curl "))
        .unwrap_or_else(|| panic!("no curl line in:\n{stdout}"));
    let url = format!(
        "http://{}/2010-04-01/Accounts/{}/Conferences/my-room/Participants.json",
        server.addr, account.sid
    );
    assert!(
        curl.contains(&format!("-u {}:{}", account.sid, account.auth_token)),
        "{curl}"
    );
    assert!(curl.contains(&url), "{curl}");
    let api = server.api();
    let created = api
        .post_form(
            &api.twilio("Conferences/my-room/Participants.json"),
            &[("From", "+15550100"), ("To", "sim:alice")],
        )
        .await
        .expect_status(201);
    assert_eq!(created["account_sid"], account.sid.as_str());

    server.signal("TERM");
    assert!(server.wait_exit(STOP_TIMEOUT).await.success());

    let again = Server::start(dir.path()).await;
    assert!(
        !again.first_start && !again.stdout().contains("Account SID"),
        "a second start printed an account:\n{}",
        again.stdout()
    );
    assert_eq!(common::stored_accounts(dir.path()).await, vec![account]);
    again
        .api()
        .get(&again.api().twilio("Conferences.json"))
        .await
        .expect_status(200);
}

#[tokio::test]
async fn accounts_created_beside_a_running_server_work_at_once_and_are_isolated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    let a = server.api();

    let signalwire = create_account(&server, "signalwire").await;
    assert!(is_uuid(&signalwire.sid), "{}", signalwire.sid);
    let b = server.api_as(&signalwire);
    b.get(&b.signalwire("Conferences.json"))
        .await
        .expect_status(200);

    let twilio = create_account(&server, "twilio").await;
    assert!(is_twilio_sid("AC", &twilio.sid), "{}", twilio.sid);
    let c = server.api_as(&twilio);
    c.get(&c.twilio("Conferences.json"))
        .await
        .expect_status(200);
    assert_eq!(common::stored_accounts(dir.path()).await.len(), 3);

    // A conference of account A.
    let joined = a.add_participant("iso-room", "sim:alice").await;
    let cf = joined["conference_sid"].as_str().expect("conference_sid");
    let call = joined["call_sid"].as_str().expect("call_sid");

    // B's credentials on A's path.
    let denied = b.request(reqwest::Method::GET, &a.twilio("Conferences.json"));
    let denied = common::Reply::try_send(denied).await.expect("request");
    denied.expect_error(401, 20003);
    let challenge = denied
        .headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        challenge.starts_with("Basic"),
        "WWW-Authenticate {challenge:?}"
    );

    // A's conference does not exist under B's own path.
    b.get(&b.twilio(&format!("Conferences/{cf}.json")))
        .await
        .expect_error(404, 20404);
    b.get(&b.twilio(&format!("Conferences/{cf}/Participants.json")))
        .await
        .expect_error(404, 20404);
    b.post_form(
        &b.twilio(&format!("Conferences/{cf}/Participants/{call}.json")),
        &[("Muted", "true")],
    )
    .await
    .expect_error(404, 20404);
    let listed = b
        .get(&b.twilio("Conferences.json"))
        .await
        .expect_status(200);
    assert_eq!(listed["conferences"], json!([]), "{listed}");
    // A still sees it, unmuted.
    let mine = a
        .get(&a.twilio(&format!("Conferences/{cf}/Participants/{call}.json")))
        .await
        .expect_status(200);
    assert_eq!(mine["muted"], false);
}

#[tokio::test]
async fn a_participant_lives_and_leaves_over_the_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    let api = server.api();

    let created = api.add_participant("e2e-room", "sim:alice").await;
    assert_eq!(created["status"], "queued", "{created}");
    let cf = created["conference_sid"].as_str().expect("conference_sid");
    let call = created["call_sid"].as_str().expect("call_sid");
    assert!(
        is_twilio_sid("CF", cf) && is_twilio_sid("CA", call),
        "{created}"
    );
    api.wait_participant(cf, call, "connected").await;

    let one = api.twilio(&format!("Conferences/{cf}/Participants/{call}.json"));
    let muted = api
        .post_form(&one, &[("Muted", "true")])
        .await
        .expect_status(200);
    assert_eq!(muted["muted"], true, "{muted}");
    let list = api
        .get(&api.twilio(&format!("Conferences/{cf}/Participants.json?Muted=true")))
        .await
        .expect_status(200);
    assert_eq!(sids(&list["participants"]), vec![call.to_owned()], "{list}");
    assert_eq!(list["participants"][0]["muted"], true);

    // The SignalWire dialect, without `.json`.
    let laml = api.signalwire(&format!("Conferences/{cf}/Participants"));
    let list = api.get(&laml).await.expect_status(200);
    assert_eq!(sids(&list["participants"]), vec![call.to_owned()], "{list}");
    assert_eq!(list["participants"][0]["status"], "in-progress", "{list}");
    assert_eq!(list["participants"][0]["muted"], true);
    let laml_one = api.signalwire(&format!("Conferences/{cf}/Participants/{call}"));
    let unmuted = api
        .post_json(&laml_one, &json!({"Muted": false}))
        .await
        .expect_status(200);
    assert_eq!(unmuted["muted"], false, "{unmuted}");
    assert_eq!(unmuted["status"], "in-progress", "{unmuted}");
    let fetched = api.get(&one).await.expect_status(200);
    assert_eq!(fetched["muted"], false, "{fetched}");

    let deleted = api.delete(&one).await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert_eq!(deleted.body, "", "a 204 has no body");
    let ended = api.wait_conference(cf, "completed").await;
    assert_eq!(ended["reason_conference_ended"], "last-participant-kicked");
    assert_eq!(ended["call_sid_ending_conference"], call);
    api.get(&one).await.expect_error(404, 20404);
}

#[tokio::test]
async fn sigterm_and_sigint_stop_the_server_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    for signal in ["TERM", "INT"] {
        let mut server = Server::start(dir.path()).await;
        let api = server.api();
        // A live conference and a pooled keep-alive connection must not
        // hold the shutdown up.
        let joined = api.add_participant("signal-room", "sim:alice").await;
        let cf = joined["conference_sid"].as_str().expect("conference_sid");
        api.get(&api.twilio(&format!("Conferences/{cf}.json")))
            .await
            .expect_status(200);
        server.signal(signal);
        let status = server.wait_exit(STOP_TIMEOUT).await;
        assert!(
            status.success(),
            "SIG{signal}: exited with {status}; log:\n{}",
            server.log()
        );
    }
}

#[tokio::test]
async fn a_restart_after_kill_9_completes_the_live_conference() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(dir.path()).await;
    let api = server.api();
    let alice = api.add_participant("recover-room", "sim:alice").await;
    let bob = api.add_participant("recover-room", "sim:bob").await;
    let cf = alice["conference_sid"].as_str().expect("conference_sid");
    assert_eq!(bob["conference_sid"], cf);
    let calls = [&alice, &bob].map(|p| p["call_sid"].as_str().expect("call_sid").to_owned());
    for call in &calls {
        api.wait_participant(cf, call, "connected").await;
    }
    api.wait_conference(cf, "in-progress").await;

    server.kill9().await;
    let server = Server::start(dir.path()).await;
    assert!(!server.first_start);
    let api = server.api();

    let ended = api
        .get(&api.twilio(&format!("Conferences/{cf}.json")))
        .await
        .expect_status(200);
    assert_eq!(ended["status"], "completed", "{ended}");
    assert_eq!(ended["reason_conference_ended"], "last-participant-left");
    let list = api
        .get(&api.twilio(&format!("Conferences/{cf}/Participants.json")))
        .await
        .expect_status(200);
    assert_eq!(list["participants"], json!([]), "{list}");
    for call in &calls {
        api.get(&api.twilio(&format!("Conferences/{cf}/Participants/{call}.json")))
            .await
            .expect_error(404, 20404);
    }
    let again = api.add_participant("recover-room", "sim:alice").await;
    let new_cf = again["conference_sid"].as_str().expect("conference_sid");
    assert_ne!(new_cf, cf, "the room name must open a new conference");
    let live = api
        .get(&api.twilio("Conferences.json?Status=init&FriendlyName=recover-room"))
        .await
        .expect_status(200);
    assert_eq!(
        sids(&live["conferences"]),
        vec![new_cf.to_owned()],
        "{live}"
    );
}

#[tokio::test]
async fn a_start_that_cannot_bind_leaves_the_running_servers_conferences_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    let api = server.api();
    let alice = api.add_participant("busy-room", "sim:alice").await;
    let bob = api.add_participant("busy-room", "sim:bob").await;
    let cf = alice["conference_sid"].as_str().expect("conference_sid");
    for p in [&alice, &bob] {
        let call = p["call_sid"].as_str().expect("call_sid");
        api.wait_participant(cf, call, "connected").await;
    }
    api.wait_conference(cf, "in-progress").await;

    // Someone starts the server a second time by mistake.
    let data = dir.path().to_str().expect("UTF-8 path");
    let listen = server.addr.to_string();
    let args = ["serve", "--data-dir", data, "--listen", &listen];
    let output = run_cli(dir.path(), &args).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "exit {}", output.status);
    assert!(
        stderr.contains(&listen)
            || stderr.contains("another confab server is using the data directory"),
        "unclear error: {stderr}"
    );

    // The failed start must not have "recovered" the live conference.
    let conference = api
        .get(&api.twilio(&format!("Conferences/{cf}.json")))
        .await
        .expect_status(200);
    assert_eq!(conference["status"], "in-progress", "{conference}");
    let list = api
        .get(&api.twilio(&format!("Conferences/{cf}/Participants.json")))
        .await
        .expect_status(200);
    assert_eq!(
        list["participants"].as_array().map(Vec::len),
        Some(2),
        "{list}"
    );
}

#[tokio::test]
async fn listening_on_port_0_prints_the_bound_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::launch(dir.path(), |cmd, _| {
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(dir.path())
            .arg("--listen")
            .arg("127.0.0.1:0");
    })
    .await;
    assert_ne!(server.addr.port(), 0);
    let stdout = server.stdout();
    let curl = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("curl "))
        .unwrap_or_else(|| panic!("no curl line in:\n{stdout}"));
    assert!(
        curl.contains(&format!("http://{}/2010-04-01/", server.addr)),
        "the curl line does not name the address the server listens on ({}): {curl}",
        server.addr
    );
}

#[tokio::test]
async fn config_file_environment_and_flags_are_honoured() {
    let dir = tempfile::tempdir().expect("tempdir");

    // A TOML file alone.
    let from_file = dir.path().join("from-file");
    let config = dir.path().join("confab.toml");
    let mut asked = None;
    let mut server = Server::launch(&from_file, |cmd, addr| {
        asked = Some(addr);
        let toml = format!(
            "data_dir = {}\nlisten = \"{addr}\"\n",
            Value::from(from_file.to_str().expect("UTF-8 path"))
        );
        std::fs::write(&config, toml).expect("writing the config file");
        cmd.arg("serve").arg("--config").arg(&config);
    })
    .await;
    assert_eq!(Some(server.addr), asked, "listen from the file");
    assert!(server.first_start);
    assert!(from_file.join("confab.db").is_file());
    server
        .api()
        .get(&server.api().twilio("Conferences.json"))
        .await
        .expect_status(200);
    stop(&mut server).await;

    // Environment variables alone.
    let from_env = dir.path().join("from-env");
    let mut server = Server::launch(&from_env, |cmd, addr| {
        asked = Some(addr);
        cmd.arg("serve")
            .env("CONFAB_DATA_DIR", &from_env)
            .env("CONFAB_LISTEN", addr.to_string());
    })
    .await;
    assert_eq!(Some(server.addr), asked, "listen from CONFAB_LISTEN");
    assert!(server.first_start);
    assert!(from_env.join("confab.db").is_file());
    stop(&mut server).await;

    // A flag wins over the file (which still supplies the listen address).
    let from_flag = dir.path().join("from-flag");
    let mut server = Server::launch(&from_flag, |cmd, addr| {
        asked = Some(addr);
        let toml = format!(
            "data_dir = {}\nlisten = \"{addr}\"\n",
            Value::from(from_file.to_str().expect("UTF-8 path"))
        );
        std::fs::write(&config, toml).expect("writing the config file");
        cmd.arg("serve")
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(&from_flag);
    })
    .await;
    assert_eq!(
        Some(server.addr),
        asked,
        "listen from the file beside a flag"
    );
    assert!(server.first_start, "the flag's data dir is a new one");
    assert!(from_flag.join("confab.db").is_file());
    stop(&mut server).await;
}

#[tokio::test]
async fn https_without_a_certificate_fails_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("UTF-8 path");
    let listen = common::free_addr().to_string();
    let tls = common::free_addr().to_string();

    let output = run_cli(
        dir.path(),
        &[
            "serve",
            "--data-dir",
            data,
            "--listen",
            &listen,
            "--tls-listen",
            &tls,
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "exit {}", output.status);
    assert!(
        stderr.contains("--tls-cert") && stderr.contains("--tls-key"),
        "unclear error: {stderr}"
    );

    let missing = dir.path().join("missing.pem");
    let missing = missing.to_str().expect("UTF-8 path");
    let output = run_cli(
        dir.path(),
        &[
            "serve",
            "--data-dir",
            data,
            "--listen",
            &common::free_addr().to_string(),
            "--tls-listen",
            &tls,
            "--tls-cert",
            missing,
            "--tls-key",
            missing,
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "exit {}", output.status);
    assert!(stderr.contains("missing.pem"), "unclear error: {stderr}");
}

/// `confab accounts create --style STYLE --json` beside the running server.
async fn create_account(server: &Server, style: &str) -> Account {
    let dir = server.data_dir.to_str().expect("UTF-8 path");
    let args = [
        "accounts",
        "create",
        "--data-dir",
        dir,
        "--style",
        style,
        "--json",
    ];
    let output = run_cli(&server.data_dir, &args).await;
    assert!(
        output.status.success(),
        "accounts create failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "accounts create --json printed {:?}: {e}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    let field = |name: &str| {
        created[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {created}"))
            .to_owned()
    };
    Account {
        sid: field("sid"),
        auth_token: field("auth_token"),
    }
}

async fn stop(server: &mut Server) {
    server.signal("TERM");
    let status = server.wait_exit(STOP_TIMEOUT).await;
    assert!(status.success(), "exit {status}; log:\n{}", server.log());
}

/// The `sid` or `call_sid` of each item of a list.
fn sids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|i| i["call_sid"].as_str().or(i["sid"].as_str()))
        .map(str::to_owned)
        .collect()
}

fn is_twilio_sid(prefix: &str, sid: &str) -> bool {
    sid.strip_prefix(prefix).is_some_and(|hex| {
        hex.len() == 32
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}
