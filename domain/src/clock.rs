//! Where "now" comes from. Every part of Pathwatch that needs the time of day asks a [`Clock`]
//! (nanoseconds since the Unix epoch, the one timestamp type across crates), so a test can run the
//! same code at a fixed or moved instant instead of today's date.
//!
//! This module never sleeps and never measures durations: elapsed time is `std::time::Instant`'s job.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const NANOS_PER_SEC: u64 = 1_000_000_000;
pub const NANOS_PER_DAY: u64 = 86_400 * NANOS_PER_SEC;

/// The source of "now". `Clock::System` (the default) reads the system clock; `Clock::manual` is
/// one instant that tests set and move, shared by every clone.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    #[default]
    System,
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// A clock that stays at `ns` until [`Clock::set`] or [`Clock::advance`] moves it.
    pub fn manual(ns: u64) -> Clock {
        Clock::Manual(Arc::new(AtomicU64::new(ns)))
    }

    /// Now, in nanoseconds since the Unix epoch (0 for a system clock set before 1970).
    pub fn now_ns(&self) -> u64 {
        match self {
            Clock::System => system_now_ns(),
            Clock::Manual(at) => at.load(Ordering::Relaxed),
        }
    }

    /// Now as the signed nanoseconds SQLite columns hold.
    pub fn now_ns_i64(&self) -> i64 {
        i64::try_from(self.now_ns()).unwrap_or(i64::MAX)
    }

    /// Now in whole seconds since the Unix epoch (JWT `iat`/`exp`, HTTP dates).
    pub fn now_s(&self) -> u64 {
        self.now_ns() / 1_000_000_000
    }

    /// `now_s` as the signed seconds JWT libraries and ID-token checks use.
    pub fn now_s_i64(&self) -> i64 {
        i64::try_from(self.now_s()).unwrap_or(i64::MAX)
    }

    /// Moves a manual clock to `ns`; a system clock cannot be moved and ignores it.
    pub fn set(&self, ns: u64) {
        if let Clock::Manual(at) = self {
            at.store(ns, Ordering::Relaxed);
        }
    }

    /// Moves a manual clock forward by `by`; a system clock ignores it.
    pub fn advance(&self, by: Duration) {
        if let Clock::Manual(at) = self {
            at.fetch_add(u64::try_from(by.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
    }
}

/// The system clock in nanoseconds since the Unix epoch: what `Clock::System` reads. Call it only
/// where no `Clock` can reach (a process's start-up, a command-line tool's one-off "now").
pub fn system_now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_stays_put_until_moved_and_clones_share_it() {
        let clock = Clock::manual(5_000_000_000);
        let other = clock.clone();
        assert_eq!((clock.now_ns(), clock.now_s()), (5_000_000_000, 5));
        other.advance(Duration::from_secs(2));
        assert_eq!(clock.now_ns(), 7_000_000_000);
        clock.set(1);
        assert_eq!(other.now_ns_i64(), 1);
    }

    #[test]
    fn the_system_clock_moves_with_the_system_and_ignores_set() {
        let clock = Clock::System;
        let before = system_now_ns();
        clock.set(1);
        clock.advance(Duration::from_secs(1));
        let now = clock.now_ns();
        assert!(now >= before && now <= system_now_ns(), "{before} <= {now}");
    }
}
