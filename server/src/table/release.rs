//! Gives the memory that hibernated tables freed back to the operating system.
//!
//! A hibernating table's runtime is freed on its VM thread, into that thread's malloc arena;
//! glibc keeps freed memory in the middle of an arena for reuse and returns only its top, so
//! after many tables hibernated the process would keep their pages. A background task asks
//! malloc to release free pages (`malloc_trim`) at most once per [`TRIM_INTERVAL`], and only
//! after tables hibernated.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Least time between two trims of the allocator's free memory.
pub const TRIM_INTERVAL: Duration = Duration::from_secs(1);

/// Set when a table hibernated since the last trim.
static FREED: AtomicBool = AtomicBool::new(false);

/// A table dropped its runtime: its memory is released at the next trim.
pub(super) fn freed() {
    FREED.store(true, Ordering::Relaxed);
}

/// Releases freed memory every [`TRIM_INTERVAL`] in which a table hibernated, forever. Also
/// one interval after the last hibernation, so the runtimes freed last (their VM threads free
/// them a little after the table let go) are released too.
pub async fn release_freed_memory() {
    let mut interval = tokio::time::interval(TRIM_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pending = false;
    loop {
        interval.tick().await;
        let freed = FREED.swap(false, Ordering::Relaxed);
        if freed || pending {
            let _ = tokio::task::spawn_blocking(trim).await;
        }
        pending = freed;
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    extern "C" {
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    // SAFETY: malloc_trim takes no pointers and is thread-safe (it locks each arena).
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
