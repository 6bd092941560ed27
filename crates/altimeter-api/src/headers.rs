//! Header names of the Altimeter API and the `ETag`/`If-Match` version format
//! (`"<version>"`).

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
pub const EVENT_ID: &str = "x-altimeter-event-id";
pub const SIGNATURE: &str = "x-altimeter-signature";
pub const RATE_LIMIT_LIMIT: &str = "x-rate-limit-limit";
pub const RATE_LIMIT_REMAINING: &str = "x-rate-limit-remaining";
pub const RATE_LIMIT_RESET: &str = "x-rate-limit-reset";

/// The `ETag` / `If-Match` form of a version: the number in double quotes.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// Reads a version from an `If-Match`/`ETag` value. Quotes and a weak `W/` prefix
/// are accepted; anything else that is not a whole number is `None`.
pub fn parse_etag(value: &str) -> Option<i64> {
    let value = value.trim();
    let value = value.strip_prefix("W/").unwrap_or(value);
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    value.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_round_trips() {
        assert_eq!(etag(7), "\"7\"");
        assert_eq!(parse_etag(&etag(42)), Some(42));
        assert_eq!(parse_etag("W/\"3\""), Some(3));
        assert_eq!(parse_etag("5"), Some(5));
        assert_eq!(parse_etag("\"x\""), None);
        assert_eq!(parse_etag(""), None);
    }
}
