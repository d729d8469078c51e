//! The application end of the `callbacks` benchmark: a minimal receiver of status callbacks
//! on loopback, as small as the ten-line web app of the README.
//!
//! It answers every callback `204 No Content` at once and keeps one [`Arrival`] per request:
//! when it came (this process's monotonic clock, the same one the load generator stamps the
//! API's answers with), what it reported (`ConferenceSid`, `CallSid`, `StatusCallbackEvent`,
//! `Muted`, `SequenceNumber`), how old its `Timestamp` was, and whether its
//! `X-Twilio-Signature` checks out with the account's auth token. It runs on a runtime of its
//! own whose threads are named [`RECEIVER_THREAD`], so its CPU time can be told apart from the
//! load generator's.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use bytes::Bytes;

/// The name of the receiver's runtime threads.
pub(crate) const RECEIVER_THREAD: &str = "receiver";

/// One callback as it reached the receiver.
#[derive(Debug, Clone)]
pub(crate) struct Arrival {
    /// When its request was read.
    pub(crate) at: Instant,
    /// `ConferenceSid`.
    pub(crate) conference: String,
    /// `CallSid`, for participant events.
    pub(crate) call_sid: Option<String>,
    /// `StatusCallbackEvent`, e.g. `participant-mute`.
    pub(crate) event: String,
    /// `SequenceNumber`, if it was a number.
    pub(crate) sequence: Option<u32>,
    /// `Muted`, for participant events.
    pub(crate) muted: Option<bool>,
    /// Whole seconds from the `Timestamp` to the arrival, read from the time of day (UTC);
    /// `None` if the `Timestamp` was missing or unreadable.
    pub(crate) stamp_age_s: Option<i64>,
    /// Whether `X-Twilio-Signature` was right.
    pub(crate) signed: bool,
}

impl Arrival {
    /// A `participant-mute` or `participant-unmute`: the event each update of the benchmark
    /// causes.
    pub(crate) fn is_mute(&self) -> bool {
        matches!(
            self.event.as_str(),
            "participant-mute" | "participant-unmute"
        )
    }
}

/// What the receiver has seen; shared by its handler and the benchmark.
pub(crate) struct Receiver {
    /// The URL the callbacks are subscribed to (and signed over).
    pub(crate) url: String,
    /// The account's auth token, the signature key.
    auth_token: String,
    /// Every callback so far, in arrival order.
    arrivals: Mutex<Vec<Arrival>>,
    /// How many of them were mute or unmute events (read without the lock while waiting).
    mutes: AtomicUsize,
}

impl Receiver {
    /// Binds a loopback port and serves the receiver on `runtime` (which should be the
    /// receiver's own). Callbacks are checked against `auth_token`.
    pub(crate) fn start(
        runtime: &tokio::runtime::Handle,
        auth_token: &str,
    ) -> anyhow::Result<Arc<Receiver>> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr: SocketAddr = listener.local_addr()?;
        let receiver = Arc::new(Receiver {
            url: format!("http://{addr}/callbacks"),
            auth_token: auth_token.to_owned(),
            arrivals: Mutex::new(Vec::with_capacity(1 << 16)),
            mutes: AtomicUsize::new(0),
        });
        let router = Router::new()
            .route("/callbacks", axum::routing::post(receive))
            .with_state(receiver.clone());
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            axum::serve(listener, router).await
        });
        Ok(receiver)
    }

    /// Callbacks received so far.
    pub(crate) fn count(&self) -> usize {
        self.lock().len()
    }

    /// Mute and unmute callbacks received so far.
    pub(crate) fn mutes(&self) -> usize {
        self.mutes.load(Ordering::Relaxed)
    }

    /// A copy of the arrivals from the `from`th on.
    pub(crate) fn since(&self, from: usize) -> Vec<Arrival> {
        self.lock()
            .get(from..)
            .map(<[_]>::to_vec)
            .unwrap_or_default()
    }

    /// A copy of every arrival.
    pub(crate) fn all(&self) -> Vec<Arrival> {
        self.since(0)
    }

    /// When the last callback arrived, if any did.
    pub(crate) fn last_arrival(&self) -> Option<Instant> {
        self.lock().last().map(|a| a.at)
    }

    /// Waits until at least `mutes` mute/unmute callbacks have arrived in all; gives up when
    /// no callback at all arrived for `quiet` (or after a minute). Returns whether they did.
    pub(crate) async fn wait_for_mutes(&self, mutes: usize, quiet: Duration) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut seen, mut heard) = (self.count(), Instant::now());
        while self.mutes() < mutes {
            let now = Instant::now();
            let count = self.count();
            if count != seen {
                (seen, heard) = (count, now);
            }
            if now >= deadline || now.duration_since(heard) >= quiet {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        true
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Arrival>> {
        // Each critical section is one push or one copy: a panic cannot leave it half done.
        self.arrivals.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The handler: records the callback and answers 204.
async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let at = Instant::now();
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let expected = confab_core::webhook::signature(&receiver.auth_token, &receiver.url, &params);
    let signed = headers
        .get("x-twilio-signature")
        .is_some_and(|given| given.as_bytes() == expected.as_bytes());
    let arrival = Arrival {
        at,
        conference: param("ConferenceSid").unwrap_or_default().to_owned(),
        call_sid: param("CallSid").map(str::to_owned),
        event: param("StatusCallbackEvent").unwrap_or_default().to_owned(),
        sequence: param("SequenceNumber").and_then(|s| s.parse().ok()),
        muted: param("Muted").map(|m| m == "true"),
        stamp_age_s: param("Timestamp").and_then(stamp_age_s),
        signed,
    };
    let mute = arrival.is_mute();
    receiver.lock().push(arrival);
    if mute {
        receiver.mutes.fetch_add(1, Ordering::Relaxed);
    }
    StatusCode::NO_CONTENT
}

/// Whole seconds from an RFC 2822 `Timestamp` (`Fri, 18 Feb 2011 21:07:19 +0000`) to now,
/// compared by the time of day only (a callback is never a day old here).
fn stamp_age_s(stamp: &str) -> Option<i64> {
    let clock = stamp.split_whitespace().nth(4)?;
    let mut fields = clock.split(':').map(str::parse::<i64>);
    let (h, m, s) = (
        fields.next()?.ok()?,
        fields.next()?.ok()?,
        fields.next()?.ok()?,
    );
    let stamped = h * 3600 + m * 60 + s;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs() as i64 % DAY_S;
    Some((now - stamped).rem_euclid(DAY_S))
}

const DAY_S: i64 = 86_400;

/// Counts that tell whether the callbacks were what Twilio would send: every one signed,
/// each conference's `SequenceNumber`s strictly rising by one, `Timestamp`s current.
#[derive(Debug, Default)]
pub(crate) struct Audit {
    /// Callbacks looked at.
    pub(crate) callbacks: usize,
    /// Conferences they came from.
    pub(crate) conferences: usize,
    /// Callbacks whose signature was wrong or missing.
    pub(crate) unsigned: usize,
    /// Callbacks whose `SequenceNumber` was not the previous one of its conference plus one.
    pub(crate) out_of_sequence: usize,
    /// Callbacks without a readable `Timestamp`.
    pub(crate) unstamped: usize,
    /// The largest `Timestamp` age seen, in whole seconds.
    pub(crate) max_stamp_age_s: i64,
}

impl Audit {
    /// Audits `arrivals`, which must be every callback of their conferences from the first.
    pub(crate) fn of(arrivals: &[Arrival]) -> Audit {
        let mut last = std::collections::HashMap::<&str, u32>::new();
        let mut audit = Audit {
            callbacks: arrivals.len(),
            ..Audit::default()
        };
        for arrival in arrivals {
            audit.unsigned += usize::from(!arrival.signed);
            match arrival.stamp_age_s {
                Some(age) => audit.max_stamp_age_s = audit.max_stamp_age_s.max(age),
                None => audit.unstamped += 1,
            }
            let sequence = arrival.sequence.unwrap_or(0);
            let expected = last.get(arrival.conference.as_str()).map_or(
                confab_core::status_callback::FIRST_CONFERENCE_SEQUENCE,
                |s| s + 1,
            );
            audit.out_of_sequence += usize::from(sequence != expected);
            last.insert(arrival.conference.as_str(), sequence);
        }
        audit.conferences = last.len();
        audit
    }
}
