//! The one API error type, and the one place where any error becomes an HTTP response.
//!
//! Handlers return `Result<_, ApiError>`; every variant appears in the OpenAPI spec with its
//! status. Errors raised before a handler runs (unknown route, malformed JSON, wrong content
//! type, oversized body, failed authentication) pass through [`render`], which gives them the
//! same `{code, message}` body.

use poem::Response;
use poem::http::StatusCode;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

use crate::store::StoreError;

/// The body of every error response.
#[derive(Object, Debug, Clone, PartialEq, Eq)]
pub struct ErrorBody {
    /// A stable, SCREAMING_SNAKE error code for programs: `NOT_FOUND`, `INVALID_BODY`, …
    pub code: String,
    /// A sentence for people.
    pub message: String,
}

/// The body of a 402: a plan limit was reached.
#[derive(Object, Debug, Clone, PartialEq, Eq)]
pub struct PlanLimitBody {
    /// Always `PLAN_LIMIT`.
    pub code: String,
    /// A sentence for people, saying how to fix it.
    pub message: String,
    /// Which limit: `machines`, `seats`, `concurrent_sessions` or `api_calls_per_month`.
    pub limit: String,
    /// What the plan allows.
    pub max: u64,
    /// What is in use now.
    pub used: u64,
    /// The org's plan (its id).
    pub plan: String,
    /// Where to upgrade (`plans.upgrade_url`; empty when the operator set none).
    pub upgrade_url: String,
}

#[derive(ApiResponse, Debug)]
pub enum ApiError {
    /// The request is malformed or a value is invalid.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Authentication is missing or invalid.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// Authenticated, but not allowed to do this.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such resource, or it belongs to someone else.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The org's plan does not allow this (a plan limit is reached).
    #[oai(status = 402)]
    PaymentRequired(Json<Box<PlanLimitBody>>),
    /// The request conflicts with the current state.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// It existed, and is gone for good (a yanked or damaged release).
    #[oai(status = 410)]
    Gone(Json<ErrorBody>),
    /// The request body is larger than the configured limit.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The request body is not `application/json` (or `Content-Type` is missing).
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// Too many requests; retry after the given number of seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// Something went wrong on the server; details are in its log.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// A dependency of the server (such as its database) is unavailable.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

fn body(code: &str, message: impl Into<String>) -> Json<ErrorBody> {
    Json(ErrorBody { code: code.to_string(), message: message.into() })
}

impl ApiError {
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::BadRequest(body(code, message))
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::Unauthorized(body("UNAUTHORIZED", message))
    }
    pub fn unauthorized_code(code: &str, message: impl Into<String>) -> Self {
        Self::Unauthorized(body(code, message))
    }
    pub fn forbidden(code: &str, message: impl Into<String>) -> Self {
        Self::Forbidden(body(code, message))
    }
    pub fn not_found() -> Self {
        Self::NotFound(body("NOT_FOUND", "no such resource"))
    }
    /// 404 with a more helpful sentence, for lookups that are not about access.
    pub fn not_found_code(code: &str, message: impl Into<String>) -> Self {
        Self::NotFound(body(code, message))
    }
    pub fn not_found_because(message: impl Into<String>) -> Self {
        Self::NotFound(body("NOT_FOUND", message))
    }
    pub fn unavailable_code(code: &str, message: impl Into<String>) -> Self {
        Self::Unavailable(body(code, message))
    }
    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::Conflict(body(code, message))
    }
    pub fn gone(code: &str, message: impl Into<String>) -> Self {
        Self::Gone(body(code, message))
    }
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self::TooManyRequests(
            body("RATE_LIMITED", format!("too many requests; retry in {retry_after_secs} s")),
            retry_after_secs,
        )
    }
    /// The same error with another sentence for people.
    pub fn with_message(self, message: impl Into<String>) -> Self {
        let message: String = message.into();
        let replace = |Json(b): Json<ErrorBody>| Json(ErrorBody { code: b.code, message: message.clone() });
        match self {
            Self::BadRequest(b) => Self::BadRequest(replace(b)),
            Self::Unauthorized(b) => Self::Unauthorized(replace(b)),
            Self::Forbidden(b) => Self::Forbidden(replace(b)),
            Self::NotFound(b) => Self::NotFound(replace(b)),
            Self::PaymentRequired(Json(b)) => {
                Self::PaymentRequired(Json(Box::new(PlanLimitBody { message: message.clone(), ..*b })))
            }
            Self::Conflict(b) => Self::Conflict(replace(b)),
            Self::Gone(b) => Self::Gone(replace(b)),
            Self::PayloadTooLarge(b) => Self::PayloadTooLarge(replace(b)),
            Self::UnsupportedMediaType(b) => Self::UnsupportedMediaType(replace(b)),
            Self::TooManyRequests(b, retry) => Self::TooManyRequests(replace(b), retry),
            Self::Internal(b) => Self::Internal(replace(b)),
            Self::Unavailable(b) => Self::Unavailable(replace(b)),
        }
    }
    pub fn payload_too_large(limit: u64) -> Self {
        Self::PayloadTooLarge(body("PAYLOAD_TOO_LARGE", format!("request body exceeds {limit} bytes")))
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable(body("UNAVAILABLE", message))
    }
    /// Logs the real cause and returns a generic 500 that reveals nothing.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::Internal(body("INTERNAL", "internal server error"))
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::not_found(),
            StoreError::Conflict(msg) => ApiError::conflict("CONFLICT", msg),
            StoreError::Refused { code, message } => ApiError::conflict(code, message),
            StoreError::Gone { code, message } => ApiError::gone(code, message),
            StoreError::PlanLimit { limit, max, used, plan, upgrade_url } => {
                let how = if upgrade_url.is_empty() {
                    "ask an administrator for a larger plan, or free some up".to_string()
                } else {
                    format!("upgrade at {upgrade_url}, or free some up")
                };
                let message = format!("the {plan} plan allows {max} {}; {used} in use: {how}", limit.replace('_', " "));
                ApiError::PaymentRequired(Json(Box::new(PlanLimitBody {
                    code: "PLAN_LIMIT".into(),
                    message,
                    limit: limit.into(),
                    max,
                    used,
                    plan,
                    upgrade_url,
                })))
            }
            e @ StoreError::LimitReached { .. } => ApiError::conflict("LIMIT_REACHED", e.to_string()),
            other => ApiError::internal(other),
        }
    }
}

impl From<crate::releases::ReleaseError> for ApiError {
    fn from(err: crate::releases::ReleaseError) -> Self {
        use crate::releases::ReleaseError as E;
        use crate::releases::artifacts::ArtifactError as A;
        match err {
            E::BadVersion(_) => ApiError::bad_request("INVALID_VERSION", err.to_string()),
            E::UnknownTarget(_) => ApiError::bad_request("UNKNOWN_TARGET", err.to_string()),
            E::UnknownChannel(_) => ApiError::bad_request("UNKNOWN_CHANNEL", err.to_string()),
            E::NotesTooLong => ApiError::bad_request("INVALID_NOTES", err.to_string()),
            E::NoSignedManifest(_) => ApiError::not_found_because(err.to_string()),
            E::BadSignedManifest(_) => ApiError::bad_request("INVALID_MANIFEST", err.to_string()),
            E::UntrustedKey(_) => ApiError::bad_request("UNTRUSTED_KEY", err.to_string()),
            E::Corrupt { .. } => ApiError::internal(err),
            E::Artifact(A::Empty) => ApiError::bad_request("EMPTY_ARTIFACT", err.to_string()),
            E::Artifact(A::TooLarge(limit)) => ApiError::payload_too_large(limit),
            E::Store(StoreError::Conflict(msg)) => ApiError::conflict("DUPLICATE_RELEASE", msg),
            E::Store(e) => e.into(),
            E::Artifact(A::Io(e)) => ApiError::internal(e),
        }
    }
}

impl From<crate::releases::links::LinkError> for ApiError {
    fn from(err: crate::releases::links::LinkError) -> Self {
        use crate::releases::links::LinkError as E;
        let code = match err {
            E::Expired => "LINK_EXPIRED",
            E::Invalid => "INVALID_SIGNATURE",
        };
        ApiError::forbidden(code, err.to_string())
    }
}

/// Turns any error that escaped a handler into the JSON error body with the right status.
pub async fn render(err: poem::Error) -> Response {
    if err.is_from_response() {
        // Already one of ours (an `ApiError` converted by poem-openapi).
        return err.into_response();
    }
    let status = err.status();
    let (code, message) = if err.is::<poem_openapi::error::ParseRequestPayloadError>() {
        ("INVALID_BODY", err.to_string())
    } else if let Some(name) = parameter_name(&err) {
        // A parameter with a rule of its own gets the code its rule's check gives.
        (crate::api::validate::code_for_field(name).unwrap_or("INVALID_PARAMETER"), err.to_string())
    } else if status == StatusCode::NOT_FOUND {
        ("NOT_FOUND", "no such resource".to_string())
    } else if status.is_server_error() {
        tracing::error!(error = %err, "unhandled error");
        ("INTERNAL", "internal server error".to_string())
    } else {
        (code_for_status(status), err.to_string())
    };
    json_error(status, code, &message)
}

/// The parameter a parse error is about, if it is about one.
fn parameter_name(err: &poem::Error) -> Option<&'static str> {
    use poem_openapi::error::{ParseParamError, ParsePathError};
    err.downcast_ref::<ParseParamError>()
        .map(|e| e.name)
        .or_else(|| err.downcast_ref::<ParsePathError>().map(|e| e.name))
}

/// A JSON error response built outside the typed handlers (middleware, WebSocket upgrades).
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "code": code, "message": message });
    Response::builder().status(status).content_type("application/json; charset=utf-8").body(body.to_string())
}

fn code_for_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "BAD_REQUEST",
        StatusCode::UNAUTHORIZED => "UNAUTHORIZED",
        StatusCode::FORBIDDEN => "FORBIDDEN",
        StatusCode::METHOD_NOT_ALLOWED => "METHOD_NOT_ALLOWED",
        StatusCode::CONFLICT => "CONFLICT",
        StatusCode::GONE => "GONE",
        StatusCode::PAYLOAD_TOO_LARGE => "PAYLOAD_TOO_LARGE",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
        StatusCode::TOO_MANY_REQUESTS => "RATE_LIMITED",
        _ => "ERROR",
    }
}
