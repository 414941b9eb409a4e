//! `enroll`: exchange a one-time enrollment token for a machine credential. The server's
//! certificate is validated normally when it can be; one that does not validate (self-signed)
//! is trusted only by its SHA-256 fingerprint — given with `--fingerprint` (every install line
//! carries it), or shown to a person who confirms it — never silently: a network attacker
//! would otherwise get the token and, next, the release key that decides what this machine runs.
//! Over that same connection it first fetches the server's release signing keys (checking the
//! key id the install line names), pins them, and only then spends the token.

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
    #[error(
        "the server's certificate is not trusted by this system (it may be self-signed); its SHA-256 fingerprint \
         is\n  {fingerprint}\nCompare it with the one the server printed at start (or the dashboard's Add machine \
         page), then enroll again with --fingerprint {fingerprint}"
    )]
    Unverified { fingerprint: String },
    #[error(
        "the server's release signing keys ({found}) do not include {expected}, the key the install line names; \
         refusing to enroll"
    )]
    SigningKeyMismatch { expected: String, found: String },
    #[error("cannot fetch the server's release signing keys: {0}")]
    SigningKeys(String),
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
    /// The ids of the release signing keys now pinned (none when the server offered none; the
    /// first update check pins them then).
    pub signing_key_ids: Vec<String>,
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

/// How `enroll` decides whom to trust.
pub struct EnrollOptions<'a> {
    /// The expected certificate fingerprint (`--fingerprint`).
    pub fingerprint: Option<&'a str>,
    /// The release signing key id the install line names (`--signing-key-id`).
    pub signing_key_id: Option<&'a str>,
    /// Asked with the fingerprint of a certificate that does not validate, when none was given:
    /// a person at a terminal (or the tray's dialog) says whether it is the server's.
    pub confirm: &'a (dyn Fn(&str) -> bool + Sync),
}

/// Never trusts an unverified certificate (no one to ask).
pub fn refuse_unverified(_fingerprint: &str) -> bool {
    false
}

/// Decides how to trust the server: WebPKI when its certificate validates, else its pinned
/// fingerprint, which must match `expected` when one was given, or be confirmed by `confirm`.
/// `None` for plain `http://` servers.
pub async fn decide_trust(
    server: &str,
    expected: Option<&str>,
    confirm: &(dyn Fn(&str) -> bool + Sync),
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
    } else if confirm(&probe.fingerprint) {
        Ok((Some(Trust::Pinned(probe.fingerprint.clone())), Some(probe.fingerprint)))
    } else {
        Err(EnrollError::Unverified { fingerprint: probe.fingerprint })
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
    options: &EnrollOptions<'_>,
    cfg: &mut AgentConfig,
    paths: &Paths,
) -> Result<Enrolled, EnrollError> {
    let server = server.trim().trim_end_matches('/').to_string();
    let (trust, pinned) = decide_trust(&server, options.fingerprint, options.confirm).await?;
    let client = http_client(trust.as_ref())?;
    // The release keys first: a server whose keys are not what the install line says never
    // gets the token.
    let keys = match crate::update::fetch_signing_keys(&client, &server).await {
        Ok(keys) => keys,
        Err(e) if options.signing_key_id.is_some() => return Err(EnrollError::SigningKeys(e.to_string())),
        Err(e) => {
            tracing::warn!(error = %e, "cannot pin the release signing keys now; the first update check will");
            Vec::new()
        }
    };
    if let Some(expected) = options.signing_key_id.map(str::trim).filter(|k| !k.is_empty())
        && !keys.iter().any(|k| k.key_id == expected)
    {
        let found = keys.iter().map(|k| k.key_id.as_str()).collect::<Vec<_>>().join(", ");
        return Err(EnrollError::SigningKeyMismatch { expected: expected.to_string(), found });
    }
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
    // A new server means new keys: never keep the previous server's.
    cfg.signing_key.clear();
    cfg.signing_keys = keys.iter().map(|k| k.public_key.clone()).collect();
    cfg.save_enrollment(paths)?;
    let signing_key_ids = keys.into_iter().map(|k| k.key_id).collect();
    Ok(Enrolled { response, pinned, stored_in, signing_key_ids })
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
