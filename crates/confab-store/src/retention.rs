//! The bound on the callback history: at most the newest `keep` finished callbacks of an
//! account stay stored (pending ones always do).
//!
//! The writer sees every outcome it writes, so it knows, per account, which callbacks
//! finished and in what order, without asking the database: [`Retention`] keeps that list
//! (loaded from the table when the writer starts). Once an account has `every` more than
//! `keep`, the oldest finished ones are deleted in the writer's next transaction (the
//! group's own, no transaction of their own). The deletion is by sequence range, one
//! statement per source: a source's callbacks finish in sequence order (one after another),
//! so everything finished of that source up to the newest sequence being forgotten is older
//! still. (A callback dropped from a full outbox finishes before the one of its source being
//! sent; forgetting it may take that one along a little early. Only the history is bounded
//! this way: pending callbacks are never deleted.) Finding the boundary used to take a walk
//! of the `keep` newest rows of the account at every pruning, and that walk cost more than
//! writing the callbacks did.

use std::collections::{HashMap, VecDeque};

use confab_core::callback::CallbackSource;
use rusqlite::Connection;

use crate::{StoreError, Write};

/// Finished callbacks still stored, per account, in the order they finished.
pub(crate) struct Retention {
    /// Finished callbacks kept per account.
    keep: usize,
    /// How many beyond `keep` trigger a pruning.
    every: usize,
    /// By account SID, oldest finished first.
    finished: HashMap<String, VecDeque<(CallbackSource, u32)>>,
}

/// One range deletion: the finished callbacks of `source` up to `through`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Forget {
    pub(crate) source: CallbackSource,
    pub(crate) through: u32,
}

impl Retention {
    /// An empty bound of `keep` per account (for a new table, and for tests).
    pub(crate) fn new(keep: u32) -> Retention {
        let keep = keep as usize;
        Retention {
            keep,
            every: (keep / 10).clamp(1, 1000),
            finished: HashMap::new(),
        }
    }

    /// The bound over what the table holds: its finished callbacks in the order they
    /// finished.
    pub(crate) fn load(conn: &Connection, keep: u32) -> Result<Retention, StoreError> {
        let mut retention = Retention::new(keep);
        let mut statement = conn.prepare(
            "SELECT account_sid, source_kind, source_sid, sequence FROM callbacks \
             WHERE state <> 'pending' ORDER BY finished, created, source_kind, source_sid, sequence",
        )?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let account: String = row.get(0)?;
            let kind: String = row.get(1)?;
            let sid: String = row.get(2)?;
            let sequence: i64 = row.get(3)?;
            let (Some(source), Ok(sequence)) = (
                CallbackSource::from_stored(&kind, sid),
                u32::try_from(sequence),
            ) else {
                continue;
            };
            retention.remember(account, source, sequence);
        }
        Ok(retention)
    }

    /// Notes a finished callback among `writes`.
    pub(crate) fn count(&mut self, write: &Write) {
        let Write::Delivery {
            account,
            source,
            sequence,
            delivery,
        } = write
        else {
            return;
        };
        if delivery.finished.is_some() {
            self.remember(account.as_str().to_owned(), source.clone(), *sequence);
        }
    }

    fn remember(&mut self, account: String, source: CallbackSource, sequence: u32) {
        self.finished
            .entry(account)
            .or_default()
            .push_back((source, sequence));
    }

    /// The deletions due now: for every account `every` or more beyond the bound, its
    /// oldest finished callbacks down to `keep`, as one range per source.
    #[must_use]
    pub(crate) fn due(&mut self) -> Vec<Forget> {
        let mut forget: HashMap<CallbackSource, u32> = HashMap::new();
        for finished in self.finished.values_mut() {
            if finished.len() < self.keep + self.every {
                continue;
            }
            while finished.len() > self.keep {
                let Some((source, sequence)) = finished.pop_front() else {
                    break;
                };
                let through = forget.entry(source).or_default();
                *through = (*through).max(sequence);
            }
        }
        self.finished.retain(|_, finished| !finished.is_empty());
        forget
            .into_iter()
            .map(|(source, through)| Forget { source, through })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_core::callback::{Callback, Delivery, DeliveryState};
    use confab_core::{AccountSid, ConferenceSid, HttpMethod, Timestamp};

    fn finished(account: &str, room: &str, sequence: u32) -> Write {
        let callback = Callback {
            account_sid: AccountSid::from_stored(account.into()),
            source: CallbackSource::Conference(ConferenceSid::from_stored(room.into())),
            sequence,
            event: "participant-mute".into(),
            call_sid: None,
            url: "http://app.test/cb".into(),
            method: HttpMethod::Post,
            params: Vec::new(),
            idempotency_token: "t".into(),
            created: Timestamp(1),
        };
        Write::Delivery {
            account: callback.account_sid,
            source: callback.source,
            sequence,
            delivery: Delivery {
                state: DeliveryState::Delivered,
                finished: Some(Timestamp(2)),
                ..Delivery::pending()
            },
        }
    }

    #[test]
    fn the_oldest_finished_beyond_the_bound_are_forgotten_by_range_per_source() {
        let mut retention = Retention::new(20); // prunes every 2 beyond 20
        for sequence in 1..=11 {
            retention.count(&finished("AC1", "CF1", sequence));
            retention.count(&finished("AC1", "CF2", sequence));
        }
        retention.count(&finished("AC2", "CF3", 1));
        let mut due = retention.due();
        due.sort_by(|a, b| a.source.cmp(&b.source));
        let source = |sid: &str| CallbackSource::Conference(ConferenceSid::from_stored(sid.into()));
        assert_eq!(
            due,
            vec![
                Forget {
                    source: source("CF1"),
                    through: 1
                },
                Forget {
                    source: source("CF2"),
                    through: 1
                }
            ],
            "22 finished, 20 kept: the first of each room goes"
        );
        assert!(
            retention.due().is_empty(),
            "nothing more until 2 more finish"
        );
        retention.count(&finished("AC1", "CF1", 12));
        assert!(retention.due().is_empty(), "21 is within the slack");
    }
}
