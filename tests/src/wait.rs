//! Waiting for something a server does in its own time (a member leaving, an owner moving).

use std::time::{Duration, Instant};

/// How often [`eventually`] looks again.
pub const POLL: Duration = Duration::from_millis(50);

/// Waits until `what` holds, panicking with `why()` once `limit` has passed.
#[track_caller]
pub fn eventually(limit: Duration, mut what: impl FnMut() -> bool, why: impl Fn() -> String) {
    let deadline = Instant::now() + limit;
    while !what() {
        assert!(Instant::now() < deadline, "not within {limit:?}: {}", why());
        std::thread::sleep(POLL);
    }
}
