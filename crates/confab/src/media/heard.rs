//! What simulated callers heard: the recordings, the store that keeps them after the call, and
//! the two ways the API hands them out (a WAV file and a JSON summary of tones and levels).
//!
//! # Bounds
//!
//! A recording keeps at most [`MAX_RECORDING`] of audio (later audio is not kept), and the
//! store keeps the recordings of the last [`RETAINED_CALLS`] simulated calls, oldest dropped
//! first, so a long-running server does not grow without end. Their samples together are held
//! to [`MAX_RETAINED_BYTES`] too: each time a recording is added, the oldest recordings of
//! calls that have ended are dropped until the total fits. Recordings of calls still running
//! are never dropped (each is bounded by its own limit), so between two additions the total
//! can only exceed the bound by what the running calls record meanwhile.
//!
//! # Summary
//!
//! The summary cuts the recording into windows of [`WINDOW_MS`] and reports each window's RMS
//! level and the tones in it, found by [`ToneSearch`] (a Goertzel filter bank on a 50 Hz grid
//! from 100 to 3800 Hz, peaks above [`TONE_FLOOR_DBFS`]). It is computed on request; nothing is
//! analysed while the call runs.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use confab_media::speech::rms_dbfs;
use confab_media::tone::ToneSearch;
use confab_media::SAMPLE_RATE;
use serde_json::{json, Value};

/// Longest audio one recording keeps.
pub const MAX_RECORDING: Duration = Duration::from_secs(600);

/// Recordings kept after their calls, newest first.
pub const RETAINED_CALLS: usize = 1000;

/// Memory the kept recordings' samples may take together (256 MiB: about 4.6 hours of audio).
pub const MAX_RETAINED_BYTES: usize = 256 << 20;

/// Length of one summary window.
pub const WINDOW_MS: usize = 100;

/// Weakest tone the summary reports.
pub const TONE_FLOOR_DBFS: f64 = -45.0;

/// How far below the window's strongest tone another peak may be and still count; keeps the
/// side lobes and G.711 noise of a loud tone from reading as tones of their own.
const TONE_RANGE_DB: f64 = 35.0;

/// Grid of the tone search.
const GRID_STEP_HZ: f64 = 50.0;
const GRID_LOW_HZ: f64 = 100.0;
const GRID_HIGH_HZ: f64 = 3800.0;

/// Samples a recording keeps at most.
const MAX_SAMPLES: usize = MAX_RECORDING.as_secs() as usize * SAMPLE_RATE as usize;

/// Samples a recording has room for before it first grows: ten seconds.
const FIRST_RESERVE_SAMPLES: usize = 10 * SAMPLE_RATE as usize;

/// Everything one simulated caller received, decoded to 8 kHz linear PCM; or, for a load
/// generator's caller ([`Recording::counting`]), only how many packets it received.
#[derive(Debug, Default)]
pub struct Recording {
    inner: Mutex<RecordingSnapshot>,
    /// Set when the call ended: only then may the store drop the recording for room.
    finished: AtomicBool,
    /// Set for a load generator's caller: packets are counted, their audio is not kept.
    count_only: bool,
    /// Packets counted when `count_only`.
    counted: AtomicUsize,
}

/// A copy of a recording.
#[derive(Debug, Clone, Default)]
pub struct RecordingSnapshot {
    /// The samples, in order of arrival.
    pub samples: Vec<i16>,
    /// For each received packet: when it arrived and where its samples start in `samples`.
    pub packets: Vec<(Instant, usize)>,
    /// Keys received as RFC 4733 telephone events, in order (at most [`MAX_DIGITS`]).
    pub digits: String,
}

/// How many received keys a recording keeps.
pub const MAX_DIGITS: usize = 256;

/// The recordings of recent simulated calls, by call SID.
#[derive(Debug)]
pub struct HeardStore {
    inner: Mutex<Retained>,
    /// Samples the kept recordings may hold together.
    max_samples: usize,
    /// Inserts between two checks of `max_samples` (see [`TRIM_EVERY`]).
    trim_every: usize,
}

#[derive(Debug, Default)]
struct Retained {
    /// Call SID to (account SID, recording).
    by_call: HashMap<String, (String, Arc<Recording>)>,
    /// Call SIDs, oldest first.
    order: VecDeque<String>,
    /// Inserts since the size bound was last checked.
    since_trim: usize,
}

impl Recording {
    /// A recording that counts the packets received and keeps no audio (nor digits): what a
    /// benchmark's thousands of callers need, without decoding and storing every frame.
    pub fn counting() -> Self {
        Self {
            count_only: true,
            ..Self::default()
        }
    }

    /// Whether received audio is kept (false for [`Recording::counting`]).
    pub fn keeps_audio(&self) -> bool {
        !self.count_only
    }

    /// Appends one received frame; ignored once the recording is full. A
    /// [`Recording::counting`] recording only counts it.
    pub fn push(&self, at: Instant, samples: &[i16]) {
        if self.count_only {
            self.counted.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut r = lock(&self.inner);
        if r.samples.len() + samples.len() > MAX_SAMPLES {
            return;
        }
        if r.samples.capacity() == 0 {
            // Growing from empty reallocates and copies the recording a dozen
            // times in its first seconds; start with room for a short call.
            r.samples.reserve(FIRST_RESERVE_SAMPLES);
            r.packets
                .reserve(FIRST_RESERVE_SAMPLES / samples.len().max(1));
        }
        let start = r.samples.len();
        r.packets.push((at, start));
        r.samples.extend_from_slice(samples);
    }

    /// Appends a key the caller received as a telephone event.
    pub fn push_digit(&self, digit: char) {
        let mut r = lock(&self.inner);
        if r.digits.len() < MAX_DIGITS {
            r.digits.push(digit);
        }
    }

    /// Marks the call ended: the recording is complete and may be dropped for room.
    pub fn finish(&self) {
        self.finished.store(true, Ordering::Relaxed);
    }

    /// Samples recorded so far.
    pub fn sample_count(&self) -> usize {
        lock(&self.inner).samples.len()
    }

    /// A copy of what was heard so far.
    pub fn snapshot(&self) -> RecordingSnapshot {
        lock(&self.inner).clone()
    }

    /// Packets received so far.
    pub fn packet_count(&self) -> usize {
        if self.count_only {
            return self.counted.load(Ordering::Relaxed);
        }
        lock(&self.inner).packets.len()
    }

    /// The packets from index `from` on, each as (arrival, samples).
    pub fn packets_since(&self, from: usize) -> Vec<(Instant, Vec<i16>)> {
        let r = lock(&self.inner);
        let ends = r
            .packets
            .iter()
            .skip(1)
            .map(|p| p.1)
            .chain([r.samples.len()]);
        r.packets
            .iter()
            .zip(ends)
            .skip(from)
            .map(|(&(at, start), end)| (at, r.samples[start..end].to_vec()))
            .collect()
    }
}

impl Default for HeardStore {
    fn default() -> Self {
        Self {
            trim_every: TRIM_EVERY,
            ..Self::with_limit(MAX_RETAINED_BYTES / size_of::<i16>())
        }
    }
}

impl HeardStore {
    /// A store whose recordings hold at most `max_samples` samples together (see the module
    /// docs for when this is enforced).
    /// The bound is checked on every insert.
    pub fn with_limit(max_samples: usize) -> Self {
        Self {
            inner: Mutex::default(),
            max_samples,
            trim_every: 1,
        }
    }

    /// Keeps `recording` as what call `call_sid` of `account_sid` hears, dropping the oldest
    /// recordings beyond [`RETAINED_CALLS`] and the oldest finished ones beyond the store's
    /// memory bound.
    pub fn insert(&self, account_sid: &str, call_sid: &str, recording: Arc<Recording>) {
        let mut store = lock(&self.inner);
        let value = (account_sid.to_owned(), recording);
        if store.by_call.insert(call_sid.to_owned(), value).is_none() {
            store.order.push_back(call_sid.to_owned());
        }
        while store.order.len() > RETAINED_CALLS {
            if let Some(oldest) = store.order.pop_front() {
                store.by_call.remove(&oldest);
            }
        }
        // Summing every recording's size costs a pass over up to RETAINED_CALLS of them: the
        // server's store checks the bound every TRIM_EVERY inserts, so it holds to within the
        // growth of that many calls instead of paying the pass on every call placed.
        store.since_trim += 1;
        if store.since_trim >= self.trim_every {
            store.since_trim = 0;
            store.trim(self.max_samples);
        }
    }

    /// The recording of a simulated call of `account_sid`; `None` for other accounts' calls.
    pub fn get(&self, account_sid: &str, call_sid: &str) -> Option<Arc<Recording>> {
        let store = lock(&self.inner);
        let (owner, recording) = store.by_call.get(call_sid)?;
        (owner == account_sid).then(|| recording.clone())
    }
}

/// How many recordings are kept between two checks of the size bound.
const TRIM_EVERY: usize = 16;

impl Retained {
    /// Drops the oldest finished recordings until all hold at most `max_samples` together.
    fn trim(&mut self, max_samples: usize) {
        let size = |sid: &String| self.by_call.get(sid).map_or(0, |(_, r)| r.sample_count());
        let mut total: usize = self.order.iter().map(size).sum();
        if total <= max_samples {
            return;
        }
        let mut kept = VecDeque::with_capacity(self.order.len());
        while let Some(sid) = self.order.pop_front() {
            let finished = self
                .by_call
                .get(&sid)
                .is_some_and(|(_, r)| r.finished.load(Ordering::Relaxed));
            if total > max_samples && finished {
                total -= self
                    .by_call
                    .remove(&sid)
                    .map_or(0, |(_, r)| r.sample_count());
                continue;
            }
            kept.push_back(sid);
        }
        self.order = kept;
    }
}

/// A WAV file (RIFF, PCM, 8 kHz, mono, 16-bit little-endian) of `samples`.
pub fn wav_bytes(samples: &[i16]) -> Vec<u8> {
    confab_media::wav::write_mono_8k(samples)
}

/// The JSON summary of a recording; see the module docs.
pub fn summary(call_sid: &str, samples: &[i16], digits: &str) -> Value {
    let mut search = ToneSearch::new(
        GRID_LOW_HZ,
        GRID_HIGH_HZ,
        GRID_STEP_HZ,
        TONE_FLOOR_DBFS,
        TONE_RANGE_DB,
    );
    let window = WINDOW_MS * SAMPLE_RATE as usize / 1000;
    let windows: Vec<Value> = samples
        .chunks(window)
        .enumerate()
        .map(|(index, chunk)| {
            let start_ms = index * WINDOW_MS;
            let end_ms = start_ms + chunk.len() * 1000 / SAMPLE_RATE as usize;
            json!({
                "start_ms": start_ms,
                "end_ms": end_ms,
                "rms_dbfs": round1(rms_dbfs(chunk)),
                "tones": search.tones(chunk),
            })
        })
        .collect();
    json!({
        "call_sid": call_sid,
        "digits": digits,
        "sample_rate": SAMPLE_RATE,
        "duration_ms": samples.len() * 1000 / SAMPLE_RATE as usize,
        "window_ms": WINDOW_MS,
        "tone_floor_dbfs": TONE_FLOOR_DBFS,
        "windows": windows,
    })
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// Locks a mutex whose data stays consistent even if a holder panicked (plain appends).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_media::tone::ToneGenerator;
    use confab_media::FRAME_SAMPLES;

    fn tones(freqs: &[f64], frames: usize) -> Vec<i16> {
        let mut gens: Vec<_> = freqs
            .iter()
            .map(|&f| ToneGenerator::with_dbfs(f, -15.0))
            .collect();
        let mut out = vec![0i16; frames * FRAME_SAMPLES];
        for g in &mut gens {
            g.add_to(&mut out);
        }
        out
    }

    #[test]
    fn summary_finds_off_grid_tones() {
        let samples = tones(&[440.0, 700.0, 1000.0], 10);
        let value = summary("CA1", &samples, "");
        let windows = value["windows"].as_array().expect("windows");
        assert_eq!(windows.len(), 2);
        let found: Vec<f64> = windows[0]["tones"]
            .as_array()
            .expect("tones")
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        assert_eq!(found.len(), 3, "{found:?}");
        for (f, want) in found.iter().zip([440.0, 700.0, 1000.0]) {
            assert!((f - want).abs() <= 15.0, "{found:?}");
        }
        assert_eq!(value["duration_ms"], 200);
    }

    #[test]
    fn silence_has_no_tones() {
        let value = summary("CA1", &[0; 1600], "");
        assert_eq!(value["windows"][0]["tones"], json!([]));
        assert_eq!(value["windows"][0]["end_ms"], 100);
    }

    #[test]
    fn wav_header_describes_the_samples() {
        let wav = wav_bytes(&[1, -1, 300]);
        assert_eq!(wav.len(), 44 + 6);
        let parsed = confab_media::wav::Wav::parse(&wav).expect("valid wav");
        assert_eq!(parsed.sample_rate, 8000);
        assert_eq!(parsed.samples, vec![1, -1, 300]);
    }

    #[test]
    fn store_is_per_account_and_bounded() {
        let store = HeardStore::default();
        for i in 0..RETAINED_CALLS + 5 {
            store.insert("AC1", &format!("CA{i}"), Arc::default());
        }
        assert!(store.get("AC1", "CA0").is_none());
        assert!(store.get("AC1", "CA5").is_some());
        assert!(store.get("AC2", "CA5").is_none());
    }

    #[test]
    fn store_drops_the_oldest_finished_recordings_beyond_its_memory() {
        let store = HeardStore::with_limit(1000);
        let recording = |samples: usize, finished: bool| {
            let r = Arc::new(Recording::default());
            r.push(Instant::now(), &vec![1; samples]);
            if finished {
                r.finish();
            }
            r
        };
        store.insert("AC1", "CA-live", recording(400, false));
        store.insert("AC1", "CA1", recording(300, true));
        store.insert("AC1", "CA2", recording(300, true));
        assert!(store.get("AC1", "CA1").is_some(), "1000 samples fit");
        store.insert("AC1", "CA3", recording(300, true));
        assert!(
            store.get("AC1", "CA-live").is_some(),
            "a running call is kept"
        );
        assert!(
            store.get("AC1", "CA1").is_none(),
            "the oldest finished one goes"
        );
        assert!(store.get("AC1", "CA2").is_some());
        assert!(store.get("AC1", "CA3").is_some());
        store.insert("AC1", "CA4", recording(900, true));
        assert!(store.get("AC1", "CA2").is_none());
        assert!(store.get("AC1", "CA3").is_none());
        assert!(
            store.get("AC1", "CA4").is_none(),
            "even the newest, if it alone is too big"
        );
        assert!(store.get("AC1", "CA-live").is_some());
    }

    #[test]
    fn packets_keep_their_arrival() {
        let recording = Recording::default();
        let t = Instant::now();
        recording.push(t, &[1; 160]);
        recording.push(t, &[2; 80]);
        let packets = recording.packets_since(1);
        assert_eq!(packets.len(), 1);
        assert_eq!(packets[0].1, vec![2; 80]);
        assert_eq!(recording.packet_count(), 2);
    }
}
