//! How long Altimeter asks us to wait: `Retry-After` in either form RFC 9110
//! allows (delta-seconds or an HTTP-date), or for a `429` without it, the time
//! left until `X-Rate-Limit-Reset`. Pure, with `now` passed in.

use std::time::Duration;

use altimeter_api::headers::RATE_LIMIT_RESET;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// The longest wait we take from a server; a misconfigured proxy asking for a
/// day must not stall sync for a day.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60 * 60);

/// The wait the answer asks for, capped at [`MAX_RETRY_AFTER`].
pub(crate) fn retry_after(
    status: StatusCode,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Option<Duration> {
    let asked = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now));
    let asked = match asked {
        None if status == StatusCode::TOO_MANY_REQUESTS => until_reset(headers, now),
        asked => asked,
    };
    asked.map(|wait| wait.min(MAX_RETRY_AFTER))
}

/// `"120"` or `"Wed, 21 Oct 2015 07:28:00 GMT"`; a date already past is zero.
fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    // IMF-fixdate is a subset of RFC 2822 (with "GMT" as the zone).
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some(until(at.with_timezone(&Utc), now).unwrap_or(Duration::ZERO))
}

/// The time left until `X-Rate-Limit-Reset` (Unix seconds), if it is ahead.
fn until_reset(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let reset: i64 = headers
        .get(RATE_LIMIT_RESET)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    until(DateTime::from_timestamp(reset, 0)?, now)
}

/// `at - now` if `at` is in the future.
fn until(at: DateTime<Utc>, now: DateTime<Utc>) -> Option<Duration> {
    (at - now).to_std().ok().filter(|wait| !wait.is_zero())
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn now() -> DateTime<Utc> {
        // Wed, 21 Oct 2015 07:27:30.250 GMT
        DateTime::from_timestamp(1_445_412_450, 250_000_000).unwrap()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        headers
    }

    fn wait(status: u16, pairs: &[(&'static str, &'static str)]) -> Option<Duration> {
        retry_after(
            StatusCode::from_u16(status).unwrap(),
            &headers(pairs),
            now(),
        )
    }

    #[test]
    fn delta_seconds() {
        assert_eq!(
            wait(503, &[("retry-after", "7")]),
            Some(Duration::from_secs(7))
        );
        assert_eq!(wait(503, &[("retry-after", " 0 ")]), Some(Duration::ZERO));
        assert_eq!(wait(503, &[("retry-after", "-3")]), None);
        assert_eq!(wait(503, &[("retry-after", "soon")]), None);
        assert_eq!(wait(503, &[]), None);
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            wait(503, &[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]),
            Some(Duration::from_millis(29_750))
        );
        assert_eq!(
            wait(429, &[("retry-after", "Wed, 21 Oct 2015 07:00:00 GMT")]),
            Some(Duration::ZERO),
            "a date already past means now"
        );
    }

    #[test]
    fn long_waits_are_capped_at_an_hour() {
        assert_eq!(
            wait(503, &[("retry-after", "86400")]),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            wait(503, &[("retry-after", "Thu, 22 Oct 2015 07:28:00 GMT")]),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            wait(503, &[("retry-after", "18446744073709551615")]),
            Some(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn a_429_without_retry_after_waits_for_the_rate_limit_reset() {
        // Reset at 07:27:32, 1.75 s after now.
        let reset = [("x-rate-limit-reset", "1445412452")];
        assert_eq!(wait(429, &reset), Some(Duration::from_millis(1_750)));
        assert_eq!(wait(503, &reset), None, "only for 429");
        let both = [("x-rate-limit-reset", "1445412452"), ("retry-after", "5")];
        assert_eq!(
            wait(429, &both),
            Some(Duration::from_secs(5)),
            "Retry-After wins"
        );
        assert_eq!(wait(429, &[("x-rate-limit-reset", "1445412450")]), None);
        assert_eq!(
            wait(429, &[("x-rate-limit-reset", "1445499999")]),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(wait(429, &[("x-rate-limit-reset", "later")]), None);
    }
}
