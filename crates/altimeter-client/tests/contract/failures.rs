//! Faults over real HTTP: outages, error rates, rate limits, unreachable and
//! slow servers.

use std::time::Duration;

use altimeter_client::{AltimeterClient, ClientConfig};
use altimeter_sim::{Faults, UNLIMITED};
use secrecy::SecretString;

use crate::support::{KEY, client_for, expect_retryable, new_task, set_faults, start};

#[tokio::test]
async fn an_outage_is_retryable_503() {
    let (sim, client) = start().await;
    set_faults(
        &sim,
        Faults {
            outage: true,
            ..Faults::default()
        },
    );
    let (status, retry_after, _) = expect_retryable(client.get("alt_x").await);
    assert_eq!(status, Some(503));
    assert_eq!(retry_after, Some(Duration::from_secs(1)));
    assert!(
        client
            .create(&new_task("a"), "k")
            .await
            .unwrap_err()
            .is_retryable()
    );
    assert!(sim.state().tasks().is_empty());
}

#[tokio::test]
async fn an_error_rate_of_one_fails_every_call_with_503() {
    let (sim, client) = start().await;
    set_faults(
        &sim,
        Faults {
            error_rate: 1.0,
            ..Faults::default()
        },
    );
    for _ in 0..5 {
        let (status, ..) = expect_retryable(client.list_page(None, None, 10).await);
        assert_eq!(status, Some(503));
    }
    set_faults(&sim, Faults::default());
    assert!(client.list_page(None, None, 10).await.is_ok());
}

#[tokio::test]
async fn over_the_rate_limit_is_retryable_429_with_retry_after() {
    let (sim, client) = start().await;
    set_faults(
        &sim,
        Faults {
            rate_limit: Some(2),
            ..Faults::default()
        },
    );
    let mut refused = None;
    for _ in 0..50 {
        if let Err(error) = client.list_page(None, None, 1).await {
            refused = Some(error);
            break;
        }
    }
    let error = refused.expect("a 429 within 50 quick calls at 2 req/s");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(1)));
    let (status, ..) = expect_retryable(Err::<(), _>(error));
    assert_eq!(status, Some(429));
    let limit = client.rate_limit().expect("rate-limit headers on the 429");
    assert_eq!((limit.limit, limit.remaining), (2, 0));
}

#[tokio::test]
async fn rate_limit_headers_are_exposed() {
    let (sim, client) = start().await;
    assert_eq!(client.rate_limit(), None);
    client.list_page(None, None, 1).await.unwrap();
    let unlimited = client.rate_limit().unwrap();
    assert_eq!(unlimited.limit, u64::from(UNLIMITED));
    assert!(unlimited.remaining < unlimited.limit);
    assert!(unlimited.reset > chrono::Utc::now().timestamp() - 1);

    set_faults(
        &sim,
        Faults {
            rate_limit: Some(1000),
            ..Faults::default()
        },
    );
    let _ = client.get("alt_missing").await;
    let limited = client.rate_limit().unwrap();
    assert_eq!(limited.limit, 1000);
    assert!(limited.remaining < 1000);
}

#[tokio::test]
async fn an_unreachable_server_is_retryable_without_status() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    // A URL can carry a token; the message (which gets logged) leaves it out.
    let client = client_for(&format!("http://127.0.0.1:{port}/v1/tok3n-in-path"), KEY);
    let (status, retry_after, message) = expect_retryable(client.get("alt_x").await);
    assert_eq!((status, retry_after), (None, None));
    assert!(message.contains("connect"), "{message}");
    assert!(!message.contains("tok3n-in-path"), "{message}");
    assert!(!message.contains("127.0.0.1"), "{message}");
}

#[tokio::test]
async fn a_slow_answer_times_out_as_retryable() {
    let (sim, _) = start().await;
    set_faults(
        &sim,
        Faults {
            latency_ms: 3_000,
            ..Faults::default()
        },
    );
    let mut config = ClientConfig::new(sim.base_url(), SecretString::from(KEY));
    config.request_timeout = Duration::from_millis(200);
    let client = AltimeterClient::new(config).unwrap();
    let (status, _, message) = expect_retryable(client.get("alt_x").await);
    assert_eq!(status, None);
    assert!(message.contains("timed out"), "{message}");
}
