//! Bounds every connection shares: connections in total and per address, and the rate of
//! inbound messages on one connection. Both transports (TCP, WebSocket) use them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::config::ConnectionSettings;

/// Why a connection was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    /// The server is at its connection limit.
    #[error("the server is at its limit of {0} connections; try again later")]
    Full(usize),
    /// The address is at its connection limit.
    #[error("your address has {0} connections open, its limit")]
    PerAddress(usize),
}

impl AdmitError {
    /// The stable code sent to clients.
    pub fn code(&self) -> &'static str {
        "too_many_connections"
    }
}

/// Counts open connections, in total and per address.
#[derive(Debug)]
pub struct ConnectionLimiter {
    settings: ConnectionSettings,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// An admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Admission {
    limiter: Arc<ConnectionLimiter>,
    ip: IpAddr,
}

impl ConnectionLimiter {
    /// A limiter with the given bounds.
    pub fn new(settings: ConnectionSettings) -> Arc<Self> {
        Arc::new(ConnectionLimiter {
            settings,
            open: Mutex::new((0, HashMap::new())),
        })
    }

    /// The bounds.
    pub fn settings(&self) -> &ConnectionSettings {
        &self.settings
    }

    /// Admits a connection from `ip`, or says why not.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admission, AdmitError> {
        self.admit_from(ip, false)
    }

    /// Admits a connection from `ip`, which is exempt from the per-address limit when
    /// `member` (a node of the cluster, relaying its clients: they were counted there), or
    /// says why not.
    pub fn admit_from(self: &Arc<Self>, ip: IpAddr, member: bool) -> Result<Admission, AdmitError> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.0 >= self.settings.max_connections {
            return Err(AdmitError::Full(self.settings.max_connections));
        }
        let from_ip = open.1.entry(ip).or_insert(0);
        if !member && *from_ip >= self.settings.max_connections_per_ip {
            return Err(AdmitError::PerAddress(self.settings.max_connections_per_ip));
        }
        *from_ip += 1;
        open.0 += 1;
        Ok(Admission {
            limiter: self.clone(),
            ip,
        })
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut open = self.limiter.open.lock().unwrap_or_else(|e| e.into_inner());
        open.0 -= 1;
        if let Some(n) = open.1.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&self.ip);
            }
        }
    }
}

/// A token bucket: `rate` messages per second, bursts of up to `rate`.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    /// A full bucket.
    pub fn new(per_second: u32) -> Self {
        RateLimiter {
            rate: per_second.max(1) as f64,
            tokens: per_second.max(1) as f64,
            last: Instant::now(),
        }
    }

    /// Takes a token if there is one.
    pub fn allow(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.rate);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn admits_up_to_the_limits_and_frees_on_drop() {
        let limiter = ConnectionLimiter::new(ConnectionSettings {
            max_connections: 3,
            max_connections_per_ip: 2,
            ..ConnectionSettings::default()
        });
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let first = limiter.admit(a).unwrap();
        let _second = limiter.admit(a).unwrap();
        assert_eq!(limiter.admit(a).unwrap_err(), AdmitError::PerAddress(2));
        let _third = limiter.admit(b).unwrap();
        assert_eq!(limiter.admit(b).unwrap_err(), AdmitError::Full(3));
        drop(first);
        assert!(limiter.admit(a).is_ok());
    }

    #[test]
    fn a_member_is_exempt_from_the_per_address_limit_only() {
        let limiter = ConnectionLimiter::new(ConnectionSettings {
            max_connections: 4,
            max_connections_per_ip: 1,
            ..ConnectionSettings::default()
        });
        let node: IpAddr = "10.0.0.2".parse().unwrap();
        let relayed: Vec<_> = (0..3)
            .map(|_| limiter.admit_from(node, true).unwrap())
            .collect();
        // Counted all the same: the address is at its limit for anyone else from it.
        assert_eq!(limiter.admit(node).unwrap_err(), AdmitError::PerAddress(1));
        let _other = limiter.admit("10.0.0.3".parse().unwrap()).unwrap();
        assert_eq!(
            limiter.admit_from(node, true).unwrap_err(),
            AdmitError::Full(4)
        );
        drop(relayed);
        assert!(limiter.admit(node).is_ok());
    }

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let mut bucket = RateLimiter::new(10);
        assert_eq!((0..20).filter(|_| bucket.allow()).count(), 10);
        std::thread::sleep(Duration::from_millis(250));
        let refilled = (0..20).filter(|_| bucket.allow()).count();
        assert!((2..=4).contains(&refilled), "{refilled}");
    }
}
