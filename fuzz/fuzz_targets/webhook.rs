//! Webhook verification and parsing. Input: the signature header as received,
//! a newline, then the body.
#![no_main]

use altimeter_api::webhook::{WebhookEvent, sign, verify};
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"fuzzing-secret-0123456789";

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[][..], data),
    };
    let header = String::from_utf8_lossy(header);
    let right = sign(SECRET, body);
    assert!(verify(SECRET, body, &right), "our own signature must verify");
    if verify(SECRET, body, &header) {
        // Only the right MAC verifies (hex case and surrounding blanks aside).
        assert_eq!(header.trim().to_ascii_lowercase(), right);
    }
    assert!(!verify(b"another-secret-0123456789", body, &right));
    if let Ok(event) = serde_json::from_slice::<WebhookEvent>(body) {
        let again: WebhookEvent =
            serde_json::from_slice(&serde_json::to_vec(&event).unwrap()).unwrap();
        assert_eq!(again, event, "an event survives a round trip");
        if event.validate().is_ok() {
            for id in [&event.event_id, &event.data.task_id] {
                assert!(!id.trim().is_empty() && !id.chars().any(char::is_control));
            }
        }
    }
});
