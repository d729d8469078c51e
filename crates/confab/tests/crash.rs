//! Durability under `kill -9` (and SIGTERM): a write the server acknowledged
//! with a 2xx is in the database, whatever happened to the process afterwards.
//!
//! Clients create participants and flip Muted/Hold on known ones as fast as
//! the server answers, the server is stopped at an arbitrary moment, and
//! after a restart the SQLite file must hold every acknowledged create and,
//! for every participant, the last acknowledged update (or one sent after it
//! whose answer the stop swallowed). The participant rows of completed
//! conferences are not exposed by the API, so the file is read directly with
//! the `sqlite3` command-line shell.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Api, Reply, Server};
use reqwest::Method;
use serde_json::Value;

/// Rooms set up before the load starts.
const ROOMS: usize = 4;
/// Connected participants per room, all of them updated under load.
const PER_ROOM: usize = 3;
/// Client tasks creating participants.
const CREATORS: usize = 4;
/// Client tasks updating participants (each owns a share of them, so the
/// updates of one participant are sequential and "last" is well defined).
const UPDATERS: usize = 4;
/// Participants a creator puts in one fresh room before opening the next.
const PER_FRESH_ROOM: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill_9() {
    load_then_stop(Stop::Kill9).await;
}

/// A graceful stop in the middle of the load loses nothing acknowledged
/// either, and still exits with status 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigterm_under_load() {
    load_then_stop(Stop::Term).await;
}

/// How the server is stopped in the middle of the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// `kill -9`.
    Kill9,
    /// `kill -TERM`, which must end the process with status 0.
    Term,
}

async fn load_then_stop(stop: Stop) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(dir.path()).await;
    let api = server.api();
    let (rooms, driven) = set_up(&api).await;

    let stopping = Arc::new(AtomicBool::new(false));
    let creators: Vec<_> = (0..CREATORS)
        .map(|task| {
            let (api, rooms, stopping) = (api.clone(), rooms.clone(), stopping.clone());
            tokio::spawn(create_loop(api, task, rooms, stopping))
        })
        .collect();
    let mut shares: Vec<Vec<Driven>> = (0..UPDATERS).map(|_| Vec::new()).collect();
    for (i, d) in driven.into_iter().enumerate() {
        shares[i % UPDATERS].push(d);
    }
    let updaters: Vec<_> = shares
        .into_iter()
        .map(|share| tokio::spawn(update_loop(api.clone(), share, stopping.clone())))
        .collect();

    tokio::time::sleep(stop_delay()).await;
    stopping.store(true, Ordering::SeqCst);
    match stop {
        Stop::Kill9 => server.kill9().await,
        Stop::Term => {
            server.signal("TERM");
            let status = server.wait_exit(Duration::from_secs(20)).await;
            assert!(status.success(), "exit {status}; log:\n{}", server.log());
        }
    }

    let mut log = CreateLog::default();
    for task in creators {
        let part = join(task).await;
        log.created.extend(part.created);
        log.full += part.full;
        log.unexpected.extend(part.unexpected);
    }
    let mut driven = Vec::new();
    for task in updaters {
        let (share, unexpected) = join(task).await;
        driven.extend(share);
        log.unexpected.extend(unexpected);
    }
    assert!(
        log.unexpected.is_empty(),
        "unexpected answers before the stop:\n{}",
        log.unexpected.join("\n")
    );

    let restarted = Server::start(dir.path()).await;
    let db = dir.path().join("confab.db");
    let verified = verify(&db, &log.created, &driven);
    verify_conferences(&restarted.api(), &db, &log.created).await;

    let acked_updates: usize = driven.iter().map(|d| d.acked()).sum();
    let unacked_updates: usize = driven.iter().map(|d| d.sent.len() - d.acked()).sum();
    println!(
        "{stop:?}: {} acknowledged creates ({} refused as full), {acked_updates} acknowledged \
         updates, {unacked_updates} updates unanswered at the stop, {verified} participant rows \
         verified",
        log.created.len(),
        log.full,
    );
    assert!(!log.created.is_empty(), "no create was acknowledged");
    assert!(acked_updates > 0, "no update was acknowledged");
}

/// A participant the server acknowledged creating.
#[derive(Debug, Clone)]
struct Created {
    call_sid: String,
    conference_sid: String,
}

/// The two flags the updaters flip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Flags {
    muted: bool,
    hold: bool,
}

impl Flags {
    /// Step `k` of a cycle through all four combinations, each step
    /// different from the one before.
    fn step(k: usize) -> Flags {
        Flags {
            muted: k & 1 == 0,
            hold: k & 2 == 0,
        }
    }
}

/// An update sent, and whether its 200 came back.
#[derive(Debug, Clone, Copy)]
struct Sent {
    flags: Flags,
    acked: bool,
}

/// A participant under update, with every update sent to it in order.
#[derive(Debug, Clone)]
struct Driven {
    call_sid: String,
    conference_sid: String,
    sent: Vec<Sent>,
}

impl Driven {
    fn acked(&self) -> usize {
        self.sent.iter().filter(|s| s.acked).count()
    }

    /// The values the row may hold: the last acknowledged one and any sent
    /// after it (their answers were lost to the stop); with nothing
    /// acknowledged, also the values it was created with.
    fn allowed(&self) -> Vec<Flags> {
        let last_ack = self.sent.iter().rposition(|s| s.acked);
        let mut allowed = match last_ack {
            Some(_) => Vec::new(),
            None => vec![Flags {
                muted: false,
                hold: false,
            }],
        };
        let from = last_ack.unwrap_or(0);
        allowed.extend(self.sent[from..].iter().map(|s| s.flags));
        allowed
    }
}

/// What the creators saw.
#[derive(Debug, Default)]
struct CreateLog {
    created: Vec<Created>,
    /// Creates refused because the room was full (16020), which is fine.
    full: usize,
    unexpected: Vec<String>,
}

/// Opens the rooms and waits until their participants are connected.
async fn set_up(api: &Api) -> (Arc<Vec<String>>, Vec<Driven>) {
    let rooms: Vec<String> = (0..ROOMS).map(|r| format!("crash-room-{r}")).collect();
    let mut driven = Vec::new();
    for room in &rooms {
        for p in 0..PER_ROOM {
            let created = api.add_participant(room, &format!("sim:{room}-p{p}")).await;
            driven.push(Driven {
                call_sid: text(&created, "call_sid"),
                conference_sid: text(&created, "conference_sid"),
                sent: Vec::new(),
            });
        }
    }
    for d in &driven {
        api.wait_participant(&d.conference_sid, &d.call_sid, "connected")
            .await;
    }
    (Arc::new(rooms), driven)
}

/// Creates participants until the server dies: every other one in a set-up
/// room, the rest in fresh rooms this task opens as it goes.
async fn create_loop(
    api: Api,
    task: usize,
    rooms: Arc<Vec<String>>,
    stopping: Arc<AtomicBool>,
) -> CreateLog {
    let mut log = CreateLog::default();
    for i in 0.. {
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        let room = if i % 2 == 0 {
            rooms[(task + i / 2) % rooms.len()].clone()
        } else {
            format!("crash-fresh-{task}-{}", i / (2 * PER_FRESH_ROOM))
        };
        let path = api.twilio(&format!("Conferences/{room}/Participants.json"));
        let to = format!("sim:c{task}n{i}");
        let request = api
            .request(Method::POST, &path)
            .form(&[("From", "+15550100"), ("To", to.as_str())]);
        match Reply::try_send(request).await {
            Ok(reply) if reply.status == 201 => {
                let body = reply.json();
                log.created.push(Created {
                    call_sid: text(&body, "call_sid"),
                    conference_sid: text(&body, "conference_sid"),
                });
            }
            Ok(reply) if reply.status == 400 && reply.json()["code"] == 16020 => log.full += 1,
            Ok(reply) => log
                .unexpected
                .push(format!("create in {room}: {} {}", reply.status, reply.body)),
            Err(e) => {
                if !stopping.load(Ordering::SeqCst) {
                    log.unexpected.push(format!("create in {room}: {e}"));
                }
                break;
            }
        }
    }
    log
}

/// Flips Muted/Hold on its share of participants, one request at a time,
/// until the server dies.
async fn update_loop(
    api: Api,
    mut share: Vec<Driven>,
    stopping: Arc<AtomicBool>,
) -> (Vec<Driven>, Vec<String>) {
    let mut unexpected = Vec::new();
    'load: for step in 0.. {
        for d in &mut share {
            if stopping.load(Ordering::SeqCst) {
                break 'load;
            }
            let flags = Flags::step(step);
            let path = api.twilio(&format!(
                "Conferences/{}/Participants/{}.json",
                d.conference_sid, d.call_sid
            ));
            let form = [
                ("Muted", flags.muted.to_string()),
                ("Hold", flags.hold.to_string()),
            ];
            d.sent.push(Sent {
                flags,
                acked: false,
            });
            match Reply::try_send(api.request(Method::POST, &path).form(&form)).await {
                Ok(reply) if reply.status == 200 => {
                    let body = reply.json();
                    let echoed = Flags {
                        muted: body["muted"] == true,
                        hold: body["hold"] == true,
                    };
                    if echoed != flags {
                        unexpected.push(format!("update to {flags:?} answered {body}"));
                    }
                    if let Some(last) = d.sent.last_mut() {
                        last.acked = true;
                    }
                }
                Ok(reply) => {
                    unexpected.push(format!("update {path}: {} {}", reply.status, reply.body))
                }
                Err(e) => {
                    if !stopping.load(Ordering::SeqCst) {
                        unexpected.push(format!("update {path}: {e}"));
                    }
                    break 'load;
                }
            }
        }
    }
    (share, unexpected)
}

/// Checks the participant rows; returns how many were verified. Every
/// violation is listed before the test fails, so one run shows whether
/// creates, updates or both were acknowledged too early.
fn verify(db: &Path, created: &[Created], driven: &[Driven]) -> usize {
    let rows: HashMap<String, Value> = sqlite(
        db,
        "SELECT call_sid, conference_sid, status, muted, hold FROM participants",
    )
    .into_iter()
    .map(|row| (text(&row, "call_sid"), row))
    .collect();
    let mut problems = Vec::new();
    for row in rows.values() {
        if !matches!(row["status"].as_str(), Some("complete" | "failed")) {
            problems.push(format!("still active after recovery: {row}"));
        }
    }
    for c in created {
        let Some(row) = rows.get(&c.call_sid) else {
            problems.push(format!(
                "acknowledged create {} (conference {}) is not in the database",
                c.call_sid, c.conference_sid
            ));
            continue;
        };
        if row["conference_sid"] != c.conference_sid.as_str() || row["status"] != "complete" {
            problems.push(format!("acknowledged create {}: row {row}", c.call_sid));
        }
    }
    for d in driven {
        let Some(row) = rows.get(&d.call_sid) else {
            problems.push(format!("participant {} is not in the database", d.call_sid));
            continue;
        };
        let stored = Flags {
            muted: flag(row, "muted"),
            hold: flag(row, "hold"),
        };
        let allowed = d.allowed();
        if row["status"] != "complete" || !allowed.contains(&stored) {
            let tail = &d.sent[d.sent.len().saturating_sub(3)..];
            problems.push(format!(
                "participant {} holds {stored:?} ({row}), but the last acknowledged update and \
                 those sent after it were {allowed:?} (last sent {tail:?})",
                d.call_sid
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} acknowledged writes were lost or wrong after the stop and restart; the first:\n{}",
        problems.len(),
        problems[..problems.len().min(12)].join("\n")
    );
    created.len() + driven.len()
}

/// Every conference was live at the stop, so every one must now be
/// completed by the restart, in the database and through the API.
async fn verify_conferences(api: &Api, db: &Path, created: &[Created]) {
    let rows = sqlite(
        db,
        "SELECT sid, status, reason_ended, end_detail FROM conferences",
    );
    let mut expected: Vec<&str> = created.iter().map(|c| c.conference_sid.as_str()).collect();
    expected.sort_unstable();
    expected.dedup();
    for sid in &expected {
        assert!(
            rows.iter().any(|r| r["sid"] == *sid),
            "conference {sid} of an acknowledged create is not in the database"
        );
    }
    assert!(rows.len() > ROOMS, "conferences: {rows:?}");
    for row in &rows {
        assert_eq!(row["status"], "completed", "{row}");
        assert_eq!(row["reason_ended"], "last-participant-left", "{row}");
        let detail = row["end_detail"].as_str().unwrap_or_default();
        assert!(!detail.is_empty(), "no end_detail: {row}");
        let sid = text(row, "sid");
        let fetched = api
            .get(&api.twilio(&format!("Conferences/{sid}.json")))
            .await
            .expect_status(200);
        assert_eq!(fetched["status"], "completed", "{fetched}");
        assert_eq!(fetched["reason_conference_ended"], "last-participant-left");
    }
}

/// Rows of a query, read with the `sqlite3` shell (which the running
/// restarted server does not mind: the database is in WAL mode).
fn sqlite(db: &Path, sql: &str) -> Vec<Value> {
    let output = std::process::Command::new("sqlite3")
        .arg("-json")
        .arg(db)
        .arg(sql)
        .output()
        .unwrap_or_else(|e| {
            panic!("this test reads the database with the sqlite3 shell, which failed to run: {e}")
        });
    assert!(
        output.status.success(),
        "sqlite3 {sql:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    if output.stdout.iter().all(u8::is_ascii_whitespace) {
        return Vec::new();
    }
    serde_json::from_slice(&output.stdout).expect("sqlite3 -json prints a JSON array")
}

/// A BOOLEAN column, stored by SQLite as 0 or 1.
fn flag(row: &Value, column: &str) -> bool {
    match &row[column] {
        Value::Number(n) if n.as_i64() == Some(0) => false,
        Value::Number(n) if n.as_i64() == Some(1) => true,
        other => panic!("{column} is {other} in {row}"),
    }
}

fn text(value: &Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {value}"))
        .to_owned()
}

/// Somewhere between 1 and 1.5 s into the load.
fn stop_delay() -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    Duration::from_millis(1000 + u64::from(nanos % 500))
}

/// Joins a client task; the stop ends every task's loop, so this is quick.
async fn join<T>(task: tokio::task::JoinHandle<T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("a client task still ran 30 s after the stop")
        .expect("a client task panicked")
}
