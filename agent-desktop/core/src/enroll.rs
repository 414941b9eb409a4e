//! `enroll`: exchange a one-time enrollment token for a machine credential. The server's
//! certificate is validated normally when it can be; a self-signed one is pinned by its SHA-256
//! fingerprint (trust on first use, or the fingerprint given with `--fingerprint`). Over that
//! same connection it then pins the server's release signing key, which `update` checks
//! release manifests against.

use std::time::Duration;

use sessionforge_shared::api::{EnrollRequest, EnrollResponse, ErrorBody};

use crate::config::{AgentConfig, Paths};
use crate::credentials::{self, Secret};
use crate::tls::{self, Trust};

/// How long an enrollment request may take.
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("server URL {0:?} must look like https://host[:port] (or http:// on a trusted network)")]
    BadUrl(String),
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error(
        "the server's certificate fingerprint is {actual}, not the expected {expected}; \
         refusing to enroll (someone may be intercepting the connection)"
    )]
    FingerprintMismatch { expected: String, actual: String },
    #[error("the enrollment token was refused: {0}")]
    BadToken(String),
    #[error("the server answered {status}: {message}")]
    Server { status: u16, message: String },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Credential(#[from] credentials::CredentialError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// What `enroll` did.
#[derive(Debug)]
pub struct Enrolled {
    pub response: EnrollResponse,
    /// The pinned fingerprint, when the certificate was not publicly trusted.
    pub pinned: Option<String>,
    /// The store the credential went to (never `Auto`; `Keyring` only outside Linux).
    pub stored_in: crate::config::CredentialStore,
    /// The id of the release signing key now pinned (`None` when the server offered none; the
    /// first update check pins it then).
    pub signing_key_id: Option<String>,
}

/// Host and port of an `https://` or `http://` URL.
fn host_port(url: &str) -> Option<(String, u16, bool)> {
    let (tls, rest) =
        if let Some(r) = url.strip_prefix("https://") { (true, r) } else { (false, url.strip_prefix("http://")?) };
    let authority = rest.split('/').next()?;
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (h.to_string(), after.strip_prefix(':').map(str::parse).transpose().ok()?)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p.parse().ok()?)),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() {
        return None;
    }
    Some((host, port.unwrap_or(if tls { 443 } else { 80 }), tls))
}

/// Decides how to trust the server: WebPKI when its certificate validates, else its pinned
/// fingerprint (which must match `expected` when one was given).
/// `None` for plain `http://` servers.
pub async fn decide_trust(
    server: &str,
    expected: Option<&str>,
) -> Result<(Option<Trust>, Option<String>), EnrollError> {
    let (host, port, is_tls) = host_port(server).ok_or_else(|| EnrollError::BadUrl(server.into()))?;
    if !is_tls {
        return Ok((None, None));
    }
    let probe = tls::probe(&host, port)
        .await
        .map_err(|e| EnrollError::Unreachable { url: server.into(), reason: e.to_string() })?;
    if let Some(expected) = expected {
        let normalize = |s: &str| s.trim().to_ascii_uppercase().replace(' ', "");
        if normalize(expected) != probe.fingerprint {
            return Err(EnrollError::FingerprintMismatch { expected: expected.into(), actual: probe.fingerprint });
        }
        return Ok((Some(Trust::Pinned(probe.fingerprint.clone())), Some(probe.fingerprint)));
    }
    if probe.webpki_valid {
        Ok((Some(Trust::WebPki), None))
    } else {
        Ok((Some(Trust::Pinned(probe.fingerprint.clone())), Some(probe.fingerprint)))
    }
}

/// An HTTP client that trusts the server as `trust` says (`None`: plain HTTP only).
pub fn http_client(trust: Option<&Trust>) -> Result<reqwest::Client, EnrollError> {
    http_client_with_timeout(trust, TIMEOUT)
}

/// Like [`http_client`], with requests (bodies included) limited to `timeout`.
pub fn http_client_with_timeout(trust: Option<&Trust>, timeout: Duration) -> Result<reqwest::Client, EnrollError> {
    let mut builder = reqwest::Client::builder();
    if let Some(trust) = trust {
        builder = builder.use_preconfigured_tls((*tls::client_config(trust)?).clone());
    } else {
        // reqwest builds a TLS configuration even for plain HTTP, from the process-wide
        // provider, and panics without one. Installing fails only when one is already set.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
    builder
        .timeout(timeout)
        .user_agent(format!("sessionforge-agent/{}", crate::version::VERSION))
        .build()
        .map_err(|e| EnrollError::Unreachable { url: String::new(), reason: e.to_string() })
}

/// Enrolls this machine and saves the credential and config.
pub async fn enroll(
    server: &str,
    token: &str,
    expected_fingerprint: Option<&str>,
    cfg: &mut AgentConfig,
    paths: &Paths,
) -> Result<Enrolled, EnrollError> {
    let server = server.trim().trim_end_matches('/').to_string();
    let (trust, pinned) = decide_trust(&server, expected_fingerprint).await?;
    let client = http_client(trust.as_ref())?;
    let body = EnrollRequest { token: token.trim().to_string(), machine: crate::machine::info() };
    let resp = client
        .post(format!("{server}/api/v1/agent/enroll"))
        .json(&body)
        .send()
        .await
        .map_err(|e| EnrollError::Unreachable { url: server.clone(), reason: error_chain(&e) })?;
    let status = resp.status();
    if !status.is_success() {
        let err: Option<ErrorBody> = resp.json().await.ok();
        let message = err.map(|e| e.message).unwrap_or_else(|| status.to_string());
        return Err(if status.as_u16() == 401 {
            EnrollError::BadToken(message)
        } else {
            EnrollError::Server { status: status.as_u16(), message }
        });
    }
    let response: EnrollResponse =
        resp.json().await.map_err(|e| EnrollError::Server { status: status.as_u16(), message: e.to_string() })?;

    // Replace any previous enrollment's credential before saving the new one.
    // Keyring calls block (the Secret Service for up to its timeout): off the async threads.
    if let Some(old) = cfg.machine_id {
        credentials::delete_async(paths.state_dir.clone(), old.to_string()).await;
    }
    let secret = Secret::new(response.credential.clone());
    let stored_in =
        credentials::save_async(cfg.credential_store, paths.state_dir.clone(), response.machine_id.to_string(), secret)
            .await?;
    cfg.server_url = server;
    cfg.machine_id = Some(response.machine_id);
    cfg.org_id = Some(response.org_id);
    cfg.server_fingerprint = pinned.clone().unwrap_or_default();
    cfg.credential_location = Some(stored_in);
    // A new server means a new key: never keep the previous server's.
    cfg.signing_key.clear();
    let signing_key_id = match crate::update::fetch_signing_key(&client, &cfg.server_url).await {
        Ok(key) => {
            cfg.signing_key = key.public_key.clone();
            Some(key.key_id)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot pin the release signing key now; the first update check will");
            None
        }
    };
    cfg.save_enrollment(paths)?;
    Ok(Enrolled { response, pinned, stored_in, signing_key_id })
}

/// reqwest errors hide their cause; show the whole chain.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_urls() {
        assert_eq!(host_port("https://example.com"), Some(("example.com".into(), 443, true)));
        assert_eq!(host_port("https://10.0.0.2:8443/"), Some(("10.0.0.2".into(), 8443, true)));
        assert_eq!(host_port("http://[::1]:9000"), Some(("::1".into(), 9000, false)));
        assert_eq!(host_port("ftp://x"), None);
        assert_eq!(host_port("https://:1"), None);
    }
}
