//! First run: the one-time setup token (printed by the server) creates the first administrator.

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::auth::{SignInResponse, sign_in};
use super::body::JsonBody;
use super::fields::{Email, Label, NewPassword};
use super::{ApiTags, validate};
use crate::auth::{password, tokens};
use crate::error::ApiError;
use crate::http::middleware::client_ip;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::users::NewUser;

pub struct SetupApi;

#[derive(Object)]
pub struct SetupStatus {
    /// True until the first administrator exists.
    pub required: bool,
}

#[derive(Object)]
pub struct SetupRequest {
    /// The setup token the server printed on its first start.
    pub token: String,
    pub email: Email,
    pub password: NewPassword,
    /// The name other members see; empty or absent for none.
    pub display_name: Option<Label>,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Setup")]
impl SetupApi {
    /// Whether first-run setup is still open.
    #[oai(path = "/setup", method = "get")]
    async fn status(&self, state: Data<&AppState>) -> Result<Json<SetupStatus>, ApiError> {
        Ok(Json(SetupStatus { required: !state.store.admin_exists().await? }))
    }

    /// Create the first administrator with the one-time setup token, and sign them in.
    #[oai(path = "/setup", method = "post")]
    async fn setup(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<SetupRequest>,
    ) -> Result<SignInResponse, ApiError> {
        state.limits.tokens(client_ip(req, state.settings.proxy_hops()), None)?;
        let Some(expected) = state.setup_token() else {
            return Err(ApiError::conflict("SETUP_DONE", "setup is already complete; sign in instead"));
        };
        if !tokens::secure_eq(body.token.trim().as_bytes(), expected.as_bytes()) {
            return Err(ApiError::forbidden("INVALID_SETUP_TOKEN", "the setup token is wrong"));
        }
        let email = validate::email(&body.email)?;
        let display_name = validate::display_name(body.display_name.as_deref())?;
        validate::password_policy(&body.password)?;
        let password_hash = password::hash(body.password.0.clone())
            .await
            .map_err(|e| ApiError::bad_request("WEAK_PASSWORD", e.to_string()))?;
        let new = NewUser { email, display_name, password_hash, is_admin: true, email_verified: true };
        let (user, _org) = state.store.create_first_admin(new).await.map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::conflict("SETUP_DONE", "setup is already complete; sign in instead"),
            other => other.into(),
        })?;
        if let Err(e) = state.consume_setup_token().await {
            tracing::error!(error = %e, "could not remove the used setup token from disk");
        }
        tracing::info!(user = %user.id, "first administrator created");
        let (signed_in, cookie) = sign_in(&state, user, req).await?;
        Ok(SignInResponse::Created(Json(signed_in), cookie))
    }
}
