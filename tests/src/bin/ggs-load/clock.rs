//! The clock every player shares, and the plan of a run on it.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The start of the program, the zero of [`now_us`].
static T0: OnceLock<Instant> = OnceLock::new();

/// Microseconds since the start of the program.
pub fn now_us() -> u64 {
    T0.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// The Tokio instant `us` microseconds after the start of the program.
pub fn at_us(us: u64) -> tokio::time::Instant {
    (*T0.get_or_init(Instant::now) + Duration::from_micros(us)).into()
}

/// When the load runs, in microseconds of [`now_us`].
#[derive(Clone, Copy)]
pub struct Plan {
    /// The players start sending.
    pub start: u64,
    /// The measured interval begins (after the warm-up).
    pub from: u64,
    /// The measured interval ends; the players stop sending.
    pub to: u64,
    /// The readers stop waiting for outstanding replies.
    pub drain_until: u64,
}

impl Plan {
    /// Whether `t` is inside the measured interval.
    pub fn measured(&self, t: u64) -> bool {
        t >= self.from && t < self.to
    }
}
