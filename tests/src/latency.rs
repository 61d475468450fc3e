//! Round-trip times, for the tests and the measuring tools alike: one latency histogram
//! (HdrHistogram, in microseconds) and its nearest-rank quantiles.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Significant decimal digits kept of every recorded time (an error of at most 0.1 %).
pub const SIGNIFICANT_DIGITS: u8 = 3;
/// Longest time the histogram tells apart, in microseconds (an hour); longer ones count as it.
pub const MAX_MICROS: u64 = 3_600_000_000;

/// Recorded round-trip times.
#[derive(Debug, Clone)]
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Latencies::new()
    }
}

impl Latencies {
    /// An empty histogram.
    pub fn new() -> Latencies {
        Latencies(
            Histogram::new_with_max(MAX_MICROS, SIGNIFICANT_DIGITS)
                .expect("the bounds are valid constants"),
        )
    }

    /// Records one time in microseconds.
    pub fn record_micros(&mut self, micros: u64) {
        self.0.saturating_record(micros);
    }

    /// Records one time.
    pub fn record(&mut self, time: Duration) {
        self.record_micros(u64::try_from(time.as_micros()).unwrap_or(u64::MAX));
    }

    /// Adds every time recorded in `other`.
    pub fn add(&mut self, other: &Latencies) {
        self.0
            .add(&other.0)
            .expect("histograms with the same bounds add up");
    }

    /// How many times were recorded.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Whether no time was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The nearest-rank quantile `q` (0.5 the median, 1.0 the largest), in microseconds;
    /// `None` when nothing was recorded.
    pub fn quantile_micros(&self, q: f64) -> Option<u64> {
        if self.is_empty() {
            return None;
        }
        Some(if q >= 1.0 {
            self.0.max()
        } else {
            self.0.value_at_quantile(q)
        })
    }

    /// [`Latencies::quantile_micros`] as a duration (zero when nothing was recorded).
    pub fn quantile(&self, q: f64) -> Duration {
        Duration::from_micros(self.quantile_micros(q).unwrap_or(0))
    }

    /// [`Latencies::quantile_micros`] in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        self.quantile_micros(q).map(|us| us as f64 / 1000.0)
    }

    /// The mean in milliseconds; `None` when nothing was recorded.
    pub fn mean_ms(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.0.mean() / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let mut l = Latencies::new();
        assert_eq!(l.quantile_ms(0.5), None);
        for us in 1..=10 {
            l.record_micros(us * 100);
        }
        assert_eq!(l.len(), 10);
        // Nearest rank: the ceil(q * n)-th smallest.
        assert_eq!(l.quantile_micros(0.5), Some(500));
        assert_eq!(l.quantile_micros(0.9), Some(900));
        assert_eq!(l.quantile_micros(0.99), Some(1000));
        assert_eq!(l.quantile_micros(1.0), Some(1000));
        assert_eq!(l.quantile(0.1), Duration::from_micros(100));
        assert_eq!(l.mean_ms().map(|m| (m * 1000.0).round()), Some(550.0));
        let mut odd = Latencies::new();
        for us in [3, 1, 2] {
            odd.record_micros(us);
        }
        assert_eq!(odd.quantile_micros(0.5), Some(2));
    }
}
