//! `ApiJson<T>`: the JSON body extractor and responder of the API.
//!
//! axum's own `Json` answers rejections in plain text. This one answers
//! in the API's error shape: 415 without a JSON content type, 413 over the
//! body limit, 400 with line and column for malformed JSON, and 422 with
//! the field path (via `serde_path_to_error`) for a missing or invalid
//! field.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub struct ApiJson<T>(pub T);

/// Deserialises a field that may be absent (keep), null (clear) or set:
/// use with `#[serde(default, deserialize_with = "double_option")]` on an
/// `Option<Option<T>>`.
pub fn double_option<'de, T: serde::Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(&req) {
            return Err(ApiError::UnsupportedMediaType(
                "expected `Content-Type: application/json`".to_string(),
            ));
        }
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .map(|l| l.0)
            .unwrap_or(0);
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| body_error(e, limit))?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// The configured body limit, put in request extensions so rejections can
/// name it.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub u64);

fn body_error(err: BytesRejection, limit: u64) -> ApiError {
    if err.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge { limit }
    } else {
        ApiError::validation("", format!("could not read the request body: {err}"))
    }
}

fn has_json_content_type(req: &Request) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses JSON, classifying errors as syntax (400) or data (422).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(&mut de) {
        // Trailing characters after the value are a syntax error.
        Ok(value) => de
            .end()
            .map(|()| value)
            .map_err(|e| classify(String::new(), e)),
        Err(err) => {
            let path = err.path().to_string();
            Err(classify(path, err.into_inner()))
        }
    }
}

fn classify(path: String, err: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::MalformedJson {
            line: err.line(),
            column: err.column(),
            message: strip_position(&err.to_string()),
        },
        Category::Data => ApiError::Validation {
            path: if path == "." { String::new() } else { path },
            message: strip_position(&err.to_string()),
        },
    }
}

/// serde_json appends " at line L column C"; the position is in details.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Inner,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        match parse_json::<Body>(b"{\n  \"name\": \"x\",\n  oops\n}") {
            Err(ApiError::MalformedJson { line, column, .. }) => assert_eq!((line, column), (3, 3)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_json::<Body>(b""),
            Err(ApiError::MalformedJson { .. })
        ));
        assert!(matches!(
            parse_json::<Body>(b"{\"name\":\"a\",\"inner\":{\"count\":1}} trailing"),
            Err(ApiError::MalformedJson { .. })
        ));
    }

    #[test]
    fn data_errors_carry_the_field_path() {
        match parse_json::<Body>(br#"{"name":"x","inner":{"count":-1}}"#) {
            Err(ApiError::Validation { path, .. }) => assert_eq!(path, "inner.count"),
            other => panic!("{other:?}"),
        }
        match parse_json::<Body>(br#"{"name":"x"}"#) {
            Err(ApiError::Validation { message, .. }) => {
                assert!(message.contains("inner"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        match parse_json::<Body>(br#"{"name":"x","inner":{"count":1},"extra":1}"#) {
            Err(ApiError::Validation { message, .. }) => {
                assert!(message.contains("extra"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }
}
