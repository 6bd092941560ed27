//! `atlas demo` as a newcomer runs it: one process, a printed sign-in link,
//! seeded tasks synced both ways, an edit in the simulator reaching Atlas, and a
//! clean stop on Ctrl-C; a second run continues with the same data.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::common::wait_until;

pub struct Demo {
    pub child: Child,
    pub link: String,
    pub atlas: String,
    pub sim: String,
}

pub async fn start_demo(dir: &std::path::Path) -> Demo {
    let mut child = Command::new(env!("CARGO_BIN_EXE_atlas"))
        .args(["demo", "--port", "0", "--sim-port", "0", "--data-dir"])
        .arg(dir)
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start atlas demo");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let ready = line == "Ready.";
            printed.push(line);
            if ready {
                return;
            }
        }
        panic!("the demo ended before it was ready: {printed:#?}");
    })
    .await
    .expect("the demo says Ready. within 60 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let find = |marker: &str| {
        printed
            .iter()
            .find_map(|l| {
                l.split_whitespace()
                    .find(|w| w.starts_with("http://") && l.contains(marker))
            })
            .unwrap_or_else(|| panic!("no `{marker}` line in {printed:#?}"))
            .to_owned()
    };
    let link = find("Open Atlas:");
    let sim = find("Altimeter (sim):").trim_end_matches('/').to_owned();
    let atlas = link.split("/sign-in").next().unwrap().to_owned();
    Demo {
        child,
        link,
        atlas,
        sim,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn text(url: &str, cookie: &str) -> String {
    client()
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[cfg(unix)]
pub async fn interrupt(demo: &mut Demo) {
    let pid = demo.child.id().unwrap();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(15), demo.child.wait())
        .await
        .expect("the demo stops within 15 s of Ctrl-C")
        .unwrap();
    assert!(status.success(), "exit 0 after Ctrl-C, got {status}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_signs_in_by_link_syncs_both_ways_and_stops_on_ctrl_c() {
    let dir = std::env::temp_dir().join(format!("atlas-demo-{}", uuid::Uuid::new_v4()));
    let mut demo = start_demo(&dir).await;
    let signed_in = client().get(&demo.link).send().await.unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let again = client().get(&demo.link).send().await.unwrap();
    assert_eq!(again.status(), 401, "the link works once");

    let tasks_url = format!("{}/tasks", demo.atlas);
    // Seeded on both sides: all twelve in Atlas, synced.
    wait_until(60, "the seeded tasks synced in Atlas", || async {
        let html = text(&tasks_url, &cookie).await;
        html.contains("Pour slab, level 3")
            && html.contains("Deliver precast stairs")
            && html.matches("Synced").count() >= 12
            && !html.contains("Syncing…")
    })
    .await;

    // Edit one in the simulator's page, as a person in Altimeter would.
    let sim_page = reqwest::get(format!("{}/", demo.sim))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        sim_page.contains("Pour slab, level 3"),
        "seeded in Altimeter too"
    );
    let edit = sim_page
        .split("href=\"/ui/tasks/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("an Edit link on the simulator's page")
        .to_owned();
    let form = reqwest::get(format!("{}/ui/tasks/{edit}", demo.sim))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let field = |name: &str| {
        form.split(&format!("name=\"{name}\" value=\""))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default()
            .to_owned()
    };
    let version = field("version");
    let saved = client()
        .post(format!("{}/ui/tasks/{edit}", demo.sim))
        .form(&[
            ("title", "Edited in Altimeter"),
            ("description", ""),
            ("status", "open"),
            ("priority", "normal"),
            ("assignee", ""),
            ("due_date", ""),
            ("version", version.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 303);
    wait_until(20, "the simulator's edit in Atlas", || async {
        text(&tasks_url, &cookie)
            .await
            .contains("Edited in Altimeter")
    })
    .await;
    interrupt(&mut demo).await;

    // A second run continues with the same data, and seeds nothing more.
    let mut demo = start_demo(&dir).await;
    let signed_in = client().get(&demo.link).send().await.unwrap();
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = text(&format!("{}/tasks", demo.atlas), &cookie).await;
    assert!(html.contains("Edited in Altimeter"));
    assert!(html.contains("12 task(s)"), "no second seeding: {html}");
    interrupt(&mut demo).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_port_in_use_is_one_line_naming_the_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = std::env::temp_dir().join(format!("atlas-demo-{}", uuid::Uuid::new_v4()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_atlas"))
        .args(["demo", "--port", &port, "--sim-port", "0", "--data-dir"])
        .arg(&dir)
        .env_clear()
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().last().unwrap_or_default();
    assert!(
        line.contains(&format!("port {port}")) && line.contains("--port"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
