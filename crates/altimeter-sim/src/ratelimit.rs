//! A fixed one-second window rate limiter and the `X-Rate-Limit-*` headers it
//! puts on every API answer.

use std::sync::{Mutex, PoisonError};

use altimeter_api::headers::{RATE_LIMIT_LIMIT, RATE_LIMIT_REMAINING, RATE_LIMIT_RESET};
use axum::http::{HeaderMap, HeaderValue};
use chrono::{DateTime, Utc};

/// The limit reported when none is configured: high enough never to matter.
pub const UNLIMITED: u32 = 1_000_000;

#[derive(Debug, Default)]
pub struct RateLimiter {
    window: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    second: i64,
    used: u32,
}

/// The verdict on one request, and what to tell the caller about its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    pub admitted: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Unix epoch second at which the window resets.
    pub reset: i64,
    /// Whole seconds until then, at least 1 (for `Retry-After`).
    pub retry_after: u64,
}

impl RateLimiter {
    /// Counts one request against the current window.
    pub fn admit(&self, limit: Option<u32>, now: DateTime<Utc>) -> Admission {
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        let second = now.timestamp();
        if window.second != second {
            *window = Window { second, used: 0 };
        }
        window.used = window.used.saturating_add(1);
        let reported = limit.unwrap_or(UNLIMITED);
        Admission {
            admitted: limit.is_none_or(|limit| window.used <= limit),
            limit: reported,
            remaining: reported.saturating_sub(window.used),
            reset: second + 1,
            // The window is one second long, so the next one is never further away.
            retry_after: 1,
        }
    }

    pub fn reset(&self) {
        *self.window.lock().unwrap_or_else(PoisonError::into_inner) = Window::default();
    }
}

impl Admission {
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert(RATE_LIMIT_LIMIT, HeaderValue::from(self.limit));
        headers.insert(RATE_LIMIT_REMAINING, HeaderValue::from(self.remaining));
        headers.insert(RATE_LIMIT_RESET, HeaderValue::from(self.reset));
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[test]
    fn requests_beyond_the_limit_wait_for_the_next_second() {
        let limiter = RateLimiter::default();
        let start = DateTime::from_timestamp(1_767_225_600, 250_000_000).unwrap();
        let verdicts: Vec<_> = (0..3).map(|_| limiter.admit(Some(2), start)).collect();
        assert_eq!(
            verdicts.iter().map(|a| a.admitted).collect::<Vec<_>>(),
            [true, true, false]
        );
        assert_eq!(
            verdicts.iter().map(|a| a.remaining).collect::<Vec<_>>(),
            [1, 0, 0]
        );
        assert_eq!(verdicts[2].reset, 1_767_225_601);
        assert_eq!(verdicts[2].retry_after, 1);
        let next = limiter.admit(Some(2), start + TimeDelta::seconds(1));
        assert!(next.admitted);
        assert_eq!(next.remaining, 1);
    }

    #[test]
    fn without_a_limit_everything_passes_and_headers_still_count() {
        let limiter = RateLimiter::default();
        let now = Utc::now();
        let first = limiter.admit(None, now);
        let second = limiter.admit(None, now);
        assert!(first.admitted && second.admitted);
        assert_eq!((first.limit, second.remaining), (UNLIMITED, UNLIMITED - 2));
        let mut headers = HeaderMap::new();
        second.write_headers(&mut headers);
        assert_eq!(headers[RATE_LIMIT_LIMIT], UNLIMITED.to_string());
    }
}
