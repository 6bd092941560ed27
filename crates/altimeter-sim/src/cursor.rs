//! The opaque listing cursor: the `(updated_at, id)` of the last task returned,
//! so the next page starts strictly after it whatever changed meanwhile.

use chrono::{DateTime, SecondsFormat, Utc};

/// A position in the listing order.
pub type ListKey = (DateTime<Utc>, String);

pub fn encode(key: &ListKey) -> String {
    let (at, id) = key;
    hex::encode(format!(
        "{}|{id}",
        at.to_rfc3339_opts(SecondsFormat::Micros, true)
    ))
}

pub fn decode(cursor: &str) -> Option<ListKey> {
    let bytes = hex::decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (at, id) = text.split_once('|')?;
    let at = DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc);
    Some((at, id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let key = (Utc::now(), "alt_1|odd".to_owned());
        let decoded = decode(&encode(&key)).unwrap();
        assert_eq!(decoded.1, key.1);
        assert_eq!(decoded.0.timestamp_micros(), key.0.timestamp_micros());
        assert_eq!(decode("zz"), None);
        assert_eq!(decode(&hex::encode("no separator")), None);
        assert_eq!(decode(""), None);
    }
}
