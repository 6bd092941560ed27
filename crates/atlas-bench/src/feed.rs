//! The live feed at scale: `clients` WebSocket connections (opened by a child
//! process, so each side stays within its open-file limit) all waiting for one
//! task's change, timed from the API call to the last client's receipt; then an
//! edit made in the simulator until a client sees the task `synced` again.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::stats::summary;
use crate::sync::{self, Rig};

/// What one feed run measured.
pub struct Figures {
    /// API edit until the last client has it, per round.
    pub broadcast: Vec<Duration>,
    /// Altimeter edit until a client sees the task `synced`, per round.
    pub remote_to_ws: Vec<Duration>,
}

pub async fn run(url: &str, clients: usize, rounds: usize) -> anyhow::Result<()> {
    measure(url, clients, rounds).await.map(|_| ())
}

/// Runs the feed benchmark, printing as it goes, and returns its figures.
pub async fn measure(url: &str, clients: usize, rounds: usize) -> anyhow::Result<Figures> {
    let rig = sync::start(url, |config| {
        config.feed.max_connections = clients + 10;
    })
    .await?;
    let id = sync::create(&rig, 1, 1).await?.remove(0);
    wait_synced(&rig, &id).await?;
    let feed_url = format!("{}/ws/sync-status", rig.base.replace("http://", "ws://"));

    let rss_before = rss_kib();
    let started = Instant::now();
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args(["feed-clients", "--url", &feed_url, "--clients"])
        .arg(clients.to_string())
        .env("BENCH_FEED_TOKEN", &rig.token)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting the feed clients")?;
    let mut lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
    expect_line(&mut lines, "ready").await?;
    let kib_per_connection = (rss_kib() - rss_before) as f64 / clients as f64;
    println!(
        "{clients} WebSocket clients connected in {:.1} s; Atlas holds {kib_per_connection:.1} KiB \
         more per connection",
        started.elapsed().as_secs_f64()
    );

    let mut broadcast = Vec::new();
    let mut spread = Vec::new();
    for round in 0..rounds {
        let sent = unix_micros();
        rig.http
            .patch(format!("{}/api/tasks/{id}", rig.base))
            .bearer_auth(&rig.token)
            .json(&json!({"title": format!("round-{round}")}))
            .send()
            .await?
            .error_for_status()?;
        let line = expect_line(&mut lines, &format!("round {round} ")).await?;
        let times: Vec<i64> = line
            .split_whitespace()
            .skip(2)
            .filter_map(|t| t.parse().ok())
            .collect();
        let [first, last] = times[..] else {
            anyhow::bail!("unexpected line from the feed clients: {line}");
        };
        broadcast.push(micros(last - sent));
        spread.push(micros(last - first));
        // Let the push and its status messages (four more broadcasts) go out
        // first, so each round starts from an idle node.
        wait_synced(&rig, &id).await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    println!(
        "  API edit → all {clients} clients: {}",
        summary(broadcast.clone())
    );
    println!("  first → last client:         {}", summary(spread));
    child.kill().await.ok();

    let remote_to_ws = remote_to_ws(&rig, &feed_url, &id, rounds).await?;
    println!(
        "  Altimeter edit → a client sees synced: {}",
        summary(remote_to_ws.clone())
    );
    rig.shutdown.cancel();
    Ok(Figures {
        broadcast,
        remote_to_ws,
    })
}

async fn wait_synced(rig: &Rig, id: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let task: Value = rig
            .http
            .get(format!("{}/api/tasks/{id}", rig.base))
            .bearer_auth(&rig.token)
            .send()
            .await?
            .json()
            .await?;
        if task["sync_status"] == "synced" {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    anyhow::bail!("task {id} never synced")
}

/// Edits the task in the simulator and times until a feed client sees it synced.
async fn remote_to_ws(
    rig: &Rig,
    feed_url: &str,
    id: &str,
    rounds: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut request = feed_url.into_client_request()?;
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {}", rig.token).parse()?);
    let (mut feed, _) = tokio_tungstenite::connect_async(request).await?;
    let remote = rig
        .sim
        .state()
        .task_by_external_id(id)
        .context("the task is not in the simulator")?;
    let mut out = Vec::new();
    for round in 0..rounds {
        wait_synced(rig, id).await?;
        let title = format!("remote-{round}");
        let mut fields = rig.sim.state().task(&remote.id).context("gone")?.fields;
        fields.title = title.clone();
        let edited = Instant::now();
        rig.sim.state().update_task(&remote.id, fields, None)?;
        let mut arrived = false;
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), feed.next())
                .await
                .context("no synced message within 30 s")?;
            let Some(Ok(Message::Text(text))) = frame else {
                continue;
            };
            let message: Value = serde_json::from_str(&text)?;
            if message["type"] == "task_changed" && message["task"]["title"] == title.as_str() {
                arrived = true;
                if message["task"]["sync_status"] == "synced" {
                    break;
                }
            }
            if arrived
                && message["type"] == "sync_status"
                && message["entity_id"] == id
                && message["status"] == "synced"
            {
                break;
            }
        }
        out.push(edited.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(out)
}

/// The child process: opens `clients` connections, says `ready`, and for every
/// `round-N` title prints `round N <first> <last>` (µs since the epoch) once
/// every client has received it.
pub async fn clients(url: &str, token: &str, clients: usize) -> anyhow::Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u64, i64)>();
    let connected: Vec<anyhow::Result<()>> = futures::stream::iter(0..clients)
        .map(|_| {
            let tx = tx.clone();
            async move {
                let mut request = url.into_client_request()?;
                request
                    .headers_mut()
                    .insert("authorization", format!("Bearer {token}").parse()?);
                let config = WebSocketConfig::default().read_buffer_size(4096);
                let (mut feed, _) =
                    tokio_tungstenite::connect_async_with_config(request, Some(config), false)
                        .await?;
                tokio::spawn(async move {
                    while let Some(Ok(frame)) = feed.next().await {
                        if let Message::Text(text) = frame {
                            if let Some(round) = round_of(&text) {
                                let _ = tx.send((round, unix_micros()));
                            }
                        }
                    }
                });
                Ok(())
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    drop(tx);
    let failed = connected.iter().filter(|c| c.is_err()).count();
    if let Some(Err(e)) = connected.into_iter().find(|c| c.is_err()) {
        anyhow::bail!("{failed} of {clients} feed clients could not connect: {e:#}");
    }
    println!("ready");
    let mut rounds: HashMap<u64, (usize, i64, i64)> = HashMap::new();
    while let Some((round, at)) = rx.recv().await {
        let entry = rounds.entry(round).or_insert((0, i64::MAX, 0));
        entry.0 += 1;
        entry.1 = entry.1.min(at);
        entry.2 = entry.2.max(at);
        if entry.0 == clients {
            println!("round {round} {} {}", entry.1, entry.2);
        }
    }
    Ok(())
}

/// `N` of a `task_changed` whose title is `round-N`.
fn round_of(text: &str) -> Option<u64> {
    if !text.contains(r#""type":"task_changed""#) {
        return None;
    }
    let start = text.find(r#""title":"round-"#)? + r#""title":"round-"#.len();
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

async fn expect_line(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    prefix: &str,
) -> anyhow::Result<String> {
    let wait = async {
        while let Some(line) = lines.next_line().await? {
            if line.starts_with(prefix) {
                return Ok(line);
            }
        }
        anyhow::bail!("the feed clients stopped before `{prefix}`")
    };
    tokio::time::timeout(Duration::from_secs(300), wait)
        .await
        .with_context(|| format!("no `{prefix}` from the feed clients within 300 s"))?
}

fn unix_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

fn micros(n: i64) -> Duration {
    Duration::from_micros(n.max(0) as u64)
}

/// This process's resident memory.
pub fn rss_kib() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::round_of;

    #[test]
    fn rounds_are_read_from_task_changed_titles_only() {
        let changed = r#"{"seq":4,"type":"task_changed","task":{"id":"x","title":"round-17","description":""}}"#;
        assert_eq!(round_of(changed), Some(17));
        let status = r#"{"seq":5,"type":"sync_status","title":"round-17"}"#;
        assert_eq!(round_of(status), None);
    }
}
