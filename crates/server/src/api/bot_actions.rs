//! Actions on a bot that run at once (`/api/v1/bots/{id}/…`).

use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::bots::load_bot;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::http::auth::Identity;
use crate::http::json::ApiJson;
use crate::risk::CanceledOrder;
use crate::state::AppState;

/// What a cleanup canceled.
#[derive(Debug, Serialize, ToSchema)]
pub struct CleanupView {
    /// The SL/TP legs canceled because their symbol has no position.
    pub canceled: Vec<CanceledOrder>,
}

/// Cancel the bot's open SL/TP orders whose symbol has no position any
/// more (what the 30 s cleanup does), now.
#[utoipa::path(post, path = "/api/v1/bots/{id}/cleanup", tag = "trading",
    params(("id" = String, Path, description = "Bot id")),
    responses((status = 200, description = "The canceled orders", body = CleanupView),
        (status = 404, description = "No such bot", body = ErrorBody),
        (status = 503, description = "The broker cannot be reached", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn cleanup(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<CleanupView>> {
    let bot = load_bot(&state, &id).await?;
    let canceled = crate::risk::cleanup_bot(&state, &bot)
        .await
        .map_err(ApiError::Unavailable)?;
    Ok(ApiJson(CleanupView { canceled }))
}
