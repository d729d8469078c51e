//! SQL and row decoding for calls (see [`crate::rows`] for the shared machinery).

use std::borrow::Cow;
use std::sync::LazyLock;

use confab_core::page::PageRequest;
use confab_core::time::Timestamp;
use confab_core::{AccountSid, Call, CallSid, CallStatus, Direction};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::rows::{
    corrupt, events, method, numbered, opt_call_sid, page_clause, push_range, Bind, Query,
    CALL_COLUMNS,
};
use crate::{CallFilter, StoreError};

/// Statuses of calls that have not ended.
pub(crate) const LIVE: &str = "('queued', 'ringing', 'in-progress')";

static CALL_UPSERT: LazyLock<String> = LazyLock::new(|| {
    let columns: Vec<&str> = CALL_COLUMNS.split(',').map(str::trim).collect();
    let placeholders = vec!["?"; columns.len()].join(", ");
    // Everything but the key, the owner and the creation time may change.
    let set: Vec<String> = columns
        .iter()
        .filter(|c| !matches!(**c, "sid" | "account_sid" | "date_created"))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    numbered(&format!(
        "INSERT INTO calls ({CALL_COLUMNS}) VALUES ({placeholders}) ON CONFLICT (sid) DO UPDATE SET {}",
        set.join(", ")
    ))
});

/// Inserts or replaces a call.
pub(crate) fn call_upsert(c: &Call) -> Query<'_> {
    let opt_time = |t: Option<Timestamp>| t.map_or(Bind::OptInt(None), |t| Bind::OptInt(Some(t.0)));
    Query {
        sql: Cow::Borrowed(CALL_UPSERT.as_str()),
        binds: vec![
            Bind::Text(c.sid.as_str().into()),
            Bind::Text(c.account_sid.as_str().into()),
            Bind::OptText(c.parent_call_sid.as_ref().map(|s| s.as_str().into())),
            Bind::Text(c.from.as_str().into()),
            Bind::Text(c.to.as_str().into()),
            Bind::Text(c.direction.as_str().into()),
            Bind::Text(c.status.as_str().into()),
            opt_time(c.start_time),
            opt_time(c.answer_time),
            opt_time(c.end_time),
            Bind::Int(i64::from(c.queue_time_ms)),
            Bind::OptText(c.answered_by.as_deref().map(Into::into)),
            Bind::OptText(c.caller_name.as_deref().map(Into::into)),
            Bind::OptText(c.forwarded_from.as_deref().map(Into::into)),
            Bind::Int(i64::from(c.timeout_secs)),
            Bind::Int(i64::from(c.time_limit_secs)),
            Bind::OptText(c.status_callback.as_deref().map(Into::into)),
            Bind::Text(c.status_callback_method.as_str().into()),
            Bind::Text(c.status_callback_events.join(" ").into()),
            Bind::OptText(c.fallback_url.as_deref().map(Into::into)),
            Bind::Text(c.fallback_method.as_str().into()),
            Bind::Int(c.date_created.0),
            Bind::Int(c.date_updated.0),
        ],
    }
}

/// Deletes an ended call of an account.
pub(crate) fn call_delete<'a>(account: &'a AccountSid, sid: &'a CallSid) -> Query<'a> {
    let mut q = Query::new("DELETE FROM calls WHERE ");
    q.push(
        &format!("account_sid = ? AND sid = ? AND status NOT IN {LIVE}"),
        [
            Bind::Text(account.as_str().into()),
            Bind::Text(sid.as_str().into()),
        ],
    );
    q
}

/// Fetch Call.
pub(crate) fn call_by_sid<'a>(account: &'a str, sid: &'a str) -> Query<'a> {
    let mut q = Query::new(&format!("SELECT {CALL_COLUMNS} FROM calls WHERE "));
    q.push(
        "account_sid = ? AND sid = ?",
        [Bind::Text(account.into()), Bind::Text(sid.into())],
    );
    q
}

/// List Calls: newest first, keyset paging on (date_created, sid).
pub(crate) fn call_list<'a>(
    account: &'a str,
    f: &'a CallFilter,
    page: &'a PageRequest,
) -> (Query<'a>, bool) {
    let mut q = Query::new(&format!("SELECT {CALL_COLUMNS} FROM calls WHERE "));
    q.push("account_sid = ?", [Bind::Text(account.into())]);
    for (column, value) in [
        ("to_endpoint", &f.to),
        ("from_endpoint", &f.from),
        ("parent_call_sid", &f.parent_call_sid),
    ] {
        if let Some(v) = value {
            q.push(
                &format!(" AND {column} = ?"),
                [Bind::Text(v.as_str().into())],
            );
        }
    }
    if let Some(status) = f.status {
        q.push(" AND status = ?", [Bind::Text(status.as_str().into())]);
    }
    push_range(&mut q, "start_time", &f.start_time);
    push_range(&mut q, "end_time", &f.end_time);
    let anchor = "(SELECT date_created, sid FROM calls WHERE sid = ?)";
    page_clause(
        &mut q,
        page,
        ("(date_created, sid) < ", "(date_created, sid) > "),
        anchor,
        "date_created DESC, sid DESC",
        "date_created ASC, sid ASC",
    )
}

/// Calls that had not ended (used at start to end what a crash left open).
pub(crate) fn live_calls() -> Query<'static> {
    Query::new(&format!(
        "SELECT {CALL_COLUMNS} FROM calls WHERE status IN {LIVE} ORDER BY date_created"
    ))
}

pub(crate) fn call_from_row(row: &SqliteRow) -> Result<Call, StoreError> {
    let text = |column: &str| -> Result<String, StoreError> { Ok(row.try_get(column)?) };
    let time = |column: &str| -> Result<Option<Timestamp>, StoreError> {
        Ok(row.try_get::<Option<i64>, _>(column)?.map(Timestamp))
    };
    let small = |column: &str| -> Result<u32, StoreError> {
        let n: i64 = row.try_get(column)?;
        u32::try_from(n).map_err(|_| corrupt(column, &n.to_string()))
    };
    let status = text("status")?;
    let direction = text("direction")?;
    Ok(Call {
        sid: CallSid::from_stored(text("sid")?),
        account_sid: AccountSid::from_stored(text("account_sid")?),
        parent_call_sid: opt_call_sid(row, "parent_call_sid")?,
        from: text("from_endpoint")?,
        to: text("to_endpoint")?,
        direction: Direction::parse(&direction).ok_or_else(|| corrupt("direction", &direction))?,
        status: CallStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        start_time: time("start_time")?,
        answer_time: time("answer_time")?,
        end_time: time("end_time")?,
        queue_time_ms: small("queue_time_ms")?,
        answered_by: row.try_get("answered_by")?,
        caller_name: row.try_get("caller_name")?,
        forwarded_from: row.try_get("forwarded_from")?,
        timeout_secs: small("timeout_secs")?,
        time_limit_secs: small("time_limit_secs")?,
        status_callback: row.try_get("status_callback")?,
        status_callback_method: method(row, "status_callback_method")?,
        status_callback_events: events(row, "status_callback_events")?,
        fallback_url: row.try_get("fallback_url")?,
        fallback_method: method(row, "fallback_method")?,
        date_created: Timestamp(row.try_get("date_created")?),
        date_updated: Timestamp(row.try_get("date_updated")?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsert_binds_every_column() {
        let columns = CALL_COLUMNS.split(',').count();
        assert_eq!(CALL_UPSERT.matches('$').count(), columns);
        let call = Call::outbound_api(
            CallSid::from_stored("CA1".into()),
            AccountSid::from_stored("AC1".into()),
            "a",
            "b",
            Timestamp(1),
        );
        assert_eq!(call_upsert(&call).binds.len(), columns);
    }
}
