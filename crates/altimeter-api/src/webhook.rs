//! Webhook bodies and their signature: lowercase hex HMAC-SHA256 of the raw body
//! under the shared secret, sent in `X-Altimeter-Signature`.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "task.created")]
    Created,
    #[serde(rename = "task.updated")]
    Updated,
    #[serde(rename = "task.deleted")]
    Deleted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEvent {
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub occurred_at: DateTime<Utc>,
    pub data: WebhookData,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookData {
    pub task_id: String,
    pub version: i64,
}

/// The longest `event_id` or `task_id` a receiver keeps.
pub const MAX_ID_CHARS: usize = 200;

impl WebhookEvent {
    /// Checks what serde cannot: both ids are 1–200 characters without control
    /// characters (a receiver stores them), and the version is at least 1.
    pub fn validate(&self) -> Result<(), String> {
        for (name, id) in [
            ("event_id", &self.event_id),
            ("data.task_id", &self.data.task_id),
        ] {
            if id.trim().is_empty() {
                return Err(format!("{name} must not be blank"));
            }
            if id.chars().count() > MAX_ID_CHARS {
                return Err(format!("{name} must be at most {MAX_ID_CHARS} characters"));
            }
            if let Some(message) = crate::control_character(id, false) {
                return Err(format!("{name} {message}"));
            }
        }
        if self.data.version < 1 {
            return Err(format!(
                "data.version must be at least 1 (got {})",
                self.data.version
            ));
        }
        Ok(())
    }
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so this cannot fail.
    Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length")
}

/// The signature Altimeter sends for `body`: lowercase hex HMAC-SHA256.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Checks a signature in constant time. Anything that is not exactly 32 bytes of
/// hex (including an empty header) is refused before comparing.
pub fn verify(secret: &[u8], body: &[u8], signature_hex: &str) -> bool {
    let Ok(signature) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    let mut mac = mac(secret);
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_with_unusable_ids_or_versions_are_refused() {
        let event = |event_id: &str, task_id: &str, version: i64| WebhookEvent {
            event_id: event_id.to_owned(),
            kind: EventType::Updated,
            occurred_at: Utc::now(),
            data: WebhookData {
                task_id: task_id.to_owned(),
                version,
            },
        };
        assert_eq!(event("evt_1", "alt_1", 1).validate(), Ok(()));
        let nul = event("evt\u{0}1", "alt_1", 1).validate().unwrap_err();
        assert!(
            nul.starts_with("event_id must not contain control"),
            "{nul}"
        );
        assert!(event("evt_1", " ", 1).validate().is_err());
        assert!(event("evt_1", &"a".repeat(201), 1).validate().is_err());
        assert!(event("evt_1", &"a".repeat(200), 1).validate().is_ok());
        assert!(event("evt_1", "alt_1", 0).validate().is_err());
    }

    #[test]
    fn signature_verifies_only_for_the_same_secret_and_body() {
        let sig = sign(b"s3cret", b"{\"a\":1}");
        assert_eq!(sig.len(), 64);
        assert_eq!(sig, sig.to_lowercase());
        assert!(verify(b"s3cret", b"{\"a\":1}", &sig));
        assert!(!verify(b"other", b"{\"a\":1}", &sig));
        assert!(!verify(b"s3cret", b"{\"a\":2}", &sig));
        assert!(!verify(b"s3cret", b"{\"a\":1}", ""));
        assert!(!verify(b"s3cret", b"{\"a\":1}", &sig[..62]));
        assert!(!verify(b"s3cret", b"{\"a\":1}", "zz"));
    }

    #[test]
    fn known_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
