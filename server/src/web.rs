//! The web dashboard, embedded in the binary. Its sources live in `web/src`; the built assets in
//! `web/dist` are committed (the test command rebuilds them and fails on drift), so a plain
//! `cargo build` needs no Node.js.
//!
//! `index.html` is served for every dashboard path (the app routes in the browser) and is never
//! cached; the script and stylesheet are cached for good under their content hash, and sent
//! gzip-compressed to clients that accept it.

use std::sync::OnceLock;

use poem::http::{StatusCode, header};
use poem::web::Path;
use poem::{IntoResponse, Request, Response, handler};
use sha2::{Digest, Sha256};

use crate::error::json_error;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

/// The dashboard's files, as `web/build.mjs` writes them. `term.js` (xterm.js and the terminal
/// code) is loaded by the app only on pages with a terminal; `index.html` names it in a meta tag.
const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/dist/app.js"),
    },
    Asset {
        name: "term.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/dist/term.js"),
    },
    Asset { name: "app.css", content_type: "text/css; charset=utf-8", body: include_bytes!("../web/dist/app.css") },
    Asset { name: "icon.svg", content_type: "image/svg+xml", body: include_bytes!("../web/dist/icon.svg") },
];

/// The page shell; `build.mjs` leaves `{{app.js}}`-style placeholders for the content hashes.
const INDEX: &str = include_str!("../web/dist/index.html");

/// First path segments of the dashboard's own pages (see `web/src/app.tsx`); anything else is a
/// JSON 404 like every other unknown route.
const PAGES: &[&str] = &[
    "",
    "setup",
    "login",
    "signup",
    "verify-email",
    "forgot-password",
    "reset-password",
    "invitations",
    "unsubscribe",
    "purchase",
    "orgs",
    "keys",
    "account",
    "admin",
];

/// Assets at or above this size are worth compressing.
const COMPRESS_MIN: usize = 1024;

/// An asset prepared for serving: its hash (for the URL and ETag) and its gzip form.
struct Prepared {
    hash: String,
    gzip: Option<Vec<u8>>,
}

fn prepared() -> &'static [Prepared] {
    static PREPARED: OnceLock<Vec<Prepared>> = OnceLock::new();
    PREPARED.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let hash = hex::encode(&Sha256::digest(a.body)[..8]);
                let gzip = (a.body.len() >= COMPRESS_MIN).then(|| gzip(a.body)).flatten();
                Prepared { hash, gzip }
            })
            .collect()
    })
}

fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(body).ok()?;
    enc.finish().ok()
}

/// `index.html` with every asset URL pointing at its current content hash.
fn index_html() -> &'static str {
    static INDEX_HTML: OnceLock<String> = OnceLock::new();
    INDEX_HTML.get_or_init(|| {
        ASSETS.iter().zip(prepared()).fold(INDEX.to_string(), |html, (a, p)| {
            html.replace(&format!("{{{{{}}}}}", a.name), &format!("/assets/{}?v={}", a.name, p.hash))
        })
    })
}

/// Whether `path` is one of the dashboard's own pages.
pub fn is_dashboard_path(path: &str) -> bool {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    PAGES.contains(&first)
}

/// The dashboard shell for `/` and every dashboard path; JSON 404 for unknown server paths.
#[handler]
pub fn page(req: &Request) -> Response {
    if !is_dashboard_path(req.uri().path()) {
        return json_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such resource");
    }
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(index_html())
}

/// `/assets/{name}`: cached for a year when requested under its current hash.
#[handler]
pub fn asset(req: &Request, Path(name): Path<String>) -> Response {
    let Some((a, p)) = ASSETS.iter().zip(prepared()).find(|(a, _)| a.name == name) else {
        return json_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such asset");
    };
    let etag = format!("\"{}\"", p.hash);
    if req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return StatusCode::NOT_MODIFIED.with_header(header::ETAG, etag).into_response();
    }
    let versioned = req.uri().query().is_some_and(|q| q == format!("v={}", p.hash));
    let cache = if versioned { "public, max-age=31536000, immutable" } else { "no-cache" };
    let accepts_gzip = req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let builder = Response::builder()
        .content_type(a.content_type)
        .header(header::CACHE_CONTROL, cache)
        .header(header::ETAG, etag)
        .header(header::VARY, "accept-encoding");
    match &p.gzip {
        Some(gz) if accepts_gzip => builder.header(header::CONTENT_ENCODING, "gzip").body(gz.as_slice()),
        _ => builder.body(a.body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_points_at_every_asset_by_hash() {
        let html = index_html();
        for (a, p) in ASSETS.iter().zip(prepared()) {
            if html.contains(&format!("/assets/{}", a.name)) {
                assert!(html.contains(&format!("/assets/{}?v={}", a.name, p.hash)), "{} is not versioned", a.name);
            }
        }
        assert!(!html.contains("{{"), "an asset placeholder was left in index.html");
    }

    #[test]
    fn server_paths_are_not_dashboard_pages() {
        assert!(is_dashboard_path("/"));
        assert!(is_dashboard_path("/setup"));
        assert!(is_dashboard_path("/orgs/x/sessions/y"));
        assert!(is_dashboard_path("/keys"));
        assert!(is_dashboard_path("/invitations/accept"));
        assert!(is_dashboard_path("/reset-password"));
        assert!(!is_dashboard_path("/api/v2/nope"));
        assert!(!is_dashboard_path("/metrics"));
        assert!(!is_dashboard_path("/install.sh"));
        assert!(!is_dashboard_path("/definitely-not-here"));
    }
}
