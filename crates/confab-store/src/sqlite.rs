//! The embedded SQLite store.
//!
//! One writer thread owns the only writing connection and group-commits (see
//! [`crate::writer`]); a small pool of connections serves reads, which WAL mode
//! lets run beside the writer. No write is acknowledged before its commit is
//! flushed to disk.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use confab_core::page::{Page, PageRequest};
use confab_core::{
    Account, AccountSid, Call, CallSid, Conference, ConferenceSid, Participant, PhoneNumber,
    PhoneNumberSid, E164,
};
use futures::future::BoxFuture;
use futures::FutureExt;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Connection, Sqlite, SqliteConnection};
use tokio::sync::mpsc;

use crate::writer::{self, Job};

use crate::call_rows;
use crate::callback_rows;
use crate::number_rows;
use crate::rows::{self, Bind, Query};
use crate::{
    CallFilter, CallbackFilter, ConferenceFilter, Durability, LiveConference, ParticipantFilter,
    PhoneNumberFilter, Store, StoreError, StoreOptions, StoredCallback, Write,
};
use confab_core::callback::CallbackSource;

/// SQLite in WAL mode at a file path.
#[derive(Clone)]
pub struct SqliteStore {
    reads: SqlitePool,
    /// Unbounded so that queueing is synchronous and keeps call order; the
    /// callers (conference actors) bound how much they have in flight.
    writer: mpsc::UnboundedSender<Job>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file, applies the schema and
    /// starts the writer task. Must be called inside a tokio runtime.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, StoreOptions::default()).await
    }

    /// [`SqliteStore::open`] with settings.
    pub async fn open_with(path: &Path, settings: StoreOptions) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let mut setup = SqliteConnection::connect_with(&options).await?;
        sqlx::migrate!("./migrations")
            .run_direct(&mut setup)
            .await?;
        setup.close().await?;
        let writer = writer::start(path, settings.callback_retention)?;
        let reads = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        Ok(SqliteStore { reads, writer })
    }

    async fn fetch_all(&self, q: Query<'_>) -> Result<Vec<SqliteRow>, StoreError> {
        Ok(bind_all(&q).fetch_all(&self.reads).await?)
    }

    async fn fetch_optional(&self, q: Query<'_>) -> Result<Option<SqliteRow>, StoreError> {
        Ok(bind_all(&q).fetch_optional(&self.reads).await?)
    }

    async fn page<T>(
        &self,
        (q, reversed): (Query<'_>, bool),
        size: u32,
        decode: fn(&SqliteRow) -> Result<T, StoreError>,
    ) -> Result<Page<T>, StoreError> {
        let rows = self.fetch_all(q).await?;
        let has_more = rows.len() > size as usize;
        let mut items = rows
            .iter()
            .take(size as usize)
            .map(decode)
            .collect::<Result<Vec<_>, _>>()?;
        if reversed {
            // A "page before" query walks backwards from the anchor, which is
            // itself after this page, so a next page always exists.
            items.reverse();
            return Ok(Page {
                items,
                has_next: true,
            });
        }
        Ok(Page {
            items,
            has_next: has_more,
        })
    }
}

fn bind_all<'q>(
    q: &'q Query<'_>,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    let mut query = sqlx::query(q.sql.as_ref());
    for bind in &q.binds {
        query = match bind {
            Bind::Text(v) => query.bind(v.as_ref()),
            Bind::OptText(v) => query.bind(v.as_deref()),
            Bind::Int(v) => query.bind(*v),
            Bind::OptInt(v) => query.bind(*v),
            Bind::Bool(v) => query.bind(*v),
        };
    }
    query
}

impl Store for SqliteStore {
    fn write_then(&self, batch: Vec<Write>, then: Durability) {
        if batch.is_empty() {
            return then(Ok(()));
        }
        if let Err(mpsc::error::SendError(job)) = self.writer.send(Job::new(batch, then)) {
            job.fail(StoreError::Closed);
        }
    }

    fn account<'a>(
        &'a self,
        sid: &'a AccountSid,
    ) -> BoxFuture<'a, Result<Option<Account>, StoreError>> {
        async move {
            let mut q = Query::new(
                "SELECT sid, auth_token, style, friendly_name, date_created FROM accounts WHERE ",
            );
            q.push("sid = ?", [Bind::Text(sid.as_str().into())]);
            self.fetch_optional(q)
                .await?
                .as_ref()
                .map(rows::account_from_row)
                .transpose()
        }
        .boxed()
    }

    fn accounts(&self) -> BoxFuture<'_, Result<Vec<Account>, StoreError>> {
        async move {
            let q = Query::new(
                "SELECT sid, auth_token, style, friendly_name, date_created FROM accounts ORDER BY date_created, sid",
            );
            self.fetch_all(q).await?.iter().map(rows::account_from_row).collect()
        }
        .boxed()
    }

    fn conference<'a>(
        &'a self,
        account: &'a AccountSid,
        sid: &'a ConferenceSid,
    ) -> BoxFuture<'a, Result<Option<Conference>, StoreError>> {
        async move {
            let mut q = Query::new(&format!(
                "SELECT {} FROM conferences WHERE ",
                rows::CONFERENCE_COLUMNS
            ));
            q.push(
                "account_sid = ? AND sid = ?",
                [
                    Bind::Text(account.as_str().into()),
                    Bind::Text(sid.as_str().into()),
                ],
            );
            self.fetch_optional(q)
                .await?
                .as_ref()
                .map(rows::conference_from_row)
                .transpose()
        }
        .boxed()
    }

    fn list_conferences<'a>(
        &'a self,
        account: &'a AccountSid,
        filter: &'a ConferenceFilter,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Result<Page<Conference>, StoreError>> {
        self.page(
            rows::conference_list(account.as_str(), filter, page),
            page.size,
            rows::conference_from_row,
        )
        .boxed()
    }

    fn participant<'a>(
        &'a self,
        account: &'a AccountSid,
        conference: &'a ConferenceSid,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Participant>, StoreError>> {
        async move {
            let row = self
                .fetch_optional(rows::participant_by_key(
                    account.as_str(),
                    conference.as_str(),
                    key,
                ))
                .await?;
            row.as_ref().map(rows::participant_from_row).transpose()
        }
        .boxed()
    }

    fn list_participants<'a>(
        &'a self,
        account: &'a AccountSid,
        conference: &'a ConferenceSid,
        filter: &'a ParticipantFilter,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Result<Page<Participant>, StoreError>> {
        self.page(
            rows::participant_list(account.as_str(), conference.as_str(), filter, page),
            page.size,
            rows::participant_from_row,
        )
        .boxed()
    }

    fn call<'a>(
        &'a self,
        account: &'a AccountSid,
        sid: &'a CallSid,
    ) -> BoxFuture<'a, Result<Option<Call>, StoreError>> {
        async move {
            let row = self
                .fetch_optional(call_rows::call_by_sid(account.as_str(), sid.as_str()))
                .await?;
            row.as_ref().map(call_rows::call_from_row).transpose()
        }
        .boxed()
    }

    fn list_calls<'a>(
        &'a self,
        account: &'a AccountSid,
        filter: &'a CallFilter,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Result<Page<Call>, StoreError>> {
        self.page(
            call_rows::call_list(account.as_str(), filter, page),
            page.size,
            call_rows::call_from_row,
        )
        .boxed()
    }

    fn live_calls(&self) -> BoxFuture<'_, Result<Vec<Call>, StoreError>> {
        async move {
            let rows = self.fetch_all(call_rows::live_calls()).await?;
            rows.iter().map(call_rows::call_from_row).collect()
        }
        .boxed()
    }

    fn live_conferences(&self) -> BoxFuture<'_, Result<Vec<LiveConference>, StoreError>> {
        async move {
            let q = Query::new(&format!(
                "SELECT {} FROM conferences WHERE status <> 'completed' ORDER BY date_created",
                rows::CONFERENCE_COLUMNS
            ));
            let mut live = Vec::new();
            for row in self.fetch_all(q).await? {
                let conference = rows::conference_from_row(&row)?;
                let mut pq = Query::new(&format!("SELECT {} FROM participants WHERE ", rows::PARTICIPANT_COLUMNS));
                pq.push(
                    "conference_sid = ? AND status NOT IN ('complete', 'failed') ORDER BY date_created",
                    [Bind::Text(conference.sid.as_str().into())],
                );
                let participants = self.fetch_all(pq).await?.iter().map(rows::participant_from_row).collect::<Result<_, _>>()?;
                live.push((conference, participants));
            }
            Ok(live)
        }
        .boxed()
    }

    fn pending_callbacks(&self) -> BoxFuture<'_, Result<Vec<StoredCallback>, StoreError>> {
        async move {
            let rows = self.fetch_all(callback_rows::pending()).await?;
            rows.iter().map(callback_rows::callback_from_row).collect()
        }
        .boxed()
    }

    fn last_callback_sequence<'a>(
        &'a self,
        source: &'a CallbackSource,
    ) -> BoxFuture<'a, Result<Option<u32>, StoreError>> {
        async move {
            let Some(row) = self
                .fetch_optional(callback_rows::last_sequence(source))
                .await?
            else {
                return Ok(None);
            };
            let last: Option<i64> = sqlx::Row::try_get(&row, "last")?;
            last.map(|n| {
                u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("sequence: {n}")))
            })
            .transpose()
        }
        .boxed()
    }

    fn list_callbacks<'a>(
        &'a self,
        account: &'a AccountSid,
        filter: &'a CallbackFilter,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Result<Page<StoredCallback>, StoreError>> {
        self.page(
            callback_rows::callback_list(account, filter, page),
            page.size,
            callback_rows::callback_from_row,
        )
        .boxed()
    }

    fn phone_number<'a>(
        &'a self,
        account: &'a AccountSid,
        sid: &'a PhoneNumberSid,
    ) -> BoxFuture<'a, Result<Option<PhoneNumber>, StoreError>> {
        async move {
            let row = self
                .fetch_optional(number_rows::number_by_sid(account, sid))
                .await?;
            row.as_ref().map(number_rows::number_from_row).transpose()
        }
        .boxed()
    }

    fn list_phone_numbers<'a>(
        &'a self,
        account: &'a AccountSid,
        filter: &'a PhoneNumberFilter,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Result<Page<PhoneNumber>, StoreError>> {
        self.page(
            number_rows::number_list(account, filter, page),
            page.size,
            number_rows::number_from_row,
        )
        .boxed()
    }

    fn number_by_e164<'a>(
        &'a self,
        number: &'a str,
    ) -> BoxFuture<'a, Result<Option<PhoneNumber>, StoreError>> {
        async move {
            let Some(number) = E164::parse(number) else {
                return Ok(None);
            };
            let row = self
                .fetch_optional(number_rows::number_by_e164(&number))
                .await?;
            row.as_ref().map(number_rows::number_from_row).transpose()
        }
        .boxed()
    }
}
