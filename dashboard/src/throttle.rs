//! Sign-in throttling. Every attempt is counted *before* the password is checked, so parallel
//! requests cannot slip past the limit; a success forgets the key's attempts. After `max_attempts`
//! unforgiven attempts for a key within `window`, further attempts are refused until the oldest
//! leaves the window. Kept in memory: a restart forgives, which is acceptable for a brute-force
//! brake.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys beyond this many are pruned of expired entries, then refused new ones (fail closed).
const MAX_KEYS: usize = 100_000;

pub struct Throttle {
    max_attempts: usize,
    window: Duration,
    attempts: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Throttle {
    pub fn new(max_attempts: usize, window: Duration) -> Throttle {
        Throttle { max_attempts, window, attempts: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        // A poisoned map still holds valid timestamps.
        self.attempts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts an attempt for `key`, or says how long to wait when the key is over its limit.
    pub fn attempt(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut map = self.lock();
        if !map.contains_key(key) && map.len() >= MAX_KEYS {
            map.retain(|_, list| list.back().is_some_and(|t| now.duration_since(*t) < self.window));
            if map.len() >= MAX_KEYS {
                return Err(self.window);
            }
        }
        let list = map.entry(key.to_string()).or_default();
        while list.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
            list.pop_front();
        }
        if list.len() >= self.max_attempts {
            return Err(self.window.saturating_sub(now.duration_since(list[0])));
        }
        list.push_back(now);
        Ok(())
    }

    /// The attempt succeeded: the key starts afresh.
    pub fn succeeded(&self, key: &str) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_counted_up_front_and_a_success_forgives() {
        let throttle = Throttle::new(5, Duration::from_secs(900));
        let t0 = Instant::now();
        for i in 0..5 {
            assert_eq!(throttle.attempt("sam@1.2.3.4", t0), Ok(()), "attempt {i}");
        }
        // The sixth, even one that would have succeeded, is refused until the window moves on.
        assert_eq!(throttle.attempt("sam@1.2.3.4", t0 + Duration::from_secs(60)), Err(Duration::from_secs(840)));
        assert_eq!(throttle.attempt("sam@1.2.3.4", t0 + Duration::from_secs(900)), Ok(()));
        assert_eq!(throttle.attempt("jo@1.2.3.4", t0), Ok(()), "other keys are unaffected");
        throttle.succeeded("sam@1.2.3.4");
        for _ in 0..5 {
            assert_eq!(throttle.attempt("sam@1.2.3.4", t0 + Duration::from_secs(901)), Ok(()));
        }
    }
}
