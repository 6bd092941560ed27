//! Comparing secrets (API keys, bearer tokens) without leaking, through timing,
//! how much of a guess was right.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A fixed key: the HMAC here only makes both sides the same length, it protects
/// nothing by itself.
const COMPARE_KEY: &[u8] = b"altimeter-secret-compare";

fn digest(secret: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(COMPARE_KEY).expect("HMAC accepts any key length");
    mac.update(secret);
    mac
}

/// Whether `presented` equals `expected`, in time that depends on neither value
/// nor length: both are reduced to 32-byte HMAC-SHA256 digests, compared with
/// `Mac::verify_slice` (constant time).
pub fn secrets_match(expected: &[u8], presented: &[u8]) -> bool {
    let expected = digest(expected).finalize().into_bytes();
    digest(presented).verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_bytes_match() {
        assert!(secrets_match(b"k3y", b"k3y"));
        assert!(secrets_match(b"", b""));
        assert!(!secrets_match(b"k3y", b"k3"));
        assert!(!secrets_match(b"k3y", b"k3y "));
        assert!(!secrets_match(b"k3y", b"K3Y"));
        assert!(!secrets_match(b"k3y", b""));
    }
}
