//! Figures the benchmarks share: percentiles, medians and ranges of rounds, and the CPU time
//! this process used. Each benchmark binary includes this module with `mod stats;`.

// Each benchmark uses a part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

/// A duration in milliseconds.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `p`th percentile (0-100) of `values`, nearest rank.
pub(crate) fn percentile(values: &[Duration], p: usize) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let i = (sorted.len() * p / 100).min(sorted.len().saturating_sub(1));
    sorted.get(i).copied().unwrap_or_default()
}

/// The median of `values` (0 for none).
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => 0.0,
        n if n.is_multiple_of(2) => (sorted[mid - 1] + sorted[mid]) / 2.0,
        _ => sorted[mid],
    }
}

/// The median of `values` as a duration.
pub(crate) fn median_duration(values: &[Duration]) -> Duration {
    Duration::from_secs_f64(median(
        &values.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
    ))
}

/// The smallest and largest of `values`.
pub(crate) fn range(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, 0.0_f64), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// User plus system CPU time of this process, from `/proc/self/stat` (0 where unavailable).
pub(crate) fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat").map_or(0.0, |stat| stat_seconds(&stat))
}

/// CPU time, in seconds, of this process's threads whose name starts with `prefix` (the media
/// threads are `confab-media-N`).
pub(crate) fn threads_cpu_seconds(prefix: &str) -> f64 {
    tasks("self")
        .into_iter()
        .filter(|task| task.name.starts_with(prefix))
        .map(|task| task.seconds)
        .sum()
}

/// One thread of a process, as `/proc/PID/task` shows it.
pub(crate) struct Task {
    /// Its task id.
    pub(crate) tid: u32,
    /// Its name (`comm`).
    pub(crate) name: String,
    /// CPU seconds so far: its `schedstat` in nanoseconds where the kernel keeps it, else its
    /// `stat` in clock ticks (0 where neither is readable).
    pub(crate) seconds: f64,
    /// Times it was put on a CPU so far (`schedstat`'s timeslices: each one a switch to it);
    /// 0 where the kernel keeps no `schedstat`.
    pub(crate) slices: f64,
    /// CPU seconds so far in the kernel (its `stat`'s system time, in clock ticks).
    pub(crate) kernel_seconds: f64,
}

/// The threads of process `pid` (`"self"` for this one); none if it is gone.
pub(crate) fn tasks(pid: &str) -> Vec<Task> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let tid = entry.file_name().to_str()?.parse().ok()?;
            let dir = entry.path();
            let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            let schedstat = std::fs::read_to_string(dir.join("schedstat")).unwrap_or_default();
            let field = |i: usize| schedstat.split_whitespace().nth(i)?.parse::<f64>().ok();
            let nanos = field(0);
            let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
            let seconds = match nanos {
                Some(ns) => ns / 1e9,
                None => stat_seconds(&stat),
            };
            Some(Task {
                tid,
                name: name.trim().to_owned(),
                seconds,
                slices: field(2).unwrap_or(0.0),
                kernel_seconds: system_seconds(&stat),
            })
        })
        .collect()
}

/// CPU seconds of each of `pid`'s threads so far, summed by name without a numeric suffix
/// (`confab-media` for `confab-media-0` and `confab-media-1`). A thread that ended is not
/// counted, so read this around a measurement, not across a process's life.
pub(crate) fn thread_cpu(pid: u32) -> BTreeMap<String, f64> {
    by_thread_name(pid, |task| task.seconds)
}

/// Like [`thread_cpu`], the times each thread name was switched to so far.
pub(crate) fn thread_slices(pid: u32) -> BTreeMap<String, f64> {
    by_thread_name(pid, |task| task.slices)
}

/// Like [`thread_cpu`], the seconds each thread name spent in the kernel so far.
pub(crate) fn thread_kernel(pid: u32) -> BTreeMap<String, f64> {
    by_thread_name(pid, |task| task.kernel_seconds)
}

/// `of` each of `pid`'s threads, summed by name without a numeric suffix.
fn by_thread_name(pid: u32, of: fn(&Task) -> f64) -> BTreeMap<String, f64> {
    let mut sum = BTreeMap::new();
    for task in tasks(&pid.to_string()) {
        let name = task
            .name
            .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
        *sum.entry(name.to_owned()).or_default() += of(&task);
    }
    sum
}

/// What each thread name spent between two [`thread_cpu`] readings.
pub(crate) fn cpu_between(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(name, s)| {
            let spent = s - before.get(name).copied().unwrap_or(0.0);
            (name.clone(), spent.max(0.0))
        })
        .collect()
}

/// User plus system CPU seconds in the text of a `/proc/.../stat` file (0 if it does not
/// parse).
pub(crate) fn stat_seconds(stat: &str) -> f64 {
    // utime and stime are fields 14 and 15.
    (stat_ticks(stat, 14) + stat_ticks(stat, 15)) / 100.0
}

/// System CPU seconds (field 15, `stime`) in the text of a `/proc/.../stat` file.
pub(crate) fn system_seconds(stat: &str) -> f64 {
    stat_ticks(stat, 15) / 100.0
}

/// Field `n` (counted from 1, as proc(5) does) of a `stat` text, 0 if missing; the fields
/// are counted after the parenthesised command name, which may hold spaces.
fn stat_ticks(stat: &str, n: usize) -> f64 {
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    rest.split_whitespace()
        .nth(n.saturating_sub(3))
        .and_then(|f| f.parse::<f64>().ok())
        .unwrap_or(0.0)
}
