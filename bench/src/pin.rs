//! Binding processes and threads to CPUs with `taskset` (util-linux), so that a benchmark's
//! load generator does not run on the core it measures.

use anyhow::{bail, Context};

/// Binds every thread of process `pid` (and the threads it starts later) to `cpu`.
pub(crate) fn process(pid: u32, cpu: usize) -> anyhow::Result<()> {
    taskset(&["-a", "-p", "-c", &cpu.to_string(), &pid.to_string()])
}

/// Binds one thread (a task id of `/proc/PID/task`) to `cpu`.
#[allow(dead_code)]
pub(crate) fn thread(tid: u32, cpu: usize) -> anyhow::Result<()> {
    taskset(&["-p", "-c", &cpu.to_string(), &tid.to_string()])
}

/// The task ids of `pid`'s threads whose name starts with `prefix`.
#[allow(dead_code)]
pub(crate) fn threads_named(pid: u32, prefix: &str) -> Vec<u32> {
    crate::stats::tasks(&pid.to_string())
        .into_iter()
        .filter(|task| task.name.starts_with(prefix))
        .map(|task| task.tid)
        .collect()
}

fn taskset(args: &[&str]) -> anyhow::Result<()> {
    let status = std::process::Command::new("taskset")
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .context("taskset (util-linux) is needed for --pin on")?;
    if !status.success() {
        bail!("taskset {} failed", args.join(" "));
    }
    Ok(())
}
