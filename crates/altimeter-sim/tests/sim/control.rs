//! The `/_sim` control API (faults, stats, reset) and the headers every API
//! answer carries.

use std::collections::BTreeSet;

use altimeter_sim::{Faults, SimConfig, SimHandle, UNLIMITED};
use serde_json::{Value, json};

use crate::support::{KEY, call, config, create, start};

fn control_url(sim: &SimHandle, path: &str) -> String {
    format!("http://{}/_sim{path}", sim.addr())
}

async fn put_faults(sim: &SimHandle, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .put(control_url(sim, "/faults"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn get_json(url: String) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn stats_count_requests_by_method_and_route_pattern() {
    let sim = start(config()).await;
    let task = create(&sim, "a").await;
    let path = format!("/tasks/{}", task.id);
    call(&sim, "GET", &path, None).await;
    call(&sim, "GET", &path, None).await;
    call(&sim, "PUT", &path, Some(json!({"title": "b"}))).await;
    call(&sim, "DELETE", &path, None).await;
    call(&sim, "GET", "/tasks?limit=5", None).await;
    // Without a key: refused, but counted all the same.
    reqwest::get(format!("{}/tasks", sim.base_url()))
        .await
        .unwrap();
    // Not API routes: answered with the envelope, not counted.
    let (status, body) = call(&sim, "GET", "/nowhere", None).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("no_such_endpoint"))
    );
    let (status, body) = call(&sim, "PATCH", &path, Some(json!({}))).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (405, json!("method_not_allowed"))
    );

    let stats = get_json(control_url(&sim, "/stats")).await;
    assert_eq!(
        stats,
        json!({
            "requests": {
                "POST /tasks": 1, "GET /tasks/{id}": 2, "PUT /tasks/{id}": 1,
                "DELETE /tasks/{id}": 1, "GET /tasks": 2
            },
            "webhooks": {"sent": 0, "failed": 0, "dropped": 0, "given_up": 0}
        })
    );
}

#[tokio::test]
async fn faults_are_replaced_whole_and_read_back() {
    let sim = start(config()).await;
    let (status, body) = put_faults(&sim, json!({"error_rate": 0.5, "latency_ms": 10})).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = put_faults(&sim, json!({"outage": true, "webhook_reorder": true})).await;
    assert_eq!(status, 200);
    let faults: Faults =
        serde_json::from_value(get_json(control_url(&sim, "/faults")).await).unwrap();
    let expected = Faults {
        outage: true,
        webhook_reorder: true,
        ..Faults::default()
    };
    assert_eq!(faults, expected, "keys left out are off");
    let (status, _) = call(&sim, "GET", "/tasks", None).await;
    assert_eq!(status, 503);
}

#[tokio::test]
async fn invalid_faults_are_422_and_change_nothing() {
    let sim = start(config()).await;
    put_faults(&sim, json!({"outage": true})).await;
    for bad in [
        json!({"error_rate": 2}),
        json!({"webhook_drop_rate": -0.1}),
        json!({"rate_limit": 0}),
        json!({"latency_ms": "slow"}),
        json!({"outrage": true}),
    ] {
        let (status, body) = put_faults(&sim, bad.clone()).await;
        assert_eq!(status, 422, "{bad}");
        assert_eq!(body["error"]["code"], "invalid_faults", "{bad}");
    }
    assert!(sim.state().faults().outage);
}

#[tokio::test]
async fn reset_empties_the_store_and_zeroes_everything() {
    let sim = start(config()).await;
    create(&sim, "a").await;
    put_faults(&sim, json!({"latency_ms": 1})).await;
    let response = reqwest::Client::new()
        .post(control_url(&sim, "/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert!(sim.state().tasks().is_empty());
    assert_eq!(sim.state().faults(), Faults::default());
    let stats = get_json(control_url(&sim, "/stats")).await;
    assert_eq!(
        stats,
        json!({"requests": {}, "webhooks": {"sent": 0, "failed": 0, "dropped": 0, "given_up": 0}})
    );
    let (_, page) = call(&sim, "GET", "/tasks", None).await;
    assert_eq!(page, json!({"data": [], "next_cursor": null}));
}

#[tokio::test]
async fn every_api_answer_carries_the_rate_limit_headers() {
    let sim = start(config()).await;
    let client = reqwest::Client::new();
    let api = |method: reqwest::Method, path: &str| {
        client
            .request(method, format!("{}{path}", sim.base_url()))
            .bearer_auth(KEY)
    };
    let unauthorized = client
        .get(format!("{}/tasks", sim.base_url()))
        .send()
        .await
        .unwrap();
    let missing = api(reqwest::Method::GET, "/tasks/alt_missing")
        .send()
        .await
        .unwrap();
    let no_route = api(reqwest::Method::GET, "/nowhere").send().await.unwrap();
    let no_method = api(reqwest::Method::PATCH, "/tasks").send().await.unwrap();
    let responses = [unauthorized, missing, no_route, no_method];
    let statuses: Vec<_> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses, [401, 404, 404, 405]);
    let mut remaining = Vec::new();
    for response in responses {
        let header = |name: &str| {
            let value = response.headers().get(name);
            let value = value.unwrap_or_else(|| panic!("{} lacks {name}", response.status()));
            value.to_str().unwrap().parse::<i64>().unwrap()
        };
        assert_eq!(header("x-rate-limit-limit"), i64::from(UNLIMITED));
        assert!(header("x-rate-limit-reset") >= chrono::Utc::now().timestamp());
        remaining.push(header("x-rate-limit-remaining"));
    }
    assert!(
        remaining.iter().all(|&r| r < i64::from(UNLIMITED)),
        "{remaining:?}"
    );
}

#[tokio::test]
async fn the_configured_rate_limit_answers_429_and_a_fault_overrides_it() {
    let sim = start(SimConfig {
        rate_limit: Some(1),
        ..config()
    })
    .await;
    let mut statuses = BTreeSet::new();
    for _ in 0..20 {
        let (status, body) = call(&sim, "GET", "/tasks", None).await;
        if status == 429 {
            assert_eq!(body["error"]["code"], "rate_limited");
        }
        statuses.insert(status);
        if status == 429 {
            break;
        }
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    put_faults(&sim, json!({"rate_limit": 100000})).await;
    for _ in 0..5 {
        assert_eq!(call(&sim, "GET", "/tasks", None).await.0, 200);
    }
}

#[tokio::test]
async fn a_lost_answer_is_a_502_for_a_call_that_was_carried_out() {
    let sim = start(config()).await;
    let (status, _) = put_faults(&sim, json!({"response_loss_rate": 1.0})).await;
    assert_eq!(status, 200);
    let body = json!({"title": "Pour slab", "external_id": "atlas-1"});
    let (status, answer) = call(&sim, "POST", "/tasks", Some(body)).await;
    assert_eq!(status, 502, "{answer}");
    assert_eq!(answer["error"]["code"], "answer_lost");
    put_faults(&sim, json!({})).await;
    let made = sim.state().task_by_external_id("atlas-1");
    assert!(
        made.is_some(),
        "the create was applied although its answer was lost"
    );
    let (status, _) = put_faults(&sim, json!({"response_loss_rate": 2})).await;
    assert_eq!(status, 422);
}
