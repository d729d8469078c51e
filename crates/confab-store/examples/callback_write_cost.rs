//! What the SQLite writer spends on each part of a status callback's life in the store: its
//! insert (in small batches, as group commits of API updates write them), its outcome (in the
//! batches the delivery worker writes), and the pruning of the history once an account holds
//! more than the retention bound. Each phase's CPU is the writer thread's (`/proc` schedstat)
//! and the bytes are what the process wrote (`/proc/self/io`, WAL and checkpoints).
//!
//! Run: `cargo run --release -p confab-store --example callback_write_cost [-- 40000 4]`: how many, and how
//! many per insert batch; the first 10,000 fill the history to the bound. The
//! callbacks carry the parameters of a conference `participant-mute` (the load of the
//! `callbacks` benchmark), 64 sources interleaved.

use std::time::Instant;

use confab_core::callback::{Callback, CallbackSource, Delivery, DeliveryState};
use confab_core::model::HttpMethod;
use confab_core::{Account, AccountSid, CallSid, ConferenceSid, SidStyle, Timestamp};
use confab_store::{SqliteStore, Store, Write};

const SOURCES: u128 = 64;
/// Callbacks per insert batch unless given (a group commit at ~20k updates/s holds a few;
/// a larger batch shows a row's own cost without its share of the commit).
const INSERT_BATCH: usize = 4;
/// Batches in flight at once, so that the writer groups them as it does under load.
const IN_FLIGHT: usize = 16;
/// Outcomes per batch (the delivery worker's batch under load).
const OUTCOME_BATCH: usize = 100;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(40_000)
        .max(2);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let batch: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(INSERT_BATCH)
        .max(1);
    runtime.block_on(run(count, batch))
}

async fn run(count: usize, batch: usize) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(&dir.path().join("confab.db")).await?;
    let account = Account {
        sid: AccountSid::mint(SidStyle::Twilio, 1),
        auth_token: "secret".into(),
        style: SidStyle::Twilio,
        friendly_name: "bench".into(),
        date_created: Timestamp(1),
    };
    let sid = account.sid.clone();
    store.write(vec![Write::Account(account)]).await?;
    let callbacks: Vec<Callback> = (0..count).map(|n| callback(&sid, n)).collect();
    println!(
        "callback_write_cost: {count} callbacks of {} parameters ({} bytes as stored JSON), {SOURCES} sources, inserted {batch} per batch",
        callbacks[0].params.len(),
        serde_json::to_string(&callbacks[0].params)?.len()
    );

    // The first ones fill the history up to the bound; the rest are measured with pruning
    // under way.
    let fill = (confab_store::CALLBACK_RETENTION as usize).min(count / 2);
    let (fill, measured) = callbacks.split_at(fill);
    let inserts = phase("insert (history filling)", fill.len(), || {
        insert(&store, fill, batch)
    })
    .await?;
    let outcomes = phase("outcome (history filling)", fill.len(), || {
        finish(&store, fill)
    })
    .await?;
    let inserts2 = phase("insert (history full)", measured.len(), || {
        insert(&store, measured, batch)
    })
    .await?;
    let outcomes2 = phase("outcome + pruning (history full)", measured.len(), || {
        finish(&store, measured)
    })
    .await?;
    println!(
        "per callback in the writer: {:.1} us while filling, {:.1} us with the history full",
        inserts + outcomes,
        inserts2 + outcomes2
    );
    Ok(())
}

async fn insert(
    store: &SqliteStore,
    callbacks: &[Callback],
    batch: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let batches: Vec<Vec<Write>> = callbacks
        .chunks(batch)
        .map(|chunk| {
            chunk
                .iter()
                .cloned()
                .map(|c| Write::Callback(c.into()))
                .collect()
        })
        .collect();
    for group in batches.chunks(IN_FLIGHT) {
        let writes = group.iter().map(|batch| store.write(batch.clone()));
        for result in futures::future::join_all(writes).await {
            result?;
        }
    }
    Ok(())
}

async fn finish(
    store: &SqliteStore,
    callbacks: &[Callback],
) -> Result<(), Box<dyn std::error::Error>> {
    for chunk in callbacks.chunks(OUTCOME_BATCH) {
        let batch = chunk
            .iter()
            .map(|c| Write::Delivery {
                account: c.account_sid.clone(),
                source: c.source.clone(),
                sequence: c.sequence,
                delivery: Delivery {
                    state: DeliveryState::Delivered,
                    attempts: 1,
                    response_status: Some(204),
                    error: None,
                    finished: Some(Timestamp(c.created.0 + 1)),
                },
            })
            .collect();
        store.write(batch).await?;
    }
    Ok(())
}

/// Runs `work` and prints the writer thread's CPU and the bytes written per callback.
async fn phase<F, Fut>(name: &str, n: usize, work: F) -> Result<f64, Box<dyn std::error::Error>>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(), Box<dyn std::error::Error>>>,
{
    let (cpu0, bytes0, at) = (writer_cpu(), written_bytes(), Instant::now());
    work().await?;
    let (cpu, bytes, wall) = (
        writer_cpu() - cpu0,
        written_bytes() - bytes0,
        at.elapsed().as_secs_f64(),
    );
    let per = cpu * 1e6 / n as f64;
    println!(
        "  {name:34} writer {per:5.1} us per callback | {:6.0} bytes written per callback | {:.0}/s",
        bytes as f64 / n as f64,
        n as f64 / wall
    );
    Ok(per)
}

/// CPU seconds of the store's writer thread so far.
fn writer_cpu() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.starts_with("confab-store-wr"))
        })
        .filter_map(|t| {
            let s = std::fs::read_to_string(t.path().join("schedstat")).ok()?;
            s.split_whitespace().next()?.parse::<f64>().ok()
        })
        .sum::<f64>()
        / 1e9
}

/// Bytes this process caused to be written to storage so far.
fn written_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("write_bytes: ")?.trim().parse().ok())
        .unwrap_or(0)
}

/// Callback `n`: a `participant-mute` of conference `n % SOURCES`, as the server writes it.
fn callback(account: &AccountSid, n: usize) -> Callback {
    let source = n as u128 % SOURCES;
    let conference = ConferenceSid::mint(SidStyle::Twilio, source + 1);
    let call = CallSid::mint(SidStyle::Twilio, source + 1000);
    let sequence = (n as u128 / SOURCES) as u32 + 1;
    let muted = if sequence.is_multiple_of(2) {
        "true"
    } else {
        "false"
    };
    let params: Vec<(String, String)> = [
        ("Coaching", "false"),
        ("FriendlyName", &format!("room-{source}")),
        ("ParticipantLabel", ""),
        ("EndConferenceOnExit", "false"),
        ("StatusCallbackEvent", "participant-mute"),
        ("Timestamp", "Tue, 01 Dec 2026 21:00:00 +0000"),
        ("StartConferenceOnEnter", "true"),
        ("AccountSid", account.as_str()),
        ("SequenceNumber", &sequence.to_string()),
        ("ConferenceSid", conference.as_str()),
        ("CallSid", call.as_str()),
        ("Hold", "false"),
        ("Muted", muted),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    Callback {
        account_sid: account.clone(),
        source: CallbackSource::Conference(conference),
        sequence,
        event: "participant-mute".into(),
        call_sid: Some(call),
        url: "http://127.0.0.1:39409/callbacks".into(),
        method: HttpMethod::Post,
        params,
        idempotency_token: format!("{:032x}", n as u128 * 0x9E37_79B9_7F4A_7C15),
        created: Timestamp(1_800_000_000_000 + n as i64),
    }
}
