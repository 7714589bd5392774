//! Public routes: liveness, readiness and metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::http::json::ApiJson;
use crate::http::metrics;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    #[schema(example = "ready")]
    pub status: String,
    /// `sqlite` or `postgres`.
    #[schema(example = "sqlite")]
    pub database: String,
}

/// Liveness: 200 whenever the process is up.
#[utoipa::path(get, path = "/health", tag = "system",
    responses((status = 200, description = "The process is up", body = Health)))]
pub async fn health() -> ApiJson<Health> {
    ApiJson(Health {
        status: "ok".to_string(),
    })
}

/// Readiness: 200 when the database answers, 503 otherwise.
#[utoipa::path(get, path = "/ready", tag = "system",
    responses(
        (status = 200, description = "The database answers", body = Ready),
        (status = 503, description = "The database does not answer", body = ErrorBody),
    ))]
pub async fn ready(State(state): State<AppState>) -> Result<ApiJson<Ready>, ApiError> {
    let ping = tokio::time::timeout(std::time::Duration::from_secs(2), state.store.ping()).await;
    match ping {
        Ok(Ok(())) => Ok(ApiJson(Ready {
            status: "ready".to_string(),
            database: state.store.kind().as_str().to_string(),
        })),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check: database error");
            Err(ApiError::Unavailable(
                "the database does not answer".to_string(),
            ))
        }
        Err(_) => Err(ApiError::Unavailable(
            "the database did not answer within 2 s".to_string(),
        )),
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics::render(&state.metrics),
    )
}
