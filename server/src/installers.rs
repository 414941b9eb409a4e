//! The one-line installers, `/install.sh` (Linux, macOS) and `/install.ps1` (Windows), served
//! with this server's URL filled in, and, for a self-signed certificate, what they need to
//! trust exactly this server: the public-key pin for curl and the certificate fingerprint.

use poem::web::Data;
use poem::{Response, handler, http::header};

use crate::state::AppState;

const INSTALL_SH: &str = include_str!("../../installers/install.sh");
const INSTALL_PS1: &str = include_str!("../../installers/install.ps1");

fn fill(template: &str, state: &AppState) -> String {
    let pin = state.tls_pin.as_deref().unwrap_or("");
    let fingerprint = if pin.is_empty() { "" } else { state.tls_fingerprint.as_deref().unwrap_or("") };
    template
        .replace("__SESSIONFORGE_SERVER__", &state.public_url)
        .replace("__SESSIONFORGE_PIN__", pin)
        .replace("__SESSIONFORGE_FINGERPRINT__", fingerprint)
}

fn script(body: String, content_type: &str) -> Response {
    Response::builder().content_type(content_type).header(header::CACHE_CONTROL, "no-store").body(body)
}

#[handler]
pub fn install_sh(state: Data<&AppState>) -> Response {
    script(fill(INSTALL_SH, &state), "text/x-shellscript; charset=utf-8")
}

#[handler]
pub fn install_ps1(state: Data<&AppState>) -> Response {
    script(fill(INSTALL_PS1, &state), "text/plain; charset=utf-8")
}

/// The commands a person pastes on a new machine to install the agent and enroll it with
/// `token`. Each pins this server's certificate when it is self-signed and names the release
/// signing key the agent must find; the token travels in the environment or standard input,
/// never on a command line other users can see in `ps`.
pub fn commands(state: &AppState, token: &str) -> (String, String, String) {
    let url = &state.public_url;
    let key_id = crate::releases::signing::trusted_keys(&state.settings.releases, &state.keys)
        .into_iter()
        .next()
        .map(|k| k.key_id)
        .unwrap_or_default();
    let https = url.starts_with("https://");
    let proto = if https { " --proto '=https' --proto-redir '=https'" } else { "" };
    let (curl, ps_trust, agent_pin) = match (&state.tls_pin, &state.tls_fingerprint) {
        (Some(pin), Some(fp)) => (
            format!("curl -fsSL{proto} -k --pinnedpubkey '{pin}'"),
            format!(
                "[Net.ServicePointManager]::ServerCertificateValidationCallback={{$args[1].GetCertHashString('SHA256') -eq '{}'}}; ",
                fp.replace(':', "")
            ),
            format!(" --fingerprint {fp}"),
        ),
        _ => (format!("curl -fsSL{proto}"), String::new(), String::new()),
    };
    (
        format!("{curl} {url}/install.sh | SESSIONFORGE_TOKEN='{token}' sh -s -- --signing-key-id {key_id}"),
        format!(
            "$env:SESSIONFORGE_TOKEN='{token}'; $env:SESSIONFORGE_SIGNING_KEY_ID='{key_id}'; {ps_trust}irm {url}/install.ps1 | iex"
        ),
        format!(
            "printf '%s' '{token}' | sessionforge-agent enroll --server {url} --token - --signing-key-id {key_id}{agent_pin}"
        ),
    )
}
