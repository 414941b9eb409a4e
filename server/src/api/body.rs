//! `JsonBody<T>`, the payload type of every JSON request body. It is poem-openapi's `Json<T>`
//! (same content type, same schema in the spec) with one step added: the JSON is checked
//! against T's schema (`conform`) before T parses it, so that a wrong JSON type is refused
//! instead of coerced (`{"name": false}` is not an org named "false"), and every constraint the
//! spec states holds. A broken constraint gets the error code the handler's own check gives
//! for that field (`INVALID_NAME`, `WEAK_PASSWORD`, …); a wrong shape gets `INVALID_BODY`.

use std::ops::{Deref, DerefMut};

use poem::{FromRequest, Request, RequestBody};
use poem_openapi::error::{ContentTypeError, ParseRequestPayloadError};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, Type};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde_json::Value;

use super::{conform, validate};
use crate::error::ApiError;

/// A JSON request body, checked against its schema before it is parsed.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T> JsonBody<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for JsonBody<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for JsonBody<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn check_content_type(content_type: &str) -> bool {
        matches!(content_type.parse::<mime::Mime>(), Ok(m) if m.type_() == "application"
            && (m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json")))
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

/// The error for a body that breaks T's schema.
fn refusal<T: Type>(value: &Value) -> Option<ApiError> {
    let mut registry = Registry::new();
    T::register(&mut registry);
    let violation = conform::check(&registry, &T::schema_ref(), value).err()?;
    let code = if violation.wrong_type {
        "INVALID_BODY"
    } else {
        validate::code_for_field(violation.field()).unwrap_or("INVALID_BODY")
    };
    Some(ApiError::bad_request(code, violation.to_string()))
}

impl<T: ParseFromJSON> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = T::IS_REQUIRED;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let data = <Vec<u8> as FromRequest>::from_request(request, body).await?;
        let value = if data.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&data).map_err(|e| ParseRequestPayloadError { reason: e.to_string() })?
        };
        if let Some(err) = refusal::<T>(&value) {
            return Err(err.into());
        }
        let parsed =
            T::parse_from_json(Some(value)).map_err(|e| ParseRequestPayloadError { reason: e.into_message() })?;
        Ok(Self(parsed))
    }
}

impl<'a, T: ParseFromJSON> ApiExtractor<'a> for JsonBody<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: <Self as Payload>::CONTENT_TYPE,
                schema: <Self as Payload>::schema_ref(),
            }],
            required: <Self as ParsePayload>::IS_REQUIRED,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(ct) if Self::check_content_type(ct) => <Self as ParsePayload>::from_request(request, body).await,
            Some(ct) => Err(ContentTypeError::NotSupported { content_type: ct.to_string() }.into()),
            None => Err(ContentTypeError::ExpectContentType.into()),
        }
    }
}
