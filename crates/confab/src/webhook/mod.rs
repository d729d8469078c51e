//! Status callback delivery: the worker behind the durable outbox.
//!
//! An actor writes each [`Callback`] in the store batch of the state change that caused it,
//! and hands the same callbacks to the [`Outbox`] once that batch is durable (from the store's
//! durability closure, so [`Outbox::release`] only queues, never blocks and never fails).
//! From there the worker sends them and records each outcome through the store
//! ([`Write::Delivery`](confab_store::Write::Delivery)), without waiting for that write:
//! outcomes are collected for a few milliseconds (or until a few hundred are held) and
//! written as one batch, so the store pays one write per batch, not per delivery.
//!
//! The rules the worker keeps:
//!
//! - **One source at a time.** The callbacks of one source (a conference, or one call's
//!   progress events) are sent one after another in sequence order: the next starts when the
//!   previous was delivered or given up. Sources are independent of each other.
//! - **Bounded concurrency.** At most [`OutboxConfig::max_in_flight`] deliveries at once
//!   overall and [`OutboxConfig::max_per_host`] per receiving `host:port`, so a slow
//!   receiver of one application holds only its own host's share, never another's.
//! - **Twilio's timeouts and retries.** Each delivery follows the connection overrides of its
//!   URL fragment (`#ct #rt #tt #rc #rp`, Twilio's defaults otherwise), with the callback's
//!   one idempotency token on every attempt (see [`confab_fetch::Fetcher::deliver`]).
//! - **At least once across crashes.** A callback is pending in the store until its outcome
//!   is written; at start [`Outbox::recover`] queues every pending one again (same token),
//!   before the server accepts requests. A delivery in flight when the process died is thus
//!   sent again after the restart.
//! - **A bounded outbox.** An account with more than
//!   [`OutboxConfig::max_undelivered_per_account`] undelivered callbacks loses its oldest
//!   queued one: it is marked `dropped` in the store, logged as a warning and counted
//!   (`confab_callbacks_total{outcome="dropped"}`). Writes are never refused because of it.
//!
//! Metrics (through the `metrics` facade): `confab_callbacks_total{outcome}` with
//! `delivered`, `failed`, `dropped` and `retried` (one per repeated attempt), the gauge
//! `confab_callbacks_queued` (undelivered callbacks held), and the histogram
//! `confab_callback_latency_seconds` (from a callback's creation to its delivery).

mod delivery;
mod queue;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use confab_core::callback::Callback;
use confab_core::AccountSid;
use confab_store::{Store, StoreError};
use tokio::sync::mpsc;

/// Limits of the delivery worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxConfig {
    /// Deliveries in flight at once, over all receivers.
    pub max_in_flight: usize,
    /// Deliveries in flight at once to one receiving `host:port`.
    pub max_per_host: usize,
    /// Undelivered callbacks held per account before the oldest queued one is dropped.
    pub max_undelivered_per_account: usize,
}

impl Default for OutboxConfig {
    fn default() -> OutboxConfig {
        OutboxConfig {
            max_in_flight: 256,
            max_per_host: 32,
            max_undelivered_per_account: 10_000,
        }
    }
}

/// The handle actors release durable callbacks to. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    /// To the worker; unbounded so that releasing never blocks the store's thread (the
    /// per-account bound is applied by the worker).
    releases: mpsc::UnboundedSender<Vec<Queued>>,
    /// Where pending callbacks are found again at start.
    store: Arc<dyn Store>,
}

/// A callback waiting for delivery, with the attempts made before (in an earlier run).
#[derive(Debug, Clone)]
struct Queued {
    callback: Arc<Callback>,
    attempts: u32,
}

/// Callbacks made shareable, so that the store's write and the outbox hold one record each
/// rather than a copy each (a callback's parameters are a dozen strings or more).
pub(crate) fn shared(callbacks: Vec<Callback>) -> Vec<Arc<Callback>> {
    callbacks.into_iter().map(Arc::new).collect()
}

impl Outbox {
    /// Starts the delivery worker over `store`, where outcomes are written. Must be called
    /// inside a tokio runtime.
    pub fn start(store: Arc<dyn Store>, config: OutboxConfig) -> Outbox {
        let (releases, released) = mpsc::unbounded_channel();
        let tokens = Arc::new(AuthTokens {
            store: store.clone(),
            cache: Mutex::default(),
        });
        let worker = queue::Dispatcher::new(store.clone(), tokens, config);
        tokio::spawn(worker.run(released));
        Outbox { releases, store }
    }

    /// Queues callbacks whose store batch is durable. Never blocks and never fails: called
    /// on the store's writer thread. Should the worker be gone (the server is stopping), the
    /// callbacks stay pending in the store and are delivered after the next start.
    pub fn release(&self, callbacks: Vec<Arc<Callback>>) {
        if callbacks.is_empty() {
            return;
        }
        let queued = callbacks
            .into_iter()
            .map(|callback| Queued {
                callback,
                attempts: 0,
            })
            .collect();
        if self.releases.send(queued).is_err() {
            tracing::warn!(
                "the callback worker has stopped; callbacks stay pending until the next start"
            );
        }
    }

    /// Queues every callback the store holds as pending (left by a previous run), with the
    /// attempts it had. Call once at start, before anything is released. Returns how many.
    pub async fn recover(&self) -> Result<usize, StoreError> {
        let pending = self.store.pending_callbacks().await?;
        let count = pending.len();
        let queued: Vec<Queued> = pending
            .into_iter()
            .map(|stored| Queued {
                callback: Arc::new(stored.callback),
                attempts: stored.delivery.attempts,
            })
            .collect();
        if !queued.is_empty() && self.releases.send(queued).is_err() {
            tracing::warn!("the callback worker has stopped; pending callbacks were not queued");
        }
        Ok(count)
    }
}

/// The accounts' auth tokens, the keys of the signatures. Accounts are only ever added and
/// their tokens never change, so a cached token never goes stale.
struct AuthTokens {
    store: Arc<dyn Store>,
    cache: Mutex<HashMap<AccountSid, String>>,
}

impl AuthTokens {
    /// The auth token of `account`; `None` if the account does not exist (or cannot be read).
    async fn of(&self, account: &AccountSid) -> Option<String> {
        if let Some(token) = self.lock().get(account) {
            return Some(token.clone());
        }
        match self.store.account(account).await {
            Ok(Some(found)) => {
                self.lock()
                    .insert(account.clone(), found.auth_token.clone());
                Some(found.auth_token)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "reading an account for a callback signature failed");
                None
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AccountSid, String>> {
        // Each critical section is one map operation: a panic cannot leave it half done.
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
