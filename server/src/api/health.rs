//! `GET /api/v1/health`: the server is up and its database answers.

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use crate::error::ApiError;
use crate::state::AppState;

pub struct HealthApi;

#[derive(Object, Debug)]
pub struct Health {
    /// `ok` when every check passed.
    pub status: String,
    /// `ok` when the database answered a query.
    pub database: String,
    pub version: String,
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// Healthy.
    #[oai(status = 200)]
    Ok(Json<Health>),
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Health")]
impl HealthApi {
    /// Health check, including a database round trip. Needs no authentication.
    #[oai(path = "/health", method = "get")]
    async fn health(&self, state: Data<&AppState>) -> Result<HealthResponse, ApiError> {
        state.store.ping().await.map_err(|e| {
            tracing::error!(error = %e, "health check: database unavailable");
            ApiError::unavailable("database unavailable")
        })?;
        Ok(HealthResponse::Ok(Json(Health {
            status: "ok".into(),
            database: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        })))
    }
}
