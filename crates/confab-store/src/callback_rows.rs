//! SQL and row decoding for the status-callback outbox (see [`crate::rows`] for the shared
//! machinery).
//!
//! A callback is the table row `id`, numbered by the writer (see [`crate::retention`]); its
//! source and sequence name it outside the store. Its outcome, once it has one, is the row of
//! the same `id` in `callback_outcomes` (migration 7); without one it is pending. Lists page by keyset on
//! `(created, source_kind, source_sid, sequence)`, newest first; the page token names a
//! callback by [`callback_key`], a short text of letters, digits and `-` as page tokens allow.

use std::borrow::Cow;
use std::sync::LazyLock;

use confab_core::callback::{Callback, CallbackSource, Delivery, DeliveryState};
use confab_core::page::{Cursor, PageRequest};
use confab_core::time::Timestamp;
use confab_core::AccountSid;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::rows::{corrupt, method, numbered, opt_call_sid, Bind, Query};
use crate::{CallbackFilter, StoreError, StoredCallback};

/// The columns of a callback's own row, as inserted.
const CALLBACK_COLUMNS: &str = "source_kind, source_sid, sequence, account_sid, event, call_sid, \
    url, method, params, token, created";

/// What a read selects: the callback's row (`c`) and its outcome (`o`, none while pending).
const SELECTED: &str = "c.source_kind, c.source_sid, c.sequence, c.account_sid, c.event, \
    c.call_sid, c.url, c.method, c.params, c.token, c.created, \
    COALESCE(o.state, 'pending') AS state, COALESCE(o.attempts, 0) AS attempts, \
    o.response_status, o.error_code, o.error_message, o.finished";

/// The tables a read selects from.
const JOINED: &str = "callbacks c LEFT JOIN callback_outcomes o ON o.id = c.id";

/// The list order and its keyset columns.
const KEYSET: &str = "(c.created, c.source_kind, c.source_sid, c.sequence)";

static CALLBACK_INSERT: LazyLock<String> = LazyLock::new(|| {
    let placeholders = vec!["?"; CALLBACK_COLUMNS.split(',').count() + 1].join(", ");
    numbered(&format!(
        "INSERT INTO callbacks (id, {CALLBACK_COLUMNS}) VALUES ({placeholders})"
    ))
});

/// An outcome replaces an earlier one of the same callback (a pending record of attempts).
const OUTCOME_UPSERT: &str = "INSERT INTO callback_outcomes (id, state, attempts, \
    response_status, error_code, error_message, finished)";
const OUTCOME_CONFLICT: &str = "ON CONFLICT (id) DO UPDATE SET state = excluded.state, \
    attempts = excluded.attempts, response_status = excluded.response_status, \
    error_code = excluded.error_code, error_message = excluded.error_message, \
    finished = excluded.finished";

static DELIVERY_UPDATE: LazyLock<String> = LazyLock::new(|| {
    numbered(&format!(
        "{OUTCOME_UPSERT} VALUES (?, ?, ?, ?, ?, ?, ?) {OUTCOME_CONFLICT}"
    ))
});

static DELIVERY_UPDATE_BY_KEY: LazyLock<String> = LazyLock::new(|| {
    // The SELECT's WHERE is what lets SQLite tell the upsert's ON CONFLICT from a join's ON.
    numbered(&format!(
        "{OUTCOME_UPSERT} SELECT id, ?, ?, ?, ?, ?, ? FROM callbacks \
         WHERE source_kind = ? AND source_sid = ? AND sequence = ? {OUTCOME_CONFLICT}"
    ))
});

static FORGET: LazyLock<[String; 2]> = LazyLock::new(|| {
    // Rowid ranges: found in each table's own tree, no scan, no other index. Only rows with
    // a finished outcome go; the callbacks first, while their outcomes still say so.
    [
        numbered(
            "DELETE FROM callbacks WHERE id IN (SELECT id FROM callback_outcomes \
             WHERE id BETWEEN ? AND ? AND state <> 'pending')",
        ),
        numbered("DELETE FROM callback_outcomes WHERE id BETWEEN ? AND ? AND state <> 'pending'"),
    ]
});

static REMOVE: LazyLock<[String; 2]> = LazyLock::new(|| {
    [
        numbered("DELETE FROM callbacks WHERE id = ?"),
        numbered("DELETE FROM callback_outcomes WHERE id = ?"),
    ]
});

/// Inserts a callback, pending, as row `id` (numbered by the writer).
pub(crate) fn callback_insert(id: i64, c: &Callback) -> Query<'_> {
    let params = serde_json::to_string(&c.params).unwrap_or_else(|_| "[]".to_owned());
    let binds = vec![
        Bind::Int(id),
        Bind::Text(c.source.kind().into()),
        Bind::Text(c.source.sid().into()),
        Bind::Int(i64::from(c.sequence)),
        Bind::Text(c.account_sid.as_str().into()),
        Bind::Text(c.event.as_str().into()),
        Bind::OptText(c.call_sid.as_ref().map(|s| s.as_str().into())),
        Bind::Text(c.url.as_str().into()),
        Bind::Text(c.method.as_str().into()),
        Bind::Text(Cow::Owned(params)),
        Bind::Text(c.idempotency_token.as_str().into()),
        Bind::Int(c.created.0),
    ];
    Query {
        sql: Cow::Borrowed(CALLBACK_INSERT.as_str()),
        binds,
    }
}

/// Records the outcome of the delivery of the callback in row `id`.
pub(crate) fn delivery_update(id: i64, delivery: &Delivery) -> Query<'_> {
    let mut binds = vec![Bind::Int(id)];
    binds.extend(outcome_binds(delivery));
    Query {
        sql: Cow::Borrowed(DELIVERY_UPDATE.as_str()),
        binds,
    }
}

/// Records an outcome for a callback the writer knows no row of (a scan of the table; only
/// for a callback whose row failed to be written).
pub(crate) fn delivery_update_by_key<'a>(
    source: &'a CallbackSource,
    sequence: u32,
    delivery: &'a Delivery,
) -> Query<'a> {
    let mut binds: Vec<Bind<'a>> = outcome_binds(delivery).into();
    binds.extend([
        Bind::Text(source.kind().into()),
        Bind::Text(source.sid().into()),
        Bind::Int(i64::from(sequence)),
    ]);
    Query {
        sql: Cow::Borrowed(DELIVERY_UPDATE_BY_KEY.as_str()),
        binds,
    }
}

/// Deletes the finished callbacks in rows `first` to `last` and their outcomes (the history
/// bound, see [`crate::retention`]): two statements, in this order.
pub(crate) fn forget(first: i64, last: i64) -> [Query<'static>; 2] {
    FORGET.each_ref().map(|sql| Query {
        sql: Cow::Borrowed(sql.as_str()),
        binds: vec![Bind::Int(first), Bind::Int(last)],
    })
}

/// Deletes row `id` and its outcome: an earlier record of a callback written anew.
pub(crate) fn remove(id: i64) -> [Query<'static>; 2] {
    REMOVE.each_ref().map(|sql| Query {
        sql: Cow::Borrowed(sql.as_str()),
        binds: vec![Bind::Int(id)],
    })
}

fn outcome_binds(d: &Delivery) -> [Bind<'_>; 6] {
    [
        Bind::Text(d.state.as_str().into()),
        Bind::Int(i64::from(d.attempts)),
        Bind::OptInt(d.response_status.map(i64::from)),
        Bind::OptInt(d.error.as_ref().map(|(code, _)| i64::from(*code))),
        Bind::OptText(d.error.as_ref().map(|(_, message)| message.as_str().into())),
        Bind::OptInt(d.finished.map(|t| t.0)),
    ]
}

/// Every pending callback, oldest first (in row order: each source's in sequence order).
pub(crate) fn pending() -> Query<'static> {
    Query::new(&format!(
        "SELECT {SELECTED} FROM {JOINED} WHERE COALESCE(o.state, 'pending') = 'pending' \
         ORDER BY c.id"
    ))
}

/// The highest sequence stored for a source.
pub(crate) fn last_sequence(source: &CallbackSource) -> Query<'_> {
    let mut q = Query::new("SELECT MAX(sequence) AS last FROM callbacks WHERE ");
    q.push(
        "source_kind = ? AND source_sid = ?",
        [
            Bind::Text(source.kind().into()),
            Bind::Text(source.sid().into()),
        ],
    );
    q
}

/// List Callbacks: newest first, keyset paging on [`KEYSET`].
pub(crate) fn callback_list<'a>(
    account: &'a AccountSid,
    f: &'a CallbackFilter,
    page: &'a PageRequest,
) -> (Query<'a>, bool) {
    let mut q = Query::new(&format!("SELECT {SELECTED} FROM {JOINED} WHERE "));
    q.push("c.account_sid = ?", [Bind::Text(account.as_str().into())]);
    if let Some(conference) = &f.conference_sid {
        q.push(
            " AND c.source_kind = 'conference' AND c.source_sid = ?",
            [Bind::Text(conference.as_str().into())],
        );
    }
    if let Some(call) = &f.call_sid {
        q.push(" AND c.call_sid = ?", [Bind::Text(call.as_str().into())]);
    }
    if let Some(state) = f.state {
        q.push(
            " AND COALESCE(o.state, 'pending') = ?",
            [Bind::Text(state.as_str().into())],
        );
    }
    let anchor = |q: &mut Query<'a>, comparison: &str, key: &str| {
        // A token naming no callback (one of another list) anchors nowhere: an empty page.
        let Some((source, sequence)) = parse_callback_key(key) else {
            q.push(" AND 1 = 0", []);
            return;
        };
        // Found among the account's rows (its index), whose number is bounded.
        q.push(
            &format!(
                " AND {KEYSET} {comparison} (SELECT created, source_kind, source_sid, sequence \
                 FROM callbacks WHERE account_sid = ? \
                 AND source_kind = ? AND source_sid = ? AND sequence = ?)"
            ),
            [
                Bind::Text(account.as_str().into()),
                Bind::Text(source.kind().into()),
                Bind::Text(Cow::Owned(source.sid().to_owned())),
                Bind::Int(i64::from(sequence)),
            ],
        );
    };
    let limit = i64::from(page.size) + 1;
    let newest_first = "c.created DESC, c.source_kind DESC, c.source_sid DESC, c.sequence DESC";
    let oldest_first = "c.created ASC, c.source_kind ASC, c.source_sid ASC, c.sequence ASC";
    let reversed = match &page.cursor {
        Cursor::Offset(offset) => {
            q.push(
                &format!(" ORDER BY {newest_first} LIMIT ? OFFSET ?"),
                [
                    Bind::Int(limit),
                    Bind::Int(i64::try_from(*offset).unwrap_or(i64::MAX)),
                ],
            );
            false
        }
        Cursor::After(key) => {
            anchor(&mut q, "<", key);
            q.push(
                &format!(" ORDER BY {newest_first} LIMIT ?"),
                [Bind::Int(limit)],
            );
            false
        }
        Cursor::Before(key) => {
            anchor(&mut q, ">", key);
            q.push(
                &format!(" ORDER BY {oldest_first} LIMIT ?"),
                [Bind::Int(limit)],
            );
            true
        }
    };
    (q, reversed)
}

/// The name of a callback in a page token: `f` (conference) or `c` (call), the sequence,
/// `-`, the source SID. Only letters, digits and `-`, as page tokens allow.
pub fn callback_key(source: &CallbackSource, sequence: u32) -> String {
    let kind = match source {
        CallbackSource::Conference(_) => 'f',
        CallbackSource::Call(_) => 'c',
    };
    format!("{kind}{sequence}-{}", source.sid())
}

/// The source and sequence a [`callback_key`] names.
pub fn parse_callback_key(key: &str) -> Option<(CallbackSource, u32)> {
    let kind = match key.get(..1)? {
        "f" => "conference",
        "c" => "call",
        _ => return None,
    };
    let (sequence, sid) = key.get(1..)?.split_once('-')?;
    let sequence = sequence.parse().ok()?;
    if sid.is_empty() {
        return None;
    }
    Some((CallbackSource::from_stored(kind, sid.to_owned())?, sequence))
}

pub(crate) fn callback_from_row(row: &SqliteRow) -> Result<StoredCallback, StoreError> {
    let text = |column: &str| -> Result<String, StoreError> { Ok(row.try_get(column)?) };
    let number = |column: &str| -> Result<u32, StoreError> {
        let n: i64 = row.try_get(column)?;
        u32::try_from(n).map_err(|_| corrupt(column, &n.to_string()))
    };
    let kind = text("source_kind")?;
    let source = CallbackSource::from_stored(&kind, text("source_sid")?)
        .ok_or_else(|| corrupt("source_kind", &kind))?;
    let raw_params = text("params")?;
    let params: Vec<(String, String)> =
        serde_json::from_str(&raw_params).map_err(|_| corrupt("params", &raw_params))?;
    let state = text("state")?;
    let response_status = match row.try_get::<Option<i64>, _>("response_status")? {
        None => None,
        Some(n) => Some(u16::try_from(n).map_err(|_| corrupt("response_status", &n.to_string()))?),
    };
    let error = match row.try_get::<Option<i64>, _>("error_code")? {
        None => None,
        Some(n) => {
            let code = u32::try_from(n).map_err(|_| corrupt("error_code", &n.to_string()))?;
            let message: Option<String> = row.try_get("error_message")?;
            Some((code, message.unwrap_or_default()))
        }
    };
    let callback = Callback {
        account_sid: AccountSid::from_stored(text("account_sid")?),
        source,
        sequence: number("sequence")?,
        event: text("event")?,
        call_sid: opt_call_sid(row, "call_sid")?,
        url: text("url")?,
        method: method(row, "method")?,
        params,
        idempotency_token: text("token")?,
        created: Timestamp(row.try_get("created")?),
    };
    let delivery = Delivery {
        state: DeliveryState::parse(&state).ok_or_else(|| corrupt("state", &state))?,
        attempts: number("attempts")?,
        response_status,
        error,
        finished: row.try_get::<Option<i64>, _>("finished")?.map(Timestamp),
    };
    Ok(StoredCallback { callback, delivery })
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_core::{CallSid, ConferenceSid};

    #[test]
    fn statements_bind_every_placeholder() {
        let columns = CALLBACK_COLUMNS.split(',').count();
        assert_eq!(CALLBACK_INSERT.matches('$').count(), columns + 1);
        assert_eq!(DELIVERY_UPDATE.matches('$').count(), 7);
        assert_eq!(DELIVERY_UPDATE_BY_KEY.matches('$').count(), 9);
        assert!(FORGET.iter().all(|sql| sql.matches('$').count() == 2));
        assert!(REMOVE.iter().all(|sql| sql.matches('$').count() == 1));
    }

    #[test]
    fn keys_round_trip_for_both_sid_styles() {
        let sources = [
            CallbackSource::Conference(ConferenceSid::from_stored(
                "CF0123456789abcdef0123456789abcdef".into(),
            )),
            CallbackSource::Call(CallSid::from_stored(
                "1b4e28ba-2fa1-11d2-883f-0016d3cca427".into(),
            )),
        ];
        for source in sources {
            let key = callback_key(&source, 42);
            assert!(key.len() <= 64);
            assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
            assert_eq!(parse_callback_key(&key), Some((source, 42)));
        }
        for bad in ["", "x1-CF1", "f-CF1", "f1-", "f1CF1", "fx-CF1"] {
            assert_eq!(parse_callback_key(bad), None, "{bad}");
        }
    }
}
