//! The one error type of the HTTP API.
//!
//! Every error leaves as `{"error":{"code","message","details"}}`. Client
//! errors say precisely what was wrong; internal errors are logged (inside
//! the request's span, so with its request id) and answered with a body
//! that reveals nothing. The code of every variant is assigned in one
//! exhaustive match, so a new variant does not compile without one.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use tradehook_store::StoreError;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed JSON at line {line}, column {column}: {message}")]
    MalformedJson {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("invalid value at `{path}`: {message}")]
    Validation { path: String, message: String },
    /// A 422 with its own code, e.g. `symbol_not_found`.
    #[error("{message}")]
    Unprocessable {
        code: &'static str,
        path: String,
        message: String,
    },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    #[error("missing API key: send `X-API-Key: <key>` or `Authorization: Bearer <key>`")]
    MissingKey,
    #[error("the API key is not valid")]
    InvalidKey,
    #[error("the API key has been revoked")]
    RevokedKey,
    #[error("the signal's `secret` does not match the bot's body secret")]
    InvalidSecret,
    #[error("{0}")]
    Forbidden(String),
    /// The intake's source-address allowlist refused the client.
    #[error("the address {0} may not send signals")]
    IpNotAllowed(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{message}")]
    Conflict { code: String, message: String },
    #[error("rate limit exceeded: retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("the service is not ready: {0}")]
    Unavailable(String),
    #[error("request timed out")]
    Timeout,
    /// Never shown to the client; logged with the request id.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(err.into())
    }

    pub fn validation(path: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The HTTP status and the stable snake_case code.
    pub fn status_and_code(&self) -> (StatusCode, &str) {
        match self {
            ApiError::MalformedJson { .. } => (StatusCode::BAD_REQUEST, "malformed_json"),
            ApiError::Validation { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            ApiError::Unprocessable { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            ApiError::MissingKey => (StatusCode::UNAUTHORIZED, "missing_api_key"),
            ApiError::InvalidKey => (StatusCode::UNAUTHORIZED, "invalid_api_key"),
            ApiError::RevokedKey => (StatusCode::UNAUTHORIZED, "revoked_api_key"),
            ApiError::InvalidSecret => (StatusCode::UNAUTHORIZED, "invalid_secret"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::IpNotAllowed(_) => (StatusCode::FORBIDDEN, "ip_not_allowed"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Conflict { code, .. } => (StatusCode::CONFLICT, code.as_str()),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
            ApiError::Timeout => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            ApiError::MalformedJson { line, column, .. } => {
                Some(serde_json::json!({ "line": line, "column": column }))
            }
            ApiError::Validation { path, message }
            | ApiError::Unprocessable { path, message, .. } => {
                Some(serde_json::json!([{ "path": path, "message": message }]))
            }
            ApiError::PayloadTooLarge { limit } => {
                Some(serde_json::json!({ "limit_bytes": limit }))
            }
            ApiError::RateLimited { retry_after_secs } => {
                Some(serde_json::json!({ "retry_after_secs": retry_after_secs }))
            }
            _ => None,
        }
    }
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case identifier, e.g. `validation_failed`.
    #[schema(example = "validation_failed")]
    pub code: String,
    /// A sentence for humans.
    pub message: String,
    /// Structured context: `{line, column}` for malformed JSON, a list of
    /// `{path, message}` for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = if let ApiError::Internal(err) = &self {
            tracing::error!(error = format!("{err:#}"), "internal error");
            "an internal error occurred; it has been logged with the request id".to_string()
        } else {
            self.to_string()
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_string(),
                message,
                details: self.details(),
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let ApiError::RateLimited { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::NotFound("no such object".to_string()),
            StoreError::Conflict { constraint } => {
                let message = match constraint.as_str() {
                    "api_key_name_taken" => {
                        "a live API key with this name already exists".to_string()
                    }
                    other => format!("conflicts with an existing object ({other})"),
                };
                ApiError::Conflict {
                    code: constraint,
                    message,
                }
            }
            err if err.is_unavailable() => {
                ApiError::Unavailable("the database is unavailable".into())
            }
            err => ApiError::internal(err),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
