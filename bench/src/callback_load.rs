//! The open-loop load of the `callbacks` benchmark: mute/unmute updates sent at a fixed rate
//! whatever the answers take, each matched with the callback it caused.
//!
//! Each of C connections owns every C-th participant and sends its updates on a schedule of
//! its own (connection `w` sends the `j`-th update at `(j * C + w) / rate` seconds), so the
//! fleet offers `rate` updates per second in all and no participant ever has two updates in
//! flight: its updates, and so its callbacks, come in one order. A connection that falls
//! behind its schedule sends at once until it has caught up; how late the sends were is
//! reported, because an offered rate the client could not keep is no offered rate.
//!
//! The n-th update of a participant in a step is matched with the n-th `participant-mute` or
//! `participant-unmute` about its `CallSid` that arrived in that step (a conference's
//! callbacks are delivered in order), and the two must agree on `Muted`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::Request;
use tokio::task::JoinSet;

use super::callback_receiver::{Arrival, Receiver};
use super::callback_server::{ConfabServer, Conferences};
use super::loadgen::{connect, exchange, Connection, Target, Usage};
use super::stats::{ms, percentile};
use super::TICKS_PER_SECOND;

/// The subscribed participants and whether each is muted now.
pub(crate) struct Fleet {
    /// Where the updates go, with what credentials, and the participants' paths.
    target: Target,
    /// The participants' `CallSid`s, as the callbacks name them.
    call_sids: Vec<String>,
    /// Each participant's `Muted`, so that every update changes it. Only the connection that
    /// owns a participant touches its flag.
    muted: Vec<AtomicBool>,
}

impl Fleet {
    /// The participants of `conferences` on `server`, all unmuted (as they joined).
    pub(crate) fn new(server: &ConfabServer, conferences: &Conferences) -> anyhow::Result<Fleet> {
        let target = Target::new(
            server.addr,
            &server.account,
            &server.token,
            &conferences.paths,
        )?;
        Ok(Fleet {
            target,
            call_sids: conferences.call_sids.clone(),
            muted: conferences
                .paths
                .iter()
                .map(|_| AtomicBool::new(false))
                .collect(),
        })
    }

    /// Unmutes every muted participant, one after another on the first connection, and waits
    /// for their callbacks: the closed-loop benchmark starts with everyone unmuted.
    pub(crate) async fn unmute_all(
        &self,
        receiver: &Receiver,
        conns: &mut [Connection],
    ) -> anyhow::Result<()> {
        let Some(conn) = conns.first_mut() else {
            return Ok(());
        };
        let mutes = receiver.mutes();
        let mut sent = 0;
        for (participant, muted) in self.muted.iter().enumerate() {
            if muted.load(Ordering::Relaxed) {
                conn.ready().await?;
                exchange(conn, self.update(participant, false))
                    .await
                    .map_err(anyhow::Error::msg)?;
                muted.store(false, Ordering::Relaxed);
                sent += 1;
            }
        }
        receiver
            .wait_for_mutes(mutes + sent, Duration::from_millis(500))
            .await;
        Ok(())
    }

    /// An Update Participant request setting `Muted`.
    fn update(&self, participant: usize, muted: bool) -> Request<Full<Bytes>> {
        let body = if muted { "Muted=true" } else { "Muted=false" };
        let mut request = Request::new(Full::new(Bytes::from_static(body.as_bytes())));
        *request.method_mut() = hyper::Method::POST;
        *request.uri_mut() = self.target.paths[participant].clone();
        let headers = request.headers_mut();
        headers.insert(HOST, self.target.host.clone());
        headers.insert(AUTHORIZATION, self.target.auth.clone());
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        request
    }
}

/// One step of offered load and what became of its events.
pub(crate) struct Step {
    /// Updates per second offered.
    offered: f64,
    /// How long they were offered.
    len: Duration,
    /// Updates answered 200.
    pub(crate) updates: usize,
    /// Of them, those answered within the step.
    answered_in_time: usize,
    /// Updates that failed, and the first failure.
    errors: u64,
    first_error: Option<String>,
    /// How late the sends were against the schedule, p99.
    lateness_p99: Duration,
    /// Callbacks (of any event) that arrived within the step.
    delivered_in_time: usize,
    /// Events answered within the step whose callbacks had not arrived when it ended.
    backlog: usize,
    /// From the end of the step to the arrival of its last callback.
    pub(crate) drain: Duration,
    /// From the `200` of each update to the arrival of its callback.
    pub(crate) latencies: Vec<Duration>,
    /// Callbacks that arrived before the load generator had read the update's `200` (their
    /// latency counts as zero).
    early: usize,
    /// Updates without a callback, or callbacks without an update.
    unmatched: usize,
    /// Matched pairs that disagreed on `Muted`.
    disagreeing: usize,
    /// CPU of the server and the receiver over the step and its drain.
    usage: Usage,
}

impl Step {
    /// Offers `rate` updates per second to `fleet` on `conns` for `len`, waits for their
    /// callbacks at `receiver`, and matches the two.
    pub(crate) async fn run(
        fleet: &Arc<Fleet>,
        receiver: &Receiver,
        conns: &mut Vec<Connection>,
        rate: f64,
        len: Duration,
        pid: u32,
    ) -> anyhow::Result<Step> {
        let (first, mutes) = (receiver.count(), receiver.mutes());
        let before = Usage::now(pid)?;
        let workers = conns.len().min(fleet.muted.len()).max(1);
        let start = Instant::now() + Duration::from_millis(10);
        let end = start + len;
        let mut joins = JoinSet::new();
        for (index, conn) in conns.drain(..workers).enumerate() {
            let owned: Vec<usize> = (index..fleet.muted.len()).step_by(workers).collect();
            let schedule = Schedule {
                index,
                workers,
                rate,
                start,
                end,
            };
            joins.spawn(offer(fleet.clone(), conn, owned, schedule));
        }
        let mut sent = Vec::with_capacity(workers);
        while let Some(joined) = joins.join_next().await {
            let (conn, tally) = joined?;
            conns.extend(conn);
            sent.push(tally);
        }
        if conns.is_empty() {
            anyhow::bail!("every connection failed");
        }
        let updates: usize = sent.iter().map(|s| s.updates.len()).sum();
        receiver
            .wait_for_mutes(mutes + updates, Duration::from_millis(500))
            .await;
        let usage = Usage::now(pid)?.since(&before);
        let arrivals = receiver.since(first);
        Ok(Step::tally(
            fleet,
            rate,
            len,
            (start, end),
            &sent,
            &arrivals,
            usage,
        ))
    }

    fn tally(
        fleet: &Fleet,
        offered: f64,
        len: Duration,
        (start, end): (Instant, Instant),
        sent: &[Sent],
        arrivals: &[Arrival],
        usage: Usage,
    ) -> Step {
        let mut queues = HashMap::<&str, VecDeque<&Arrival>>::new();
        for arrival in arrivals.iter().filter(|a| a.is_mute()) {
            let call_sid = arrival.call_sid.as_deref().unwrap_or_default();
            queues.entry(call_sid).or_default().push_back(arrival);
        }
        let mut step = Step {
            offered,
            len,
            updates: 0,
            answered_in_time: 0,
            errors: sent.iter().map(|s| s.errors).sum(),
            first_error: sent.iter().find_map(|s| s.first_error.clone()),
            lateness_p99: percentile(
                &sent
                    .iter()
                    .flat_map(|s| s.lateness.iter().copied())
                    .collect::<Vec<_>>(),
                99,
            ),
            delivered_in_time: arrivals
                .iter()
                .filter(|a| a.at >= start && a.at <= end)
                .count(),
            backlog: 0,
            drain: Duration::ZERO,
            latencies: Vec::new(),
            early: 0,
            unmatched: 0,
            disagreeing: 0,
            usage,
        };
        let mut last = end;
        for update in sent.iter().flat_map(|s| &s.updates) {
            step.updates += 1;
            let in_time = update.replied <= end;
            step.answered_in_time += usize::from(in_time);
            let call_sid = fleet.call_sids[update.participant].as_str();
            let Some(arrival) = queues.get_mut(call_sid).and_then(VecDeque::pop_front) else {
                step.unmatched += 1;
                continue;
            };
            step.disagreeing += usize::from(arrival.muted != Some(update.muted));
            step.backlog += usize::from(in_time && arrival.at > end);
            last = last.max(arrival.at);
            match arrival.at.checked_duration_since(update.replied) {
                Some(latency) => step.latencies.push(latency),
                None => {
                    step.early += 1;
                    step.latencies.push(Duration::ZERO);
                }
            }
        }
        step.unmatched += queues.values().map(VecDeque::len).sum::<usize>();
        step.drain = last - end;
        step
    }

    /// Whether the callbacks kept up with the events: when the step ended, fewer than 5% of
    /// its events (and at most 50) were still undelivered, and each had its callback.
    pub(crate) fn kept_up(&self) -> bool {
        self.updates > 0 && self.unmatched == 0 && self.backlog <= 50.min(self.updates / 20).max(1)
    }

    /// Whether the server answered at least 95% of the offered updates within the step.
    pub(crate) fn answered_offered(&self) -> bool {
        self.answered_in_time as f64 >= 0.95 * self.offered * self.len.as_secs_f64()
    }

    /// Callbacks per second that arrived during the step.
    pub(crate) fn delivered_rate(&self) -> f64 {
        self.delivered_in_time as f64 / self.len.as_secs_f64()
    }

    /// Prints the step in three lines.
    pub(crate) fn report(&self) {
        let secs = self.len.as_secs_f64();
        let window = secs + self.drain.as_secs_f64();
        let cores = |ticks: u64| 100.0 * ticks as f64 / TICKS_PER_SECOND / window.max(1e-9);
        println!(
            "  {:.0} updates/s offered for {secs:.0} s: {:.0} answered/s (sends late by {:.1} ms \
             at p99), {:.0} callbacks/s arrived meanwhile; callbacks {}{}",
            self.offered,
            self.answered_in_time as f64 / secs,
            ms(self.lateness_p99),
            self.delivered_rate(),
            if self.kept_up() {
                "kept up"
            } else {
                "fell behind"
            },
            if self.answered_offered() {
                ""
            } else {
                "; the server did not answer the offered rate"
            },
        );
        println!(
            "    update 200 -> callback: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.1} ms \
             over {} callbacks ({} arrived before the 200 was read)",
            ms(percentile(&self.latencies, 50)),
            ms(percentile(&self.latencies, 90)),
            ms(percentile(&self.latencies, 99)),
            ms(percentile(&self.latencies, 100)),
            self.latencies.len(),
            self.early,
        );
        println!(
            "    {} undelivered at the end, the last in {:.0} ms later; {} unmatched, {} \
             disagreeing on Muted, {} failed updates{}; CPU: confab {:.0}%, receiver {:.0}% of \
             a core, machine idle {:.0}%",
            self.backlog,
            ms(self.drain),
            self.unmatched,
            self.disagreeing,
            self.errors,
            self.first_error
                .as_ref()
                .map_or(String::new(), |e| format!(" (first: {e})")),
            cores(self.usage.confab_ticks),
            cores(self.usage.bare_ticks),
            100.0 * self.usage.machine_idle_ticks as f64 / self.usage.machine_ticks.max(1) as f64,
        );
    }
}

/// One update answered `200`.
struct Update {
    participant: usize,
    muted: bool,
    replied: Instant,
}

/// What one connection sent in a step.
#[derive(Default)]
struct Sent {
    /// In the order sent, so each participant's are in order too.
    updates: Vec<Update>,
    /// How late each send was against its schedule.
    lateness: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
}

/// One connection's share of the offered rate.
struct Schedule {
    index: usize,
    workers: usize,
    rate: f64,
    start: Instant,
    end: Instant,
}

/// Sends the updates of `owned` on `conn` on its schedule; reconnects after a broken
/// connection.
async fn offer(
    fleet: Arc<Fleet>,
    mut conn: Connection,
    owned: Vec<usize>,
    schedule: Schedule,
) -> (Option<Connection>, Sent) {
    let mut sent = Sent::default();
    for j in 0.. {
        let slot = (j * schedule.workers + schedule.index) as f64 / schedule.rate;
        let due = schedule.start + Duration::from_secs_f64(slot);
        if due >= schedule.end || owned.is_empty() {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        sent.lateness
            .push(Instant::now().saturating_duration_since(due));
        let participant = owned[j % owned.len()];
        let muted = !fleet.muted[participant].load(Ordering::Relaxed);
        let answer = match conn.ready().await {
            Ok(()) => exchange(&mut conn, fleet.update(participant, muted)).await,
            Err(e) => Err(format!("connection: {e}")),
        };
        match answer {
            Ok(_) => {
                let replied = Instant::now();
                fleet.muted[participant].store(muted, Ordering::Relaxed);
                sent.updates.push(Update {
                    participant,
                    muted,
                    replied,
                });
            }
            Err(e) => {
                let broken = !e.starts_with("HTTP ");
                sent.errors += 1;
                sent.first_error.get_or_insert(e);
                if broken {
                    match connect(fleet.target.addr).await {
                        Ok(fresh) => conn = fresh,
                        Err(_) => return (None, sent),
                    }
                }
            }
        }
    }
    (Some(conn), sent)
}
