//! Durable storage for confab.
//!
//! [`Store`] is what the server needs from a database: write batches that are
//! durable when they are acknowledged, and the reads behind the API's fetch
//! and list operations. [`SqliteStore`] is the embedded default; the SQL is
//! kept portable (`$n` parameters, `ON CONFLICT` upserts, row-value
//! comparisons, partial indexes) so that a PostgreSQL implementation can share
//! it.
//!
//! Writes are group-committed: concurrent batches queue up for one writer,
//! which applies everything waiting in a single transaction and acknowledges
//! each batch only after that transaction is committed and flushed to disk.
//! One flush thus covers many API requests.
//!
//! The store is also the status-callback outbox: a [`Write::Callback`] goes in the batch of
//! the state change that caused it, the delivery worker records each outcome with
//! [`Write::Delivery`], and [`Store::pending_callbacks`] hands back what a crash left
//! undelivered. Finished callbacks are kept as a history, at most
//! [`StoreOptions::callback_retention`] per account: the writer prunes an account's oldest
//! finished ones every so often (see [`StoreOptions`]); pending ones are never pruned.

mod call_rows;
mod callback_rows;
mod number_rows;
mod retention;
mod rows;
mod sqlite;
mod writer;

use std::sync::Arc;

use confab_core::callback::{Callback, CallbackSource, Delivery, DeliveryState};
use confab_core::page::{Page, PageRequest};
use confab_core::time::DateRange;
use confab_core::{
    Account, AccountSid, Call, CallSid, CallStatus, Conference, ConferenceSid, ConferenceStatus,
    Participant, PhoneNumber, PhoneNumberSid,
};
use futures::future::BoxFuture;

pub use callback_rows::{callback_key, parse_callback_key};
pub use number_rows::PhoneNumberFilter;
pub use sqlite::SqliteStore;

/// Finished callbacks kept per account by default.
pub const CALLBACK_RETENTION: u32 = 10_000;

/// Settings of a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// At most this many finished (delivered, failed, dropped) callbacks are kept per account;
    /// the writer deletes the oldest beyond it after every `callback_retention / 10` (at
    /// least 1, at most 1000) callbacks of the account finish, so the history may exceed the
    /// bound by that much in between.
    pub callback_retention: u32,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            callback_retention: CALLBACK_RETENTION,
        }
    }
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database reported an error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The writer's connection reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Applying the schema failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row does not decode into a record.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Flushing written data to disk failed; the store accepts no more
    /// writes, since it can no longer tell what is durable.
    #[error("storage I/O failed: {0}")]
    Io(String),
    /// The writer task is gone (the store is shutting down).
    #[error("the store is closed")]
    Closed,
}

impl StoreError {
    /// Whether a write failed because it would break a uniqueness rule: a phone number that
    /// another row (of any account) holds already.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => e.is_unique_violation(),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            }
            _ => false,
        }
    }
}

/// One record to write.
#[derive(Debug, Clone)]
pub enum Write {
    /// Insert a new account.
    Account(Account),
    /// Insert or replace a conference.
    Conference(Conference),
    /// Insert or replace a participant.
    Participant(Participant),
    /// Insert or replace a call.
    Call(Call),
    /// Remove an ended call's record (Delete Call); a live call is left alone.
    DeleteCall {
        /// The owning account.
        account: AccountSid,
        /// The call.
        sid: CallSid,
    },
    /// Insert a status callback, pending (or replace one with the same source and sequence).
    /// Shared with the outbox, which delivers the same record once the write is durable.
    Callback(Arc<Callback>),
    /// Record how a callback's delivery went so far.
    Delivery {
        /// The account the callback belongs to (for its retention bound).
        account: AccountSid,
        /// The callback's source.
        source: CallbackSource,
        /// The callback's sequence number in its source.
        sequence: u32,
        /// The outcome.
        delivery: Delivery,
    },
    /// Insert or replace a phone number. A new number that another account (or this one)
    /// holds already fails the batch ([`StoreError::is_unique_violation`]).
    PhoneNumber(PhoneNumber),
    /// Remove a phone number of an account.
    DeletePhoneNumber {
        /// The owning account.
        account: AccountSid,
        /// The number.
        sid: PhoneNumberSid,
    },
}

/// A callback with how its delivery went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCallback {
    /// What is (or was) sent.
    pub callback: Callback,
    /// The outcome so far.
    pub delivery: Delivery,
}

/// Filters of the Callbacks list.
#[derive(Debug, Clone, Default)]
pub struct CallbackFilter {
    /// Only this conference's events.
    pub conference_sid: Option<ConferenceSid>,
    /// Only events about this call (its progress events and its conference events).
    pub call_sid: Option<CallSid>,
    /// Only callbacks in this state.
    pub state: Option<DeliveryState>,
}

/// Filters of List Calls.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    /// Exact `To`.
    pub to: Option<String>,
    /// Exact `From`.
    pub from: Option<String>,
    /// `ParentCallSid`.
    pub parent_call_sid: Option<String>,
    /// `Status`.
    pub status: Option<CallStatus>,
    /// `StartTime`, `StartTime<`, `StartTime>`.
    pub start_time: DateRange,
    /// `EndTime`, `EndTime<`, `EndTime>`.
    pub end_time: DateRange,
}

/// Filters of List Conferences.
#[derive(Debug, Clone, Default)]
pub struct ConferenceFilter {
    /// Exact room name.
    pub friendly_name: Option<String>,
    /// Status.
    pub status: Option<ConferenceStatus>,
    /// `DateCreated`, `DateCreated<`, `DateCreated>`.
    pub created: DateRange,
    /// `DateUpdated`, `DateUpdated<`, `DateUpdated>`.
    pub updated: DateRange,
}

/// Filters of List Participants.
#[derive(Debug, Clone, Default)]
pub struct ParticipantFilter {
    /// `Muted`.
    pub muted: Option<bool>,
    /// `Hold`.
    pub hold: Option<bool>,
    /// `Coaching`.
    pub coaching: Option<bool>,
}

/// A conference that is not completed, with its active participants.
pub type LiveConference = (Conference, Vec<Participant>);

/// Called once with the outcome of a write: `Ok` when the batch is durable.
/// It runs on the store's own thread, so it should only hand the result on
/// (send it on a channel).
pub type Durability = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// What confab needs from a database.
pub trait Store: Send + Sync + 'static {
    /// Queues `batch` to be applied atomically and calls `then` once it is
    /// durable, or failed. Batches are applied in the order of the calls
    /// (the queueing happens before this returns), so a caller may keep
    /// issuing writes without waiting for each one. `then` is always called,
    /// also when the store is shutting down.
    fn write_then(&self, batch: Vec<Write>, then: Durability);

    /// Like [`Store::write_then`], with a future that resolves once the
    /// batch is durable.
    fn write(&self, batch: Vec<Write>) -> BoxFuture<'static, Result<(), StoreError>> {
        let (done, acked) = tokio::sync::oneshot::channel();
        self.write_then(
            batch,
            Box::new(move |result| {
                let _ = done.send(result);
            }),
        );
        Box::pin(async move { acked.await.map_err(|_| StoreError::Closed)? })
    }

    /// The account with this SID.
    fn account<'a>(
        &'a self,
        sid: &'a AccountSid,
    ) -> BoxFuture<'a, Result<Option<Account>, StoreError>>;

    /// All accounts, oldest first.
    fn accounts(&self) -> BoxFuture<'_, Result<Vec<Account>, StoreError>>;

    /// A conference of an account.
    fn conference<'a>(
        &'a self,
        account: &'a AccountSid,
        sid: &'a ConferenceSid,
    ) -> BoxFuture<'a, Result<Option<Conference>, StoreError>>;

    /// A page of an account's conferences, newest first.
    fn list_conferences<'a>(
        &'a self,
        account: &'a AccountSid,
        filter: &'a ConferenceFilter,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Result<Page<Conference>, StoreError>>;

    /// The active participant of a conference named by call SID or label.
    fn participant<'a>(
        &'a self,
        account: &'a AccountSid,
        conference: &'a ConferenceSid,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Participant>, StoreError>>;

    /// A page of a conference's active participants, in joining order.
    fn list_participants<'a>(
        &'a self,
        account: &'a AccountSid,
        conference: &'a ConferenceSid,
        filter: &'a ParticipantFilter,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Result<Page<Participant>, StoreError>>;

    /// A call of an account.
    fn call<'a>(
        &'a self,
        account: &'a AccountSid,
        sid: &'a CallSid,
    ) -> BoxFuture<'a, Result<Option<Call>, StoreError>>;

    /// A page of an account's calls, newest first.
    fn list_calls<'a>(
        &'a self,
        account: &'a AccountSid,
        filter: &'a CallFilter,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Result<Page<Call>, StoreError>>;

    /// Every call that has not ended (used at start to end what a crash left open).
    fn live_calls(&self) -> BoxFuture<'_, Result<Vec<Call>, StoreError>>;

    /// Every conference not yet completed, with its active participants
    /// (used at start to close what a crash left open).
    fn live_conferences(&self) -> BoxFuture<'_, Result<Vec<LiveConference>, StoreError>>;

    /// Every callback not yet delivered nor given up, oldest first, each source's in
    /// sequence order (used at start to deliver what a crash left pending).
    fn pending_callbacks(&self) -> BoxFuture<'_, Result<Vec<StoredCallback>, StoreError>>;

    /// The highest sequence number stored for `source`, if any (so that a restarted process
    /// continues its numbering). A source whose callbacks were all pruned has none.
    fn last_callback_sequence<'a>(
        &'a self,
        source: &'a CallbackSource,
    ) -> BoxFuture<'a, Result<Option<u32>, StoreError>>;

    /// A page of an account's callbacks with their delivery, newest first.
    fn list_callbacks<'a>(
        &'a self,
        account: &'a AccountSid,
        filter: &'a CallbackFilter,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Result<Page<StoredCallback>, StoreError>>;

    /// A phone number of an account.
    fn phone_number<'a>(
        &'a self,
        account: &'a AccountSid,
        sid: &'a PhoneNumberSid,
    ) -> BoxFuture<'a, Result<Option<PhoneNumber>, StoreError>>;

    /// A page of an account's phone numbers, newest first.
    fn list_phone_numbers<'a>(
        &'a self,
        account: &'a AccountSid,
        filter: &'a PhoneNumberFilter,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Result<Page<PhoneNumber>, StoreError>>;

    /// The phone number `number` names, whichever account holds it: how an inbound call finds
    /// its account and `VoiceUrl`. `number` is E.164 with or without its `+`
    /// (`+15550100199`, `15550100199`); anything else, like a number nobody holds, is `None`.
    fn number_by_e164<'a>(
        &'a self,
        number: &'a str,
    ) -> BoxFuture<'a, Result<Option<PhoneNumber>, StoreError>>;
}
