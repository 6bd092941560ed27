//! The chaos test: a seeded, randomized run of edits of every field, creates and
//! deletes on both sides at once, while the simulator drops, duplicates, delays
//! and reorders webhooks, fails calls and loses answers, and Atlas is killed
//! (-9) and restarted. Then the faults stop, sync goes quiet, and the run is
//! checked: no duplicate on either side, every live task has one twin, a task
//! without an open conflict is equal on both sides, the last write of each field
//! is held (by both sides, or by one if the field is in conflict), no task is in
//! `error`; and once every conflict is resolved, everything converges.
//!
//! `ATLAS_CHAOS_SEED=N` runs that one seed, `ATLAS_CHAOS_OPS=N` sets the
//! operations per run (default 300). A failure names its seed.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use altimeter_api::{CreateTask, Priority, RemoteTask, Status, TaskFields};
use altimeter_sim::{Faults, SimHandle};
use atlas::db::Db;
use atlas::model::{SyncStatus, Task};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::common::{Backend, fresh_database_url};
use crate::sync_crash::{free_port, sim_for_atlas_on, wait_ready};
use crate::sync_harness::{API_KEY, SECRET};

const FIELDS: [&str; 6] = [
    "title",
    "description",
    "status",
    "priority",
    "assignee",
    "due_date",
];
/// Seeds of the short run in the suite; `ATLAS_CHAOS_SEED` replaces them.
const SEEDS: [u64; 2] = [7, 1_000_003];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_converges_on_sqlite() {
    for seed in seeds() {
        chaos(Backend::Sqlite, Topology::OneNode, seed).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_converges_on_postgres() {
    for seed in seeds() {
        chaos(Backend::Postgres, Topology::OneNode, seed).await;
    }
}

/// A web node without a worker and two `atlas worker` processes that share the
/// queue; one of them is killed and restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_converges_with_two_workers_on_postgres() {
    let seed = seeds()[0];
    chaos(Backend::Postgres, Topology::TwoWorkers, seed).await;
}

fn seeds() -> Vec<u64> {
    match std::env::var("ATLAS_CHAOS_SEED") {
        Ok(seed) => vec![seed.trim().parse().expect("ATLAS_CHAOS_SEED is a number")],
        Err(_) => SEEDS.to_vec(),
    }
}

fn ops() -> usize {
    std::env::var("ATLAS_CHAOS_OPS").map_or(300, |n| {
        n.trim().parse().expect("ATLAS_CHAOS_OPS is a number")
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Topology {
    /// One `atlas serve` with its worker.
    OneNode,
    /// `atlas serve --no-worker` and two `atlas worker`.
    TwoWorkers,
}

/// Who wrote: an Atlas task (by id) or an Altimeter task (by id).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Target {
    Local(Uuid),
    Remote(String),
}

/// One field written by the test, in the order the test wrote them.
#[derive(Debug, Clone)]
struct Write {
    target: Target,
    field: &'static str,
    value: Value,
}

/// The Atlas processes of a run, restarted as a whole or one worker at a time.
struct Nodes {
    topology: Topology,
    database_url: String,
    sim_url: String,
    port: u16,
    web: Child,
    workers: Vec<Child>,
}

impl Nodes {
    async fn start(topology: Topology, database_url: &str, sim_url: &str, port: u16) -> Nodes {
        let mut nodes = Nodes {
            topology,
            database_url: database_url.to_owned(),
            sim_url: sim_url.to_owned(),
            port,
            web: spawn_atlas(
                database_url,
                sim_url,
                port,
                topology == Topology::TwoWorkers,
            ),
            workers: Vec::new(),
        };
        if topology == Topology::TwoWorkers {
            nodes.workers = (0..2).map(|_| nodes.spawn_worker()).collect();
        }
        wait_ready(port).await;
        nodes
    }

    fn spawn_worker(&self) -> Child {
        atlas_command(&self.database_url, &self.sim_url)
            .arg("worker")
            .spawn()
            .expect("start atlas worker")
    }

    /// `kill -9` in the middle of whatever it was doing, then a restart.
    async fn crash_and_restart(&mut self) {
        match self.topology {
            Topology::OneNode => {
                kill(&mut self.web);
                self.web = spawn_atlas(&self.database_url, &self.sim_url, self.port, false);
                wait_ready(self.port).await;
            }
            Topology::TwoWorkers => {
                kill(&mut self.workers[0]);
                self.workers[0] = self.spawn_worker();
            }
        }
    }

    fn stop(&mut self) {
        kill(&mut self.web);
        for worker in &mut self.workers {
            kill(worker);
        }
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        self.stop();
    }
}

fn kill(child: &mut Child) {
    child.kill().ok();
    child.wait().ok();
}

fn atlas_command(database_url: &str, sim_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_atlas"));
    command
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("ALTIMETER_API_URL", sim_url)
        .env("ALTIMETER_API_KEY", API_KEY)
        .env("ALTIMETER_WEBHOOK_SECRET", SECRET)
        .env("ATLAS_SYNC_LEASE", "2s")
        .env("ATLAS_SYNC_PUSH_DELAY", "50ms")
        .env("ATLAS_SYNC_BACKOFF_BASE", "100ms")
        .env("ATLAS_SYNC_MAX_ATTEMPTS", "6")
        .env("ATLAS_RECONCILE_INTERVAL", "2s")
        .env("ATLAS_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

fn spawn_atlas(database_url: &str, sim_url: &str, port: u16, no_worker: bool) -> Child {
    let mut command = atlas_command(database_url, sim_url);
    command.args(["serve", "--bind", &format!("127.0.0.1:{port}")]);
    if no_worker {
        command.arg("--no-worker");
    }
    command.spawn().expect("start atlas serve")
}

/// One chaos run; panics with the seed and every broken invariant.
async fn chaos(backend: Backend, topology: Topology, seed: u64) {
    let Some(database_url) = fresh_database_url(backend).await else {
        return;
    };
    let ops = ops();
    println!("chaos: {backend:?} {topology:?} seed {seed}, {ops} operations");
    let db = Db::connect(&database_url).await.unwrap();
    db.migrate().await.unwrap();
    let (token, _) = atlas::auth::create_token(&db, "chaos", atlas::auth::Role::Admin)
        .await
        .unwrap();
    let port = free_port();
    let sim = sim_for_atlas_on(port).await;
    let nodes = Nodes::start(topology, &database_url, &sim.base_url(), port).await;
    let mut run = Run {
        rng: StdRng::seed_from_u64(seed),
        seed,
        sim,
        db,
        http: reqwest::Client::new(),
        base: format!("http://127.0.0.1:{port}"),
        token,
        nodes,
        writes: Vec::new(),
        deleted: Vec::new(),
        local_ids: Vec::new(),
        counter: 0,
    };
    for _ in 0..10 {
        run.create_local().await;
        run.create_remote();
    }
    for op in 0..ops {
        if op > 0 && op % 150 == 75 {
            run.nodes.crash_and_restart().await;
        }
        if op % 25 == 0 {
            run.refresh_local_ids().await;
        }
        run.random_op().await;
        let pause = run.rng.random_range(0..15);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    run.sim.state().set_faults(Faults::default());
    run.quiesce().await;
    let problems = run.check(false).await;
    run.fail_on(&problems, "after the faults stopped");

    let resolved = run.resolve_every_conflict().await;
    run.quiesce().await;
    let problems = run.check(true).await;
    run.fail_on(&problems, "after every conflict was resolved");
    let local = run.local_tasks().await;
    let stats = run.sim.state().stats();
    println!(
        "chaos seed {seed}: passed; {} writes, {} deletes, {resolved} conflicts resolved; \
         Atlas {} tasks ({} live); Altimeter calls {}, webhooks sent {} / failed {} / dropped {}",
        run.writes.len(),
        run.deleted.len(),
        local.len(),
        local.iter().filter(|t| !t.deleted).count(),
        stats.requests.values().sum::<u64>(),
        stats.webhooks.sent,
        stats.webhooks.failed,
        stats.webhooks.dropped,
    );
    run.nodes.stop();
    run.sim.shutdown().await;
}

struct Run {
    rng: StdRng,
    seed: u64,
    sim: SimHandle,
    db: Db,
    http: reqwest::Client,
    base: String,
    token: String,
    nodes: Nodes,
    writes: Vec<Write>,
    deleted: Vec<Target>,
    /// Live Atlas tasks as of the last look (plus those created since).
    local_ids: Vec<Uuid>,
    counter: u64,
}

impl Run {
    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    async fn random_op(&mut self) {
        match self.rng.random_range(0..100) {
            0..30 => self.edit_local().await,
            30..60 => self.edit_remote(),
            60..68 => self.create_local().await,
            68..76 => self.create_remote(),
            76..80 => self.delete_local().await,
            80..84 => self.delete_remote(),
            84..92 => self.set_random_faults(),
            _ => tokio::time::sleep(Duration::from_millis(self.rng.random_range(50..300))).await,
        }
    }

    /// A new value for `field`: unique for the free-text fields, so the last
    /// write can be told apart from any earlier one.
    fn value_for(&mut self, field: &str) -> Value {
        let n = self.next();
        let seed = self.seed;
        match field {
            "title" => json!(format!("Task {seed}-{n}")),
            "description" => {
                if self.rng.random_bool(0.2) {
                    json!("")
                } else {
                    json!(format!("Step {n}\nthen check"))
                }
            }
            "status" => json!(
                [
                    Status::Open,
                    Status::InProgress,
                    Status::Blocked,
                    Status::Done
                ]
                .choose(&mut self.rng)
                .unwrap()
            ),
            "priority" => json!(
                [
                    Priority::Low,
                    Priority::Normal,
                    Priority::High,
                    Priority::Urgent
                ]
                .choose(&mut self.rng)
                .unwrap()
            ),
            "assignee" => {
                if self.rng.random_bool(0.2) {
                    Value::Null
                } else {
                    json!(format!("crew-{n}"))
                }
            }
            "due_date" => {
                if self.rng.random_bool(0.2) {
                    Value::Null
                } else {
                    let day = chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()
                        + chrono::Days::new(n % 3000);
                    json!(day.format("%Y-%m-%d").to_string())
                }
            }
            other => unreachable!("no field {other}"),
        }
    }

    /// One or two fields with new values.
    fn random_patch(&mut self) -> Map<String, Value> {
        let count = self.rng.random_range(1..=2);
        let mut patch = Map::new();
        for field in FIELDS.choose_multiple(&mut self.rng, count) {
            let value = self.value_for(field);
            patch.insert((*field).to_owned(), value);
        }
        patch
    }

    fn record(&mut self, target: Target, patch: &Map<String, Value>) {
        for (field, value) in patch {
            let field = FIELDS.iter().find(|f| **f == field).unwrap();
            self.writes.push(Write {
                target: target.clone(),
                field,
                value: value.clone(),
            });
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    async fn get_json(&self, path: &str, query: &[(&str, &str)]) -> Value {
        self.request(reqwest::Method::GET, path)
            .query(query)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn create_local(&mut self) {
        let title = self.value_for("title");
        let mut patch = self.random_patch();
        patch.insert("title".to_owned(), title);
        let answer = self
            .request(reqwest::Method::POST, "/api/tasks")
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 201, "seed {}: create", self.seed);
        let task: Value = answer.json().await.unwrap();
        let id = Uuid::parse_str(task["id"].as_str().unwrap()).unwrap();
        // Every field starts with a value, the defaults included.
        let all = fields_of(&task);
        self.record(Target::Local(id), &all);
        self.local_ids.push(id);
    }

    fn create_remote(&mut self) {
        let title = self.value_for("title");
        let mut patch = self.random_patch();
        patch.insert("title".to_owned(), title);
        let fields: TaskFields = serde_json::from_value(Value::Object(patch)).unwrap();
        let request = CreateTask {
            external_id: None,
            fields,
        };
        let task = self.sim.state().create_task(request, None).unwrap().task;
        let all = remote_fields(&task);
        self.record(Target::Remote(task.id), &all);
    }

    async fn edit_local(&mut self) {
        let Some(&id) = self.local_ids.choose(&mut self.rng) else {
            return;
        };
        let patch = self.random_patch();
        let answer = self
            .request(reqwest::Method::PATCH, &format!("/api/tasks/{id}"))
            .json(&patch)
            .send()
            .await
            .unwrap();
        match answer.status().as_u16() {
            200 => self.record(Target::Local(id), &patch),
            // Deleted meanwhile (by sync, or by this test).
            404 | 410 => self.local_ids.retain(|l| *l != id),
            other => panic!("seed {}: PATCH answered {other}", self.seed),
        }
    }

    fn live_remote(&self) -> Vec<RemoteTask> {
        self.sim
            .state()
            .tasks()
            .into_iter()
            .filter(|t| !t.deleted)
            .collect()
    }

    fn edit_remote(&mut self) {
        let Some(task) = self.live_remote().choose(&mut self.rng).cloned() else {
            return;
        };
        let patch = self.random_patch();
        let Value::Object(mut fields) = serde_json::to_value(&task.fields).unwrap() else {
            unreachable!()
        };
        fields.extend(patch.clone());
        let fields: TaskFields = serde_json::from_value(Value::Object(fields)).unwrap();
        self.sim
            .state()
            .update_task(&task.id, fields, None)
            .expect("a live task can be edited");
        self.record(Target::Remote(task.id), &patch);
    }

    async fn delete_local(&mut self) {
        let Some(&id) = self.local_ids.choose(&mut self.rng) else {
            return;
        };
        let answer = self
            .request(reqwest::Method::DELETE, &format!("/api/tasks/{id}"))
            .send()
            .await
            .unwrap();
        match answer.status().as_u16() {
            200 | 204 => self.deleted.push(Target::Local(id)),
            404 | 410 => {}
            other => panic!("seed {}: DELETE answered {other}", self.seed),
        }
        self.local_ids.retain(|l| *l != id);
    }

    fn delete_remote(&mut self) {
        let Some(task) = self.live_remote().choose(&mut self.rng).cloned() else {
            return;
        };
        self.sim
            .state()
            .delete_task(&task.id, None)
            .expect("a live task can be deleted");
        self.deleted.push(Target::Remote(task.id));
    }

    fn set_random_faults(&mut self) {
        let rng = &mut self.rng;
        let some = |rng: &mut StdRng, max: f64| {
            if rng.random_bool(0.5) {
                rng.random_range(0.0..max)
            } else {
                0.0
            }
        };
        let faults = Faults {
            error_rate: some(rng, 0.15),
            response_loss_rate: some(rng, 0.1),
            latency_ms: rng.random_range(0..20),
            webhook_drop_rate: some(rng, 0.3),
            webhook_duplicate_rate: some(rng, 0.3),
            webhook_delay_ms: rng.random_range(0..200),
            webhook_reorder: rng.random_bool(0.3),
            coarse_timestamps: rng.random_bool(0.3),
            ..Faults::default()
        };
        self.sim.state().set_faults(faults);
    }

    async fn refresh_local_ids(&mut self) {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("limit", "500")];
            if let Some(c) = &cursor {
                query.push(("cursor", c.as_str()));
            }
            let page = self.get_json("/api/tasks", &query).await;
            ids.extend(
                page["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| Uuid::parse_str(t["id"].as_str().unwrap()).unwrap()),
            );
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        self.local_ids = ids;
    }

    async fn admin(&self, path: &str) -> Value {
        let answer = self
            .request(reqwest::Method::POST, path)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
        answer.json().await.unwrap_or(Value::Null)
    }

    /// Waits until the queue is empty and nothing changes on either side across
    /// a reconciliation pass that ended after the previous look (a node killed
    /// mid-pass holds the reconciliation lease for a while, so a quiet queue
    /// alone proves nothing); held deletes are released on the way.
    async fn quiesce(&self) {
        use atlas::store::sync_state;
        use atlas::sync::maintenance::RECONCILE_LAST;
        let started = chrono::Utc::now();
        let mut last: Option<(_, chrono::DateTime<chrono::Utc>)> = None;
        for _ in 0..240 {
            let looked = chrono::Utc::now();
            let status = self.get_json("/admin/sync-status", &[]).await;
            if status["deletes_held"].as_i64().unwrap_or(0) > 0 {
                self.admin("/admin/sync/release-deletes").await;
            }
            let queue = &status["queue"];
            let idle = queue["pending"] == 0 && queue["in_flight"] == 0;
            let now = self.fingerprint().await;
            let reconciled = sync_state::get_ts(self.db.pool(), RECONCILE_LAST)
                .await
                .unwrap();
            if let Some((before, at)) = &last {
                let passed = reconciled.is_some_and(|r| r > *at);
                let settled = *at > started + chrono::Duration::seconds(3);
                if idle && passed && settled && *before == now {
                    return;
                }
            }
            last = Some((now, looked));
            self.admin("/admin/sync/trigger").await;
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        panic!("seed {}: sync never went quiet in 6 minutes", self.seed);
    }

    /// Every task on both sides, with its version.
    async fn fingerprint(&self) -> (Vec<(Uuid, i64, bool)>, Vec<(String, i64)>) {
        let mut local: Vec<_> = self
            .local_tasks()
            .await
            .iter()
            .map(|t| (t.id, t.version, t.deleted))
            .collect();
        local.sort();
        let mut remote: Vec<_> = self
            .sim
            .state()
            .tasks()
            .into_iter()
            .map(|t| (t.id, t.version))
            .collect();
        remote.sort();
        (local, remote)
    }

    async fn local_tasks(&self) -> Vec<Task> {
        let ids: Vec<(String,)> = sqlx::query_as("SELECT id FROM tasks ORDER BY id")
            .fetch_all(self.db.pool())
            .await
            .unwrap();
        let mut tasks = Vec::with_capacity(ids.len());
        for (id,) in ids {
            let id = Uuid::parse_str(&id).unwrap();
            tasks.push(
                atlas::store::tasks::get(self.db.pool(), id)
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
        tasks
    }

    /// Resolves every open conflict, each with a random choice; returns how many.
    async fn resolve_every_conflict(&mut self) -> usize {
        let conflicts = self
            .get_json(
                "/api/conflicts",
                &[("status", "unresolved"), ("limit", "500")],
            )
            .await;
        let open = conflicts["data"].as_array().unwrap();
        for conflict in open {
            let choice = ["keep_local", "accept_remote"]
                .choose(&mut self.rng)
                .unwrap();
            let id = conflict["id"].as_str().unwrap();
            let answer = self
                .request(
                    reqwest::Method::POST,
                    &format!("/api/conflicts/{id}/resolve"),
                )
                .json(&json!({"resolution": choice}))
                .send()
                .await
                .unwrap();
            // 409: resolved meanwhile (a newer version settled it).
            assert!(
                answer.status() == 200 || answer.status() == 409,
                "seed {}: resolving {id} answered {}",
                self.seed,
                answer.status()
            );
        }
        open.len()
    }

    fn fail_on(&self, problems: &[String], when: &str) {
        if problems.is_empty() {
            return;
        }
        let shown: Vec<&String> = problems.iter().take(25).collect();
        panic!(
            "chaos seed {} ({} problems {when}; rerun with ATLAS_CHAOS_SEED={}):\n{shown:#?}",
            self.seed,
            problems.len(),
            self.seed
        );
    }

    /// Every broken invariant, in words. `settled`: every conflict has been
    /// resolved, so none may be open and every pair must be equal.
    async fn check(&self, settled: bool) -> Vec<String> {
        let mut problems = Vec::new();
        let local = self.local_tasks().await;
        let remote: HashMap<String, RemoteTask> = self
            .sim
            .state()
            .tasks()
            .into_iter()
            .map(|t| (t.id.clone(), t))
            .collect();
        let mut conflicts = HashMap::new();
        for task in &local {
            if let Some(c) = atlas::store::conflicts::open_for_task(self.db.pool(), task.id)
                .await
                .unwrap()
            {
                conflicts.insert(task.id, c);
            }
        }
        if settled && !conflicts.is_empty() {
            problems.push(format!("{} conflicts still open", conflicts.len()));
        }

        // No duplicates: one live Atlas task per Altimeter task and back.
        let mut linked_by: HashMap<&str, Vec<Uuid>> = HashMap::new();
        for task in local.iter().filter(|t| !t.deleted) {
            if let Some(r) = &task.remote_id {
                linked_by.entry(r.as_str()).or_default().push(task.id);
            }
        }
        for (remote_id, ids) in &linked_by {
            if ids.len() > 1 {
                problems.push(format!("{remote_id} is linked by {ids:?}"));
            }
        }
        let mut external = HashMap::<&str, Vec<&str>>::new();
        for task in remote.values().filter(|t| !t.deleted) {
            if let Some(e) = &task.external_id {
                external
                    .entry(e.as_str())
                    .or_default()
                    .push(task.id.as_str());
            }
        }
        for (external_id, ids) in &external {
            if ids.len() > 1 {
                problems.push(format!(
                    "Altimeter has {ids:?} for Atlas task {external_id}"
                ));
            }
        }
        let every_link: HashSet<&str> = local
            .iter()
            .filter_map(|t| t.remote_id.as_deref())
            .collect();
        for task in remote.values().filter(|t| !t.deleted) {
            if !every_link.contains(task.id.as_str()) {
                problems.push(format!("{} lives in Altimeter with no Atlas twin", task.id));
            }
        }

        for task in &local {
            if task.sync_status == SyncStatus::Error {
                problems.push(format!("{} is in error: {:?}", task.id, task.sync_error));
            }
            let conflict = conflicts.get(&task.id);
            let twin = task.remote_id.as_ref().and_then(|r| remote.get(r));
            let twin_live = twin.is_some_and(|t| !t.deleted);
            match (task.deleted, twin_live) {
                (true, false) => continue,
                (false, true) => {}
                _ if conflict.is_some() => continue,
                (true, true) => {
                    problems.push(format!("{} deleted in Atlas, live in Altimeter", task.id));
                    continue;
                }
                (false, false) => {
                    problems.push(format!(
                        "{} live in Atlas, {} in Altimeter",
                        task.id,
                        if twin.is_some() { "deleted" } else { "missing" }
                    ));
                    continue;
                }
            }
            let twin = twin.unwrap();
            let here = fields_of(&serde_json::to_value(task).unwrap());
            let there = remote_fields(twin);
            // A task in conflict waits for a person as a whole: each side keeps
            // its own values until then.
            let conflicted = conflict.is_some();
            for field in FIELDS {
                if !conflicted && here[field] != there[field] {
                    problems.push(format!(
                        "{} differs in {field}: Atlas {} / Altimeter {} (Atlas v{} {:?} linked to \
                         {} v{:?}, which is at v{})",
                        task.id,
                        here[field],
                        there[field],
                        task.version,
                        task.sync_status,
                        twin.id,
                        task.remote_version,
                        twin.version
                    ));
                }
                // A person's resolution may keep either side's value.
                let Some(last) = self.last_write(task, twin, field).filter(|_| !settled) else {
                    continue;
                };
                let held = here[field] == last || there[field] == last;
                if !held || (!conflicted && here[field] != last) {
                    problems.push(format!(
                        "{} lost the last write of {field} ({last}): Atlas {} / Altimeter {}",
                        task.id, here[field], there[field]
                    ));
                }
            }
        }
        problems
    }

    /// The last value the test wrote to `field` of this pair, unless it brought
    /// back a value the field held before (A → B → A: no three-way merge can
    /// tell that from "unchanged" when B was never read).
    fn last_write(&self, local: &Task, remote: &RemoteTask, field: &str) -> Option<Value> {
        let ours = |w: &&Write| {
            w.field == field
                && match &w.target {
                    Target::Local(id) => *id == local.id,
                    Target::Remote(id) => *id == remote.id,
                }
        };
        let values: Vec<&Value> = self.writes.iter().filter(ours).map(|w| &w.value).collect();
        let (last, earlier) = values.split_last()?;
        (!earlier.contains(last)).then(|| (*last).clone())
    }
}

/// The six shared fields of a task as the API shows it.
fn fields_of(task: &Value) -> Map<String, Value> {
    FIELDS
        .iter()
        .map(|f| ((*f).to_owned(), task[*f].clone()))
        .collect()
}

fn remote_fields(task: &RemoteTask) -> Map<String, Value> {
    fields_of(&serde_json::to_value(&task.fields).unwrap())
}
