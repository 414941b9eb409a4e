//! `GET/PUT /api/v1/auth/preferences`: the signed-in user's preferences. Notifications are
//! grouped by channel: `browser` (an open dashboard tab) and `email` (see `crate::email::notify`).

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde::{Deserialize, Serialize};

use super::ApiTags;
use super::body::JsonBody;
use crate::auth::principal::Auth;
pub use crate::email::notify::EmailNotifications;
use crate::email::sender::unsubscribe_user;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::api_keys::Scope;
use crate::store::audit::{Actor, AuditEntry};

pub struct PreferencesApi;

/// Everything a user can set about how SessionForge treats them. Absent keys take defaults.
#[derive(Object, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Preferences {
    #[oai(default)]
    pub notifications: NotificationPreferences,
}

/// Notifications, by channel.
#[derive(Object, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct NotificationPreferences {
    /// Shown by an open dashboard tab (the browser's notifications when allowed, and a count in
    /// the tab's title).
    #[oai(default)]
    pub browser: NotificationEvents,
    /// Mailed to your address, at most one mail per session every few minutes (see
    /// `email.notify_batch_secs`); every mail has a one-click unsubscribe link. Off by default.
    #[oai(default)]
    pub email: EmailNotifications,
}

/// Which session events notify on a channel.
#[derive(Object, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(default)]
pub struct NotificationEvents {
    /// A session is waiting for input.
    #[oai(default = "yes")]
    pub waiting_for_input: bool,
    /// A session ended on its own or was stopped.
    #[oai(default = "yes")]
    pub finished: bool,
    /// A session crashed or its process failed to start.
    #[oai(default = "yes")]
    pub crashed: bool,
}

fn yes() -> bool {
    true
}

impl Default for NotificationEvents {
    fn default() -> Self {
        Self { waiting_for_input: true, finished: true, crashed: true }
    }
}

#[OpenApi(prefix_path = "/api/v1/auth", tag = "ApiTags::Auth")]
impl PreferencesApi {
    /// Your preferences (defaults for anything never set).
    #[oai(path = "/preferences", method = "get")]
    async fn get(&self, state: Data<&AppState>, auth: Auth) -> Result<Json<Preferences>, ApiError> {
        let stored = state.store.user_preferences(auth.user.id).await?;
        // Stored by an older or newer server: what we cannot read falls back to the defaults.
        Ok(Json(stored.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default()))
    }

    /// Replace your preferences; absent keys take their defaults.
    ///
    /// `null` is not absent: it is refused, like any value of the wrong type.
    #[oai(path = "/preferences", method = "put")]
    async fn put(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: JsonBody<Preferences>,
    ) -> Result<Json<Preferences>, ApiError> {
        auth.require(Scope::Write)?;
        let value = serde_json::to_value(&body.0).map_err(ApiError::internal)?;
        state.store.set_user_preferences(auth.user.id, value).await?;
        Ok(Json(body.0))
    }

    /// Stop every notice by email, with the token of a mail's unsubscribe link (no sign-in
    /// needed). Other preferences stay as they are.
    #[oai(path = "/unsubscribe", method = "post")]
    async fn unsubscribe(
        &self,
        state: Data<&AppState>,
        body: JsonBody<UnsubscribeToken>,
    ) -> Result<Unsubscribed, ApiError> {
        let user = unsubscribe_user(&state.keys, body.token.trim())
            .and_then(|u| u.parse().ok())
            .ok_or_else(|| ApiError::gone("LINK_INVALID", "this unsubscribe link is not valid"))?;
        let stored = state.store.user_preferences(user).await?;
        let mut prefs: Preferences = stored.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default();
        prefs.notifications.email = EmailNotifications::default();
        let value = serde_json::to_value(&prefs).map_err(ApiError::internal)?;
        state.store.set_user_preferences(user, value).await?;
        let entry =
            AuditEntry::new(Actor::User { id: user.to_string(), label: String::new() }, None, "user.unsubscribed");
        state.store.audit(entry).await?;
        Ok(Unsubscribed::NoContent)
    }
}

#[derive(Object)]
pub struct UnsubscribeToken {
    /// The token from the unsubscribe link (the part after `#token=`).
    pub token: String,
}

#[derive(poem_openapi::ApiResponse)]
pub enum Unsubscribed {
    /// No more notices by email.
    #[oai(status = 204)]
    NoContent,
}
