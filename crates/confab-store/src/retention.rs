//! The writer's record of the callbacks table: the row of every stored callback, and the
//! bound on the callback history (at most the newest `keep` finished callbacks of an account
//! stay stored; pending ones always do).
//!
//! The table has no index on a callback's source and sequence (see migration 6): the writer
//! numbers the rows itself and remembers, for every stored callback, its row, so that an
//! outcome is written under that row number (in `callback_outcomes`, see migration 7). It also sees every outcome it writes, so it knows, per
//! account, which callbacks finished and in what order, without asking the database:
//! [`Retention`] keeps that list (loaded from the table when the writer starts). Once an
//! account has `every` more than `keep`, its oldest finished ones are deleted in the writer's
//! next transaction (the group's own, no transaction of their own), as runs of consecutive
//! rows: callbacks finish about in the order they were written, so the runs are long and a
//! pruning takes a few range deletions. A range deletion spares pending rows, so a callback
//! written anew under the key of a finished one is never lost to it.

use std::collections::{HashMap, VecDeque};

use confab_core::callback::CallbackSource;
use rusqlite::Connection;

use crate::{StoreError, Write};

/// Stored callbacks' rows and finished callbacks per account.
pub(crate) struct Retention {
    /// Finished callbacks kept per account.
    keep: usize,
    /// How many beyond `keep` trigger a pruning.
    every: usize,
    /// The row of every stored callback, by source and sequence.
    rows: HashMap<CallbackSource, HashMap<u32, i64>>,
    /// The row the next callback is written to.
    next_row: i64,
    /// By account SID, oldest finished first.
    finished: HashMap<String, VecDeque<(CallbackSource, u32)>>,
}

/// One range deletion: the finished callbacks in rows `first` to `last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Forget {
    pub(crate) first: i64,
    pub(crate) last: i64,
}

impl Retention {
    /// An empty record with a bound of `keep` per account (for a new table, and for tests).
    pub(crate) fn new(keep: u32) -> Retention {
        let keep = keep as usize;
        Retention {
            keep,
            every: (keep / 10).clamp(1, 1000),
            rows: HashMap::new(),
            next_row: 1,
            finished: HashMap::new(),
        }
    }

    /// The record of what the table holds: every callback's row, and the finished ones in
    /// the order they finished.
    pub(crate) fn load(conn: &Connection, keep: u32) -> Result<Retention, StoreError> {
        let mut retention = Retention::new(keep);
        let mut statement = conn.prepare(
            "SELECT c.id, c.account_sid, c.source_kind, c.source_sid, c.sequence, \
             COALESCE(o.state, 'pending') FROM callbacks c \
             LEFT JOIN callback_outcomes o ON o.id = c.id ORDER BY o.finished, c.id",
        )?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let account: String = row.get(1)?;
            let kind: String = row.get(2)?;
            let sid: String = row.get(3)?;
            let sequence: i64 = row.get(4)?;
            let state: String = row.get(5)?;
            retention.next_row = retention.next_row.max(id + 1);
            let (Some(source), Ok(sequence)) = (
                CallbackSource::from_stored(&kind, sid),
                u32::try_from(sequence),
            ) else {
                continue;
            };
            let rows = retention.rows.entry(source.clone()).or_default();
            rows.insert(sequence, id);
            if state != "pending" {
                retention.remember(account, source, sequence);
            }
        }
        Ok(retention)
    }

    /// Notes a write of the writer's next transaction: a finished delivery joins its
    /// account's history.
    pub(crate) fn count(&mut self, write: &Write) {
        if let Write::Delivery {
            account,
            source,
            sequence,
            delivery,
        } = write
        {
            if delivery.finished.is_some() {
                self.remember(account.as_str().to_owned(), source.clone(), *sequence);
            }
        }
    }

    /// The row a callback is written to now, and the row of an earlier record of it (to
    /// delete: the later record wins). Called as the insert is made, in write order, so a
    /// callback written twice in one transaction replaces its own first row. A row numbered
    /// in a transaction that failed is never reused.
    pub(crate) fn number(&mut self, source: &CallbackSource, sequence: u32) -> (i64, Option<i64>) {
        let row = self.next_row;
        self.next_row += 1;
        let rows = self.rows.entry(source.clone()).or_default();
        (row, rows.insert(sequence, row))
    }

    /// The row of a stored callback (`None` only if its write failed).
    pub(crate) fn row(&self, source: &CallbackSource, sequence: u32) -> Option<i64> {
        self.rows.get(source)?.get(&sequence).copied()
    }

    fn remember(&mut self, account: String, source: CallbackSource, sequence: u32) {
        self.finished
            .entry(account)
            .or_default()
            .push_back((source, sequence));
    }

    /// The deletions due now: for every account `every` or more beyond the bound, its
    /// oldest finished callbacks down to `keep`, as runs of consecutive rows.
    #[must_use]
    pub(crate) fn due(&mut self) -> Vec<Forget> {
        let mut gone: Vec<i64> = Vec::new();
        for finished in self.finished.values_mut() {
            if finished.len() < self.keep + self.every {
                continue;
            }
            while finished.len() > self.keep {
                let Some((source, sequence)) = finished.pop_front() else {
                    break;
                };
                let Some(rows) = self.rows.get_mut(&source) else {
                    continue;
                };
                if let Some(row) = rows.remove(&sequence) {
                    gone.push(row);
                }
                if rows.is_empty() {
                    self.rows.remove(&source);
                }
            }
        }
        self.finished.retain(|_, finished| !finished.is_empty());
        gone.sort_unstable();
        let mut ranges: Vec<Forget> = Vec::new();
        for row in gone {
            match ranges.last_mut() {
                Some(range) if range.last + 1 == row => range.last = row,
                _ => ranges.push(Forget {
                    first: row,
                    last: row,
                }),
            }
        }
        ranges
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_core::callback::{Delivery, DeliveryState};
    use confab_core::{AccountSid, ConferenceSid, Timestamp};

    fn source(room: &str) -> CallbackSource {
        CallbackSource::Conference(ConferenceSid::from_stored(room.into()))
    }

    fn finished(account: &str, room: &str, sequence: u32) -> Write {
        Write::Delivery {
            account: AccountSid::from_stored(account.into()),
            source: source(room),
            sequence,
            delivery: Delivery {
                state: DeliveryState::Delivered,
                finished: Some(Timestamp(2)),
                ..Delivery::pending()
            },
        }
    }

    #[test]
    fn callbacks_get_consecutive_rows_and_a_rewritten_one_replaces_its_row() {
        let mut retention = Retention::new(20);
        assert_eq!(retention.number(&source("CF1"), 1), (1, None));
        assert_eq!(retention.number(&source("CF2"), 1), (2, None));
        assert_eq!(retention.row(&source("CF1"), 1), Some(1));
        assert_eq!(retention.row(&source("CF2"), 2), None);
        assert_eq!(retention.number(&source("CF1"), 1), (3, Some(1)));
        assert_eq!(retention.row(&source("CF1"), 1), Some(3));
    }

    #[test]
    fn the_oldest_finished_beyond_the_bound_are_forgotten_by_row_ranges() {
        let mut retention = Retention::new(20); // prunes every 2 beyond 20
        for sequence in 1..=11 {
            let _ = retention.number(&source("CF1"), sequence);
            let _ = retention.number(&source("CF2"), sequence);
        }
        let _ = retention.number(&source("CF3"), 1);
        for sequence in 1..=11 {
            retention.count(&finished("AC1", "CF1", sequence));
            retention.count(&finished("AC1", "CF2", sequence));
        }
        retention.count(&finished("AC2", "CF3", 1));
        assert_eq!(
            retention.due(),
            vec![Forget { first: 1, last: 2 }],
            "22 finished, 20 kept: the first of each room (rows 1 and 2) go"
        );
        assert_eq!(retention.row(&source("CF1"), 1), None);
        assert_eq!(retention.row(&source("CF1"), 2), Some(3));
        assert!(
            retention.due().is_empty(),
            "nothing more until 2 more finish"
        );
        retention.count(&finished("AC1", "CF1", 12));
        assert!(retention.due().is_empty(), "21 is within the slack");
    }
}
