//! The group-commit writer of the SQLite store.
//!
//! Two OS threads make writes durable, in a pipeline:
//!
//! - The *writer* owns the only writing connection. It blocks until a batch
//!   arrives, takes every other batch already waiting (up to [`MAX_GROUP`]),
//!   applies them all in one `BEGIN IMMEDIATE … COMMIT` with cached prepared
//!   statements, and passes the group's acknowledgements to the syncer. If the
//!   group fails, each batch is retried alone so that one bad batch cannot
//!   fail the others.
//! - The *syncer* flushes the WAL file to disk (`fdatasync`) and only then
//!   acknowledges every group whose commit returned before that flush began.
//!
//! The connection runs with `synchronous=NORMAL`: in WAL mode SQLite then
//! syncs only around checkpoints (the WAL before one, the database file after
//! it, the WAL header when the file is reused), never at commit. The syncer
//! supplies the per-commit flush instead, so an acknowledged write survives
//! power loss just as with `synchronous=FULL`, but the writer commits the next
//! group while the disk flushes the last one instead of waiting for it.
//!
//! The writer also numbers the rows of the callbacks table and remembers each stored
//! callback's, so that an outcome is written under its row number, and it bounds the callback history:
//! it notes the callbacks of each account that finish and, every so often, deletes that
//! account's oldest finished ones beyond the retention bound in the group's transaction
//! (see [`crate::retention`]).
//!
//! Both are plain threads with a synchronous connection (rusqlite) rather
//! than tokio tasks over sqlx: sqlx's SQLite driver hands every statement to
//! its own worker thread and back, and with one writer those hand-offs, not
//! SQLite or fsync, limited how many updates per second the API could make
//! durable.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use rusqlite::{params_from_iter, Connection, TransactionBehavior};
use tokio::sync::mpsc;

use crate::retention::{Forget, Retention};
use crate::{call_rows, callback_rows, number_rows, rows};
use crate::{Durability, StoreError, Write};

/// Most batches one transaction takes; bounds the latency of a group.
pub(crate) const MAX_GROUP: usize = 512;

/// The writer's page cache, in KiB as a negative `cache_size` (SQLite's convention).
const WRITER_CACHE_KIB: i64 = -64 * 1024;

/// WAL pages (4 kB each) between automatic checkpoints.
const WAL_CHECKPOINT_PAGES: i64 = 8192;

/// What acknowledges one batch.
type Ack = Durability;

/// A batch waiting for the writer, with the channel that acknowledges it.
pub(crate) struct Job {
    /// The records, moved in: the writer binds their fields where they lie,
    /// so writing one copies none of its text.
    writes: Vec<Write>,
    done: Ack,
}

impl Job {
    pub(crate) fn new(writes: Vec<Write>, done: Ack) -> Job {
        Job { writes, done }
    }

    /// Reports that the batch was not written.
    pub(crate) fn fail(self, error: StoreError) {
        (self.done)(Err(error));
    }
}

/// Opens the writing connection and starts the writer and syncer threads.
/// The schema must already be applied. The threads end when every sender is
/// dropped, after acknowledging what they hold.
pub(crate) fn start(
    path: &Path,
    callback_retention: u32,
) -> Result<mpsc::UnboundedSender<Job>, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // Durability at commit comes from the syncer (module docs).
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // The callback outbox and its history are rewritten all the time (a row per callback,
    // its outcome, pruning): with SQLite's default 2 MB page cache most of those pages were
    // read back from the OS at every touch. KiB, negative by SQLite's convention.
    conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
    // A checkpoint copies the newest version of every page the WAL holds into the database
    // file. The outbox rewrites the same few hot pages (the table's and its indexes' newest
    // leaves) in commit after commit, so checkpointing less often copies each of them once
    // per many more commits; SQLite's default of 1,000 pages made checkpoints a quarter
    // of the cost of committing.
    conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)?;
    let retention = Retention::load(&conn, callback_retention)?;
    let wal = wal_path(path);
    let (to_syncer, committed) = std_mpsc::channel();
    std::thread::Builder::new()
        .name("confab-store-sync".into())
        .spawn(move || {
            let mut wal = WalFile {
                path: wal,
                file: None,
            };
            sync_loop(|| wal.flush(), committed, |done: Ack, result| done(result))
        })
        .map_err(|e| StoreError::Corrupt(format!("cannot start the syncer thread: {e}")))?;
    let (sender, jobs) = mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("confab-store-writer".into())
        .spawn(move || write_loop(conn, jobs, to_syncer, retention))
        .map_err(|e| StoreError::Corrupt(format!("cannot start the writer thread: {e}")))?;
    Ok(sender)
}

fn write_loop(
    mut conn: Connection,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    syncer: std_mpsc::Sender<Vec<Ack>>,
    mut retention: Retention,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = jobs.blocking_recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            let Ok(job) = jobs.try_recv() else { break };
            group.push(job);
        }
        // Counted before the commit: a batch that fails is off by one at most, harmless.
        for write in group.iter().flat_map(|j| j.writes.iter()) {
            retention.count(write);
        }
        let forget = retention.due();
        let all: Vec<&Write> = group.iter().flat_map(|j| j.writes.iter()).collect();
        let committed = if commit(&mut conn, &mut retention, &all, &forget).is_ok() {
            group.drain(..).map(|job| job.done).collect()
        } else {
            let mut committed = Vec::new();
            for job in group.drain(..) {
                let alone: Vec<&Write> = job.writes.iter().collect();
                match commit(&mut conn, &mut retention, &alone, &[]) {
                    Ok(()) => committed.push(job.done),
                    Err(e) => {
                        tracing::error!(error = %e, "write failed");
                        (job.done)(Err(e));
                    }
                }
            }
            if !forget.is_empty() {
                if let Err(e) = commit(&mut conn, &mut retention, &[], &forget) {
                    // The history bound is not worth failing writes for.
                    tracing::warn!(error = %e, "pruning callbacks failed");
                }
            }
            committed
        };
        if committed.is_empty() {
            continue;
        }
        if let Err(std_mpsc::SendError(orphans)) = syncer.send(committed) {
            // The syncer only exits when this sender is dropped; should it
            // have died, nothing is acknowledged that was not flushed.
            for done in orphans {
                done(Err(StoreError::Closed));
            }
        }
    }
}

/// Acknowledges committed groups after a flush that began once they were
/// committed: every group waiting when a flush starts rides on it. A failed
/// flush fails its groups and every later one, since after an I/O error the
/// kernel may have dropped the unwritten pages and a later flush that
/// succeeds proves nothing about them.
fn sync_loop<A>(
    mut flush: impl FnMut() -> io::Result<()>,
    committed: std_mpsc::Receiver<Vec<A>>,
    mut acknowledge: impl FnMut(A, Result<(), StoreError>),
) {
    let mut broken: Option<String> = None;
    while let Ok(mut acks) = committed.recv() {
        while let Ok(more) = committed.try_recv() {
            acks.extend(more);
        }
        if broken.is_none() {
            if let Err(e) = flush() {
                tracing::error!(error = %e, "flushing the WAL failed; refusing further writes");
                broken = Some(e.to_string());
            }
        }
        for done in acks {
            let result = match &broken {
                None => Ok(()),
                Some(e) => Err(StoreError::Io(e.clone())),
            };
            acknowledge(done, result);
        }
    }
}

/// Flushes the WAL file's data to disk through a descriptor of our own,
/// opened at the first flush (after the first commit created the file) and
/// kept: a descriptor reports every write-back error that happens while it
/// is open, where one opened later could miss an error SQLite's own
/// descriptor saw first. SQLite keeps the file, never replacing it, as long
/// as the writer's connection is open, which outlasts every commit.
struct WalFile {
    path: PathBuf,
    file: Option<File>,
}

impl WalFile {
    fn flush(&mut self) -> io::Result<()> {
        let file = match self.file.take() {
            Some(file) => file,
            None => File::open(&self.path)?,
        };
        file.sync_data()?;
        self.file = Some(file);
        Ok(())
    }
}

/// SQLite names the WAL after the database file.
fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Applies `writes` and then the history's `forget` deletions in one transaction. `rows`
/// numbers the callbacks' rows and knows the row of each stored one.
fn commit(
    conn: &mut Connection,
    rows: &mut Retention,
    writes: &[&Write],
    forget: &[Forget],
) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        // Taken from the cache once per group: a lookup hashes the SQL text.
        let mut update = tx.prepare_cached(&rows::PARTICIPANT_UPDATE)?;
        for write in writes {
            // Most participant writes change a stored row: try the update
            // first and insert only when no row matched.
            if let Write::Participant(p) = write {
                if update.execute(params_from_iter(rows::participant_update_binds(p)))? > 0 {
                    continue;
                }
            }
            let q = match write {
                Write::Account(a) => rows::account_insert(a),
                Write::Conference(c) => rows::conference_upsert(c),
                Write::Participant(p) => rows::participant_insert(p),
                Write::Call(c) => call_rows::call_upsert(c),
                Write::DeleteCall { account, sid } => call_rows::call_delete(account, sid),
                Write::Callback(c) => {
                    let (row, earlier) = rows.number(&c.source, c.sequence);
                    if let Some(earlier) = earlier {
                        // Written anew: the later record wins.
                        for q in callback_rows::remove(earlier) {
                            tx.prepare_cached(&q.sql)?
                                .execute(params_from_iter(q.binds.iter()))?;
                        }
                    }
                    callback_rows::callback_insert(row, c)
                }
                Write::Delivery {
                    source,
                    sequence,
                    delivery,
                    ..
                } => match rows.row(source, *sequence) {
                    Some(row) => callback_rows::delivery_update(row, delivery),
                    None => callback_rows::delivery_update_by_key(source, *sequence, delivery),
                },
                Write::PhoneNumber(n) => number_rows::number_upsert(n),
                Write::DeletePhoneNumber { account, sid } => {
                    number_rows::number_delete(account, sid)
                }
            };
            tx.prepare_cached(&q.sql)?
                .execute(params_from_iter(q.binds.iter()))?;
        }
        for range in forget {
            for q in callback_rows::forget(range.first, range.last) {
                tx.prepare_cached(&q.sql)?
                    .execute(params_from_iter(q.binds.iter()))?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    /// A group is acknowledged only after a flush that started once it was
    /// committed: each flush notes how many groups were committed when it
    /// began, and each acknowledgement, as it happens, must find its group
    /// covered by the latest flush.
    #[test]
    fn acknowledges_only_after_a_later_flush() {
        let committed_groups = Arc::new(AtomicUsize::new(0));
        let (to_syncer, pending) = std_mpsc::channel();
        let acked = Arc::new(Mutex::new(Vec::new()));
        let syncer = {
            let (committed_groups, acked) = (committed_groups.clone(), acked.clone());
            std::thread::spawn(move || {
                let flushed_upto = Arc::new(AtomicUsize::new(0));
                let upto = flushed_upto.clone();
                sync_loop(
                    move || {
                        let at_start = committed_groups.load(Ordering::SeqCst);
                        std::thread::sleep(Duration::from_micros(200));
                        upto.store(at_start, Ordering::SeqCst);
                        Ok(())
                    },
                    pending,
                    |group: usize, result| {
                        result.unwrap();
                        let covered = flushed_upto.load(Ordering::SeqCst);
                        acked.lock().unwrap().push((group, covered));
                    },
                )
            })
        };
        for group in 1..=300 {
            committed_groups.store(group, Ordering::SeqCst);
            to_syncer.send(vec![group]).unwrap();
            if group % 7 == 0 {
                std::thread::sleep(Duration::from_micros(300));
            }
        }
        drop(to_syncer);
        syncer.join().unwrap();
        let acked = acked.lock().unwrap();
        assert_eq!(acked.len(), 300, "every group is acknowledged");
        let batched = acked.windows(2).filter(|w| w[0].1 == w[1].1).count();
        assert!(batched > 0, "some flush covered more than one group");
        for &(group, covered) in acked.iter() {
            assert!(
                covered >= group,
                "group {group} acknowledged by a flush that began at {covered}"
            );
        }
    }

    /// After a failed flush nothing more is acknowledged as durable.
    #[test]
    fn a_failed_flush_fails_that_group_and_all_later_ones() {
        let (to_syncer, pending) = std_mpsc::channel();
        let (results, collected) = std_mpsc::channel();
        let mut flushes = 0;
        let syncer = std::thread::spawn(move || {
            sync_loop(
                || {
                    flushes += 1;
                    if flushes == 2 {
                        Err(io::Error::other("disk on fire"))
                    } else {
                        Ok(())
                    }
                },
                pending,
                |(), result| results.send(result).unwrap(),
            )
        });
        let mut seen = Vec::new();
        for _ in 0..4 {
            to_syncer.send(vec![()]).unwrap();
            seen.push(collected.recv().unwrap());
        }
        drop(to_syncer);
        syncer.join().unwrap();
        assert!(seen[0].is_ok());
        for result in &seen[1..] {
            assert!(matches!(result, Err(StoreError::Io(e)) if e.contains("disk on fire")));
        }
    }
}
