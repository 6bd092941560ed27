//! Browser scenarios: real headless Chromium (from Debian) driven through
//! chromedriver, against a real Atlas and `altimeter-sim`. Without Chromium they
//! print why and skip, except under `CI=true`, where that is a failure. Each
//! step's screenshot is saved under `target/browser-artifacts/<scenario>/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use thirtyfour::prelude::*;

use crate::common::{Backend, TestApp, wait_until};
use crate::sync_crash::free_port;
use crate::sync_harness::{Synced, spawn_synced};

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn find_program(candidates: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    candidates.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// A headless Chromium session and the chromedriver behind it.
pub struct Browser {
    pub driver: WebDriver,
    chromedriver: Child,
    artifacts: PathBuf,
    step: usize,
    _profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
    }
}

impl Browser {
    /// `None` (after saying why) when Chromium or chromedriver is missing outside CI.
    pub async fn start(scenario: &str) -> Option<Browser> {
        let (Some(driver_bin), Some(chromium)) = (
            find_program(&["chromedriver"]),
            find_program(&["chromium", "chromium-browser", "google-chrome"]),
        ) else {
            assert!(
                !in_ci(),
                "browser tests need chromium and chromedriver in CI (apt-get install -y chromium chromium-driver)"
            );
            eprintln!("SKIPPED: chromium or chromedriver not found on PATH");
            return None;
        };
        let port = free_port();
        let chromedriver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        wait_until(20, "chromedriver to listen", || async {
            reqwest::get(format!("{url}/status")).await.is_ok()
        })
        .await;
        let profile = std::env::temp_dir().join(format!("atlas-chromium-{}", uuid::Uuid::new_v4()));
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(chromium.to_str().unwrap()).unwrap();
        for arg in [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1280,900",
            &format!("--user-data-dir={}", profile.display()),
        ] {
            caps.add_arg(arg).unwrap();
        }
        let driver = WebDriver::new(url, caps).await.expect("start chromium");
        let artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/browser-artifacts")
            .join(scenario);
        std::fs::create_dir_all(&artifacts).unwrap();
        Some(Browser {
            driver,
            chromedriver,
            artifacts,
            step: 0,
            _profile: profile,
        })
    }

    /// Saves a screenshot of the page as the next step of the scenario.
    pub async fn shot(&mut self, name: &str) {
        self.step += 1;
        let path = self.artifacts.join(format!("{:02}-{name}.png", self.step));
        self.driver.screenshot(&path).await.expect("screenshot");
    }

    /// Waits until the element `css` shows `text` (re-finding it: live updates
    /// swap elements).
    pub async fn wait_text(&self, secs: u64, css: &str, text: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        let mut last = String::new();
        while tokio::time::Instant::now() < deadline {
            if let Ok(el) = self.driver.find(By::Css(css)).await {
                if let Ok(t) = el.text().await {
                    if t.contains(text) {
                        return;
                    }
                    last = t;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let shot = self.artifacts.join("failure.png");
        let _ = self.driver.screenshot(&shot).await;
        let url = self
            .driver
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default();
        panic!(
            "`{css}` never showed `{text}` within {secs} s (last: `{last}`) on {url}; see {}",
            shot.display()
        );
    }

    /// Clicks `css`, finding it again if a live update replaced it meanwhile.
    pub async fn click(&self, css: &str) {
        self.act(css, |el| async move { el.click().await }).await;
    }

    /// Types into `css`, finding it again if a live update replaced it meanwhile.
    pub async fn type_into(&self, css: &str, text: &str) {
        let text = text.to_owned();
        self.act(css, move |el| {
            let text = text.clone();
            async move { el.send_keys(text).await }
        })
        .await;
    }

    async fn act<F, Fut>(&self, css: &str, action: F)
    where
        F: Fn(WebElement) -> Fut,
        Fut: std::future::Future<Output = WebDriverResult<()>>,
    {
        let mut last = None;
        for _ in 0..50 {
            match self.driver.find(By::Css(css)).await {
                Ok(el) => match action(el).await {
                    Ok(()) => return,
                    Err(e) => last = Some(e.to_string()),
                },
                Err(e) => last = Some(e.to_string()),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("could not act on `{css}`: {last:?}");
    }

    /// Signs in with `token` through the sign-in page.
    pub async fn sign_in(&mut self, app: &TestApp, token: &str) {
        self.driver.goto(app.url("/sign-in")).await.unwrap();
        let field = self.driver.find(By::Id("token")).await.unwrap();
        field.send_keys(token).await.unwrap();
        self.driver
            .find(By::Css("button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        self.wait_text(10, "h1", "Tasks").await;
        self.wait_text(10, "#live", "live").await;
    }

    /// Runs axe-core on the page: no serious or critical violation.
    pub async fn check_accessibility(&self, page: &str) {
        const AXE: &str = include_str!("vendor/axe-core-4.14.1.min.js");
        let script = format!(
            "{AXE}\nreturn axe.run(document, {{resultTypes: ['violations']}}).then(r => \
             r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')\
             .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' + \
             v.nodes.map(n => n.target.join(' ')).join(', ')));"
        );
        let found = self
            .driver
            .execute(script, Vec::new())
            .await
            .expect("run axe");
        let violations: Vec<String> = serde_json::from_value(found.json().clone()).unwrap();
        assert!(
            violations.is_empty(),
            "accessibility of {page}: {violations:#?}"
        );
    }

    /// Marks the page, so a later check can tell it was never reloaded.
    pub async fn mark_page(&self) {
        self.driver
            .execute("window.__atlasMark = 'same page';", Vec::new())
            .await
            .unwrap();
    }

    pub async fn still_same_page(&self) -> bool {
        let marked = self
            .driver
            .execute("return window.__atlasMark || null;", Vec::new())
            .await
            .unwrap();
        marked.json() == &json!("same page")
    }
}

async fn synced_with_browser(scenario: &str) -> Option<(Synced, Browser)> {
    let browser = Browser::start(scenario).await?;
    let s = spawn_synced(Backend::Sqlite, |_| {}).await?;
    Some((s, browser))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_out_visitor_sees_no_task_data_and_signing_in_shows_the_tasks() {
    let Some((s, mut b)) = synced_with_browser("sign-in").await else {
        return;
    };
    s.app
        .create_task(json!({"title": "Secret slab schedule"}))
        .await;
    b.driver.goto(s.app.url("/")).await.unwrap();
    let url = b.driver.current_url().await.unwrap();
    assert_eq!(url.path(), "/sign-in");
    let source = b.driver.source().await.unwrap();
    assert!(!source.contains("Secret slab schedule"));
    b.shot("sign-in").await;
    let fragment = s
        .app
        .http
        .get(s.app.url("/tasks/rows"))
        .send()
        .await
        .unwrap();
    assert!(
        !fragment
            .text()
            .await
            .unwrap()
            .contains("Secret slab schedule")
    );

    b.driver.goto(s.app.url("/sign-in")).await.unwrap();
    b.driver
        .find(By::Id("token"))
        .await
        .unwrap()
        .send_keys("atlas_wrong")
        .await
        .unwrap();
    b.driver
        .find(By::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_text(10, "[role=alert]", "not valid").await;
    b.shot("wrong-token").await;

    b.sign_in(&s.app, &s.app.viewer).await;
    b.wait_text(10, "#task-list", "Secret slab schedule").await;
    b.shot("tasks").await;
    b.driver
        .find(By::Css("header form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_text(10, "h1", "Sign in").await;
    b.driver.goto(s.app.url("/tasks")).await.unwrap();
    assert_eq!(b.driver.current_url().await.unwrap().path(), "/sign-in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_created_in_the_form_goes_from_syncing_to_synced_without_a_reload() {
    let Some((s, mut b)) = synced_with_browser("create").await else {
        return;
    };
    // Hold the create back so "Syncing…" is visible first.
    s.faults(altimeter_sim::Faults {
        latency_ms: 1500,
        ..Default::default()
    });
    b.sign_in(&s.app, &s.app.editor).await;
    b.driver
        .find(By::Css("a[href='/tasks/new']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.driver
        .find(By::Id("title"))
        .await
        .unwrap()
        .send_keys("Pour slab L3")
        .await
        .unwrap();
    b.driver
        .find(By::Id("assignee"))
        .await
        .unwrap()
        .send_keys("foreman-joe")
        .await
        .unwrap();
    b.shot("new-task-form").await;
    b.driver
        .find(By::Css("form.task button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_text(10, "#task-title", "Pour slab L3").await;
    b.wait_text(10, "#task-title .badge", "Syncing…").await;
    b.mark_page().await;
    b.shot("syncing").await;
    b.wait_text(20, "#task-title .badge", "Synced ✓").await;
    assert!(
        b.still_same_page().await,
        "the badge changed without a reload"
    );
    b.shot("synced").await;
    let remote = s.sim.state().tasks();
    assert!(remote.iter().any(|t| t.fields.title == "Pour slab L3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_in_altimeter_changes_the_row_live() {
    let Some((s, mut b)) = synced_with_browser("remote-edit").await else {
        return;
    };
    let (id, remote_id) = s.create_synced("Order formwork").await;
    b.sign_in(&s.app, &s.app.viewer).await;
    let row = format!("#task-{id}");
    b.wait_text(10, &row, "Order formwork").await;
    b.mark_page().await;
    s.edit_remote(&remote_id, |f| f.title = "Order formwork for L4".into());
    b.wait_text(10, &row, "Order formwork for L4").await;
    b.wait_text(10, &row, "Synced ✓").await;
    assert!(b.still_same_page().await);
    // A task made elsewhere appears too.
    s.app
        .create_task(json!({"title": "Crane inspection"}))
        .await;
    b.wait_text(10, "#task-list", "Crane inspection").await;
    assert!(b.still_same_page().await);
    b.shot("live-list").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_shows_the_error_and_retry_brings_the_task_back_to_synced() {
    let Some(browser) = Browser::start("outage").await else {
        return;
    };
    let mut b = browser;
    let Some(s) = spawn_synced(Backend::Sqlite, |c| {
        c.retry.max_retries = 0;
    })
    .await
    else {
        return;
    };
    b.sign_in(&s.app, &s.app.editor).await;
    s.faults(altimeter_sim::Faults {
        outage: true,
        ..Default::default()
    });
    let task = s
        .app
        .create_task(json!({"title": "Rebar delivery L4"}))
        .await;
    let id = task["id"].as_str().unwrap().to_owned();
    b.driver
        .goto(s.app.url(&format!("/tasks/{id}")))
        .await
        .unwrap();
    b.wait_text(20, "#task-title .badge", "Error ⚠").await;
    b.wait_text(5, "#task-summary [role=status]", "503").await;
    b.shot("error").await;
    s.faults(altimeter_sim::Faults::default());
    b.driver
        .find(By::Id("retry"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_text(20, "#task-title .badge", "Synced ✓").await;
    b.shot("retried").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_no_edit_controls_and_a_forged_post_is_refused() {
    let Some((s, mut b)) = synced_with_browser("viewer").await else {
        return;
    };
    let (id, _) = s.create_synced("Scaffold check").await;
    b.sign_in(&s.app, &s.app.viewer).await;
    assert!(
        b.driver
            .find_all(By::Css("a[href='/tasks/new']"))
            .await
            .unwrap()
            .is_empty()
    );
    b.driver
        .goto(s.app.url(&format!("/tasks/{id}")))
        .await
        .unwrap();
    b.wait_text(10, "#task-title", "Scaffold check").await;
    assert!(b.driver.find_all(By::Id("edit")).await.unwrap().is_empty());
    b.driver
        .goto(s.app.url(&format!("/tasks/{id}/edit")))
        .await
        .unwrap();
    b.wait_text(10, "h1", "Not allowed").await;
    b.shot("viewer-forbidden").await;

    // An editor's session cookie without the form's CSRF token changes nothing.
    let cookie = sign_in_cookie(&s.app, &s.app.editor).await;
    let forged = s
        .app
        .http
        .post(s.app.url(&format!("/tasks/{id}/edit")))
        .header("cookie", &cookie)
        .form(&[
            ("title", "Hacked"),
            ("status", "open"),
            ("priority", "normal"),
            ("_csrf", "guess"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let api = s
        .app
        .http
        .patch(s.app.url(&format!("/api/tasks/{id}")))
        .header("cookie", &cookie)
        .json(&json!({"title": "Hacked"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        api.status(),
        403,
        "a cookie alone does not authorise an API write"
    );
    let task: Value = s.app.get_json(&format!("/api/tasks/{id}")).await;
    assert_eq!(task["title"], "Scaffold check");
}

/// Signs in over HTTP and returns the `Cookie` header value of the session.
pub async fn sign_in_cookie(app: &TestApp, token: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .post(app.url("/sign-in"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let set = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    set.split(';').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_is_resolved_in_the_dialog_and_every_open_page_sees_it_synced() {
    let Some((s, mut b)) = synced_with_browser("conflict").await else {
        return;
    };
    let (id, remote_id) = s.create_synced("Rebar delivery L4").await;
    b.sign_in(&s.app, &s.app.editor).await;
    b.driver
        .goto(s.app.url(&format!("/tasks/{id}")))
        .await
        .unwrap();
    b.wait_text(10, "#task-title .badge", "Synced ✓").await;
    let first_tab = b.driver.window().await.unwrap();
    s.edit_both_sides(
        &id,
        &remote_id,
        |f| f.title = "Rebar delivery L4: 12 t".into(),
        json!({"title": "Rebar delivery L4: 10 t"}),
    )
    .await;
    b.wait_text(20, "#task-title .badge", "Conflict").await;
    b.shot("conflict-badge").await;

    let second_tab = b.driver.new_tab().await.unwrap();
    b.driver.switch_to_window(second_tab).await.unwrap();
    b.driver.goto(s.app.url("/conflicts")).await.unwrap();
    b.wait_text(10, "#nav-conflicts", "1").await;
    b.wait_text(10, "#conflict-inbox", "Rebar delivery L4")
        .await;
    b.check_accessibility("the conflict inbox").await;
    b.click("#conflict-inbox a.button").await;
    b.wait_text(10, "#conflict-dialog", "Rebar delivery L4: 12 t")
        .await;
    let modal = b
        .driver
        .execute(
            "return document.querySelector('dialog').matches(':modal');",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        modal.json(),
        &json!(true),
        "the dialog is modal (focus stays inside)"
    );
    b.check_accessibility("the conflict dialog").await;
    b.shot("conflict-dialog").await;
    b.click("#keep-local").await;
    b.wait_text(10, "#task-title", "Rebar delivery L4: 10 t")
        .await;
    b.wait_text(20, "#task-title .badge", "Synced ✓").await;

    b.driver.switch_to_window(first_tab).await.unwrap();
    b.wait_text(20, "#task-title .badge", "Synced ✓").await;
    b.wait_text(10, "#task-title", "Rebar delivery L4: 10 t")
        .await;
    b.shot("converged").await;
    wait_until(20, "Altimeter to hold the kept title", || async {
        s.remote(&remote_id).fields.title == "Rebar delivery L4: 10 t"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_field_choice_with_a_typed_value_is_what_both_sides_keep() {
    let Some((s, mut b)) = synced_with_browser("merge").await else {
        return;
    };
    let (id, remote_id) = s.create_synced("Need 50 bags").await;
    b.sign_in(&s.app, &s.app.editor).await;
    s.edit_both_sides(
        &id,
        &remote_id,
        |f| {
            f.title = "Need 100 bags".into();
            f.priority = altimeter_api::Priority::Urgent;
        },
        json!({"title": "Need 60 bags"}),
    )
    .await;
    s.wait_status(&id, "conflict").await;
    b.driver
        .goto(s.app.url(&format!("/tasks/{id}/conflict")))
        .await
        .unwrap();
    b.wait_text(10, "#conflict-dialog", "merged, kept automatically")
        .await;
    b.click("input[name=choice_title][value=other]").await;
    b.type_into("#other_title", "Need 75 bags").await;
    b.shot("typed-value").await;
    b.click("#save-choices").await;
    b.wait_text(10, "#task-title", "Need 75 bags").await;
    b.wait_text(20, "#task-title .badge", "Synced ✓").await;
    wait_until(20, "Altimeter to hold the typed title", || async {
        let remote = s.remote(&remote_id);
        remote.fields.title == "Need 75 bags"
            && remote.fields.priority == altimeter_api::Priority::Urgent
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_on_admin_shows_a_banner_and_holds_work_until_resume() {
    let Some((s, mut b)) = synced_with_browser("admin").await else {
        return;
    };
    b.sign_in(&s.app, &s.app.admin).await;
    b.driver.goto(s.app.url("/admin")).await.unwrap();
    b.wait_text(10, "h1", "Sync").await;
    b.check_accessibility("the admin page").await;
    b.driver
        .execute("window.confirm = () => true;", Vec::new())
        .await
        .unwrap();
    b.click("#pause").await;
    b.wait_text(10, "#admin-overview", "PAUSED").await;
    b.shot("paused").await;
    let task = s
        .app
        .create_task(json!({"title": "Formwork strip L2"}))
        .await;
    let id = task["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        s.task(&id).await["sync_status"],
        "pending",
        "nothing is sent while paused"
    );
    b.wait_text(10, "#admin-overview", "pending").await;
    b.click("#resume").await;
    s.wait_status(&id, "synced").await;
    b.wait_text(10, "#admin-overview", "last success").await;
    assert!(
        b.driver
            .find_all(By::Css(".banner.warn"))
            .await
            .unwrap()
            .is_empty()
    );
    b.shot("resumed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_passes_axe_and_fits_a_phone() {
    let Some((s, mut b)) = synced_with_browser("pages").await else {
        return;
    };
    let (id, _) = s.create_synced("Crane inspection").await;
    b.driver.goto(s.app.url("/sign-in")).await.unwrap();
    b.check_accessibility("sign-in").await;
    b.sign_in(&s.app, &s.app.admin).await;
    for (path, name) in [
        ("/tasks".to_owned(), "tasks"),
        (format!("/tasks/{id}"), "task"),
        (format!("/tasks/{id}/edit"), "edit"),
        ("/tasks/new".to_owned(), "new"),
        ("/conflicts".to_owned(), "conflicts"),
        ("/admin".to_owned(), "admin"),
        ("/help".to_owned(), "help"),
    ] {
        b.driver.goto(s.app.url(&path)).await.unwrap();
        b.wait_text(10, "main", "").await;
        b.check_accessibility(&path).await;
        b.shot(name).await;
    }
    b.driver.set_window_rect(0, 0, 390, 844).await.unwrap();
    for path in ["/tasks".to_owned(), format!("/tasks/{id}")] {
        b.driver.goto(s.app.url(&path)).await.unwrap();
        let overflow = b
            .driver
            .execute(
                "return document.documentElement.scrollWidth > window.innerWidth;",
                Vec::new(),
            )
            .await
            .unwrap();
        assert_eq!(
            overflow.json(),
            &json!(false),
            "{path} scrolls sideways on a phone"
        );
    }
    b.shot("phone-task").await;
    b.driver.goto(s.app.url("/tasks")).await.unwrap();
    b.shot("phone-tasks").await;
    let page = s.app.http.get(s.app.url("/sign-in")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
}

/// The demo's "three things to try", in a browser, as its instructions say.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_walks_through_its_three_things_to_try() {
    let Some(mut b) = Browser::start("demo").await else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("atlas-demo-{}", uuid::Uuid::new_v4()));
    let mut demo = crate::demo::start_demo(&dir).await;
    b.driver.goto(&demo.link).await.unwrap();
    b.wait_text(10, "h1", "Tasks").await;
    b.wait_text(10, "#live", "live").await;
    wait_until(60, "the seeded tasks to sync", || async {
        let html = b.driver.source().await.unwrap();
        html.contains("Deliver precast stairs") && !html.contains("Syncing…")
    })
    .await;
    b.shot("demo-tasks").await;

    // 1. An edit in the simulator's page shows up in Atlas.
    let atlas_tab = b.driver.window().await.unwrap();
    let sim_tab = b.driver.new_tab().await.unwrap();
    b.driver.switch_to_window(sim_tab.clone()).await.unwrap();
    b.driver.goto(format!("{}/", demo.sim)).await.unwrap();
    b.click("a[href^='/ui/tasks/']").await;
    let title = b.driver.find(By::Id("title")).await.unwrap();
    let old_title = title.value().await.unwrap().unwrap_or_default();
    title.clear().await.unwrap();
    title.send_keys("Edited in the simulator").await.unwrap();
    b.click("form.task button[type=submit]").await;
    b.driver.switch_to_window(atlas_tab.clone()).await.unwrap();
    b.wait_text(10, "#task-list", "Edited in the simulator")
        .await;
    assert!(
        !b.driver
            .source()
            .await
            .unwrap()
            .contains(&format!(">{old_title}<"))
    );

    // 2. A conflict: pause, change the same title on both sides, resume.
    b.driver
        .goto(format!("{}/admin", demo.atlas))
        .await
        .unwrap();
    b.driver
        .execute("window.confirm = () => true;", Vec::new())
        .await
        .unwrap();
    b.click("#pause").await;
    b.wait_text(10, "#admin-overview", "PAUSED").await;
    b.driver
        .goto(format!("{}/tasks", demo.atlas))
        .await
        .unwrap();
    b.click("#task-list a[href^='/tasks/']").await;
    b.wait_text(10, "#task-title", "").await;
    let before = b
        .driver
        .find(By::Id("task-name"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    b.click("#edit").await;
    let title = b.driver.find(By::Id("title")).await.unwrap();
    title.clear().await.unwrap();
    title.send_keys("Changed in Atlas").await.unwrap();
    b.click("form.task button[type=submit]").await;
    b.wait_text(10, "#task-title", "Changed in Atlas").await;
    let task_url = b.driver.current_url().await.unwrap().to_string();
    b.driver.switch_to_window(sim_tab).await.unwrap();
    b.driver.goto(format!("{}/", demo.sim)).await.unwrap();
    let row = format!("//tr[td[normalize-space(text())='{before}']]//a");
    b.driver
        .find(By::XPath(row))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let title = b.driver.find(By::Id("title")).await.unwrap();
    title.clear().await.unwrap();
    title.send_keys("Changed in Altimeter").await.unwrap();
    b.click("form.task button[type=submit]").await;
    b.driver.switch_to_window(atlas_tab).await.unwrap();
    b.driver
        .goto(format!("{}/admin", demo.atlas))
        .await
        .unwrap();
    b.click("#resume").await;
    b.driver
        .goto(format!("{}/conflicts", demo.atlas))
        .await
        .unwrap();
    b.wait_text(60, "#conflict-inbox", "Changed in Atlas").await;
    b.driver.goto(task_url).await.unwrap();
    b.wait_text(30, "#task-title .badge", "Conflict").await;
    b.click("#resolve").await;
    b.wait_text(10, "#conflict-dialog", "Changed in Altimeter")
        .await;
    b.shot("demo-conflict").await;
    b.click("#keep-local").await;
    b.wait_text(20, "#task-title .badge", "Synced ✓").await;
    b.wait_text(10, "#task-title", "Changed in Atlas").await;
    crate::demo::interrupt(&mut demo).await;
    let _ = std::fs::remove_dir_all(&dir);
}
