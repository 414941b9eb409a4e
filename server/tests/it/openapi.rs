//! The committed OpenAPI document matches what the server generates and serves.

use reqwest::StatusCode;

use crate::common::{Auth, TestServer};

fn committed() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn committed_spec_matches_the_generated_one() {
    let generated = sessionforge_server::openapi_json();
    assert!(
        committed() == generated,
        "openapi/openapi.json is stale: run `cargo run -p sessionforge-server -- export-openapi -o openapi/openapi.json`"
    );
}

#[tokio::test]
async fn spec_and_docs_are_served() {
    let server = TestServer::start().await;
    let resp = server.get("/api/openapi.json", &Auth::None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.expect("text").trim_end(), sessionforge_server::openapi_json().trim_end());
    let docs = server.get("/docs", &Auth::None).await;
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.expect("html").contains("SwaggerUIBundle"));
}
