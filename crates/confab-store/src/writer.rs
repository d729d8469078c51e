//! The group-commit writer of the SQLite store.
//!
//! One OS thread owns the only writing connection. It blocks until a batch
//! arrives, takes every other batch already waiting (up to [`MAX_GROUP`]),
//! applies them all in one `BEGIN IMMEDIATE … COMMIT` with cached prepared
//! statements, and acknowledges each batch only after the commit returned,
//! which with `synchronous=FULL` means the WAL is on disk. If the group fails,
//! each batch is retried alone so that one bad batch cannot fail the others.
//!
//! The writer is a plain thread with a synchronous connection (rusqlite)
//! rather than a tokio task over sqlx: sqlx's SQLite driver hands every
//! statement to its own worker thread and back, and with one writer those
//! hand-offs, not SQLite or fsync, limited how many updates per second the
//! API could make durable.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params_from_iter, Connection, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use crate::rows::{self, Query};
use crate::{StoreError, Write};

/// Most batches one transaction takes; bounds the latency of a group.
pub(crate) const MAX_GROUP: usize = 512;

/// A batch waiting for the writer, with the channel that acknowledges it.
pub(crate) struct Job {
    /// The batch's statements, built by the caller (see [`Job::new`]).
    statements: Vec<Statement>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// One record's write, ready to execute.
struct Statement {
    /// For a participant: an in-place update to try first.
    update: Option<Query>,
    /// The insert to run when there is nothing to update (a conference
    /// row is an upsert).
    insert: Query,
}

impl Job {
    /// Builds the statements of `batch` on the caller's thread: the writer
    /// is the one serial stage of every write, so it only executes.
    pub(crate) fn new(batch: &[Write], done: oneshot::Sender<Result<(), StoreError>>) -> Job {
        let statements = batch
            .iter()
            .map(|write| Statement {
                update: match write {
                    Write::Participant(p) => Some(Query {
                        sql: std::borrow::Cow::Borrowed(rows::PARTICIPANT_UPDATE.as_str()),
                        binds: rows::participant_update_binds(p),
                    }),
                    _ => None,
                },
                insert: write_query(write),
            })
            .collect();
        Job { statements, done }
    }
}

/// Opens the writing connection and starts the writer thread. The schema
/// must already be applied. The thread ends when every sender is dropped.
pub(crate) fn start(path: &Path) -> Result<mpsc::UnboundedSender<Job>, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    let (sender, jobs) = mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("confab-store-writer".into())
        .spawn(move || write_loop(conn, jobs))
        .map_err(|e| StoreError::Corrupt(format!("cannot start the writer thread: {e}")))?;
    Ok(sender)
}

fn write_loop(mut conn: Connection, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = jobs.blocking_recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            let Ok(job) = jobs.try_recv() else { break };
            group.push(job);
        }
        let all: Vec<&Statement> = group.iter().flat_map(|j| j.statements.iter()).collect();
        if commit(&mut conn, &all).is_ok() {
            for job in group.drain(..) {
                let _ = job.done.send(Ok(()));
            }
            continue;
        }
        for job in group.drain(..) {
            let alone: Vec<&Statement> = job.statements.iter().collect();
            let result = commit(&mut conn, &alone);
            if let Err(e) = &result {
                tracing::error!(error = %e, "write failed");
            }
            let _ = job.done.send(result);
        }
    }
}

fn commit(conn: &mut Connection, statements: &[&Statement]) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        // Taken from the cache once per group: a lookup hashes the SQL text.
        let mut update = tx.prepare_cached(&rows::PARTICIPANT_UPDATE)?;
        for statement in statements {
            if let Some(q) = &statement.update {
                if update.execute(params_from_iter(q.binds.iter()))? > 0 {
                    continue;
                }
            }
            let q = &statement.insert;
            tx.prepare_cached(&q.sql)?
                .execute(params_from_iter(q.binds.iter()))?;
        }
    }
    tx.commit()?;
    Ok(())
}

fn write_query(write: &Write) -> Query {
    match write {
        Write::Account(a) => rows::account_insert(a),
        Write::Conference(c) => rows::conference_upsert(c),
        Write::Participant(p) => rows::participant_insert(p),
    }
}
