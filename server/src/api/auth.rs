//! Browser sign-in and sign-out, the current account, and password changes.

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use sessionforge_shared::ids::UserId;

use super::body::JsonBody;
use super::dto::{OrgDto, UserDto};
use super::fields::NewPassword;
use super::{ApiTags, validate};
use crate::auth::principal::{Auth, Via};
use crate::auth::{PURPOSE_LOGIN, SESSION_COOKIE, password, tokens};
use crate::error::ApiError;
use crate::http::middleware::client_ip;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::audit::{Actor, AuditEntry};
use crate::store::login_sessions::NewLogin;
use crate::store::users::User;

pub struct AuthApi;

#[derive(Object)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Object)]
pub struct SignedIn {
    pub user: UserDto,
    /// Send this as `X-CSRF-Token` on every state-changing request made with the cookie.
    pub csrf_token: String,
}

#[derive(ApiResponse)]
pub enum SignInResponse {
    /// Signed in; the `sf_session` cookie is set.
    #[oai(status = 200)]
    Ok(Json<SignedIn>, #[oai(header = "Set-Cookie")] String),
    /// Created and signed in; the `sf_session` cookie is set.
    #[oai(status = 201)]
    Created(Json<SignedIn>, #[oai(header = "Set-Cookie")] String),
}

#[derive(ApiResponse)]
pub enum SignedOut {
    /// Signed out; the cookie is cleared.
    #[oai(status = 204)]
    NoContent(#[oai(header = "Set-Cookie")] String),
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Me {
    pub user: UserDto,
    pub orgs: Vec<OrgDto>,
    /// How this request authenticated: `session` or `api_key`.
    pub auth: String,
    /// The CSRF token for this browser sign-in (absent for API keys).
    pub csrf_token: Option<String>,
    /// Whether this server bills through Stripe (the dashboard shows billing pages then).
    pub billing: bool,
}

#[derive(Object)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: NewPassword,
}

#[OpenApi(prefix_path = "/api/v1/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Sign in with email and password. Failed attempts are rate-limited per address, per
    /// account, and per account from one address.
    #[oai(path = "/login", method = "post")]
    async fn login(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<LoginRequest>,
    ) -> Result<SignInResponse, ApiError> {
        let ip = client_ip(req, state.settings.proxy_hops());
        state.limits.login(ip, &body.email)?;
        let creds = match state.store.credentials_by_email(&body.email).await {
            Ok(c) => Some(c),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        let hash = creds.as_ref().map(|c| c.password_hash.clone());
        let ok = password::verify(body.password.clone(), hash).await;
        let Some(creds) = creds.filter(|_| ok) else {
            state.limits.login_failed(ip, &body.email);
            tracing::info!(%ip, "failed sign-in");
            let label: String = body.email.trim().chars().take(254).collect();
            let entry = AuditEntry::new(Actor::Anonymous { label }, Some(ip.to_string()), "auth.sign_in_failed");
            state.store.audit(entry).await?;
            return Err(ApiError::unauthorized("wrong email or password"));
        };
        let actor = Actor::User { id: creds.user.id.to_string(), label: creds.user.email.clone() };
        state.store.audit(AuditEntry::new(actor, Some(ip.to_string()), "auth.signed_in")).await?;
        let (signed_in, cookie) = sign_in(&state, creds.user, req).await?;
        Ok(SignInResponse::Ok(Json(signed_in), cookie))
    }

    /// Sign out this browser. With an API key this does nothing.
    #[oai(path = "/logout", method = "post")]
    async fn logout(&self, state: Data<&AppState>, auth: Auth) -> Result<SignedOut, ApiError> {
        if let Via::Session { token } = &auth.via {
            let hash = tokens::token_hash(&state.keys, PURPOSE_LOGIN, token);
            state.store.delete_login(hash.clone()).await?;
            state.access.revoke_login(&hash);
            state.store.audit(auth.audit("auth.signed_out")).await?;
        }
        Ok(SignedOut::NoContent(clear_cookie(&state)))
    }

    /// The signed-in account, its orgs, and the CSRF token for this sign-in.
    #[oai(path = "/me", method = "get")]
    async fn me(&self, state: Data<&AppState>, auth: Auth) -> Result<Json<Me>, ApiError> {
        let orgs = state.store.orgs_for_user(auth.user.id).await?;
        let (kind, csrf) = match &auth.via {
            Via::Session { token } => ("session", Some(tokens::csrf_token(&state.keys, token))),
            Via::ApiKey(_) => ("api_key", None),
        };
        Ok(Json(Me {
            user: auth.user.into(),
            orgs: orgs.into_iter().map(Into::into).collect(),
            auth: kind.into(),
            csrf_token: csrf,
            billing: state.settings.billing.enabled(),
        }))
    }

    /// Change your password. Every browser sign-in ends; this one gets a fresh cookie.
    #[oai(path = "/password", method = "put")]
    async fn change_password(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        req: &Request,
        body: JsonBody<ChangePassword>,
    ) -> Result<SignInResponse, ApiError> {
        if !matches!(auth.via, Via::Session { .. }) {
            return Err(ApiError::forbidden("SESSION_REQUIRED", "change your password from a browser sign-in"));
        }
        // It checks a password and mints a sign-in, so it shares the sign-in limits (per address
        // and per account) rather than being a way around them.
        let ip = client_ip(req, state.settings.proxy_hops());
        state.limits.login(ip, &auth.user.email)?;
        validate::password_policy(&body.new_password)?;
        let current = state.store.password_hash(auth.user.id).await?;
        if !password::verify(body.current_password.clone(), Some(current)).await {
            state.limits.login_failed(ip, &auth.user.email);
            return Err(ApiError::forbidden("WRONG_PASSWORD", "the current password is wrong"));
        }
        set_password(&state, auth.user.id, body.new_password.0.clone()).await?;
        state.access.revoke_logins_of(auth.user.id);
        state.store.audit(auth.audit("user.password_changed").target("user", auth.user.id)).await?;
        let (signed_in, cookie) = sign_in(&state, auth.user, req).await?;
        Ok(SignInResponse::Ok(Json(signed_in), cookie))
    }
}

/// Hashes and stores a new password (ending all browser sign-ins of the user).
pub async fn set_password(state: &AppState, user: UserId, new_password: String) -> Result<(), ApiError> {
    let hash = password::hash(new_password).await.map_err(|e| ApiError::bad_request("WEAK_PASSWORD", e.to_string()))?;
    state.store.set_password(user, hash).await?;
    Ok(())
}

/// Starts a browser sign-in for `user`: stores the token's hash and builds the cookie.
pub async fn sign_in(state: &AppState, user: User, req: &Request) -> Result<(SignedIn, String), ApiError> {
    let token = tokens::new_login_token();
    let ttl_secs = i64::try_from(state.settings.login_ttl_hours.saturating_mul(3600)).unwrap_or(i64::MAX / 2);
    let user_agent = req
        .headers()
        .get(poem::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(256).collect());
    let ended = state
        .store
        .create_login(NewLogin {
            token_hash: tokens::token_hash(&state.keys, PURPOSE_LOGIN, &token),
            user_id: user.id,
            expires_at: crate::store::now().saturating_add(ttl_secs),
            ip: Some(client_ip(req, state.settings.proxy_hops()).to_string()),
            user_agent,
        })
        .await?;
    // Sign-ins the plan's cap ended: their open event streams and terminals close now.
    for hash in ended {
        state.access.revoke_login(&hash);
    }
    let csrf_token = tokens::csrf_token(&state.keys, &token);
    let cookie = cookie(state, &token, ttl_secs);
    Ok((SignedIn { user: user.into(), csrf_token }, cookie))
}

/// The sign-in cookie. `Secure` follows the scheme of the public URL: a server reached over
/// plain `http://` (loopback, or behind a proxy that people reach over plain HTTP) must not ask
/// clients to send it only over HTTPS, or no client would ever send it back.
pub fn cookie(state: &AppState, value: &str, max_age: i64) -> String {
    let secure = if state.public_url.starts_with("https://") { " Secure;" } else { "" };
    format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly;{secure} SameSite=Lax; Max-Age={max_age}")
}

fn clear_cookie(state: &AppState) -> String {
    cookie(state, "", 0)
}
