//! SQL text and row decoding shared by the store's queries.
//!
//! Queries are built as text with `$n` placeholders plus a list of
//! [`Bind`] values, which both SQLite and PostgreSQL accept.

use confab_core::model::{Beep, HttpMethod, JitterBufferSize};
use confab_core::page::{Cursor, PageRequest};
use confab_core::time::{DateRange, Timestamp};
use confab_core::{
    Account, AccountSid, CallSid, Conference, ConferenceSid, ConferenceStatus, EndReason,
    Participant, ParticipantStatus, SidStyle,
};
use std::borrow::Cow;
use std::sync::LazyLock;

use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::{ConferenceFilter, ParticipantFilter, StoreError};

pub(crate) const CONFERENCE_COLUMNS: &str = "sid, account_sid, friendly_name, status, region, date_created, \
    date_updated, reason_ended, call_sid_ending, end_detail, max_participants, announce_url, announce_method, \
    status_callback, status_callback_method, status_callback_events, record, trim_silence";

pub(crate) const PARTICIPANT_COLUMNS: &str = "call_sid, conference_sid, account_sid, label, status, muted, hold, \
    coaching, call_sid_to_coach, start_conference_on_enter, end_conference_on_exit, beep, hold_url, hold_method, \
    announce_url, announce_method, wait_url, wait_method, jitter_buffer_size, record, date_created, date_updated";

pub(crate) const CALL_COLUMNS: &str = "sid, account_sid, parent_call_sid, from_endpoint, to_endpoint, direction, \
    status, start_time, answer_time, end_time, queue_time_ms, answered_by, caller_name, forwarded_from, \
    timeout_secs, time_limit_secs, status_callback, status_callback_method, status_callback_events, \
    fallback_url, fallback_method, date_created, date_updated";

/// Statuses of participants who are no longer listed.
const INACTIVE: &str = "('complete', 'failed')";

/// A value bound to a placeholder. Text borrows from the record or request
/// it comes from whenever it can, so that writing a record copies nothing.
#[derive(Debug, Clone)]
pub(crate) enum Bind<'a> {
    Text(Cow<'a, str>),
    OptText(Option<Cow<'a, str>>),
    Int(i64),
    OptInt(Option<i64>),
    Bool(bool),
}

/// SQL text under construction with its bound values.
#[derive(Debug, Default)]
pub(crate) struct Query<'a> {
    /// The text; the hot upserts borrow text built once (see [`numbered`]).
    pub(crate) sql: Cow<'static, str>,
    pub(crate) binds: Vec<Bind<'a>>,
}

impl<'a> Query<'a> {
    pub(crate) fn new(sql: &str) -> Query<'a> {
        Query {
            sql: Cow::Owned(sql.to_owned()),
            binds: Vec::new(),
        }
    }

    /// Appends `sql`, replacing each `?` with the next `$n` and binding the
    /// next value of `binds` to it.
    pub(crate) fn push(
        &mut self,
        sql: &str,
        binds: impl IntoIterator<Item = Bind<'a>>,
    ) -> &mut Query<'a> {
        let mut binds = binds.into_iter();
        let sql_text = self.sql.to_mut();
        for ch in sql.chars() {
            if ch != '?' {
                sql_text.push(ch);
                continue;
            }
            let bind = binds
                .next()
                .expect("our SQL has one bind value per placeholder");
            self.binds.push(bind);
            sql_text.push_str(&format!("${}", self.binds.len()));
        }
        self
    }
}

/// `sql` with its `?` placeholders numbered `$1`, `$2`, … in order.
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 64);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(ch);
        }
    }
    out
}

/// Lets the writer bind values without copying them.
impl rusqlite::ToSql for Bind<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value, ValueRef};
        Ok(match self {
            Bind::Text(s) | Bind::OptText(Some(s)) => {
                ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()))
            }
            Bind::OptText(None) | Bind::OptInt(None) => ToSqlOutput::Owned(Value::Null),
            Bind::OptInt(Some(n)) => ToSqlOutput::Owned(Value::Integer(*n)),
            Bind::Int(n) => ToSqlOutput::Owned(Value::Integer(*n)),
            Bind::Bool(b) => ToSqlOutput::Owned(Value::Integer(i64::from(*b))),
        })
    }
}

static CONFERENCE_UPSERT: LazyLock<String> = LazyLock::new(|| {
    numbered(&format!(
            "INSERT INTO conferences ({CONFERENCE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (sid) DO UPDATE SET status = excluded.status, region = excluded.region, \
             date_updated = excluded.date_updated, reason_ended = excluded.reason_ended, \
             call_sid_ending = excluded.call_sid_ending, end_detail = excluded.end_detail, \
             max_participants = excluded.max_participants, announce_url = excluded.announce_url, \
             announce_method = excluded.announce_method, status_callback = excluded.status_callback, \
             status_callback_method = excluded.status_callback_method, \
             status_callback_events = excluded.status_callback_events, record = excluded.record, \
             trim_silence = excluded.trim_silence"
    ))
});

pub(crate) fn conference_upsert(c: &Conference) -> Query<'_> {
    Query {
        sql: Cow::Borrowed(CONFERENCE_UPSERT.as_str()),
        binds: vec![
            Bind::Text(c.sid.as_str().into()),
            Bind::Text(c.account_sid.as_str().into()),
            Bind::Text(c.friendly_name.as_str().into()),
            Bind::Text(c.status.as_str().into()),
            Bind::Text(c.region.as_str().into()),
            Bind::Int(c.date_created.0),
            Bind::Int(c.date_updated.0),
            Bind::OptText(c.reason_ended.map(|r| r.as_str().into())),
            Bind::OptText(c.call_sid_ending.as_ref().map(|s| s.as_str().into())),
            Bind::OptText(c.end_detail.as_deref().map(Into::into)),
            Bind::Int(i64::from(c.max_participants)),
            Bind::OptText(c.announce_url.as_deref().map(Into::into)),
            Bind::Text(c.announce_method.as_str().into()),
            Bind::OptText(c.status_callback.as_deref().map(Into::into)),
            Bind::Text(c.status_callback_method.as_str().into()),
            Bind::Text(c.status_callback_events.join(" ").into()),
            Bind::Text(c.record.as_str().into()),
            Bind::Text(c.trim.as_str().into()),
        ],
    }
}

/// The participant columns an update may change, in table order; the
/// insert and the update both bind them through [`mutable_binds`].
const PARTICIPANT_MUTABLE: [&str; 16] = [
    "label",
    "status",
    "muted",
    "hold",
    "coaching",
    "call_sid_to_coach",
    "start_conference_on_enter",
    "end_conference_on_exit",
    "beep",
    "hold_url",
    "hold_method",
    "announce_url",
    "announce_method",
    "wait_url",
    "wait_method",
    "jitter_buffer_size",
];

static PARTICIPANT_INSERT: LazyLock<String> = LazyLock::new(|| {
    let placeholders = vec!["?"; PARTICIPANT_COLUMNS.split(',').count()].join(", ");
    numbered(&format!(
        "INSERT INTO participants ({PARTICIPANT_COLUMNS}) VALUES ({placeholders})"
    ))
});

/// Changes the mutable columns of a participant that is already stored. The
/// writer tries it first and inserts only when no row changed; most
/// participant writes are updates.
pub(crate) static PARTICIPANT_UPDATE: LazyLock<String> = LazyLock::new(|| {
    let set: Vec<String> = PARTICIPANT_MUTABLE
        .iter()
        .map(|c| format!("{c} = ?"))
        .collect();
    numbered(&format!(
        "UPDATE participants SET {}, date_updated = ? WHERE conference_sid = ? AND call_sid = ?",
        set.join(", ")
    ))
});

/// The values of [`PARTICIPANT_MUTABLE`].
fn mutable_binds(p: &Participant) -> [Bind<'_>; 16] {
    [
        Bind::OptText(p.label.as_deref().map(Into::into)),
        Bind::Text(p.status.as_str().into()),
        Bind::Bool(p.muted),
        Bind::Bool(p.hold),
        Bind::Bool(p.coaching),
        Bind::OptText(p.call_sid_to_coach.as_ref().map(|s| s.as_str().into())),
        Bind::Bool(p.start_conference_on_enter),
        Bind::Bool(p.end_conference_on_exit),
        Bind::Text(p.beep.as_str().into()),
        Bind::OptText(p.hold_url.as_deref().map(Into::into)),
        Bind::Text(p.hold_method.as_str().into()),
        Bind::OptText(p.announce_url.as_deref().map(Into::into)),
        Bind::Text(p.announce_method.as_str().into()),
        Bind::OptText(p.wait_url.as_deref().map(Into::into)),
        Bind::Text(p.wait_method.as_str().into()),
        Bind::Text(p.jitter_buffer_size.as_str().into()),
    ]
}

/// The binds of [`PARTICIPANT_UPDATE`].
pub(crate) fn participant_update_binds(p: &Participant) -> impl Iterator<Item = Bind<'_>> {
    mutable_binds(p).into_iter().chain([
        Bind::Int(p.date_updated.0),
        Bind::Text(p.conference_sid.as_str().into()),
        Bind::Text(p.call_sid.as_str().into()),
    ])
}

/// Inserts a participant not stored yet (see [`PARTICIPANT_UPDATE`]).
pub(crate) fn participant_insert(p: &Participant) -> Query<'_> {
    let mut binds = Vec::with_capacity(22);
    binds.extend([
        Bind::Text(p.call_sid.as_str().into()),
        Bind::Text(p.conference_sid.as_str().into()),
        Bind::Text(p.account_sid.as_str().into()),
    ]);
    binds.extend(mutable_binds(p));
    binds.extend([
        Bind::Bool(p.record),
        Bind::Int(p.date_created.0),
        Bind::Int(p.date_updated.0),
    ]);
    Query {
        sql: Cow::Borrowed(PARTICIPANT_INSERT.as_str()),
        binds,
    }
}

pub(crate) fn account_insert(a: &Account) -> Query<'_> {
    let mut q = Query::new("");
    q.push(
        "INSERT INTO accounts (sid, auth_token, style, friendly_name, date_created) VALUES (?, ?, ?, ?, ?)",
        [
            Bind::Text(a.sid.as_str().into()),
            Bind::Text(a.auth_token.as_str().into()),
            Bind::Text(a.style.as_str().into()),
            Bind::Text(a.friendly_name.as_str().into()),
            Bind::Int(a.date_created.0),
        ],
    );
    q
}

/// List Conferences: newest first, keyset paging on (date_created, sid).
pub(crate) fn conference_list<'a>(
    account: &'a str,
    f: &'a ConferenceFilter,
    page: &'a PageRequest,
) -> (Query<'a>, bool) {
    let mut q = Query::new(&format!(
        "SELECT {CONFERENCE_COLUMNS} FROM conferences WHERE "
    ));
    q.push("account_sid = ?", [Bind::Text(account.into())]);
    if let Some(name) = &f.friendly_name {
        q.push(" AND friendly_name = ?", [Bind::Text(name.as_str().into())]);
    }
    if let Some(status) = f.status {
        q.push(" AND status = ?", [Bind::Text(status.as_str().into())]);
    }
    push_range(&mut q, "date_created", &f.created);
    push_range(&mut q, "date_updated", &f.updated);
    let anchor = "(SELECT date_created, sid FROM conferences WHERE sid = ?)";
    page_clause(
        &mut q,
        page,
        ("(date_created, sid) < ", "(date_created, sid) > "),
        anchor,
        "date_created DESC, sid DESC",
        "date_created ASC, sid ASC",
    )
}

/// List Participants: active ones in joining order, keyset paging on (date_created, call_sid).
pub(crate) fn participant_list<'a>(
    account: &'a str,
    conference: &'a str,
    f: &ParticipantFilter,
    page: &'a PageRequest,
) -> (Query<'a>, bool) {
    let mut q = Query::new(&format!(
        "SELECT {PARTICIPANT_COLUMNS} FROM participants WHERE "
    ));
    q.push(
        "account_sid = ? AND conference_sid = ?",
        [Bind::Text(account.into()), Bind::Text(conference.into())],
    );
    q.push(&format!(" AND status NOT IN {INACTIVE}"), []);
    for (column, value) in [
        ("muted", f.muted),
        ("hold", f.hold),
        ("coaching", f.coaching),
    ] {
        if let Some(v) = value {
            q.push(&format!(" AND {column} = ?"), [Bind::Bool(v)]);
        }
    }
    // A call may have been a member of several conferences: anchor on this one's row. The
    // conference SID was parsed as a SID, so it holds no quote; doubling any keeps it inert.
    let anchor = format!(
        "(SELECT date_created, call_sid FROM participants WHERE call_sid = ? AND conference_sid = '{}')",
        conference.replace('\'', "''")
    );
    page_clause(
        &mut q,
        page,
        ("(date_created, call_sid) > ", "(date_created, call_sid) < "),
        &anchor,
        "date_created ASC, call_sid ASC",
        "date_created DESC, call_sid DESC",
    )
}

pub(crate) fn participant_by_key<'a>(
    account: &'a str,
    conference: &'a str,
    key: &'a str,
) -> Query<'a> {
    let mut q = Query::new(&format!(
        "SELECT {PARTICIPANT_COLUMNS} FROM participants WHERE "
    ));
    q.push(
        &format!("account_sid = ? AND conference_sid = ? AND status NOT IN {INACTIVE} AND (call_sid = ? OR label = ?)"),
        [
            Bind::Text(account.into()),
            Bind::Text(conference.into()),
            Bind::Text(CallSid::parse(key).map_or(Cow::Borrowed(key), |sid| Cow::Owned(sid.to_string()))),
            Bind::Text(key.into()),
        ],
    );
    q.push(" ORDER BY date_created DESC LIMIT 1", []);
    q
}

pub(crate) fn push_range(q: &mut Query<'_>, column: &str, range: &DateRange) {
    if let Some(from) = range.from {
        q.push(&format!(" AND {column} >= ?"), [Bind::Int(from.0)]);
    }
    if let Some(until) = range.until {
        q.push(&format!(" AND {column} < ?"), [Bind::Int(until.0)]);
    }
}

/// Adds the cursor condition, order and limit. Returns whether the rows come
/// back in reverse list order (a "page before" query), to be flipped.
pub(crate) fn page_clause<'a>(
    q: &mut Query<'a>,
    page: &'a PageRequest,
    (after, before): (&str, &str),
    anchor: &str,
    order: &str,
    reverse_order: &str,
) -> (Query<'a>, bool) {
    let limit = i64::from(page.size) + 1;
    let reversed = match &page.cursor {
        Cursor::Offset(offset) => {
            q.push(
                &format!(" ORDER BY {order} LIMIT ? OFFSET ?"),
                [
                    Bind::Int(limit),
                    Bind::Int(i64::try_from(*offset).unwrap_or(i64::MAX)),
                ],
            );
            false
        }
        Cursor::After(sid) => {
            q.push(
                &format!(" AND {after}{anchor} ORDER BY {order} LIMIT ?"),
                [Bind::Text(sid.as_str().into()), Bind::Int(limit)],
            );
            false
        }
        Cursor::Before(sid) => {
            q.push(
                &format!(" AND {before}{anchor} ORDER BY {reverse_order} LIMIT ?"),
                [Bind::Text(sid.as_str().into()), Bind::Int(limit)],
            );
            true
        }
    };
    (std::mem::take(q), reversed)
}

pub(crate) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: {value:?}"))
}

pub(crate) fn method(row: &SqliteRow, column: &str) -> Result<HttpMethod, StoreError> {
    let raw: String = row.try_get(column)?;
    HttpMethod::parse(&raw).ok_or_else(|| corrupt(column, &raw))
}

pub(crate) fn events(row: &SqliteRow, column: &str) -> Result<Vec<String>, StoreError> {
    let raw: String = row.try_get(column)?;
    Ok(raw.split_whitespace().map(str::to_owned).collect())
}

/// A call SID column that may be NULL.
pub(crate) fn opt_call_sid(row: &SqliteRow, column: &str) -> Result<Option<CallSid>, StoreError> {
    Ok(row
        .try_get::<Option<String>, _>(column)?
        .map(CallSid::from_stored))
}

pub(crate) fn account_from_row(row: &SqliteRow) -> Result<Account, StoreError> {
    let style: String = row.try_get("style")?;
    Ok(Account {
        sid: AccountSid::from_stored(row.try_get("sid")?),
        auth_token: row.try_get("auth_token")?,
        style: SidStyle::parse(&style).ok_or_else(|| corrupt("style", &style))?,
        friendly_name: row.try_get("friendly_name")?,
        date_created: Timestamp(row.try_get("date_created")?),
    })
}

pub(crate) fn conference_from_row(row: &SqliteRow) -> Result<Conference, StoreError> {
    let status: String = row.try_get("status")?;
    let reason: Option<String> = row.try_get("reason_ended")?;
    let max: i64 = row.try_get("max_participants")?;
    Ok(Conference {
        sid: ConferenceSid::from_stored(row.try_get("sid")?),
        account_sid: AccountSid::from_stored(row.try_get("account_sid")?),
        friendly_name: row.try_get("friendly_name")?,
        status: ConferenceStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        region: row.try_get("region")?,
        date_created: Timestamp(row.try_get("date_created")?),
        date_updated: Timestamp(row.try_get("date_updated")?),
        reason_ended: match reason {
            None => None,
            Some(r) => Some(EndReason::parse(&r).ok_or_else(|| corrupt("reason_ended", &r))?),
        },
        call_sid_ending: opt_call_sid(row, "call_sid_ending")?,
        end_detail: row.try_get("end_detail")?,
        max_participants: u32::try_from(max)
            .map_err(|_| corrupt("max_participants", &max.to_string()))?,
        announce_url: row.try_get("announce_url")?,
        announce_method: method(row, "announce_method")?,
        status_callback: row.try_get("status_callback")?,
        status_callback_method: method(row, "status_callback_method")?,
        status_callback_events: events(row, "status_callback_events")?,
        record: row.try_get("record")?,
        trim: row.try_get("trim_silence")?,
    })
}

pub(crate) fn participant_from_row(row: &SqliteRow) -> Result<Participant, StoreError> {
    let status: String = row.try_get("status")?;
    let beep: String = row.try_get("beep")?;
    let jitter: String = row.try_get("jitter_buffer_size")?;
    Ok(Participant {
        call_sid: CallSid::from_stored(row.try_get("call_sid")?),
        conference_sid: ConferenceSid::from_stored(row.try_get("conference_sid")?),
        account_sid: AccountSid::from_stored(row.try_get("account_sid")?),
        label: row.try_get("label")?,
        status: ParticipantStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        muted: row.try_get("muted")?,
        hold: row.try_get("hold")?,
        coaching: row.try_get("coaching")?,
        call_sid_to_coach: opt_call_sid(row, "call_sid_to_coach")?,
        start_conference_on_enter: row.try_get("start_conference_on_enter")?,
        end_conference_on_exit: row.try_get("end_conference_on_exit")?,
        beep: Beep::parse(&beep).ok_or_else(|| corrupt("beep", &beep))?,
        hold_url: row.try_get("hold_url")?,
        hold_method: method(row, "hold_method")?,
        announce_url: row.try_get("announce_url")?,
        announce_method: method(row, "announce_method")?,
        wait_url: row.try_get("wait_url")?,
        wait_method: method(row, "wait_method")?,
        jitter_buffer_size: JitterBufferSize::parse(&jitter)
            .ok_or_else(|| corrupt("jitter_buffer_size", &jitter))?,
        record: row.try_get("record")?,
        queue_time_ms: None,
        date_created: Timestamp(row.try_get("date_created")?),
        date_updated: Timestamp(row.try_get("date_updated")?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutable_columns_sit_where_the_insert_binds_them() {
        let columns: Vec<&str> = PARTICIPANT_COLUMNS.split(',').map(str::trim).collect();
        assert_eq!(columns.len(), 22);
        assert_eq!(&columns[3..19], &PARTICIPANT_MUTABLE[..]);
        assert_eq!(PARTICIPANT_INSERT.matches('$').count(), columns.len());
        assert_eq!(
            PARTICIPANT_UPDATE.matches('$').count(),
            PARTICIPANT_MUTABLE.len() + 3
        );
    }
}
