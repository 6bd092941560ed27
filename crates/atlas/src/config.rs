//! Configuration: environment variables with command-line flags over them (clap
//! reads both), validated once at start-up into [`Config`]. Every error names the
//! setting at fault; secrets are `SecretString`s and never printed.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use secrecy::{ExposeSecret, SecretString};

use crate::feed::FeedConfig;
use crate::sync::retry::RetryPolicy;

/// Parses `5s`, `100ms`, `5m` (humantime syntax).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration like 5s, 100ms or 5m ({e})"))
}

/// The shortest webhook secret Atlas accepts: a shorter one is guessable.
pub const MIN_WEBHOOK_SECRET_BYTES: usize = 16;

/// A secret that is really there: an empty or blank value (an unfilled line in
/// an env file) is the same as none.
pub fn filled(secret: Option<&SecretString>) -> Option<&SecretString> {
    secret.filter(|s| !s.expose_secret().trim().is_empty())
}

/// Where the database lives; shared by every command.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://FILE` (created on first use) or `postgres://USER@HOST/DB`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://atlas.db",
        global = true
    )]
    pub database_url: String,
}

/// How to reach Altimeter. Without `ALTIMETER_API_URL`, Atlas serves tasks and says
/// that sync is not configured.
#[derive(Debug, Clone, Args)]
pub struct AltimeterArgs {
    /// Base URL of the Altimeter API, e.g. http://127.0.0.1:9090/v1.
    #[arg(long, env = "ALTIMETER_API_URL")]
    pub altimeter_api_url: Option<String>,
    /// Bearer key for the Altimeter API (required with ALTIMETER_API_URL).
    #[arg(long, env = "ALTIMETER_API_KEY", hide_env_values = true)]
    pub altimeter_api_key: Option<SecretString>,
    /// Secret that signs Altimeter's webhooks (HMAC-SHA256).
    #[arg(long, env = "ALTIMETER_WEBHOOK_SECRET", hide_env_values = true)]
    pub altimeter_webhook_secret: Option<SecretString>,
}

/// A validated connection to Altimeter.
#[derive(Debug, Clone)]
pub struct AltimeterConfig {
    pub api_url: String,
    pub api_key: SecretString,
}

impl AltimeterConfig {
    pub fn client(&self) -> anyhow::Result<altimeter_client::AltimeterClient> {
        let config =
            altimeter_client::ClientConfig::new(self.api_url.clone(), self.api_key.clone());
        Ok(altimeter_client::AltimeterClient::new(config)?)
    }
}

impl AltimeterArgs {
    /// `None` when sync is not configured; an error naming the setting when it is
    /// configured wrongly.
    pub fn validate(&self) -> anyhow::Result<Option<AltimeterConfig>> {
        let Some(url) = self
            .altimeter_api_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        else {
            return Ok(None);
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            anyhow::bail!("ALTIMETER_API_URL must be an http:// or https:// URL (got `{url}`)");
        }
        let Some(api_key) = filled(self.altimeter_api_key.as_ref()).cloned() else {
            anyhow::bail!("ALTIMETER_API_KEY must be set when ALTIMETER_API_URL is");
        };
        Ok(Some(AltimeterConfig {
            api_url: url.trim_end_matches('/').to_owned(),
            api_key,
        }))
    }

    /// The webhook secret, if one is set; one too short to be safe is an error.
    pub fn webhook_secret(&self) -> anyhow::Result<Option<SecretString>> {
        let Some(secret) = filled(self.altimeter_webhook_secret.as_ref()) else {
            return Ok(None);
        };
        let length = secret.expose_secret().len();
        if length < MIN_WEBHOOK_SECRET_BYTES {
            anyhow::bail!(
                "ALTIMETER_WEBHOOK_SECRET must be at least {MIN_WEBHOOK_SECRET_BYTES} bytes \
                 (it has {length}); use the secret Altimeter shows for the webhook"
            );
        }
        Ok(Some(secret.clone()))
    }
}

/// How the sync engine behaves (SPEC §3, §5).
#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub altimeter: AltimeterArgs,
    /// Edits to the same field on both sides closer together than this need a person.
    #[arg(long, env = "ATLAS_CONFLICT_WINDOW", default_value = "5m", value_parser = parse_duration)]
    pub conflict_window: Duration,
    /// How far Atlas's and Altimeter's clocks may disagree: widens the conflict
    /// window, so two edits that may have been close are never settled unasked.
    #[arg(long, env = "ATLAS_CLOCK_SKEW", default_value = "30s", value_parser = parse_duration)]
    pub clock_skew: Duration,
    /// Retries after a failed try (waits: base, base×5, base×25, ...).
    #[arg(long, env = "ATLAS_SYNC_MAX_ATTEMPTS", default_value_t = 3)]
    pub sync_max_attempts: u32,
    /// Wait before the first retry.
    #[arg(long, env = "ATLAS_SYNC_BACKOFF_BASE", default_value = "5s", value_parser = parse_duration)]
    pub sync_backoff_base: Duration,
    /// How often Altimeter is polled for changes whose webhook never arrived.
    #[arg(long, env = "ATLAS_RECONCILE_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub reconcile_interval: Duration,
    /// Where alerts are POSTed as JSON (Slack-compatible `text` included). A
    /// secret: a Slack webhook URL is a credential, so it is never printed.
    #[arg(long, env = "ATLAS_ALERT_WEBHOOK_URL", hide_env_values = true)]
    pub alert_webhook_url: Option<SecretString>,
    /// How often alerts are evaluated (and sent to ATLAS_ALERT_WEBHOOK_URL).
    #[arg(long, env = "ATLAS_ALERT_INTERVAL", default_value = "15s", value_parser = parse_duration)]
    pub alert_interval: Duration,
    /// Queue depth above which an alert fires.
    #[arg(long, env = "ATLAS_QUEUE_ALERT_THRESHOLD", default_value_t = 100)]
    pub queue_alert_threshold: i64,
    /// Accept webhooks without a signature when no secret is set (each logs a warning).
    #[arg(long, env = "ATLAS_ALLOW_UNSIGNED_WEBHOOKS", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_unsigned_webhooks: bool,
    /// The window in which edits after a task's first coalesce into one push (the
    /// first edit of a quiet task is pushed at once).
    #[arg(long, env = "ATLAS_SYNC_PUSH_DELAY", default_value = "300ms", value_parser = parse_duration)]
    pub push_delay: Duration,
    /// Remote calls one worker makes at once.
    #[arg(long, env = "ATLAS_SYNC_CONCURRENCY", default_value_t = 8)]
    pub sync_concurrency: usize,
    /// How long a worker holds a claimed item before another may take it over
    /// (renewed while it works; only a crashed worker's lease runs out).
    #[arg(long, env = "ATLAS_SYNC_LEASE", default_value = "60s", value_parser = parse_duration)]
    pub sync_lease: Duration,
}

impl SyncArgs {
    pub fn validate(&self) -> anyhow::Result<SyncConfig> {
        if self.sync_concurrency == 0 {
            anyhow::bail!("ATLAS_SYNC_CONCURRENCY must be at least 1");
        }
        if self.sync_backoff_base.is_zero() {
            anyhow::bail!("ATLAS_SYNC_BACKOFF_BASE must be more than 0s");
        }
        if self.reconcile_interval < Duration::from_secs(1) {
            anyhow::bail!("ATLAS_RECONCILE_INTERVAL must be at least 1s");
        }
        let alert_webhook_url = filled(self.alert_webhook_url.as_ref());
        if let Some(url) = alert_webhook_url.map(ExposeSecret::expose_secret) {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                anyhow::bail!("ATLAS_ALERT_WEBHOOK_URL must be an http:// or https:// URL");
            }
        }
        if self.sync_lease < Duration::from_secs(1) {
            anyhow::bail!("ATLAS_SYNC_LEASE must be at least 1s");
        }
        if self.alert_interval < Duration::from_millis(100) {
            anyhow::bail!("ATLAS_ALERT_INTERVAL must be at least 100ms");
        }
        if self.queue_alert_threshold < 1 {
            anyhow::bail!("ATLAS_QUEUE_ALERT_THRESHOLD must be at least 1");
        }
        Ok(SyncConfig {
            altimeter: self.altimeter.validate()?,
            webhook_secret: self.altimeter.webhook_secret()?,
            allow_unsigned_webhooks: self.allow_unsigned_webhooks,
            conflict_window: self.conflict_window,
            clock_skew: self.clock_skew,
            retry: RetryPolicy {
                max_retries: self.sync_max_attempts,
                base: self.sync_backoff_base,
                factor: 5,
            },
            reconcile_interval: self.reconcile_interval,
            alert_webhook_url: alert_webhook_url.cloned(),
            queue_alert_threshold: self.queue_alert_threshold,
            push_delay: self.push_delay,
            concurrency: self.sync_concurrency,
            lease: self.sync_lease,
            alert_interval: self.alert_interval,
            brake: BrakeConfig::default(),
        })
    }
}

/// The delete brake (SPEC §3): more remote deletes than this within `window`
/// are held: more than `percent`% of linked tasks (but never fewer than
/// `min_burst`), or more than `max_burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrakeConfig {
    pub percent: u32,
    pub min_burst: i64,
    pub max_burst: i64,
    pub window: Duration,
}

impl Default for BrakeConfig {
    fn default() -> Self {
        Self {
            percent: 10,
            min_burst: 5,
            max_burst: 50,
            window: Duration::from_secs(600),
        }
    }
}

/// Everything the sync engine runs with, validated.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    pub altimeter: Option<AltimeterConfig>,
    pub webhook_secret: Option<SecretString>,
    pub allow_unsigned_webhooks: bool,
    pub conflict_window: Duration,
    /// Allowance for the two clocks disagreeing, added to the conflict window.
    pub clock_skew: Duration,
    pub retry: RetryPolicy,
    pub reconcile_interval: Duration,
    pub alert_webhook_url: Option<SecretString>,
    pub queue_alert_threshold: i64,
    pub push_delay: Duration,
    pub concurrency: usize,
    pub lease: Duration,
    /// How often alerts are evaluated (and sent).
    pub alert_interval: Duration,
    pub brake: BrakeConfig,
}

impl SyncConfig {
    /// Defaults with sync not configured (for commands that only need the queue).
    pub fn unconfigured() -> SyncConfig {
        SyncConfig {
            altimeter: None,
            webhook_secret: None,
            allow_unsigned_webhooks: false,
            conflict_window: Duration::from_secs(300),
            clock_skew: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            reconcile_interval: Duration::from_secs(300),
            alert_webhook_url: None,
            queue_alert_threshold: 100,
            push_delay: Duration::from_millis(300),
            concurrency: 8,
            lease: Duration::from_secs(60),
            alert_interval: Duration::from_secs(15),
            brake: BrakeConfig::default(),
        }
    }
}

/// Settings of `atlas worker`.
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Also serve /healthz, /readyz and /metrics on this address (e.g. 0.0.0.0:9100).
    #[arg(long, env = "ATLAS_WORKER_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,
    #[command(flatten)]
    pub sync: SyncArgs,
}

/// How the live feed (`/ws/sync-status`) treats its clients.
#[derive(Debug, Clone, Args)]
pub struct FeedArgs {
    /// WebSocket connections this node accepts; more are refused with 503.
    #[arg(long, env = "ATLAS_WS_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub ws_max_connections: usize,
    /// Messages a WebSocket client may fall behind before it is sent `resync`.
    #[arg(long, env = "ATLAS_WS_BUFFER", default_value_t = 256)]
    pub ws_buffer: usize,
    /// A WebSocket client that takes longer than this to accept a message is dropped.
    #[arg(long, env = "ATLAS_WS_SEND_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub ws_send_timeout: Duration,
    /// How often clients are pinged; one silent for two intervals is dropped.
    #[arg(long, env = "ATLAS_WS_PING_INTERVAL", default_value = "25s", value_parser = parse_duration)]
    pub ws_ping_interval: Duration,
}

impl FeedArgs {
    pub fn validate(&self) -> anyhow::Result<FeedConfig> {
        if self.ws_buffer == 0 {
            anyhow::bail!("ATLAS_WS_BUFFER must be at least 1");
        }
        if self.ws_send_timeout.is_zero() {
            anyhow::bail!("ATLAS_WS_SEND_TIMEOUT must be more than 0s");
        }
        if self.ws_ping_interval < Duration::from_secs(1) {
            anyhow::bail!("ATLAS_WS_PING_INTERVAL must be at least 1s");
        }
        Ok(FeedConfig {
            max_connections: self.ws_max_connections,
            buffer: self.ws_buffer,
            send_timeout: self.ws_send_timeout,
            ping_interval: self.ws_ping_interval,
        })
    }
}

/// Settings of the HTTP server.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ATLAS_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Serve only (API, UI, webhooks); leave syncing to `atlas worker` processes.
    #[arg(long)]
    pub no_worker: bool,
    #[command(flatten)]
    pub feed: FeedArgs,
    #[command(flatten)]
    pub sync: SyncArgs,
}

/// Everything `atlas serve` runs with, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub bind: SocketAddr,
    pub run_worker: bool,
    pub feed: FeedConfig,
    pub sync: SyncConfig,
}

impl Config {
    pub fn from_args(db: &DatabaseArgs, serve: &ServeArgs) -> anyhow::Result<Config> {
        Ok(Config {
            database_url: db.database_url.clone(),
            bind: serve.bind,
            run_worker: !serve.no_worker,
            feed: serve.feed.validate()?,
            sync: serve.sync.validate()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(url: Option<&str>, key: Option<&str>) -> AltimeterArgs {
        AltimeterArgs {
            altimeter_api_url: url.map(str::to_owned),
            altimeter_api_key: key.map(|k| SecretString::from(k.to_owned())),
            altimeter_webhook_secret: None,
        }
    }

    fn with_secret(secret: &str) -> AltimeterArgs {
        AltimeterArgs {
            altimeter_webhook_secret: Some(SecretString::from(secret.to_owned())),
            ..args(None, None)
        }
    }

    #[test]
    fn an_empty_or_blank_secret_is_no_secret_and_a_short_one_is_refused() {
        assert!(with_secret("").webhook_secret().unwrap().is_none());
        assert!(with_secret("  \t").webhook_secret().unwrap().is_none());
        let err = with_secret("dev-secret").webhook_secret().unwrap_err();
        assert!(
            err.to_string().contains("at least 16 bytes (it has 10)"),
            "{err}"
        );
        let ok = with_secret("0123456789abcdef")
            .webhook_secret()
            .unwrap()
            .unwrap();
        assert_eq!(ok.expose_secret(), "0123456789abcdef");
    }

    #[test]
    fn an_empty_api_key_is_missing() {
        let err = args(Some("http://a/v1"), Some(" ")).validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "ALTIMETER_API_KEY must be set when ALTIMETER_API_URL is"
        );
    }

    #[test]
    fn altimeter_settings_are_validated() {
        assert!(args(None, None).validate().unwrap().is_none());
        let err = args(Some("http://a/v1"), None).validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "ALTIMETER_API_KEY must be set when ALTIMETER_API_URL is"
        );
        assert!(args(Some("ftp://a"), Some("k")).validate().is_err());
        let ok = args(Some("http://a/v1/"), Some("k"))
            .validate()
            .unwrap()
            .unwrap();
        assert_eq!(ok.api_url, "http://a/v1");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert!(
            parse_duration("5 parsecs")
                .unwrap_err()
                .contains("not a duration")
        );
    }
}
