//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tradehook",
        description = "Connects trading signals to the places that act on them. \
            Every `/api/v1` route needs an API key in `X-API-Key` or \
            `Authorization: Bearer`. Errors are `{\"error\":{\"code\",\"message\",\"details\"}}`.",
        license(name = "Apache-2.0")
    ),
    modifiers(&Security),
    tags(
        (name = "system", description = "Health, readiness and metrics (public)"),
        (name = "keys", description = "API keys"),
        (name = "endpoints", description = "Where events are delivered: webhooks, Discord, Slack, Telegram"),
        (name = "deliveries", description = "Delivery attempts, replay and recovery"),
        (name = "events", description = "Event history and the live stream"),
        (name = "market", description = "Candles, latest prices and symbols"),
        (name = "rules", description = "Alert rules: price levels and crossings, moves, candle closes, indicators, channels"),
        (name = "alerts", description = "What the rules fired, with the values that fired them"),
        (name = "price-alerts", description = "One-shot price alerts with their own signed webhook"),
        (name = "trading", description = "Broker accounts and bots that turn TradingView alerts into orders (intake at POST /hooks/tradingview/{token})"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
