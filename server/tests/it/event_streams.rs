//! Abandoned event streams do not pile up: a user holds a bounded number (a new one ends the
//! oldest), and streams whose client went away are closed within a few keep-alives.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;

use crate::agents::admin_org;
use crate::common::{TestServer, wait_for};

fn open_connections(metrics: &str) -> Option<u64> {
    metrics.lines().find_map(|l| l.strip_prefix("sessionforge_open_connections ")).and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn a_user_holds_a_bounded_number_of_streams_and_a_new_one_ends_the_oldest() {
    let server = TestServer::start_with(&[("SESSIONFORGE_CONNECTIONS__EVENT_STREAMS_PER_USER", "3")]).await;
    let org = admin_org(&server).await;
    let url = server.url(&format!("/api/v1/orgs/{}/events", org.id));
    let mut streams = Vec::new();
    for _ in 0..5 {
        let resp = server.client.get(&url).headers(org.key.headers()).send().await.expect("open");
        assert_eq!(resp.status(), StatusCode::OK);
        streams.push(resp.bytes_stream());
    }
    // The two oldest end; the three newest stay open.
    for (i, s) in streams.iter_mut().enumerate() {
        let ended = tokio::time::timeout(Duration::from_secs(3), async {
            while let Some(chunk) = s.next().await {
                if chunk.is_err() {
                    break;
                }
            }
        })
        .await
        .is_ok();
        assert_eq!(ended, i < 2, "stream {i}");
    }
}

#[tokio::test]
async fn streams_whose_client_left_are_closed_within_a_few_keep_alives() {
    let server = TestServer::start_with(&[("SESSIONFORGE_CONNECTIONS__EVENT_STREAMS_PER_USER", "1000")]).await;
    let org = admin_org(&server).await;
    let url = server.url(&format!("/api/v1/orgs/{}/events", org.id));
    for _ in 0..200 {
        // A fresh client per stream, dropped at once with its connection.
        let client = crate::common::https_client(server.data_dir());
        let resp = client.get(&url).headers(org.key.headers()).send().await.expect("open");
        assert_eq!(resp.status(), StatusCode::OK);
    }
    wait_for("abandoned streams to be closed", Duration::from_secs(30), || async {
        let text = server.client.get(server.url("/metrics")).send().await.ok()?.text().await.ok()?;
        (open_connections(&text)? <= 5).then_some(())
    })
    .await;
}
