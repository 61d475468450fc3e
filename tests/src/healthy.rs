//! A healthy table that keeps playing while a test attacks the same server: one client sends a
//! command every [`PROBE_INTERVAL`] and measures each round trip, so a test can show (and bound)
//! how much an attack on another table, or by another client, slows everyone else down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::client::RecvError;
use crate::latency::Latencies;
use crate::server::ServerProcess;

/// Time between the starts of two probes.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(20);
/// How long one probe waits for its answer before it counts as lost.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Answers `ping <n>` with `pong <n>` after a storage write, so every probe goes through the
/// table's VM and the group commit like a real move.
const PROBE_SCRIPT: &str = r#"
function playerCommand(player, command, args) {
  GGS.world.setItem("last", args);
  GGS.sendCommand(player, "pong", args);
}
"#;

#[derive(Default)]
struct Samples {
    rtts: Vec<Duration>,
    failures: Vec<String>,
    /// When the probe now waiting for its answer was sent.
    outstanding: Option<Instant>,
}

/// A client at its own table measuring round trips on a thread until stopped or dropped.
pub struct HealthyTable {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Samples>>,
    thread: Option<JoinHandle<()>>,
}

/// Round trips of the healthy table over one period.
#[derive(Debug, Clone)]
pub struct RttStats {
    /// What happened meanwhile, e.g. `while(true) in playerCommand`.
    pub label: String,
    /// Round trips measured.
    pub count: usize,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Worst, including a probe still unanswered when the period ended.
    pub worst: Duration,
    /// Wrong, missing or late answers.
    pub failures: Vec<String>,
}

impl RttStats {
    /// Panics unless the table answered every probe correctly, at least once, and never took
    /// longer than `worst`.
    #[track_caller]
    pub fn assert_bounded(&self, worst: Duration) {
        assert!(
            self.failures.is_empty(),
            "healthy table during {}: {} failed probes: {:?}",
            self.label,
            self.failures.len(),
            self.failures
        );
        assert!(
            self.count > 0,
            "healthy table during {}: no probe was answered",
            self.label
        );
        assert!(
            self.worst < worst,
            "healthy table during {}: worst round trip {} ms, more than the bound of {} ms",
            self.label,
            self.worst.as_millis(),
            worst.as_millis()
        );
    }
}

impl std::fmt::Display for RttStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "healthy table during {}: {} round trips, p50 {:.1} ms, p99 {:.1} ms, worst {:.1} ms",
            self.label,
            self.count,
            ms(self.p50),
            ms(self.p99),
            ms(self.worst)
        )?;
        if !self.failures.is_empty() {
            write!(f, ", {} failed probes", self.failures.len())?;
        }
        Ok(())
    }
}

impl HealthyTable {
    /// Creates a table on `server`, defines the probe script and starts probing.
    pub fn start(server: &ServerProcess) -> HealthyTable {
        let mut client = server.connect().named("healthy table");
        client.hello(None);
        client.define_ok(PROBE_SCRIPT);
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Samples::default()));
        let thread = {
            let (stop, samples) = (stop.clone(), samples.clone());
            std::thread::Builder::new()
                .name("healthy-table".into())
                .spawn(move || {
                    let mut seq: u64 = 0;
                    while !stop.load(Ordering::Relaxed) {
                        seq += 1;
                        let sent = Instant::now();
                        samples.lock().unwrap().outstanding = Some(sent);
                        client.command("ping", &seq.to_string());
                        let outcome = loop {
                            let left = PROBE_TIMEOUT.saturating_sub(sent.elapsed());
                            match client.try_recv(left) {
                                // A late answer to an earlier, lost probe.
                                Ok(r)
                                    if r.command == "pong"
                                        && r.body.parse::<u64>().is_ok_and(|n| n < seq) => {}
                                Ok(r) if r.command == "pong" && r.body == seq.to_string() => {
                                    break Ok(())
                                }
                                Ok(r) => break Err(format!("probe {seq}: got {r}")),
                                Err(RecvError::Timeout) => {
                                    break Err(format!(
                                        "probe {seq}: no answer in {PROBE_TIMEOUT:?}"
                                    ))
                                }
                                Err(e) => break Err(format!("probe {seq}: {e}")),
                            }
                        };
                        let rtt = sent.elapsed();
                        let closed = outcome.as_ref().is_err_and(|e| !e.contains("no answer"));
                        {
                            let mut s = samples.lock().unwrap();
                            s.outstanding = None;
                            s.rtts.push(rtt);
                            if let Err(e) = outcome {
                                s.failures.push(e);
                            }
                        }
                        if closed {
                            return;
                        }
                        std::thread::sleep(PROBE_INTERVAL.saturating_sub(sent.elapsed()));
                    }
                })
                .expect("starting the healthy table's thread")
        };
        HealthyTable {
            stop,
            samples,
            thread: Some(thread),
        }
    }

    /// The round trips since the start or the last `take`, printed as
    /// `healthy table during <label>: ... p99 X ms, worst Y ms`.
    ///
    /// Waits for the probe under way if none completed in the period yet (up to
    /// [`PROBE_TIMEOUT`]), so every period measures at least one round trip.
    pub fn take(&self, label: &str) -> RttStats {
        let waiting_since = Instant::now();
        while waiting_since.elapsed() < PROBE_TIMEOUT
            && self.thread.as_ref().is_some_and(|t| !t.is_finished())
        {
            let s = self.samples.lock().unwrap();
            if !s.rtts.is_empty() {
                break;
            }
            drop(s);
            std::thread::sleep(Duration::from_millis(2));
        }
        let (rtts, failures, outstanding) = {
            let mut s = self.samples.lock().unwrap();
            (
                std::mem::take(&mut s.rtts),
                std::mem::take(&mut s.failures),
                s.outstanding.map(|t| t.elapsed()),
            )
        };
        let mut latencies = Latencies::new();
        for &rtt in &rtts {
            latencies.record(rtt);
        }
        let worst = rtts
            .iter()
            .max()
            .copied()
            .unwrap_or_default()
            .max(outstanding.unwrap_or_default());
        let stats = RttStats {
            label: label.to_string(),
            count: rtts.len(),
            p50: latencies.quantile(0.5),
            p99: latencies.quantile(0.99),
            worst,
            failures,
        };
        println!("{stats}");
        stats
    }

    /// Stops probing and returns the last period's round trips (see [`HealthyTable::take`]).
    pub fn stop(mut self, label: &str) -> RttStats {
        let stats = self.take(label);
        self.halt();
        stats
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for HealthyTable {
    fn drop(&mut self) {
        self.halt();
    }
}
