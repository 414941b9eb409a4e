//! The `Allow` header of 405 answers, which RFC 9110 requires and poem's router does not add:
//! the methods the request's path takes, read from the OpenAPI document's paths once. Routes
//! outside the API (pages, assets, sockets, installers, metrics) only take GET.

use std::sync::OnceLock;

use poem::Response;
use poem::http::{HeaderValue, header};

/// What a path outside the OpenAPI document takes.
const NON_API: &str = "GET, HEAD";

/// One path template of the spec: literal segments and `{param}` placeholders.
struct Route {
    segments: Vec<Option<String>>,
    allow: String,
}

fn routes() -> &'static [Route] {
    static ROUTES: OnceLock<Vec<Route>> = OnceLock::new();
    ROUTES.get_or_init(|| from_spec(&crate::api::spec_json()))
}

/// The routes of an OpenAPI document (JSON); empty if it cannot be read.
fn from_spec(spec: &str) -> Vec<Route> {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(spec) else { return Vec::new() };
    let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) else { return Vec::new() };
    paths
        .iter()
        .map(|(template, ops)| {
            let mut methods: Vec<String> =
                ops.as_object().map(|o| o.keys().map(|m| m.to_ascii_uppercase()).collect()).unwrap_or_default();
            // poem answers HEAD wherever there is a GET.
            if methods.iter().any(|m| m == "GET") && !methods.iter().any(|m| m == "HEAD") {
                methods.push("HEAD".into());
            }
            let segments = split(template)
                .map(|s| if s.starts_with('{') && s.ends_with('}') { None } else { Some(s.to_string()) })
                .collect();
            Route { segments, allow: methods.join(", ") }
        })
        .collect()
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.trim_matches('/').split('/')
}

/// The methods `path` takes, as an `Allow` value. Where templates overlap, the one with the
/// most literal segments wins, as in poem's router.
pub fn allowed(path: &str) -> &'static str {
    allowed_in(routes(), path)
}

fn allowed_in<'r>(routes: &'r [Route], path: &str) -> &'r str {
    let parts: Vec<&str> = split(path).collect();
    routes
        .iter()
        .filter(|r| {
            r.segments.len() == parts.len()
                && r.segments.iter().zip(&parts).all(|(seg, part)| seg.as_deref().is_none_or(|s| s == *part))
        })
        .max_by_key(|r| r.segments.iter().filter(|s| s.is_some()).count())
        .map_or(NON_API, |r| r.allow.as_str())
}

/// Adds `Allow` to a 405 response for `path`.
pub fn add_to(resp: &mut Response, path: &str) {
    if let Ok(v) = HeaderValue::from_str(allowed(path)) {
        resp.headers_mut().insert(header::ALLOW, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_come_from_the_spec_paths() {
        let spec = r#"{"paths": {
            "/api/v1/orgs": {"get": {}, "post": {}},
            "/api/v1/orgs/{org_id}": {"get": {}},
            "/api/v1/releases/manifest/{channel}": {"get": {}, "put": {}},
            "/api/v1/releases/{id}/yank": {"post": {}},
            "/api/v1/releases/latest": {"get": {}}
        }}"#;
        let routes = from_spec(spec);
        assert_eq!(allowed_in(&routes, "/api/v1/orgs"), "GET, POST, HEAD");
        assert_eq!(allowed_in(&routes, "/api/v1/orgs/"), "GET, POST, HEAD");
        assert_eq!(allowed_in(&routes, "/api/v1/orgs/0190"), "GET, HEAD");
        assert_eq!(allowed_in(&routes, "/api/v1/releases/manifest/stable"), "GET, PUT, HEAD");
        assert_eq!(allowed_in(&routes, "/api/v1/releases/0190/yank"), "POST");
        assert_eq!(allowed_in(&routes, "/api/v1/releases/latest"), "GET, HEAD");
        assert_eq!(allowed_in(&routes, "/install.sh"), NON_API);
    }

    #[test]
    fn every_path_of_the_real_spec_has_an_answer() {
        let spec = crate::api::spec_json();
        let routes = from_spec(&spec);
        assert!(routes.len() > 30, "the spec's paths were not read");
        assert_eq!(allowed_in(&routes, "/api/v1/health"), "GET, HEAD");
        assert!(allowed_in(&routes, "/api/v1/api-keys/x").contains("DELETE"));
    }
}
