//! Server administration: creating accounts. Needs a server administrator with a browser
//! sign-in or an `admin`-scoped key.

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::body::JsonBody;
use super::dto::UserDto;
use super::fields::{Email, Label, NewPassword};
use super::{ApiTags, validate};
use crate::auth::password;
use crate::auth::principal::Auth;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::users::NewUser;

pub struct AdminApi;

#[derive(Object)]
pub struct CreateUser {
    pub email: Email,
    pub password: NewPassword,
    /// The name other members see; empty or absent for none.
    pub display_name: Option<Label>,
    /// Make the new account a server administrator too.
    #[oai(default)]
    pub is_admin: bool,
}

#[derive(ApiResponse)]
pub enum UserCreated {
    /// Created, together with the user's personal org.
    #[oai(status = 201)]
    Created(Json<UserDto>),
}

#[OpenApi(prefix_path = "/api/v1/admin", tag = "ApiTags::Admin")]
impl AdminApi {
    /// Create an account (and its personal org).
    #[oai(path = "/users", method = "post")]
    async fn create_user(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: JsonBody<CreateUser>,
    ) -> Result<UserCreated, ApiError> {
        auth.require_server_admin()?;
        let email = validate::email(&body.email)?;
        let display_name = validate::display_name(body.display_name.as_deref())?;
        validate::password_policy(&body.password)?;
        let password_hash = password::hash(body.password.0.clone())
            .await
            .map_err(|e| ApiError::bad_request("WEAK_PASSWORD", e.to_string()))?;
        let (user, _) =
            state.store.create_user(NewUser { email, display_name, password_hash, is_admin: body.is_admin }).await?;
        tracing::info!(by = %auth.user.id, user = %user.id, "user created");
        Ok(UserCreated::Created(Json(user.into())))
    }
}
