//! Every request is counted as `atlas_altimeter_requests_total{method,status}`
//! (status `error` when no answer came) and timed in
//! `atlas_altimeter_request_duration_seconds{method}`. Its own test binary,
//! because it installs the process-wide metrics recorder.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use altimeter_api::{CreateTask, TaskFields};
use altimeter_client::{AltimeterClient, ClientConfig};
use altimeter_sim::{SimConfig, spawn};
use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use secrecy::SecretString;

/// Counter totals and histogram sample counts, by `name{label=value,...}`.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<BTreeMap<String, u64>>>);

struct Series {
    name: String,
    totals: Captured,
}

impl CounterFn for Series {
    fn increment(&self, value: u64) {
        *self
            .totals
            .0
            .lock()
            .unwrap()
            .entry(self.name.clone())
            .or_default() += value;
    }

    fn absolute(&self, value: u64) {
        self.totals
            .0
            .lock()
            .unwrap()
            .insert(self.name.clone(), value);
    }
}

impl HistogramFn for Series {
    fn record(&self, value: f64) {
        assert!(value >= 0.0 && value.is_finite(), "a duration in seconds");
        self.increment(1);
    }
}

impl Captured {
    fn series(&self, key: &Key) -> Arc<Series> {
        let labels: Vec<_> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        Arc::new(Series {
            name,
            totals: self.clone(),
        })
    }

    fn get(&self, name: &str) -> u64 {
        self.0.lock().unwrap().get(name).copied().unwrap_or(0)
    }
}

impl Recorder for Captured {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.series(key))
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.series(key))
    }
}

#[tokio::test]
async fn requests_are_counted_by_method_and_status() {
    let captured = Captured::default();
    metrics::set_global_recorder(captured.clone()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = spawn(SimConfig::new("k"), listener).await.unwrap();
    let client =
        AltimeterClient::new(ClientConfig::new(sim.base_url(), SecretString::from("k"))).unwrap();

    let body = CreateTask {
        external_id: None,
        fields: TaskFields::titled("a"),
    };
    let task = client.create(&body, "key").await.unwrap();
    client.get(&task.id).await.unwrap();
    client.get("alt_missing").await.unwrap_err();
    client.delete(&task.id, None).await.unwrap();
    sim.shutdown().await;
    client.get(&task.id).await.unwrap_err();

    let total = |labels: &str| captured.get(&format!("atlas_altimeter_requests_total{{{labels}}}"));
    assert_eq!(total("method=POST,status=201"), 1);
    assert_eq!(total("method=GET,status=200"), 1);
    assert_eq!(total("method=GET,status=404"), 1);
    assert_eq!(total("method=DELETE,status=204"), 1);
    assert_eq!(total("method=GET,status=error"), 1);
    let timed = |method: &str| {
        captured.get(&format!(
            "atlas_altimeter_request_duration_seconds{{method={method}}}"
        ))
    };
    assert_eq!((timed("GET"), timed("POST"), timed("DELETE")), (3, 1, 1));
}
