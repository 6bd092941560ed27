//! The `X-Rate-Limit-*` headers Altimeter sends on every answer, kept so callers
//! can pace themselves before they hit a `429`.

use altimeter_api::headers::{RATE_LIMIT_LIMIT, RATE_LIMIT_REMAINING, RATE_LIMIT_RESET};
use reqwest::header::HeaderMap;

/// The rate-limit window as of the last answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window (`X-Rate-Limit-Limit`).
    pub limit: u64,
    /// Requests left in the current window (`X-Rate-Limit-Remaining`).
    pub remaining: u64,
    /// When the window resets, in Unix epoch seconds (`X-Rate-Limit-Reset`).
    pub reset: i64,
}

impl RateLimit {
    /// The three headers, or `None` unless all are present and numeric.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        Some(RateLimit {
            limit: number(headers, RATE_LIMIT_LIMIT)?,
            remaining: number(headers, RATE_LIMIT_REMAINING)?,
            reset: number(headers, RATE_LIMIT_RESET)?,
        })
    }
}

fn number<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn all_three_headers_are_needed() {
        let mut headers = HeaderMap::new();
        headers.insert(RATE_LIMIT_LIMIT, HeaderValue::from_static("100"));
        headers.insert(RATE_LIMIT_REMAINING, HeaderValue::from_static("99"));
        assert_eq!(RateLimit::from_headers(&headers), None);
        headers.insert(RATE_LIMIT_RESET, HeaderValue::from_static("1767225600"));
        let parsed = RateLimit::from_headers(&headers).unwrap();
        assert_eq!(
            parsed,
            RateLimit {
                limit: 100,
                remaining: 99,
                reset: 1_767_225_600
            }
        );
        headers.insert(RATE_LIMIT_REMAINING, HeaderValue::from_static("lots"));
        assert_eq!(RateLimit::from_headers(&headers), None);
    }
}
