//! One delivery: wait for the receiver's and the overall concurrency limits, send the
//! callback through the fetcher, and turn the report into the [`Delivery`] to record.

use std::sync::Arc;

use confab_core::callback::{Callback, Delivery, DeliveryState};
use confab_core::error::codes;
use confab_core::Timestamp;
use confab_fetch::{CallbackRequest, DeliveryReport, FetchError, Fetcher};
use confab_store::{Store, Write};
use tokio::sync::{mpsc, Semaphore};

use super::{AuthTokens, Queued};
use crate::clock;

/// What a delivery task needs.
pub(super) struct Job {
    /// The callback and its attempts before this run.
    pub(super) queued: Queued,
    /// Its arrival number in the dispatcher.
    pub(super) arrival: u64,
    /// The receiving host's concurrency limit.
    pub(super) host: Arc<Semaphore>,
    /// The overall concurrency limit.
    pub(super) in_flight: Arc<Semaphore>,
    /// The HTTP client.
    pub(super) fetcher: Fetcher,
    /// Signature keys.
    pub(super) tokens: Arc<AuthTokens>,
    /// Where the outcome goes.
    pub(super) done: mpsc::UnboundedSender<Finished>,
}

/// A delivery that is over: delivered or given up.
pub(super) struct Finished {
    /// The callback.
    pub(super) callback: Arc<Callback>,
    /// Its arrival number in the dispatcher.
    pub(super) arrival: u64,
    /// The outcome to record.
    pub(super) delivery: Delivery,
    /// Attempts repeated in this run (for the `retried` count).
    pub(super) retries: u32,
}

/// Delivers one callback and reports the outcome to the dispatcher.
pub(super) async fn send(job: Job) {
    // Host first: waiting for a slow host must not hold a slot other hosts could use.
    // The semaphores are never closed, so acquiring cannot fail.
    let _host = job.host.acquire_owned().await;
    let _slot = job.in_flight.acquire_owned().await;
    let callback = job.queued.callback;
    let report = match job.tokens.of(&callback.account_sid).await {
        Some(auth_token) => {
            let request = CallbackRequest {
                url: &callback.url,
                method: callback.method,
                params: &callback.params,
                auth_token: &auth_token,
                idempotency_token: &callback.idempotency_token,
            };
            job.fetcher.deliver(&request).await
        }
        None => DeliveryReport {
            attempts: 0,
            result: Err(FetchError::new(
                codes::HTTP_RETRIEVAL_FAILURE,
                format!(
                    "account {} not found: nothing to sign with",
                    callback.account_sid
                ),
            )),
        },
    };
    let delivery = outcome(job.queued.attempts, &report, clock::now());
    let _ = job.done.send(Finished {
        callback,
        arrival: job.arrival,
        delivery,
        retries: report.attempts.saturating_sub(1),
    });
}

/// The record of a delivery that is over, `previous` attempts having been made before.
pub(super) fn outcome(previous: u32, report: &DeliveryReport, now: Timestamp) -> Delivery {
    let attempts = previous.saturating_add(report.attempts);
    match &report.result {
        Ok(status) => Delivery {
            state: DeliveryState::Delivered,
            attempts,
            response_status: Some(*status),
            error: None,
            finished: Some(now),
        },
        Err(error) => Delivery {
            state: DeliveryState::Failed,
            attempts,
            response_status: error.status,
            error: Some((error.code, error.message.clone())),
            finished: Some(now),
        },
    }
}

/// Delivery outcomes waiting to be written as one store batch: outcomes are collected for
/// up to [`OUTCOME_DELAY`] (or until [`OUTCOME_BATCH`] are held) instead of costing the
/// store one write each. Holding them back is safe: a callback whose outcome is lost in a
/// crash is still pending in the store and is sent again (same token) after the restart.
#[derive(Default)]
pub(super) struct Outcomes {
    /// The outcomes held, in the order they were reached.
    writes: Vec<Write>,
}

/// Most outcomes one batch holds.
pub(super) const OUTCOME_BATCH: usize = 256;
/// Longest an outcome waits to be written.
pub(super) const OUTCOME_DELAY: std::time::Duration = std::time::Duration::from_millis(5);

impl Outcomes {
    /// Holds an outcome; `true` when the batch is full and should be written now.
    #[must_use]
    pub(super) fn hold(&mut self, callback: &Callback, delivery: Delivery) -> bool {
        self.writes.push(Write::Delivery {
            account: callback.account_sid.clone(),
            source: callback.source.clone(),
            sequence: callback.sequence,
            delivery,
        });
        self.writes.len() >= OUTCOME_BATCH
    }

    /// Whether no outcome is held.
    pub(super) fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Writes the held outcomes through the store as one batch without waiting for it; a
    /// failure is logged (those callbacks then stay pending and are sent again after a
    /// restart).
    pub(super) fn write(&mut self, store: &dyn Store) {
        if self.writes.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.writes, Vec::with_capacity(OUTCOME_BATCH));
        store.write_then(
            batch,
            Box::new(|result| {
                if let Err(e) = result {
                    tracing::error!(error = %e, "recording callbacks' deliveries failed");
                }
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_count_earlier_attempts_and_keep_the_answer() {
        let delivered = DeliveryReport {
            attempts: 2,
            result: Ok(204),
        };
        let d = outcome(1, &delivered, Timestamp(9));
        assert_eq!(d.state, DeliveryState::Delivered);
        assert_eq!(
            (d.attempts, d.response_status, d.finished),
            (3, Some(204), Some(Timestamp(9)))
        );
        let mut refused = FetchError::new(codes::HTTP_ERROR_STATUS, "answered HTTP 503");
        refused.status = Some(503);
        let failed = DeliveryReport {
            attempts: 1,
            result: Err(refused),
        };
        let d = outcome(0, &failed, Timestamp(9));
        assert_eq!(d.state, DeliveryState::Failed);
        assert_eq!(d.response_status, Some(503));
        assert_eq!(
            d.error,
            Some((codes::HTTP_ERROR_STATUS, "answered HTTP 503".into()))
        );
    }
}
