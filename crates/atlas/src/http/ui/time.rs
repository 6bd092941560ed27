//! Times as people read them: "2 min ago", and dates in one format.

use chrono::{DateTime, Utc};

/// How long ago `at` was, roughly.
pub fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - at).num_seconds().max(0);
    match seconds {
        0..=9 => "just now".to_owned(),
        10..=59 => format!("{seconds} s ago"),
        60..=3599 => format!("{} min ago", seconds / 60),
        3600..=86_399 => format!("{} h ago", seconds / 3600),
        _ => format!("{} days ago", seconds / 86_400),
    }
}

/// A timestamp to show next to "ago": UTC, to the minute.
pub fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_naturally() {
        let now = Utc::now();
        let ago_by = |s: i64| ago(now - chrono::Duration::seconds(s), now);
        assert_eq!(ago_by(3), "just now");
        assert_eq!(ago_by(42), "42 s ago");
        assert_eq!(ago_by(150), "2 min ago");
        assert_eq!(ago_by(7300), "2 h ago");
        assert_eq!(ago_by(3 * 86_400), "3 days ago");
    }
}
