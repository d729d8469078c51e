//! The worker's bookkeeping: one queue per source, each account's undelivered callbacks in
//! the order they arrived (for the outbox bound), and the receivers' concurrency limits.
//!
//! One task (the dispatcher) owns all of it, so none of it is locked: releases arrive on one
//! channel, finished deliveries on another, and each delivery runs in a task of its own.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use confab_core::callback::{CallbackSource, Delivery, DeliveryState};
use confab_core::AccountSid;
use confab_fetch::{Fetcher, FetcherConfig};
use confab_store::Store;
use tokio::sync::{mpsc, Semaphore};

use super::delivery::{self, Finished, Job, Outcomes, OUTCOME_DELAY};
use super::{AuthTokens, OutboxConfig, Queued};
use crate::clock;

/// Owns the queues; see the module docs.
pub(super) struct Dispatcher {
    /// Where outcomes are written.
    store: Arc<dyn Store>,
    /// Signature keys.
    tokens: Arc<AuthTokens>,
    /// The HTTP client of deliveries.
    fetcher: Fetcher,
    /// Limits.
    config: OutboxConfig,
    /// Sources with callbacks waiting or being sent.
    sources: HashMap<CallbackSource, SourceQueue>,
    /// Each account's undelivered callbacks (waiting or being sent) by arrival number,
    /// oldest first.
    accounts: HashMap<AccountSid, BTreeMap<u64, (CallbackSource, u32)>>,
    /// Deliveries in flight per receiving `host:port`.
    hosts: HashMap<String, Arc<Semaphore>>,
    /// The `host:port` of each callback URL seen lately: the same few URLs come back
    /// thousands of times a second, and parsing one cost more than the rest of the
    /// bookkeeping of its delivery.
    url_hosts: HashMap<String, String>,
    /// Deliveries in flight overall.
    in_flight: Arc<Semaphore>,
    /// The arrival number of the next callback released.
    next_arrival: u64,
    /// Undelivered callbacks held, over all accounts (the queue gauge).
    undelivered: usize,
    /// Deliveries started and not yet finished.
    sending: usize,
    /// Outcomes not yet written, and when they must be at the latest.
    outcomes: Outcomes,
    /// When the held outcomes are due; `None` while none are held.
    outcomes_due: Option<tokio::time::Instant>,
    /// The worker's metrics, registered once: a lookup by name and labels costs more than
    /// the count itself, thousands of times a second.
    meters: Meters,
}

/// Handles of the delivery metrics (see the module docs of [`super`]).
struct Meters {
    delivered: metrics::Counter,
    failed: metrics::Counter,
    dropped: metrics::Counter,
    retried: metrics::Counter,
    latency: metrics::Histogram,
    queued: metrics::Gauge,
}

impl Meters {
    /// Registers the metrics with the recorder installed now (none: they count nowhere).
    fn register() -> Meters {
        let outcome =
            |name: &'static str| metrics::counter!("confab_callbacks_total", "outcome" => name);
        Meters {
            delivered: outcome("delivered"),
            failed: outcome("failed"),
            dropped: outcome("dropped"),
            retried: outcome("retried"),
            latency: metrics::histogram!("confab_callback_latency_seconds"),
            queued: metrics::gauge!("confab_callbacks_queued"),
        }
    }
}

/// One source's callbacks.
#[derive(Default)]
struct SourceQueue {
    /// Waiting, in sequence order.
    waiting: VecDeque<(u64, Queued)>,
    /// The arrival number and sequence of the one being sent, if any.
    sending: Option<(u64, u32)>,
}

impl Dispatcher {
    pub(super) fn new(
        store: Arc<dyn Store>,
        tokens: Arc<AuthTokens>,
        config: OutboxConfig,
    ) -> Dispatcher {
        Dispatcher {
            store,
            tokens,
            fetcher: Fetcher::new(FetcherConfig::default()),
            in_flight: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
            config,
            sources: HashMap::new(),
            accounts: HashMap::new(),
            hosts: HashMap::new(),
            url_hosts: HashMap::new(),
            next_arrival: 0,
            undelivered: 0,
            sending: 0,
            outcomes: Outcomes::default(),
            outcomes_due: None,
            meters: Meters::register(),
        }
    }

    /// Runs until every [`super::Outbox`] is dropped and no delivery is in flight.
    pub(super) async fn run(mut self, mut released: mpsc::UnboundedReceiver<Vec<Queued>>) {
        let (done, mut finished) = mpsc::unbounded_channel();
        let mut open = true;
        while open || self.sending > 0 {
            let due = self.outcomes_due;
            tokio::select! {
                batch = released.recv(), if open => match batch {
                    Some(batch) => self.admit(batch, &done),
                    None => open = false,
                },
                Some(result) = finished.recv() => self.finish(result, &done),
                () = sleep_until(due), if due.is_some() => self.write_outcomes(),
            }
            self.meters.queued.set(self.undelivered as f64);
        }
        self.write_outcomes();
    }

    /// Holds an outcome for the next batch, writing the batch now if it is full.
    fn record(&mut self, callback: &confab_core::callback::Callback, delivery: Delivery) {
        if self.outcomes.hold(callback, delivery) {
            self.write_outcomes();
        } else if self.outcomes_due.is_none() {
            self.outcomes_due = Some(tokio::time::Instant::now() + OUTCOME_DELAY);
        }
    }

    /// Writes the held outcomes as one store batch.
    fn write_outcomes(&mut self) {
        self.outcomes.write(self.store.as_ref());
        debug_assert!(self.outcomes.is_empty());
        self.outcomes_due = None;
    }

    /// Queues released callbacks, applies the outbox bound, and starts idle sources.
    fn admit(&mut self, batch: Vec<Queued>, done: &mpsc::UnboundedSender<Finished>) {
        for queued in batch {
            let source = queued.callback.source.clone();
            let sequence = queued.callback.sequence;
            let account = queued.callback.account_sid.clone();
            let queue = self.sources.entry(source.clone()).or_default();
            let known = queue.sending.is_some_and(|(_, s)| s == sequence)
                || queue
                    .waiting
                    .iter()
                    .any(|(_, q)| q.callback.sequence == sequence);
            if known {
                continue;
            }
            let arrival = self.next_arrival;
            self.next_arrival += 1;
            // Usually in order already; a callback released late finds its place.
            let at = queue
                .waiting
                .iter()
                .rposition(|(_, q)| q.callback.sequence < sequence)
                .map_or(0, |i| i + 1);
            queue.waiting.insert(at, (arrival, queued));
            self.accounts
                .entry(account.clone())
                .or_default()
                .insert(arrival, (source.clone(), sequence));
            self.undelivered += 1;
            self.enforce_bound(&account);
            self.start(&source, done);
        }
    }

    /// Drops the oldest waiting callbacks of `account` while it holds more than the bound.
    /// One being sent cannot be taken back, so the oldest *waiting* one goes.
    fn enforce_bound(&mut self, account: &AccountSid) {
        loop {
            let Some(held) = self.accounts.get(account) else {
                return;
            };
            if held.len() <= self.config.max_undelivered_per_account {
                return;
            }
            let victim = held.iter().find(|(arrival, (source, _))| {
                self.sources
                    .get(source)
                    .is_none_or(|q| q.sending.map(|(a, _)| a) != Some(**arrival))
            });
            let Some((&arrival, (source, _))) = victim else {
                return;
            };
            let source = source.clone();
            self.forget(account, arrival);
            let Some(queue) = self.sources.get_mut(&source) else {
                continue;
            };
            let Some(at) = queue.waiting.iter().position(|(a, _)| *a == arrival) else {
                continue;
            };
            let Some((_, dropped)) = queue.waiting.remove(at) else {
                continue;
            };
            let callback = &dropped.callback;
            tracing::warn!(
                account = %callback.account_sid,
                source = callback.source.sid(),
                sequence = callback.sequence,
                event = callback.event,
                limit = self.config.max_undelivered_per_account,
                "the account's callback outbox is full: dropped its oldest undelivered callback"
            );
            self.meters.dropped.increment(1);
            let outcome = Delivery {
                state: DeliveryState::Dropped,
                attempts: dropped.attempts,
                finished: Some(clock::now()),
                ..Delivery::pending()
            };
            self.record(&dropped.callback, outcome);
        }
    }

    /// Starts the next delivery of `source` unless one is under way; forgets an idle,
    /// empty source.
    fn start(&mut self, source: &CallbackSource, done: &mpsc::UnboundedSender<Finished>) {
        let Some(queue) = self.sources.get_mut(source) else {
            return;
        };
        if queue.sending.is_some() {
            return;
        }
        let Some((arrival, queued)) = queue.waiting.pop_front() else {
            self.sources.remove(source);
            return;
        };
        queue.sending = Some((arrival, queued.callback.sequence));
        self.sending += 1;
        let host = self.host_limit(&queued.callback.url);
        tokio::spawn(delivery::send(Job {
            queued,
            arrival,
            host,
            in_flight: self.in_flight.clone(),
            fetcher: self.fetcher.clone(),
            tokens: self.tokens.clone(),
            done: done.clone(),
        }));
    }

    /// Records a finished delivery and starts the source's next one.
    fn finish(&mut self, finished: Finished, done: &mpsc::UnboundedSender<Finished>) {
        self.sending = self.sending.saturating_sub(1);
        let callback = &finished.callback;
        self.forget(&callback.account_sid, finished.arrival);
        if finished.retries > 0 {
            self.meters.retried.increment(u64::from(finished.retries));
        }
        match finished.delivery.state {
            DeliveryState::Delivered => {
                self.meters.delivered.increment(1);
                let now = finished.delivery.finished.unwrap_or(callback.created);
                let latency = (now.0 - callback.created.0).max(0) as f64 / 1000.0;
                self.meters.latency.record(latency);
            }
            _ => {
                self.meters.failed.increment(1);
                let (code, message) = finished.delivery.error.clone().unwrap_or_default();
                tracing::warn!(
                    account = %callback.account_sid,
                    source = callback.source.sid(),
                    sequence = callback.sequence,
                    event = callback.event,
                    code,
                    "a status callback could not be delivered: {message}"
                );
            }
        }
        let source = callback.source.clone();
        self.record(&finished.callback, finished.delivery);
        if let Some(queue) = self.sources.get_mut(&source) {
            queue.sending = None;
        }
        self.start(&source, done);
    }

    /// Removes an undelivered callback from its account's count.
    fn forget(&mut self, account: &AccountSid, arrival: u64) {
        let Some(held) = self.accounts.get_mut(account) else {
            return;
        };
        if held.remove(&arrival).is_some() {
            self.undelivered = self.undelivered.saturating_sub(1);
        }
        if held.is_empty() {
            self.accounts.remove(account);
        }
    }

    /// The concurrency limit of the host a URL is sent to.
    fn host_limit(&mut self, url: &str) -> Arc<Semaphore> {
        let host = match self.url_hosts.get(url) {
            Some(host) => host.clone(),
            None => {
                let host = confab_fetch::delivery_host(url).unwrap_or_default();
                if self.url_hosts.len() >= MAX_URLS {
                    self.url_hosts.clear();
                }
                self.url_hosts.insert(url.to_owned(), host.clone());
                host
            }
        };
        if self.hosts.len() >= MAX_HOSTS && !self.hosts.contains_key(&host) {
            // Forget the hosts nobody is sending to.
            self.hosts.retain(|_, limit| Arc::strong_count(limit) > 1);
        }
        let per_host = self.config.max_per_host.max(1);
        self.hosts
            .entry(host)
            .or_insert_with(|| Arc::new(Semaphore::new(per_host)))
            .clone()
    }
}

/// Sleeps until `due`; never called without one (the branch is disabled then).
async fn sleep_until(due: Option<tokio::time::Instant>) {
    if let Some(due) = due {
        tokio::time::sleep_until(due).await;
    }
}

/// Hosts whose limits are kept before idle ones are forgotten.
const MAX_HOSTS: usize = 1024;
/// Callback URLs whose host is remembered before all are forgotten.
const MAX_URLS: usize = 4096;
