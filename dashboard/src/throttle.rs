//! Sign-in throttling: after `max_failures` failed attempts for one account name (or from one
//! address) within `window`, further attempts are refused until the oldest failure leaves the
//! window. Kept in memory: a restart forgives, which is acceptable for a brute-force brake.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Throttle {
    max_failures: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Throttle {
    pub fn new(max_failures: usize, window: Duration) -> Throttle {
        Throttle { max_failures, window, failures: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        // A poisoned map still holds valid timestamps.
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long `keys` must wait before trying again, if any of them is over the limit.
    pub fn wait(&self, keys: &[String], now: Instant) -> Option<Duration> {
        let mut map = self.lock();
        keys.iter()
            .filter_map(|key| {
                let list = map.get_mut(key)?;
                while list.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
                    list.pop_front();
                }
                (list.len() >= self.max_failures).then(|| self.window - now.duration_since(list[0]))
            })
            .max()
    }

    pub fn failed(&self, keys: &[String], now: Instant) {
        let mut map = self.lock();
        for key in keys {
            map.entry(key.clone()).or_default().push_back(now);
        }
        // Keep memory bounded under a spray of names.
        if map.len() > 100_000 {
            map.retain(|_, list| list.back().is_some_and(|t| now.duration_since(*t) < self.window));
        }
    }

    pub fn succeeded(&self, keys: &[String]) {
        let mut map = self.lock();
        for key in keys {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_out_until_the_window_passes() {
        let throttle = Throttle::new(5, Duration::from_secs(900));
        let keys = vec!["user:sam".to_string()];
        let t0 = Instant::now();
        for i in 0..5 {
            assert_eq!(throttle.wait(&keys, t0), None, "attempt {i}");
            throttle.failed(&keys, t0);
        }
        let wait = throttle.wait(&keys, t0 + Duration::from_secs(60)).unwrap();
        assert_eq!(wait, Duration::from_secs(840));
        assert_eq!(throttle.wait(&keys, t0 + Duration::from_secs(900)), None);
        // Another name is not affected; success clears.
        assert_eq!(throttle.wait(&["user:jo".to_string()], t0), None);
        throttle.succeeded(&keys);
        assert_eq!(throttle.wait(&keys, t0 + Duration::from_secs(1)), None);
    }
}
