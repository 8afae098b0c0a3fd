//! Per-application request quota, as APIM's `QuotaPerApp` policy applies it in front of PDS: at most N requests
//! in each one-second window per application, counted after the access token is verified and before the
//! request is looked at. Off unless configured (`SandboxConfig::pds_requests_per_second`).
//!
//! This module only counts; the API renders the 429 in its own dialect.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::state::lock;

const WINDOW: Duration = Duration::from_secs(1);

/// Requests counted per application in the current window.
#[derive(Debug, Default)]
pub struct AppQuota {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl AppQuota {
    /// Counts one request from `app`; false when it is over `per_second` in this window.
    pub fn admit(&self, app: &str, per_second: u32) -> bool {
        self.admit_at(app, per_second, Instant::now())
    }

    fn admit_at(&self, app: &str, per_second: u32, now: Instant) -> bool {
        let mut windows = lock(&self.windows);
        // Windows of applications that have gone quiet are dropped, so the map stays as small as the set of
        // applications calling in the last second.
        windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        let (_, count) = windows.entry(app.to_owned()).or_insert((now, 0));
        *count = count.saturating_add(1);
        *count <= per_second
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_application_and_per_window() {
        let quota = AppQuota::default();
        let start = Instant::now();
        assert!(quota.admit_at("a", 2, start));
        assert!(quota.admit_at("a", 2, start));
        assert!(!quota.admit_at("a", 2, start + Duration::from_millis(500)));
        assert!(quota.admit_at("b", 2, start), "another application has its own quota");
        assert!(quota.admit_at("a", 2, start + WINDOW), "a new window starts a new count");
    }
}
