//! How webhooks are delivered: concurrently across tasks but in order per task,
//! bounded, never following redirects, and forgotten on reset.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use altimeter_api::{CreateTask, TaskFields};
use altimeter_sim::{Faults, SimConfig, SimHandle};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::routing::post;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::support::{Receiver, config, start, wait_until};

fn request(title: &str) -> CreateTask {
    CreateTask {
        external_id: None,
        fields: TaskFields::titled(title),
    }
}

/// A receiver that records `(task_id, version)` of each webhook as it arrives,
/// and holds its answer — for the first task it sees only, or for every task —
/// until released; `in_flight`/`max_in_flight` count requests being answered.
#[derive(Clone)]
struct Holding {
    url: String,
    shared: Arc<Shared>,
}

struct Shared {
    hold_all: bool,
    held_task: Mutex<Option<String>>,
    arrived: Mutex<Vec<(String, i64)>>,
    release: watch::Sender<bool>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl Holding {
    async fn start(hold_all: bool) -> Self {
        let shared = Arc::new(Shared {
            hold_all,
            held_task: Mutex::new(None),
            arrived: Mutex::new(Vec::new()),
            release: watch::channel(false).0,
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .route("/hook", post(hold))
            .with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Holding { url, shared }
    }

    fn arrived(&self) -> Vec<(String, i64)> {
        self.shared.arrived.lock().unwrap().clone()
    }

    fn versions_of(&self, task_id: &str) -> Vec<i64> {
        self.arrived()
            .into_iter()
            .filter(|(id, _)| id == task_id)
            .map(|(_, version)| version)
            .collect()
    }

    fn release(&self) {
        self.shared.release.send_replace(true);
    }

    fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }
}

async fn hold(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let body: Value = serde_json::from_slice(&body).unwrap();
    let task_id = body["data"]["task_id"].as_str().unwrap().to_owned();
    let version = body["data"]["version"].as_i64().unwrap();
    let held = {
        let mut held_task = shared.held_task.lock().unwrap();
        let held_task = held_task.get_or_insert_with(|| task_id.clone());
        shared.hold_all || *held_task == task_id
    };
    shared.arrived.lock().unwrap().push((task_id, version));
    if held {
        let mut released = shared.release.subscribe();
        released.wait_for(|r| *r).await.unwrap();
    }
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    StatusCode::OK
}

/// A simulator sending to `url`, with a webhook timeout far beyond any wait in
/// these tests: a held answer must stay held, not time out and free the queue.
async fn start_for(url: &str, tune: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut config = SimConfig {
        webhook_url: Some(url.to_owned()),
        ..config()
    };
    config.tuning.webhook_timeout = Duration::from_secs(60);
    tune(&mut config);
    start(config).await
}

#[tokio::test]
async fn a_slow_receiver_for_one_task_does_not_hold_up_the_others() {
    let receiver = Holding::start(false).await;
    let sim = start_for(&receiver.url, |_| {}).await;
    let slow = sim.state().create_task(request("slow"), None).unwrap().task;
    wait_until("the slow task's webhook is held", || {
        receiver.versions_of(&slow.id) == [1]
    })
    .await;
    let other = sim
        .state()
        .create_task(request("other"), None)
        .unwrap()
        .task;
    // Delivered one at a time, this would wait for the held answer forever.
    wait_until("the other task's webhook", || {
        receiver.versions_of(&other.id) == [1]
    })
    .await;
    receiver.release();
    wait_until("both sent", || sim.state().stats().webhooks.sent == 2).await;
}

#[tokio::test]
async fn a_tasks_webhooks_arrive_in_change_order_even_when_held_up() {
    let receiver = Holding::start(false).await;
    let sim = start_for(&receiver.url, |_| {}).await;
    let state = sim.state();
    let task = state.create_task(request("a"), None).unwrap().task;
    wait_until("version 1 is held", || {
        receiver.versions_of(&task.id) == [1]
    })
    .await;
    for title in ["b", "c"] {
        state
            .update_task(&task.id, TaskFields::titled(title), None)
            .unwrap();
    }
    // Queued after versions 2 and 3, so once it is in, they have been handled.
    let later = state.create_task(request("later"), None).unwrap().task;
    wait_until("the later task's webhook", || {
        receiver.versions_of(&later.id) == [1]
    })
    .await;
    assert_eq!(
        receiver.versions_of(&task.id),
        [1],
        "versions 2 and 3 wait for version 1's answer"
    );
    receiver.release();
    wait_until("all three versions", || {
        receiver.versions_of(&task.id).len() == 3
    })
    .await;
    assert_eq!(receiver.versions_of(&task.id), [1, 2, 3]);
}

#[tokio::test]
async fn first_attempts_in_flight_are_bounded() {
    let receiver = Holding::start(true).await;
    let sim = start_for(&receiver.url, |c| c.tuning.webhook_concurrency = 2).await;
    for i in 0..5 {
        sim.state()
            .create_task(request(&format!("t{i}")), None)
            .unwrap();
    }
    wait_until("two held at once", || receiver.arrived().len() == 2).await;
    assert_eq!(receiver.max_in_flight(), 2);
    receiver.release();
    wait_until("all sent", || sim.state().stats().webhooks.sent == 5).await;
    assert_eq!(receiver.max_in_flight(), 2, "never more than the bound");
}

#[tokio::test]
async fn reset_discards_webhooks_queued_before_it() {
    let receiver = Receiver::start(0).await;
    let sim = start_for(&receiver.url, |_| {}).await;
    sim.state().set_faults(Faults {
        webhook_delay_ms: 300,
        ..Faults::default()
    });
    let before = sim
        .state()
        .create_task(request("before"), None)
        .unwrap()
        .task;
    sim.state().reset();
    let after = sim
        .state()
        .create_task(request("after"), None)
        .unwrap()
        .task;
    // `before` is ahead of `after` in the queue: by the time `after` arrives,
    // `before` has been sent or discarded.
    let deliveries = receiver.wait_for(1).await;
    assert_eq!(deliveries[0].json()["data"]["task_id"], after.id.as_str());
    wait_until("after sent", || sim.state().stats().webhooks.sent == 1).await;
    let ids: Vec<_> = receiver
        .deliveries()
        .iter()
        .map(|d| d.json()["data"]["task_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!ids.contains(&before.id), "{ids:?}");
}

#[tokio::test]
async fn reset_stops_retries_from_before_it() {
    let receiver = Receiver::start(usize::MAX).await;
    let sim = start_for(&receiver.url, |c| {
        c.tuning.webhook_max_attempts = 2;
        c.tuning.webhook_retry_base = Duration::from_millis(300);
    })
    .await;
    let before = sim
        .state()
        .create_task(request("before"), None)
        .unwrap()
        .task;
    wait_until("the first attempt failed", || {
        sim.state().stats().webhooks.failed == 1
    })
    .await;
    sim.state().reset();
    let after = sim
        .state()
        .create_task(request("after"), None)
        .unwrap()
        .task;
    // `before`'s retry was due first; `after` gives up after its own retry.
    wait_until("after given up", || {
        sim.state().stats().webhooks.given_up == 1
    })
    .await;
    let per_task = |id: &str| {
        receiver
            .deliveries()
            .iter()
            .filter(|d| d.json()["data"]["task_id"] == id)
            .count()
    };
    assert_eq!((per_task(&before.id), per_task(&after.id)), (1, 2));
    let webhooks = sim.state().stats().webhooks;
    assert_eq!((webhooks.failed, webhooks.given_up), (2, 1));
}

#[tokio::test]
async fn a_redirecting_receiver_is_a_failed_attempt() {
    let followed = Arc::new(AtomicUsize::new(0));
    let counter = followed.clone();
    let app = axum::Router::new()
        .route(
            "/hook",
            post(|| async { (StatusCode::TEMPORARY_REDIRECT, [(LOCATION, "/final")]) }),
        )
        .route(
            "/final",
            post(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { StatusCode::OK }
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let sim = start_for(&url, |c| c.tuning.webhook_max_attempts = 2).await;
    sim.state().create_task(request("a"), None).unwrap();
    wait_until("given up", || sim.state().stats().webhooks.given_up == 1).await;
    let webhooks = sim.state().stats().webhooks;
    assert_eq!((webhooks.sent, webhooks.failed), (0, 2));
    assert_eq!(
        followed.load(Ordering::SeqCst),
        0,
        "the redirect was not followed"
    );
}
