//! Configuration: environment variables with command-line flags over them (clap
//! reads both), validated once at start-up into [`Config`]. Every error names the
//! setting at fault; secrets are `SecretString`s and never printed.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use secrecy::SecretString;

/// Parses `5s`, `100ms`, `5m` (humantime syntax).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration like 5s, 100ms or 5m ({e})"))
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
        let Some(api_key) = self.altimeter_api_key.clone() else {
            anyhow::bail!("ALTIMETER_API_KEY must be set when ALTIMETER_API_URL is");
        };
        Ok(Some(AltimeterConfig {
            api_url: url.trim_end_matches('/').to_owned(),
            api_key,
        }))
    }
}

/// Settings of the HTTP server.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ATLAS_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    #[command(flatten)]
    pub altimeter: AltimeterArgs,
}

/// Everything `atlas serve` runs with, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub bind: SocketAddr,
    pub altimeter: Option<AltimeterConfig>,
}

impl Config {
    pub fn from_args(db: &DatabaseArgs, serve: &ServeArgs) -> anyhow::Result<Config> {
        Ok(Config {
            database_url: db.database_url.clone(),
            bind: serve.bind,
            altimeter: serve.altimeter.validate()?,
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
