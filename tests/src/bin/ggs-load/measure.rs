//! What a run measures: the counters every player adds to, the round-trip times, and what one
//! player's reader and writer share.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use std::time::Duration;

use ggs_tests::procstat::{clock_ticks, CpuSample};
use ggs_tests::Latencies;
use tokio::sync::{Notify, Semaphore};

/// Error details kept for the report (the first ones).
const MAX_FIRST_ERRORS: usize = 10;
/// Threads of the server using less CPU than this (% of a core) are left out of the report.
const MIN_THREAD_CPU_PCT: f64 = 0.5;

/// The counters every player adds to.
#[derive(Default)]
pub struct Counters {
    /// Commands sent, inside the measured interval and in all.
    pub sent: AtomicU64,
    pub sent_total: AtomicU64,
    /// Replies received (any kind), inside the measured interval and in all.
    pub received: AtomicU64,
    pub received_total: AtomicU64,
    /// Own commands acknowledged, inside the measured interval and in all.
    pub acked: AtomicU64,
    pub acked_total: AtomicU64,
    /// Error replies and failures, in all.
    pub errors: AtomicU64,
    pub error_codes: Mutex<BTreeMap<String, u64>>,
    pub first_errors: Mutex<Vec<String>>,
    /// Connections closed by the server or failed during the run.
    pub disconnected: AtomicU64,
    /// GGS 1.1: acknowledgements sent alone, in all (not counted as messages sent).
    pub acks_alone: AtomicU64,
    /// Round trips of the commands acknowledged inside the measured interval.
    pub rtt: Mutex<Latencies>,
}

impl Counters {
    /// Counts an error with its code, and keeps its detail if it is one of the first.
    pub fn error(&self, code: &str, detail: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self
            .error_codes
            .lock()
            .expect("no panics holding the error codes")
            .entry(code.to_string())
            .or_default() += 1;
        let mut first = self.first_errors.lock().expect("no panics holding errors");
        if first.len() < MAX_FIRST_ERRORS {
            first.push(detail);
        }
    }

    /// Records the round trip of a command acknowledged inside the measured interval.
    pub fn rtt(&self, micros: u64) {
        self.rtt
            .lock()
            .expect("no panics holding the round trips")
            .record_micros(micros);
    }
}

/// What one player's reader and writer share.
pub struct PlayerShared {
    /// Sequence numbers and send times (µs) of the commands in flight, oldest first.
    pub in_flight: Mutex<VecDeque<(u64, u64)>>,
    /// Commands sent that expect an answer (an acknowledgement or an error).
    pub sent: AtomicU64,
    /// Closed loop: free places in the window.
    pub window: Semaphore,
    /// Pong, the player at seat 1: a game ended, send `start`.
    pub restart: Notify,
    /// The writer has stopped sending.
    pub writer_done: AtomicBool,
    /// GGS 1.1: the highest `Msg` the reader has received.
    pub highest_msg: AtomicU64,
    /// GGS 1.1: the highest `Msg` the writer has acknowledged.
    pub acked_msg: AtomicU64,
    /// GGS 1.1: the reader has received `--ack-every` messages not yet acknowledged.
    pub ack_due: Notify,
}

/// The server's CPU over an interval, in % of one core, total and per thread name (threads
/// under [`MIN_THREAD_CPU_PCT`] left out).
pub fn cpu_between(a: &CpuSample, b: &CpuSample, seconds: f64) -> (f64, BTreeMap<String, f64>) {
    let hz = clock_ticks() as f64;
    let pct = |ticks: u64| 100.0 * ticks as f64 / hz / seconds;
    let mut per_name: BTreeMap<String, f64> = BTreeMap::new();
    for (tid, (name, ticks)) in &b.threads {
        let before = a.threads.get(tid).map_or(0, |(_, t)| *t);
        *per_name.entry(name.clone()).or_default() += pct(ticks.saturating_sub(before));
    }
    per_name.retain(|_, v| *v >= MIN_THREAD_CPU_PCT);
    for v in per_name.values_mut() {
        *v = round(*v, 1);
    }
    (pct(b.process.saturating_sub(a.process)), per_name)
}

/// CPU time of this process.
pub fn own_cpu() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a rusage into the pointer it is given, which is valid.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// `x` rounded to `digits` decimal places.
pub fn round(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}
