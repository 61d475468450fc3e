//! What a process uses, read from `/proc` (Linux) through the `procfs` crate: CPU time per
//! thread, the machine's busy time, resident memory and open sockets. Every reader answers
//! `None` (or zero) when the process is gone or `/proc` cannot be read.

use std::collections::HashMap;

use procfs::process::{FDTarget, Process};
use procfs::{CurrentSI, KernelStats};

/// Clock ticks per second, the unit of the CPU times in `/proc`.
pub fn clock_ticks() -> u64 {
    procfs::ticks_per_second()
}

fn process(pid: u32) -> Option<Process> {
    Process::new(i32::try_from(pid).ok()?).ok()
}

/// CPU ticks (user + system) of a whole process and of each of its threads.
#[derive(Debug, Clone)]
pub struct CpuSample {
    /// The process.
    pub process: u64,
    /// Each thread by thread id: its name and its ticks.
    pub threads: HashMap<i32, (String, u64)>,
}

/// The CPU ticks of process `pid` and of its threads so far.
pub fn sample_cpu(pid: u32) -> Option<CpuSample> {
    let process = process(pid)?;
    let stat = process.stat().ok()?;
    let mut threads = HashMap::new();
    if let Ok(tasks) = process.tasks() {
        for task in tasks.flatten() {
            if let Ok(s) = task.stat() {
                threads.insert(task.tid, (s.comm, s.utime + s.stime));
            }
        }
    }
    Some(CpuSample {
        process: stat.utime + stat.stime,
        threads,
    })
}

/// CPU ticks the whole machine spent busy so far (user, nice, system, irq, softirq, steal).
pub fn machine_busy() -> Option<u64> {
    let t = KernelStats::current().ok()?.total;
    Some(t.user + t.nice + t.system + t.irq? + t.softirq? + t.steal?)
}

/// Resident and peak resident memory of process `pid`, in KiB (`VmRSS`, `VmHWM`).
pub fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = process(pid)?.status().ok()?;
    Some((status.vmrss?, status.vmhwm?))
}

/// Resident memory of process `pid` in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    process(pid)?.status().ok()?.vmrss
}

/// Sockets process `pid` has open (zero when it cannot be read).
pub fn socket_count(pid: u32) -> usize {
    process(pid)
        .and_then(|p| p.fd().ok())
        .map(|fds| {
            fds.flatten()
                .filter(|fd| matches!(fd.target, FDTarget::Socket(_)))
                .count()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        let (rss, peak) = memory_kib(pid).expect("our own memory");
        assert!(rss > 0 && peak >= rss, "{rss} {peak}");
        assert_eq!(rss_kib(pid).map(|r| r > 0), Some(true));
        let cpu = sample_cpu(pid).expect("our own CPU time");
        assert!(!cpu.threads.is_empty());
        assert!(machine_busy().is_some());
        assert!(clock_ticks() > 0);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(socket_count(pid) >= 1);
        drop(listener);
        assert!(process(u32::MAX).is_none());
    }
}
