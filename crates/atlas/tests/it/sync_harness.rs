//! Atlas and a real `altimeter-sim`, each on its own port, wired to each other
//! over HTTP exactly as in production: Atlas calls the simulator's API, the
//! simulator signs and posts webhooks to Atlas.

use std::time::Duration;

use altimeter_api::{CreateTask, RemoteTask, TaskFields};
use altimeter_sim::{Faults, SimConfig, SimHandle};
use atlas::config::{AltimeterConfig, Config, SyncConfig};
use atlas::sync::retry::RetryPolicy;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::common::{Backend, TestApp, spawn_app_configured, wait_until};

pub const API_KEY: &str = "test-altimeter-key";
pub const SECRET: &str = "test-webhook-secret";

pub struct Synced {
    pub app: TestApp,
    pub sim: SimHandle,
}

/// Fast settings for tests: short coalescing window and retries, no periodic
/// reconciliation unless a test asks for it.
pub fn test_sync_config(sim_url: &str) -> SyncConfig {
    let mut config = SyncConfig::unconfigured();
    config.altimeter = Some(AltimeterConfig {
        api_url: sim_url.to_owned(),
        api_key: SecretString::from(API_KEY.to_owned()),
    });
    config.webhook_secret = Some(SecretString::from(SECRET.to_owned()));
    config.push_delay = Duration::from_millis(100);
    config.retry = RetryPolicy {
        max_retries: 2,
        base: Duration::from_millis(100),
        factor: 2,
    };
    config.reconcile_interval = Duration::from_secs(3600);
    config
}

pub async fn spawn_synced(backend: Backend, tweak: impl FnOnce(&mut SyncConfig)) -> Option<Synced> {
    spawn_synced_node(backend, |config| tweak(&mut config.sync)).await
}

/// Like [`spawn_synced`], with `tweak` applied to the node's whole configuration.
pub async fn spawn_synced_node(
    backend: Backend,
    tweak: impl FnOnce(&mut Config),
) -> Option<Synced> {
    let atlas_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let atlas_addr = atlas_listener.local_addr().unwrap();
    let sim_config = SimConfig {
        webhook_url: Some(format!("http://{atlas_addr}/webhooks/altimeter")),
        webhook_secret: Some(SECRET.to_owned()),
        ..SimConfig::new(API_KEY)
    };
    let sim = altimeter_sim::spawn(sim_config, TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let config = test_sync_config(&sim.base_url());
    let app = spawn_app_configured(backend, atlas_listener, config, tweak).await?;
    Some(Synced { app, sim })
}

impl Synced {
    pub async fn task(&self, id: &str) -> Value {
        self.app.get_json(&format!("/api/tasks/{id}")).await
    }

    /// Creates a task in Atlas and waits until it is synced; returns (id, remote id).
    pub async fn create_synced(&self, title: &str) -> (String, String) {
        let task = self.app.create_task(json!({"title": title})).await;
        let id = task["id"].as_str().unwrap().to_owned();
        self.wait_status(&id, "synced").await;
        let remote_id = self.task(&id).await["remote_id"]
            .as_str()
            .unwrap()
            .to_owned();
        (id, remote_id)
    }

    pub async fn wait_status(&self, id: &str, status: &str) {
        wait_until(20, &format!("task {id} to be {status}"), || async {
            self.task(id).await["sync_status"] == status
        })
        .await;
    }

    pub fn remote(&self, remote_id: &str) -> RemoteTask {
        self.sim
            .state()
            .task(remote_id)
            .expect("remote task exists")
    }

    /// An edit made "by a person in Altimeter": any API client, as the sim sees it.
    pub fn edit_remote(&self, remote_id: &str, edit: impl FnOnce(&mut TaskFields)) -> RemoteTask {
        let mut fields = self.remote(remote_id).fields;
        edit(&mut fields);
        self.sim
            .state()
            .update_task(remote_id, fields, None)
            .unwrap()
    }

    /// Edits a synced task on both sides at nearly the same time: in Altimeter
    /// first, then in Atlas, with webhooks held back so Atlas's push meets the
    /// `412` of the remote edit.
    pub async fn edit_both_sides(
        &self,
        id: &str,
        remote_id: &str,
        remote_edit: impl FnOnce(&mut TaskFields),
        local_patch: Value,
    ) {
        self.wait_idle().await;
        self.faults(Faults {
            webhook_delay_ms: 3_000,
            ..Faults::default()
        });
        self.edit_remote(remote_id, remote_edit);
        let response = self
            .app
            .patch(&format!("/api/tasks/{id}"), &self.app.editor)
            .json(&local_patch)
            .send();
        assert_eq!(response.await.unwrap().status(), 200);
    }

    pub fn create_remote(&self, title: &str) -> RemoteTask {
        let body = CreateTask {
            external_id: None,
            fields: TaskFields::titled(title),
        };
        self.sim.state().create_task(body, None).unwrap().task
    }

    pub fn faults(&self, faults: Faults) {
        self.sim.state().set_faults(faults);
    }

    /// API calls the simulator received for `"<METHOD> <route>"`.
    pub fn calls(&self, key: &str) -> u64 {
        self.sim
            .state()
            .stats()
            .requests
            .get(key)
            .copied()
            .unwrap_or(0)
    }

    pub fn remote_calls(&self) -> u64 {
        self.sim.state().stats().requests.values().sum()
    }

    /// Waits until nothing is queued or in flight.
    pub async fn wait_idle(&self) {
        wait_until(20, "the sync queue to empty", || async {
            let depth = atlas::store::queue::depth(self.app.db.pool())
                .await
                .unwrap();
            depth.pending == 0 && depth.in_flight == 0
        })
        .await;
    }
}
