//! How a simulator instance is set up: credentials, webhook target, limits, the
//! optional data file, and timing knobs with defaults fast enough for tests.

use std::path::PathBuf;
use std::time::Duration;

/// Everything a simulator needs to start. Build with [`SimConfig::new`] and set
/// the public fields you need. `Debug` leaves the API key and webhook secret out.
#[derive(Clone)]
pub struct SimConfig {
    /// The only bearer token `/v1` accepts.
    pub api_key: String,
    /// Where webhooks are POSTed; none are sent without it.
    pub webhook_url: Option<String>,
    /// Signs webhooks; without it the signature header is left out.
    pub webhook_secret: Option<String>,
    /// Requests per second before `429` (a `rate_limit` fault overrides it).
    pub rate_limit: Option<u32>,
    /// Keeps the store across restarts when set.
    pub data_file: Option<PathBuf>,
    pub tuning: SimTuning,
}

impl SimConfig {
    /// In memory, no webhooks, no rate limit, default tuning.
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            webhook_url: None,
            webhook_secret: None,
            rate_limit: None,
            data_file: None,
            tuning: SimTuning::default(),
        }
    }
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("api_key", &REDACTED)
            .field("webhook_url", &self.webhook_url)
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| REDACTED),
            )
            .field("rate_limit", &self.rate_limit)
            .field("data_file", &self.data_file)
            .field("tuning", &self.tuning)
            .finish()
    }
}

/// What `Debug` shows in place of a secret.
pub(crate) const REDACTED: &str = "[redacted]";

/// Timing of webhook delivery and persistence.
#[derive(Debug, Clone)]
pub struct SimTuning {
    /// Wait before the first retry of a webhook; doubles per attempt.
    pub webhook_retry_base: Duration,
    /// Cap on the wait between webhook attempts.
    pub webhook_retry_max: Duration,
    /// Attempts per webhook delivery before giving up (the first one included).
    pub webhook_max_attempts: u32,
    /// Time allowed for the receiver to answer one webhook POST.
    pub webhook_timeout: Duration,
    /// First attempts in flight at once (at least 1); never two for one task.
    pub webhook_concurrency: usize,
    /// With `webhook_reorder`, how many events are held and sent in reverse.
    pub reorder_batch: usize,
    /// With `webhook_reorder`, how long a partial batch is held before it goes.
    pub reorder_window: Duration,
    /// Quiet time after a change before the data file is written.
    pub persist_debounce: Duration,
}

impl Default for SimTuning {
    fn default() -> Self {
        Self {
            webhook_retry_base: Duration::from_millis(200),
            webhook_retry_max: Duration::from_secs(10),
            webhook_max_attempts: 8,
            webhook_timeout: Duration::from_secs(5),
            webhook_concurrency: 8,
            reorder_batch: 3,
            reorder_window: Duration::from_millis(500),
            persist_debounce: Duration::from_millis(200),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_secrets() {
        let config = SimConfig {
            webhook_url: Some("http://127.0.0.1:8080/hook".into()),
            webhook_secret: Some("whsec-sekrit".into()),
            ..SimConfig::new("api-sekrit")
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("sekrit"), "{shown}");
        assert!(shown.contains("http://127.0.0.1:8080/hook"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }
}
