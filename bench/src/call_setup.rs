//! Call setup: simulated callers put into small conferences two ways, measured side by side
//! in one run.
//!
//! - **calls**: Create Call with `To=sim:NAME` and
//!   `Twiml=<Response><Dial><Conference>ROOM</Conference></Dial></Response>`: the `201` comes
//!   once the queued call is stored; its actor then places the simulated leg, which answers,
//!   runs the TwiML and joins the room.
//! - **participants**: Create Participant on `Conferences/ROOM/Participants` with the same
//!   `To`: the `201` comes once the participant (queued) and its call are stored; the call is
//!   then placed and the participant goes ringing, then connected.
//!
//! The server runs in this process (`confab::app` over a real SQLite file in a temporary
//! directory, with the real media runtime: every simulated caller holds a UDP socket and sends
//! RTP), driven through `oneshot` as the API tests do, so no socket or HTTP client adds to
//! either side.
//!
//! Two phases, each in interleaved rounds (calls, participants, then participants, calls, ...)
//! so the drift of a shared machine falls on both alike:
//! - **throughput**: C creates kept in flight until a round's calls are placed; the rate is the
//!   `201`s per second between the 10th and the 90th percentile answer, so the ramp-up and the
//!   last stragglers do not count. Nothing polls during this window; afterwards the benchmark
//!   checks (a participant list per room every 20 ms) that every call joined, and reports when
//!   all had and the CPU spent per call until then.
//! - **join latency**: few creates in flight, each followed by polls of its participant
//!   (`GET .../Participants/{CallSid}`, after finding the room's conference by `FriendlyName` on
//!   the calls side) until its status is `connected`; the time from the `201` to that answer.
//!   The polls are counted and timed apart. A lookup by `FriendlyName` scans the account's
//!   conferences (there is no index on the name), so it grows with the conferences earlier
//!   rounds left behind; the throughput check lists the live conferences once per sweep
//!   instead of looking each room up.
//!
//! After every round each room is ended (Update Conference `Status=completed`), and the next
//! round starts once every call actor has gone, so rounds are comparable and nothing piles up.
//! Figures, not pass/fail: the target ratio (calls / participants >= 0.8) is printed,
//! not asserted.
//!
//! Run with `cargo run --release -p confab-bench --bin call_setup [-- --conc 16,64 --rounds 9
//! --calls 300 --room-size 3 --join-calls 48 --join-conc 4 --poll-ms 2]`.

mod stats;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Request, StatusCode};
use axum::Router;
use base64::Engine;
use confab::state::create_account;
use confab::AppState;
use confab_core::{CallSid, SidStyle};
use confab_store::{SqliteStore, Store};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::task::JoinSet;
use tower::ServiceExt;

use stats::{cpu_seconds, median, median_duration, ms, percentile, range};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_args(std::env::args().skip(1))?;
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("confab.db")).await?);
    let server = Arc::new(Server::new(store, settings.room_size).await?);
    println!(
        "call_setup: Calls create (Twiml <Dial><Conference>) vs Participants create, in-process \
         confab over SQLite on {}, {} CPUs",
        dir.path().display(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!(
        "throughput: {} sim calls per round in rooms of {}, {} interleaved rounds per \
         concurrency after one warm-up; rate = 201s/s between the 10th and 90th percentile answer",
        settings.calls, settings.room_size, settings.rounds
    );
    for &conc in &settings.concs {
        throughput(&server, &settings, conc).await?;
    }
    join_latency(&server, &settings).await?;
    let stats = server.state.media.stats();
    println!(
        "media: {} ticks, {} late, max tick lateness {:.1} ms, {} datagrams dropped",
        stats.ticks,
        stats.late_ticks,
        stats.max_lateness_us as f64 / 1000.0,
        stats.packets_dropped
    );
    Ok(())
}

/// What a run measures; the defaults keep it around a minute.
struct Settings {
    /// Creates in flight in the throughput phase, one measurement per entry.
    concs: Vec<usize>,
    /// Interleaved rounds per measurement.
    rounds: usize,
    /// Calls placed per throughput round (each holds a UDP socket and sends RTP).
    calls: usize,
    /// Callers per conference.
    room_size: usize,
    /// Calls per join-latency round.
    join_calls: usize,
    /// Creates in flight in the join-latency phase.
    join_conc: usize,
    /// Pause between two polls of one participant.
    poll: Duration,
}

impl Settings {
    fn from_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Settings> {
        let mut s = Settings {
            concs: vec![16, 64],
            rounds: 9,
            calls: 300,
            room_size: 3,
            join_calls: 48,
            join_conc: 4,
            poll: Duration::from_millis(2),
        };
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value"))?;
            let number = || {
                value
                    .parse::<usize>()
                    .with_context(|| format!("{flag} {value}"))
            };
            match flag.as_str() {
                "--conc" => {
                    s.concs = value
                        .split(',')
                        .map(str::parse)
                        .collect::<Result<_, _>>()
                        .with_context(|| format!("--conc {value}"))?
                }
                "--rounds" => s.rounds = number()?.clamp(1, 21),
                "--calls" => s.calls = number()?.clamp(10, 1000),
                "--room-size" => s.room_size = number()?.clamp(1, 16),
                "--join-calls" => s.join_calls = number()?.clamp(4, 500),
                "--join-conc" => s.join_conc = number()?.clamp(1, 64),
                "--poll-ms" => s.poll = Duration::from_millis(number()?.clamp(1, 100) as u64),
                _ => bail!(
                    "unknown flag {flag} (--conc, --rounds, --calls, --room-size, --join-calls, \
                     --join-conc, --poll-ms)"
                ),
            }
        }
        if s.concs.is_empty() || s.concs.iter().any(|&c| c == 0 || c > 512) {
            bail!("--conc takes 1 to 512 creates in flight per entry");
        }
        Ok(s)
    }
}

/// How a call gets into its conference.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Setup {
    /// Create Call with `Twiml` `<Dial><Conference>`.
    Calls,
    /// Create Participant in the room.
    Participants,
}

impl Setup {
    fn name(self) -> &'static str {
        match self {
            Setup::Calls => "calls",
            Setup::Participants => "participants",
        }
    }

    /// Both ways, the first one alternating by round so neither always runs first.
    fn order(round: usize) -> [Setup; 2] {
        if round.is_multiple_of(2) {
            [Setup::Calls, Setup::Participants]
        } else {
            [Setup::Participants, Setup::Calls]
        }
    }
}

/// The throughput phase at one concurrency: a warm-up round each way, then the measured ones.
async fn throughput(server: &Arc<Server>, settings: &Settings, conc: usize) -> anyhow::Result<()> {
    for setup in Setup::order(0) {
        let round = create_round(server, setup, &format!("w{conc}"), settings.calls, conc).await;
        server.settle_and_end(setup, &round).await?;
    }
    let mut results: [Vec<CreateRound>; 2] = Default::default();
    let mut joined: [Vec<Joined>; 2] = Default::default();
    for r in 0..settings.rounds {
        for setup in Setup::order(r) {
            let prefix = format!("t{conc}-{r}");
            let round = create_round(server, setup, &prefix, settings.calls, conc).await;
            joined[setup as usize].push(server.settle_and_end(setup, &round).await?);
            results[setup as usize].push(round);
        }
    }
    println!("C={conc}");
    for setup in [Setup::Calls, Setup::Participants] {
        let rounds = &results[setup as usize];
        let rates: Vec<f64> = rounds.iter().map(CreateRound::rate).collect();
        let latencies: Vec<Duration> = rounds.iter().flat_map(|r| r.latencies.clone()).collect();
        let (ok, errors) = rounds
            .iter()
            .fold((0, 0), |(o, e), r| (o + r.created.len(), e + r.errors));
        let cpu: f64 = rounds.iter().map(|r| r.cpu_seconds).sum();
        let joins = &joined[setup as usize];
        let settled: Vec<Duration> = joins.iter().map(|j| j.after_last_201).collect();
        let missing: usize = joins.iter().map(|j| j.missing).sum();
        let cpu_joined: f64 = joins.iter().map(|j| j.cpu_seconds).sum();
        let dropped: u64 = joins.iter().map(|j| j.dropped).sum();
        println!(
            "  {:<13} {:>6.0} 201/s (median round; rounds {}) | create p50 {:.1} ms p99 {:.1} ms \
             | {:.2} ms CPU per 201 | errors {errors}{}",
            setup.name(),
            median(&rates),
            rates
                .iter()
                .map(|r| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join(" "),
            ms(percentile(&latencies, 50)),
            ms(percentile(&latencies, 99)),
            1000.0 * cpu / ok.max(1) as f64,
            rounds
                .iter()
                .find_map(|r| r.first_error.as_ref())
                .map_or(String::new(), |e| format!(" (first: {e})")),
        );
        println!(
            "  {:<13} all joined {:.0} ms (median round) after the last 201, {missing} of {ok} \
             never; {:.2} ms CPU per call from create to joined; {:.1} RTP datagrams dropped per \
             call (round to hang-up)",
            "",
            ms(median_duration(&settled)),
            1000.0 * cpu_joined / ok.max(1) as f64,
            dropped as f64 / ok.max(1) as f64,
        );
    }
    let ratios: Vec<f64> = results[Setup::Calls as usize]
        .iter()
        .zip(&results[Setup::Participants as usize])
        .map(|(c, p)| c.rate() / p.rate().max(f64::MIN_POSITIVE))
        .collect();
    let (low, high) = range(&ratios);
    println!(
        "  ratio calls/participants per round: median {:.2}, range {low:.2}-{high:.2} \
         (issue target >= 0.80)",
        median(&ratios)
    );
    Ok(())
}

/// The join-latency phase: few creates in flight, each polled until its participant is
/// connected.
async fn join_latency(server: &Arc<Server>, settings: &Settings) -> anyhow::Result<()> {
    let mut results: [Vec<JoinRound>; 2] = Default::default();
    for r in 0..settings.rounds {
        for setup in Setup::order(r) {
            let round = join_round(server, setup, &format!("j{r}"), settings).await;
            server.settle_and_end(setup, &round.placed).await?;
            results[setup as usize].push(round);
        }
    }
    println!(
        "join latency: 201 -> participant status connected, {} calls per round at {} in flight, \
         polled every {} ms, {} interleaved rounds",
        settings.join_calls,
        settings.join_conc,
        settings.poll.as_millis(),
        settings.rounds
    );
    let mut p50s = [0.0; 2];
    for setup in [Setup::Calls, Setup::Participants] {
        let rounds = &results[setup as usize];
        let latencies: Vec<Duration> = rounds.iter().flat_map(|r| r.joins.clone()).collect();
        let mut polls = Polls::default();
        rounds.iter().for_each(|r| polls.add(&r.polls));
        let timeouts: usize = rounds.iter().map(|r| r.timeouts).sum();
        let errors: usize = rounds.iter().map(|r| r.errors).sum();
        p50s[setup as usize] = ms(percentile(&latencies, 50));
        println!(
            "  {:<13} p50 {:.1} ms p99 {:.1} ms max {:.1} ms | polls per call: {:.1} participant \
             fetches ({:.2} ms each), {:.2} conference lookups by name ({:.2} ms each) | \
             {timeouts} never joined, {errors} errors",
            setup.name(),
            ms(percentile(&latencies, 50)),
            ms(percentile(&latencies, 99)),
            ms(percentile(&latencies, 100)),
            polls.fetches as f64 / latencies.len().max(1) as f64,
            ms(polls.fetch_time) / polls.fetches.max(1) as f64,
            polls.lookups as f64 / latencies.len().max(1) as f64,
            ms(polls.lookup_time) / polls.lookups.max(1) as f64,
        );
    }
    println!(
        "  p50 ratio calls/participants: {:.2}",
        p50s[0] / p50s[1].max(f64::MIN_POSITIVE)
    );
    Ok(())
}

/// One throughput round of one way.
#[derive(Default)]
struct CreateRound {
    /// Each `201`'s arrival, from the round's start.
    answered_at: Vec<Duration>,
    /// Each `201`'s latency.
    latencies: Vec<Duration>,
    /// The calls created, with their rooms.
    created: Vec<Created>,
    errors: usize,
    first_error: Option<String>,
    /// CPU this process (server, media and load) spent during the round's creates.
    cpu_seconds: f64,
    /// This process's CPU and the media's dropped datagrams when the round started.
    start: (f64, u64),
}

impl CreateRound {
    /// `201`s per second between the 10th and the 90th percentile answer.
    fn rate(&self) -> f64 {
        let mut at = self.answered_at.clone();
        at.sort_unstable();
        let (lo, hi) = (at.len() / 10, at.len() * 9 / 10);
        let Some(span) = at.get(hi).zip(at.get(lo)).map(|(h, l)| *h - *l) else {
            return 0.0;
        };
        (hi - lo) as f64 / span.as_secs_f64().max(1e-9)
    }
}

/// Places `calls` calls with `conc` creates in flight, rooms filled in order.
async fn create_round(
    server: &Arc<Server>,
    setup: Setup,
    prefix: &str,
    calls: usize,
    conc: usize,
) -> CreateRound {
    let next = Arc::new(AtomicUsize::new(0));
    let room_size = server.room_size;
    let start = (cpu_seconds(), server.state.media.stats().packets_dropped);
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..conc {
        let (server, next) = (server.clone(), next.clone());
        let prefix = format!("{prefix}-{}", setup.name());
        workers.spawn(async move {
            let mut round = CreateRound::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= calls {
                    return round;
                }
                let room = format!("{prefix}-{}", i / room_size);
                let sent = Instant::now();
                match server.create(setup, &room, i).await {
                    Ok(created) => {
                        round.answered_at.push(created.answered - started);
                        round.latencies.push(created.answered - sent);
                        round.created.push(created);
                    }
                    Err(e) => {
                        round.errors += 1;
                        round.first_error.get_or_insert(e);
                    }
                }
            }
        });
    }
    let mut all = CreateRound::default();
    while let Some(Ok(part)) = workers.join_next().await {
        all.answered_at.extend(part.answered_at);
        all.latencies.extend(part.latencies);
        all.created.extend(part.created);
        all.errors += part.errors;
        if all.first_error.is_none() {
            all.first_error = part.first_error;
        }
    }
    all.cpu_seconds = cpu_seconds() - start.0;
    all.start = start;
    all
}

/// One join-latency round of one way.
#[derive(Default)]
struct JoinRound {
    /// From each `201` to the poll that saw the participant connected.
    joins: Vec<Duration>,
    /// The calls, to hang up afterwards.
    placed: CreateRound,
    polls: Polls,
    timeouts: usize,
    errors: usize,
}

async fn join_round(server: &Arc<Server>, setup: Setup, prefix: &str, s: &Settings) -> JoinRound {
    let next = Arc::new(AtomicUsize::new(0));
    // The calls side learns each room's conference SID once, by its name.
    let conferences = Arc::new(Mutex::new(HashMap::<String, String>::new()));
    let mut workers = JoinSet::new();
    for _ in 0..s.join_conc {
        let (server, next, conferences) = (server.clone(), next.clone(), conferences.clone());
        let (prefix, calls, poll) = (format!("{prefix}-{}", setup.name()), s.join_calls, s.poll);
        workers.spawn(async move {
            let mut round = JoinRound::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= calls {
                    return round;
                }
                let room = format!("{prefix}-{}", i / server.room_size);
                let Ok(mut created) = server.create(setup, &room, i).await else {
                    round.errors += 1;
                    continue;
                };
                let known = lock(&conferences).get(&room).cloned();
                created.conference_sid = created.conference_sid.or(known);
                match server
                    .wait_joined(&mut created, poll, &mut round.polls)
                    .await
                {
                    Some(joined) => round.joins.push(joined - created.answered),
                    None => round.timeouts += 1,
                }
                if let Some(cf) = &created.conference_sid {
                    lock(&conferences).insert(room, cf.clone());
                }
                round.placed.created.push(created);
            }
        });
    }
    let mut all = JoinRound::default();
    while let Some(Ok(part)) = workers.join_next().await {
        all.joins.extend(part.joins);
        all.placed.created.extend(part.placed.created);
        all.polls.add(&part.polls);
        all.timeouts += part.timeouts;
        all.errors += part.errors;
    }
    all
}

/// The join-latency phase's requests, kept apart from the throughput figures.
#[derive(Default)]
struct Polls {
    /// `GET .../Participants/{CallSid}` and the time they took.
    fetches: usize,
    fetch_time: Duration,
    /// `GET .../Conferences.json?FriendlyName=ROOM` (calls side only) and their time.
    lookups: usize,
    lookup_time: Duration,
}

impl Polls {
    fn add(&mut self, other: &Polls) {
        self.fetches += other.fetches;
        self.fetch_time += other.fetch_time;
        self.lookups += other.lookups;
        self.lookup_time += other.lookup_time;
    }
}

/// A call whose create was answered `201`.
struct Created {
    room: String,
    call_sid: CallSid,
    /// Known from the answer (participants) or once looked up by the room's name (calls).
    conference_sid: Option<String>,
    /// When the `201` was in hand.
    answered: Instant,
}

/// How the calls of a round ended up.
struct Joined {
    /// From the round's last `201` to the sweep that found every call connected.
    after_last_201: Duration,
    /// Calls not connected when the benchmark gave up on them.
    missing: usize,
    /// CPU this process spent from the round's start until every call had joined, the
    /// sweeps' requests included.
    cpu_seconds: f64,
    /// RTP datagrams the media threads dropped from the round's start until it had gone.
    dropped: u64,
}

/// The in-process server and the account the benchmark uses.
struct Server {
    app: Router,
    state: Arc<AppState>,
    auth: HeaderValue,
    /// `/2010-04-01/Accounts/{AccountSid}`.
    base: String,
    room_size: usize,
}

impl Server {
    async fn new(store: Arc<dyn Store>, room_size: usize) -> anyhow::Result<Server> {
        let account = create_account(store.as_ref(), SidStyle::Twilio, "bench").await?;
        let state = AppState::new(store);
        let credentials = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", account.sid, account.auth_token));
        Ok(Server {
            app: confab::app(state.clone()),
            state,
            auth: HeaderValue::from_str(&format!("Basic {credentials}"))?,
            base: format!("/2010-04-01/Accounts/{}", account.sid),
            room_size,
        })
    }

    /// One request through the app; the status and the JSON answer.
    async fn send(
        &self,
        method: Method,
        uri: &str,
        form: &[(&str, &str)],
    ) -> anyhow::Result<(StatusCode, Value)> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, self.auth.clone())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))?;
        let response = self.app.clone().oneshot(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    /// Places caller `n` into `room` the `setup` way.
    async fn create(&self, setup: Setup, room: &str, n: usize) -> Result<Created, String> {
        let to = format!("sim:caller{n}");
        let twiml;
        let (uri, form) = match setup {
            Setup::Calls => {
                twiml =
                    format!("<Response><Dial><Conference>{room}</Conference></Dial></Response>");
                let form = vec![
                    ("To", to.as_str()),
                    ("From", FROM),
                    ("Twiml", twiml.as_str()),
                ];
                (format!("{}/Calls.json", self.base), form)
            }
            Setup::Participants => {
                let form = vec![("To", to.as_str()), ("From", FROM)];
                (
                    format!("{}/Conferences/{room}/Participants.json", self.base),
                    form,
                )
            }
        };
        let (status, body) = self
            .send(Method::POST, &uri, &form)
            .await
            .map_err(|e| e.to_string())?;
        let answered = Instant::now();
        if status != StatusCode::CREATED {
            return Err(format!("{status} {body}"));
        }
        let field = |name: &str| body[name].as_str().map(str::to_owned);
        let call_sid = match setup {
            Setup::Calls => field("sid"),
            Setup::Participants => field("call_sid"),
        };
        Ok(Created {
            room: room.to_owned(),
            call_sid: call_sid
                .as_deref()
                .and_then(CallSid::parse)
                .ok_or_else(|| format!("no call SID in {body}"))?,
            conference_sid: field("conference_sid"),
            answered,
        })
    }

    /// The live conference named `room`, if there is one yet.
    async fn conference_named(&self, room: &str) -> Option<String> {
        let uri = format!("{}/Conferences.json?FriendlyName={room}", self.base);
        let (_, body) = self.send(Method::GET, &uri, &[]).await.ok()?;
        body["conferences"]
            .as_array()?
            .iter()
            .find(|c| c["status"] != "completed")
            .and_then(|c| c["sid"].as_str().map(str::to_owned))
    }

    /// Polls the call's participant every `poll` until it is connected; when that answer came.
    async fn wait_joined(
        &self,
        created: &mut Created,
        poll: Duration,
        polls: &mut Polls,
    ) -> Option<Instant> {
        let give_up = created.answered + JOIN_TIMEOUT;
        while Instant::now() < give_up {
            let sent = Instant::now();
            let Some(cf) = &created.conference_sid else {
                created.conference_sid = self.conference_named(&created.room).await;
                polls.lookups += 1;
                polls.lookup_time += sent.elapsed();
                // Found: ask for the participant at once, as if its SID had been known.
                if created.conference_sid.is_none() {
                    tokio::time::sleep(poll).await;
                }
                continue;
            };
            let uri = format!(
                "{}/Conferences/{cf}/Participants/{}.json",
                self.base,
                created.call_sid.as_str()
            );
            let answer = self.send(Method::GET, &uri, &[]).await;
            polls.fetches += 1;
            polls.fetch_time += sent.elapsed();
            if answer.is_ok_and(|(_, body)| body["status"] == "connected") {
                return Some(Instant::now());
            }
            tokio::time::sleep(poll).await;
        }
        None
    }

    /// Waits until every call of a round is connected (one participant list per room and
    /// sweep), then ends every room and waits until every call actor has gone.
    async fn settle_and_end(&self, setup: Setup, round: &CreateRound) -> anyhow::Result<Joined> {
        let created = &round.created;
        let last_201 = created.iter().map(|c| c.answered).max();
        let mut rooms: HashMap<&str, (Option<String>, Vec<&str>)> = HashMap::new();
        for c in created {
            let room = rooms.entry(&c.room).or_default();
            room.0 = room.0.take().or_else(|| c.conference_sid.clone());
            room.1.push(c.call_sid.as_str());
        }
        let mut pending: Vec<&str> = rooms.keys().copied().collect();
        let give_up = Instant::now() + JOIN_TIMEOUT;
        let mut missing = 0;
        while !pending.is_empty() {
            let mut still = Vec::new();
            missing = 0;
            // One list of the live conferences, not a lookup by name per room: a lookup by
            // name costs a scan of the account's conferences (see the module docs).
            let unknown = pending
                .iter()
                .any(|name| rooms.get(name).is_some_and(|r| r.0.is_none()));
            let live = if unknown {
                self.live_conferences().await
            } else {
                HashMap::new()
            };
            for name in pending {
                let Some((cf, calls)) = rooms.get_mut(name) else {
                    continue;
                };
                if cf.is_none() {
                    *cf = live.get(name).cloned();
                }
                let connected = match cf {
                    Some(cf) => self.connected(cf).await,
                    None => 0,
                };
                if connected < calls.len() {
                    missing += calls.len() - connected;
                    still.push(name);
                }
            }
            pending = still;
            if pending.is_empty() || Instant::now() > give_up {
                break;
            }
            tokio::time::sleep(SWEEP).await;
        }
        let after_last_201 = last_201.map_or(Duration::ZERO, |t| t.elapsed());
        let cpu_seconds = cpu_seconds() - round.start.0;
        for (cf, calls) in rooms.values() {
            self.end(cf.as_deref(), calls).await?;
        }
        self.wait_gone(setup, created).await?;
        Ok(Joined {
            after_last_201,
            missing,
            cpu_seconds,
            dropped: self.state.media.stats().packets_dropped - round.start.1,
        })
    }

    /// The live (`init` or `in-progress`) conferences, by room name.
    async fn live_conferences(&self) -> HashMap<String, String> {
        let mut live = HashMap::new();
        for status in ["init", "in-progress"] {
            let uri = format!(
                "{}/Conferences.json?Status={status}&PageSize=1000",
                self.base
            );
            let Ok((_, body)) = self.send(Method::GET, &uri, &[]).await else {
                continue;
            };
            for c in body["conferences"].as_array().into_iter().flatten() {
                if let (Some(name), Some(sid)) = (c["friendly_name"].as_str(), c["sid"].as_str()) {
                    live.insert(name.to_owned(), sid.to_owned());
                }
            }
        }
        live
    }

    /// Participants of conference `cf` whose status is `connected`.
    async fn connected(&self, cf: &str) -> usize {
        let uri = format!(
            "{}/Conferences/{cf}/Participants.json?PageSize=100",
            self.base
        );
        let Ok((_, body)) = self.send(Method::GET, &uri, &[]).await else {
            return 0;
        };
        body["participants"].as_array().map_or(0, |ps| {
            ps.iter().filter(|p| p["status"] == "connected").count()
        })
    }

    /// Ends a room; calls of a room whose conference was never found are hung up one by one.
    async fn end(&self, cf: Option<&str>, calls: &[&str]) -> anyhow::Result<()> {
        let completed = [("Status", "completed")];
        if let Some(cf) = cf {
            let uri = format!("{}/Conferences/{cf}.json", self.base);
            let (status, body) = self.send(Method::POST, &uri, &completed).await?;
            if status != StatusCode::OK {
                bail!("ending conference {cf}: {status} {body}");
            }
            return Ok(());
        }
        for sid in calls {
            let uri = format!("{}/Calls/{sid}.json", self.base);
            self.send(Method::POST, &uri, &completed).await?;
        }
        Ok(())
    }

    /// Waits until no call of the round is live, then lets the last writes land.
    async fn wait_gone(&self, setup: Setup, created: &[Created]) -> anyhow::Result<()> {
        let give_up = Instant::now() + JOIN_TIMEOUT;
        let live = || {
            created
                .iter()
                .filter(|c| self.state.calls.registry.live(&c.call_sid).is_some())
                .count()
        };
        while live() > 0 {
            if Instant::now() > give_up {
                bail!(
                    "{} {} calls still live after their rooms ended",
                    live(),
                    setup.name()
                );
            }
            tokio::time::sleep(SWEEP).await;
        }
        tokio::time::sleep(QUIET).await;
        Ok(())
    }
}

/// Caller ID of every call.
const FROM: &str = "+15550100";

/// A call not connected this long after its `201` counts as never joined.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause between two sweeps over a round's rooms.
const SWEEP: Duration = Duration::from_millis(20);

/// Pause after a round has gone, for the hang-ups' last writes.
const QUIET: Duration = Duration::from_millis(250);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
