//! Personal API keys: create (the secret is shown once), list, revoke.

use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use sessionforge_shared::ids::ApiKeyId;
use uuid::Uuid;

use super::body::JsonBody;
use super::dto::ApiKeyDto;
use super::fields::Name;
use super::{ApiTags, validate};
use crate::auth::principal::Auth;
use crate::auth::{PURPOSE_API_KEY, tokens};
use crate::error::ApiError;
use crate::http::middleware::client_ip;
use crate::state::AppState;
use crate::store::api_keys::{NewApiKey, Scope};

pub struct KeysApi;

/// Longest lifetime a key can be created with, in days (about ten years).
const MAX_KEY_DAYS: u32 = 3650;

#[derive(Object)]
pub struct CreateApiKey {
    pub name: Name,
    /// At least one of `read`, `write`, `admin`. Each includes the ones before it.
    #[oai(validator(min_items = 1))]
    pub scopes: Vec<Scope>,
    /// Days until the key stops working (1 to 3650, `MAX_KEY_DAYS`); omit for no expiry.
    #[oai(validator(minimum(value = "1"), maximum(value = "3650")))]
    pub expires_in_days: Option<u32>,
}

#[derive(Object)]
pub struct CreatedApiKey {
    /// The full key. It is shown only in this response; store it now.
    pub key: String,
    pub api_key: ApiKeyDto,
}

#[derive(ApiResponse)]
pub enum CreateKeyResponse {
    #[oai(status = 201)]
    Created(Json<CreatedApiKey>),
}

#[derive(ApiResponse)]
pub enum Revoked {
    /// Revoked; the key stops working immediately.
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(prefix_path = "/api/v1/api-keys", tag = "ApiTags::ApiKeys")]
impl KeysApi {
    /// Your API keys, newest first. Secrets are never returned.
    #[oai(path = "/", method = "get")]
    async fn list(&self, state: Data<&AppState>, auth: Auth) -> Result<Json<Vec<ApiKeyDto>>, ApiError> {
        let keys = state.store.api_keys_for_user(auth.user.id).await?;
        Ok(Json(keys.into_iter().map(Into::into).collect()))
    }

    /// Create an API key. Needs a browser sign-in or an `admin`-scoped key.
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        req: &Request,
        body: JsonBody<CreateApiKey>,
    ) -> Result<CreateKeyResponse, ApiError> {
        auth.require(Scope::Admin)?;
        state.limits.tokens(client_ip(req, state.settings.proxy_hops()), Some(&auth.user.id.to_string()))?;
        let name = validate::name("name", &body.name)?;
        if body.scopes.is_empty() {
            return Err(ApiError::bad_request("INVALID_SCOPES", "give at least one scope: read, write or admin"));
        }
        let expires_at = match body.expires_in_days {
            Some(0) => return Err(ApiError::bad_request("INVALID_EXPIRY", "expires_in_days must be at least 1")),
            Some(d) if d > MAX_KEY_DAYS => {
                return Err(ApiError::bad_request(
                    "INVALID_EXPIRY",
                    format!("expires_in_days must be at most {MAX_KEY_DAYS}"),
                ));
            }
            Some(d) => Some(crate::store::now() + i64::from(d) * 86_400),
            None => None,
        };
        let (key, prefix) = tokens::new_api_key();
        let stored = state
            .store
            .create_api_key(
                NewApiKey {
                    user_id: auth.user.id,
                    name,
                    prefix,
                    secret_hash: tokens::token_hash(&state.keys, PURPOSE_API_KEY, &key),
                    scopes: body.scopes.clone(),
                    expires_at,
                },
                state.settings.limits.api_keys_per_user,
            )
            .await?;
        tracing::info!(user = %auth.user.id, key = %stored.id, prefix = %stored.prefix, "API key created");
        let details = serde_json::json!({"name": stored.name, "prefix": stored.prefix});
        state.store.audit(auth.audit("api_key.created").target("api_key", stored.id).details(details)).await?;
        Ok(CreateKeyResponse::Created(Json(CreatedApiKey { key, api_key: stored.into() })))
    }

    /// Revoke one of your API keys. It stops working on the next request.
    #[oai(path = "/:id", method = "delete")]
    async fn revoke(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> Result<Revoked, ApiError> {
        auth.require(Scope::Admin)?;
        state.store.revoke_api_key(auth.user.id, ApiKeyId(id.0)).await?;
        tracing::info!(user = %auth.user.id, key = %id.0, "API key revoked");
        state.access.revoke_api_key(ApiKeyId(id.0));
        state.store.audit(auth.audit("api_key.revoked").target("api_key", id.0)).await?;
        Ok(Revoked::NoContent)
    }
}
