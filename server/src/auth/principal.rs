//! Who is asking: a browser sign-in (cookie, with CSRF protection on state-changing requests)
//! or a personal API key (`Authorization: Bearer sfk_…`, limited by its scopes).
//!
//! [`Auth`] is a poem-openapi extractor, so every protected operation carries both security
//! schemes in the spec, while the decision logic stays ours and its errors stay JSON.

use poem::Request;
use poem::http::Method;
use poem_openapi::auth::{ApiKey, Bearer};
use poem_openapi::registry::Registry;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions, SecurityScheme};

use super::{CSRF_HEADER, PURPOSE_API_KEY, PURPOSE_LOGIN, SESSION_COOKIE, tokens};
use crate::access::Credential;
use crate::error::ApiError;
use crate::http::middleware::client_ip;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::api_keys::{ApiKey as StoredKey, Scope};
use crate::store::audit::{Actor, AuditEntry};
use crate::store::users::User;

/// A personal API key sent as a bearer token.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", rename = "apiKey")]
#[allow(dead_code)]
struct ApiKeyScheme(Bearer);

/// A browser sign-in cookie. State-changing requests must also send `X-CSRF-Token`.
#[derive(SecurityScheme)]
#[oai(ty = "api_key", key_name = "sf_session", key_in = "cookie", rename = "session")]
#[allow(dead_code)]
struct SessionScheme(ApiKey);

/// How the caller authenticated. `Debug` never shows the sign-in token.
#[derive(Clone)]
pub enum Via {
    /// A browser sign-in; carries the cookie token (needed to sign out).
    Session { token: String },
    /// A personal API key, with its scopes.
    ApiKey(StoredKey),
}

impl std::fmt::Debug for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Via::Session { .. } => f.debug_struct("Session").field("token", &"<redacted>").finish(),
            Via::ApiKey(key) => f.debug_tuple("ApiKey").field(key).finish(),
        }
    }
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Auth {
    pub user: User,
    pub via: Via,
    /// The client's address (behind a proxy, as the trusted proxies report it), for the audit log.
    pub ip: Option<String>,
}

/// Paths an account whose address is not confirmed yet may use: who am I, sign out, send the
/// link again, fix the address or password, and accept an invitation (whose link confirms it).
const UNVERIFIED_PATHS: &[&str] = &[
    "/api/v1/auth/me",
    "/api/v1/auth/logout",
    "/api/v1/auth/verify-email/resend",
    "/api/v1/auth/email",
    "/api/v1/auth/password",
    "/api/v1/invitations/accept",
];

impl Auth {
    /// The actor of an audit event: the user, or the API key acting for them.
    pub fn actor(&self) -> Actor {
        match &self.via {
            Via::Session { .. } => Actor::User { id: self.user.id.to_string(), label: self.user.email.clone() },
            Via::ApiKey(key) => {
                Actor::ApiKey { id: key.id.to_string(), label: format!("{} (key {})", self.user.email, key.name) }
            }
        }
    }

    /// An audit event of `action` by this caller.
    pub fn audit(&self, action: &'static str) -> AuditEntry {
        AuditEntry::new(self.actor(), self.ip.clone(), action)
    }

    /// What an open connection made with this caller's credential registers as.
    pub fn credential(&self, keys: &crate::keys::Keys) -> Credential {
        match &self.via {
            Via::Session { token } => Credential::Login(tokens::token_hash(keys, PURPOSE_LOGIN, token)),
            Via::ApiKey(key) => Credential::ApiKey(key.id),
        }
    }

    /// Fails with 403 unless the credential carries `scope`. Browser sign-ins carry all scopes.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        match &self.via {
            Via::ApiKey(key) if !key.allows(scope) => Err(ApiError::forbidden(
                "INSUFFICIENT_SCOPE",
                format!("this API key lacks the {} scope", scope.as_str()),
            )),
            _ => Ok(()),
        }
    }

    /// Fails with 403 unless the caller is a server administrator using an admin-capable credential.
    pub fn require_server_admin(&self) -> Result<(), ApiError> {
        self.require(Scope::Admin)?;
        if !self.user.is_admin {
            return Err(ApiError::forbidden("FORBIDDEN", "only server administrators may do this"));
        }
        Ok(())
    }

    /// Authenticates a request; also used by WebSocket upgrades outside poem-openapi.
    pub async fn from_poem_request(req: &Request) -> Result<Auth, ApiError> {
        let state = req.data::<AppState>().ok_or_else(|| ApiError::internal("AppState missing"))?;
        let auth = Self::authenticate(state, req).await?;
        if !auth.user.email_verified && !UNVERIFIED_PATHS.contains(&req.uri().path()) {
            return Err(ApiError::forbidden(
                "EMAIL_NOT_VERIFIED",
                format!(
                    "confirm your address first: open the link mailed to {} (or ask for a new one)",
                    auth.user.email
                ),
            ));
        }
        Ok(auth)
    }

    async fn authenticate(state: &AppState, req: &Request) -> Result<Auth, ApiError> {
        let ip = Some(client_ip(req, state.settings.proxy_hops()).to_string());
        let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);

        if let Some(header) = req.headers().get(poem::http::header::AUTHORIZATION) {
            let key = header
                .to_str()
                .ok()
                .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
                .map(str::trim)
                .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer <api key>`"))?;
            let hash = tokens::token_hash(&state.keys, PURPOSE_API_KEY, key);
            let (key, user) = state.store.authenticate_api_key(hash).await.map_err(|e| match e {
                StoreError::NotFound => ApiError::unauthorized("invalid, expired or revoked API key"),
                other => other.into(),
            })?;
            let auth = Auth { user, via: Via::ApiKey(key), ip };
            if !safe {
                auth.require(Scope::Write)?;
            }
            return Ok(auth);
        }

        let Some(token) = session_cookie(req) else {
            return Err(ApiError::unauthorized("sign in, or send an API key as `Authorization: Bearer <key>`"));
        };
        let hash = tokens::token_hash(&state.keys, PURPOSE_LOGIN, &token);
        let user = state.store.login_user(hash).await.map_err(|e| match e {
            StoreError::NotFound => ApiError::unauthorized("your sign-in has expired; sign in again"),
            StoreError::Gone { code, message } => ApiError::unauthorized_code(code, message),
            other => other.into(),
        })?;
        if !safe {
            let expected = tokens::csrf_token(&state.keys, &token);
            let sent = req.headers().get(CSRF_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
            if !tokens::secure_eq(sent, expected.as_bytes()) {
                return Err(ApiError::forbidden(
                    "CSRF_FAILED",
                    "missing or wrong X-CSRF-Token header (GET /api/v1/auth/me returns the token)",
                ));
            }
        }
        Ok(Auth { user, via: Via::Session { token }, ip })
    }
}

/// The value of the sign-in cookie, if the request carries one.
pub fn session_cookie(req: &Request) -> Option<String> {
    req.headers()
        .get_all(poem::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
        .filter(|v| !v.is_empty())
}

impl<'a> ApiExtractor<'a> for Auth {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        ApiKeyScheme::register(registry);
        SessionScheme::register(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        let mut names = ApiKeyScheme::security_schemes();
        names.extend(SessionScheme::security_schemes());
        names
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut poem::RequestBody,
        _opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        Auth::from_poem_request(req).await.map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use sessionforge_shared::ids::UserId;

    use super::*;

    #[test]
    fn debug_hides_the_sign_in_token() {
        let token = "cookie-token-that-must-stay-secret";
        let user = User {
            id: UserId::new(),
            email: "a@example.com".into(),
            display_name: "A".into(),
            is_admin: false,
            created_at: 0,
            email_verified: true,
        };
        let auth = Auth { user, via: Via::Session { token: token.into() }, ip: None };
        let debug = format!("{auth:?}");
        assert!(!debug.contains(token), "sign-in token leaked: {debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
        assert!(debug.contains("a@example.com"), "the rest stays visible: {debug}");
    }
}
