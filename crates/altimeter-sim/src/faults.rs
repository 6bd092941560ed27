//! Injected faults (`PUT /_sim/faults`): errors, latency, outages, rate limits and
//! misbehaving webhooks. A new set replaces the old one; a missing key is off.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Share of API calls (0–1) answered `503` with `Retry-After`.
    pub error_rate: f64,
    /// Added to every API call before it is handled.
    pub latency_ms: u64,
    /// Every API call answers `503`.
    pub outage: bool,
    /// Share of API calls (0–1) that are carried out and then answered `502`,
    /// as if the network lost the answer: the caller cannot tell whether its
    /// change was made.
    pub response_loss_rate: f64,
    /// Requests per second before `429`; overrides `--rate-limit`.
    pub rate_limit: Option<u32>,
    /// Share of webhooks (0–1) silently never sent.
    pub webhook_drop_rate: f64,
    /// Share of webhooks (0–1) sent twice.
    pub webhook_duplicate_rate: f64,
    /// Delay before each webhook is sent.
    pub webhook_delay_ms: u64,
    /// Hold webhooks in small batches and send each batch in reverse.
    pub webhook_reorder: bool,
    /// Stamp changes in whole seconds, so many share one `updated_at` (as an API
    /// that stores seconds does); listings then break ties by id alone.
    pub coarse_timestamps: bool,
}

impl Faults {
    /// Reads a fault set from JSON, naming the first bad key.
    pub fn from_json(body: &[u8]) -> Result<Self, String> {
        let faults: Faults = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        faults.validate()?;
        Ok(faults)
    }

    fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("response_loss_rate", self.response_loss_rate),
            ("webhook_drop_rate", self.webhook_drop_rate),
            ("webhook_duplicate_rate", self.webhook_duplicate_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name}: must be between 0 and 1 (got {rate})"));
            }
        }
        if self.rate_limit == Some(0) {
            return Err("rate_limit: must be at least 1 request per second".to_owned());
        }
        Ok(())
    }
}

/// True with probability `rate` (never for 0, always for 1).
pub fn roll(rate: f64) -> bool {
    rate > 0.0 && rand::random::<f64>() < rate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_keys_are_off_and_bad_values_are_named() {
        assert_eq!(Faults::from_json(b"{}").unwrap(), Faults::default());
        let faults = Faults::from_json(br#"{"outage": true, "rate_limit": 5}"#).unwrap();
        assert!(faults.outage);
        assert_eq!(faults.rate_limit, Some(5));
        assert_eq!(faults.error_rate, 0.0);
        let err = Faults::from_json(br#"{"error_rate": 1.5}"#).unwrap_err();
        assert!(err.starts_with("error_rate:"), "{err}");
        let err = Faults::from_json(br#"{"rate_limit": 0}"#).unwrap_err();
        assert!(err.starts_with("rate_limit:"), "{err}");
        let err = Faults::from_json(br#"{"eror_rate": 0.5}"#).unwrap_err();
        assert!(err.contains("eror_rate"), "{err}");
        assert!(Faults::from_json(br#"{"latency_ms": -1}"#).is_err());
    }

    #[test]
    fn rolls_at_the_extremes_are_certain() {
        assert!((0..100).all(|_| roll(1.0)));
        assert!((0..100).all(|_| !roll(0.0)));
    }
}
