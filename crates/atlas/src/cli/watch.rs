//! `atlas watch`: prints the live feed, one line per message — for operators,
//! and a second, independent client of the feed's protocol.

use anyhow::Context;
use clap::Args;
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};
use uuid::Uuid;

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The feed's address.
    #[arg(
        long,
        env = "ATLAS_WATCH_URL",
        default_value = "ws://127.0.0.1:8080/ws/sync-status"
    )]
    pub url: String,
    /// An API token of any role (`atlas token create --role viewer`).
    #[arg(long, env = "ATLAS_TOKEN", hide_env_values = true)]
    pub token: SecretString,
    /// Follow one task only.
    #[arg(long)]
    pub task: Option<Uuid>,
    /// Print each message as the JSON it arrived as.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: WatchArgs) -> anyhow::Result<()> {
    let url = match args.task {
        Some(task) if args.url.contains('?') => format!("{}&task={task}", args.url),
        Some(task) => format!("{}?task={task}", args.url),
        None => args.url.clone(),
    };
    let mut request = url
        .as_str()
        .into_client_request()
        .with_context(|| format!("--url `{url}` is not a ws:// or wss:// URL"))?;
    let bearer = format!("Bearer {}", args.token.expose_secret().trim());
    request.headers_mut().insert(
        "authorization",
        bearer
            .parse()
            .context("--token is not a valid header value")?,
    );
    let (mut feed, _) = match tokio_tungstenite::connect_async(request).await {
        Ok(connected) => connected,
        Err(tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            anyhow::bail!(
                "the feed refused the connection: {} {body}",
                response.status()
            );
        }
        Err(e) => return Err(e).with_context(|| format!("cannot connect to {url}")),
    };
    eprintln!("watching {url} (Ctrl-C to stop)");
    loop {
        let frame = tokio::select! {
            frame = feed.next() => frame,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        match frame {
            Some(Ok(Message::Text(text))) => {
                if args.json {
                    println!("{text}");
                } else {
                    println!("{}", describe(&text));
                }
            }
            Some(Ok(Message::Close(frame))) => {
                let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                anyhow::bail!("the server closed the feed {reason}");
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e).context("the feed connection failed"),
            None => anyhow::bail!("the feed connection ended"),
        }
    }
}

/// One readable line for a feed message.
pub fn describe(text: &str) -> String {
    let Ok(message) = serde_json::from_str::<Value>(text) else {
        return text.to_owned();
    };
    let field = |v: &Value, name: &str| match v.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".to_owned(),
        Some(other) => other.to_string(),
    };
    let seq = field(&message, "seq");
    let kind = field(&message, "type");
    let detail = match kind.as_str() {
        "sync_status" => {
            let mut line = format!(
                "task {} {}",
                field(&message, "entity_id"),
                field(&message, "status")
            );
            if let Some(Value::String(error)) = message.get("error") {
                line.push_str(&format!(" ({error})"));
            }
            line
        }
        "task_changed" => {
            let task = message.get("task").cloned().unwrap_or_default();
            format!(
                "task {} v{} \"{}\" {} sync {}{}",
                field(&task, "id"),
                field(&task, "version"),
                field(&task, "title"),
                field(&task, "status"),
                field(&task, "sync_status"),
                if task.get("deleted") == Some(&Value::Bool(true)) {
                    " (deleted)"
                } else {
                    ""
                }
            )
        }
        "conflict_created" | "conflict_resolved" => format!(
            "conflict {} on task {}",
            field(&message, "conflict_id"),
            field(&message, "task_id")
        ),
        "queue" => format!(
            "pending {} in flight {} failed {}{}{}",
            field(&message, "pending"),
            field(&message, "in_flight"),
            field(&message, "failed"),
            if message.get("paused") == Some(&Value::Bool(true)) {
                " (paused)"
            } else {
                ""
            },
            if message.get("draining") == Some(&Value::Bool(true)) {
                " (draining)"
            } else {
                ""
            }
        ),
        "alert" => format!(
            "{} {} {}: {}",
            field(&message, "key"),
            field(&message, "status"),
            field(&message, "severity"),
            field(&message, "message")
        ),
        "resync" => "missed events: refetch what you show".to_owned(),
        _ => text.to_owned(),
    };
    format!("#{seq:<6} {kind:<17} {detail}")
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn each_message_reads_as_one_line() {
        let line = describe(
            r#"{"seq":7,"type":"sync_status","entity_type":"task","entity_id":"t1","status":"error","error":"Altimeter is down","at":"x"}"#,
        );
        assert_eq!(
            line,
            "#7      sync_status       task t1 error (Altimeter is down)"
        );
        let line = describe(
            r#"{"seq":8,"type":"task_changed","task":{"id":"t1","version":2,"title":"Pour slab","status":"todo","sync_status":"pending","deleted":false}}"#,
        );
        assert_eq!(
            line,
            "#8      task_changed      task t1 v2 \"Pour slab\" todo sync pending"
        );
        let line = describe(
            r#"{"seq":9,"type":"queue","pending":3,"in_flight":1,"failed":0,"paused":true,"draining":false}"#,
        );
        assert_eq!(
            line,
            "#9      queue             pending 3 in flight 1 failed 0 (paused)"
        );
        assert_eq!(describe("not json"), "not json");
    }
}
