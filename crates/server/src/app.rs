//! Building the application from a configuration, and running it until a
//! shutdown signal.
//!
//! `App::build` does everything that can fail at start (database,
//! migrations, binding the port) so that `run` only serves. Tests build
//! the real app on port 0 and drive it over HTTP.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tradehook_core::apikey::KeyHash;
use tradehook_delivery::{ClientConfig, Dispatcher, DispatcherConfig, LogSink, Outbox, SafeClient};
use tradehook_store::{Store, redact_url};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::api;
use crate::config::Config;
use crate::error::ApiError;
use crate::http::json::BodyLimit;
use crate::http::{auth, metrics};
use crate::openapi::ApiDoc;
use crate::ratelimit::RateLimiter;
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The router and the OpenAPI document it serves.
pub fn router(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let api = OpenApiRouter::new()
        .routes(routes!(api::keys::me))
        .routes(routes!(api::keys::list, api::keys::create))
        .routes(routes!(api::keys::get, api::keys::revoke))
        .routes(routes!(api::endpoints::list, api::endpoints::create))
        .routes(routes!(
            api::endpoints::get,
            api::endpoints::update,
            api::endpoints::delete
        ))
        .routes(routes!(api::endpoints::rotate_secret))
        .routes(routes!(api::deliveries::list_for_endpoint))
        .routes(routes!(api::deliveries::recover))
        .routes(routes!(api::deliveries::test))
        .routes(routes!(api::deliveries::get))
        .routes(routes!(api::deliveries::replay))
        .routes(routes!(api::events::list))
        .routes(routes!(api::events::stream))
        .routes(routes!(api::market::candles))
        .routes(routes!(api::market::prices))
        .routes(routes!(api::market::symbols))
        .routes(routes!(api::rules::list, api::rules::create))
        .routes(routes!(
            api::rules::get,
            api::rules::update,
            api::rules::delete
        ))
        .routes(routes!(api::alerts::list))
        .routes(routes!(api::alerts::get))
        .routes(routes!(api::price_alerts::list, api::price_alerts::create))
        .routes(routes!(api::price_alerts::get, api::price_alerts::cancel))
        .routes(routes!(
            api::broker_accounts::list,
            api::broker_accounts::create
        ))
        .routes(routes!(
            api::broker_accounts::get,
            api::broker_accounts::update,
            api::broker_accounts::delete
        ))
        .routes(routes!(api::bots::list, api::bots::create))
        .routes(routes!(
            api::bots::get,
            api::bots::update,
            api::bots::delete
        ))
        .routes(routes!(api::bots::rotate_token))
        .routes(routes!(api::bot_actions::cleanup))
        .routes(routes!(api::bots::alert_template))
        .routes(routes!(api::trading_views::list_signals))
        .routes(routes!(api::trading_views::get_signal))
        .routes(routes!(api::trading_views::list_orders))
        .routes(routes!(api::trading_views::get_order))
        .routes(routes!(api::trading_views::positions))
        .routes(routes!(api::trading_views::account_status))
        .routes(routes!(api::trading_views::bot_logs))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ));

    let public = OpenApiRouter::new()
        .routes(routes!(api::system::health))
        .routes(routes!(api::system::ready))
        .routes(routes!(api::system::metrics));

    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(api)
        .merge(public)
        .split_for_parts();

    let hooks = crate::hooks::router().route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        crate::hooks_ip::guard,
    ));

    let docs = Router::<AppState>::new()
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi.clone()))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::limit_by_ip,
        ));

    let body_limit = state.config.http.body_limit_bytes;
    let timeout = Duration::from_secs(state.config.http.request_timeout_secs);
    let router = router
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), public_limit))
        .merge(docs)
        .merge(hooks)
        .merge(crate::dashboard::router(state.clone()))
        .fallback(|| async { ApiError::NotFound("no such route".to_string()) })
        .method_not_allowed_fallback(|| async {
            ApiError::MethodNotAllowed("this route does not accept that method".to_string())
        })
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(DefaultBodyLimit::max(body_limit as usize))
        .layer(axum::Extension(BodyLimit(body_limit)))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let request_id = req
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state);
    (router, openapi)
}

/// Public routes (not `/api/v1`) get the per-IP limit; API routes have
/// their own per-key limit, applied after authentication.
async fn public_limit(
    state: axum::extract::State<AppState>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    if req.uri().path().starts_with("/api/") {
        next.run(req).await
    } else {
        auth::limit_by_ip(state, req, next).await
    }
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal(anyhow::anyhow!("a handler panicked")).into_response()
}

/// A running service's pieces.
pub struct App {
    listener: TcpListener,
    /// The rule evaluator's feed, attached at build so that no market
    /// event published after `build` is missed.
    evaluator_feed: Option<tokio::sync::mpsc::Receiver<tradehook_feeds::FeedEvent>>,
    router: Router,
    state: AppState,
    shutdown: CancellationToken,
    workers: TaskTracker,
}

impl App {
    /// Connects and migrates the database, sets up limits and metrics,
    /// and binds the listening socket.
    pub async fn build(config: Config) -> anyhow::Result<App> {
        let store = connect_and_migrate(&config).await?;
        let limiter = match &config.redis_url {
            Some(url) => RateLimiter::redis(
                url,
                Duration::from_millis(config.rate_limit.redis_timeout_ms),
            )
            .with_context(|| format!("redis_url {}", redact_url(url)))?,
            None => RateLimiter::in_memory(),
        };
        let sealer = crate::secrets::load_sealer(&config)?;
        let client = SafeClient::new(ClientConfig {
            policy: config.delivery.net_policy().map_err(anyhow::Error::msg)?,
            allow_http: config.delivery.allow_http,
            connect_timeout: Duration::from_secs(config.delivery.connect_timeout_secs),
            request_timeout: Duration::from_secs(config.delivery.request_timeout_secs),
        });
        let market = crate::market::Market::new(&config);
        let state = AppState {
            outbox: Outbox::new(store.clone()),
            store,
            admin_key_hash: config.admin_key.as_ref().map(|k| KeyHash::of(k.expose())),
            config: Arc::new(config),
            limiter,
            metrics: metrics::recorder(),
            key_touches: Arc::new(Mutex::new(HashMap::new())),
            sealer,
            client,
            log_sink: LogSink::default(),
            action_limiter: RateLimiter::in_memory(),
            shutdown: CancellationToken::new(),
            market,
            rules: crate::evaluator::RulesHandle::default(),
            jobs_wake: Arc::new(tokio::sync::Notify::new()),
        };
        let listen = state.config.listen_addr();
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let (router, _) = router(state.clone());
        let evaluator_feed = state
            .config
            .rules
            .evaluate
            .then(|| state.market.attach_evaluator());
        Ok(App {
            evaluator_feed,
            listener,
            router,
            shutdown: state.shutdown.clone(),
            state,
            workers: TaskTracker::new(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound socket has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Cancelling this token stops the service gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled, then stops accepting
    /// connections, lets in-flight requests finish (bounded by
    /// `http.shutdown_timeout_secs`), stops the workers and closes the
    /// database.
    pub async fn run(self) -> anyhow::Result<()> {
        let App {
            evaluator_feed,
            listener,
            router,
            state,
            shutdown,
            workers,
        } = self;
        spawn_workers(&workers, &state, &shutdown);
        crate::execution::spawn(&state, &workers, &shutdown);
        crate::risk::spawn(&state, &workers, &shutdown);
        if let Some(feed) = evaluator_feed {
            let days = state.config.rules.alert_retention_days;
            crate::evaluator::spawn(
                crate::evaluator::EvaluatorContext {
                    store: state.store.clone(),
                    outbox: state.outbox.clone(),
                    market: state.market.clone(),
                    handle: state.rules.clone(),
                    poll_interval: Duration::from_millis(state.config.rules.poll_interval_ms),
                    alert_retention: (days > 0)
                        .then(|| Duration::from_secs(u64::from(days) * 86_400)),
                },
                feed,
                &workers,
                &shutdown,
            );
        }
        crate::market::spawn(
            &state.config,
            &state.store,
            &state.market,
            &workers,
            &shutdown,
        )
        .await?;
        workers.close();

        let addr = listener.local_addr()?;
        tracing::info!(%addr, database = state.store.kind().as_str(), rate_limits = state.limiter.backend_name(), "tradehook listening");
        let grace = Duration::from_secs(state.config.http.shutdown_timeout_secs);
        let stop = shutdown.clone();
        let server = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { stop.cancelled().await });

        let drained = async {
            shutdown.cancelled().await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            result = server => result.context("HTTP server failed")?,
            () = drained => tracing::warn!(?grace, "in-flight requests did not finish in time; closing them"),
        }
        shutdown.cancel();
        if tokio::time::timeout(grace, workers.wait()).await.is_err() {
            tracing::warn!("background workers did not stop in time");
        }
        state.store.close().await;
        tracing::info!("tradehook stopped");
        Ok(())
    }
}

/// Opens the configured database and applies pending migrations.
pub async fn connect_and_migrate(config: &Config) -> anyhow::Result<Store> {
    let url = redact_url(&config.database_url);
    let store = Store::connect(&config.database_url, &config.store_options())
        .await
        .with_context(|| format!("cannot open the database {url}"))?;
    store
        .migrate()
        .await
        .with_context(|| format!("cannot migrate the database {url}"))?;
    Ok(store)
}

/// The background workers. Every worker stops when `shutdown` is cancelled.
fn spawn_workers(workers: &TaskTracker, state: &AppState, shutdown: &CancellationToken) {
    let d = &state.config.delivery;
    let schedule = d.schedule().expect("validated at load");
    // Unique per process start, so leases and the audit trail tell
    // replicas (and restarts) apart.
    let instance = format!(
        "{}-{}-{:04x}",
        hostname(),
        std::process::id(),
        rand::random::<u16>()
    );
    for n in 0..d.workers {
        let dispatcher = Dispatcher::new(
            state.outbox.clone(),
            state.client.clone(),
            state.sealer.clone(),
            state.log_sink.clone(),
            DispatcherConfig {
                worker_id: format!("{instance}-{n}"),
                concurrency: d.concurrency as usize,
                lease: Duration::from_secs(d.lease_secs),
                poll_interval: Duration::from_millis(d.poll_interval_ms),
                disable_after: Duration::from_secs(d.disable_after_secs),
                default_schedule: schedule.clone(),
            },
        );
        workers.spawn(dispatcher.run(shutdown.clone()));
    }
    workers.spawn(retention(state.clone(), shutdown.clone()));

    let limiter = state.limiter.clone();
    let metrics = state.metrics.clone();
    let stop = shutdown.clone();
    workers.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => {
                    limiter.housekeeping();
                    metrics.run_upkeep();
                }
            }
        }
    });
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "tradehook".to_string())
}

/// Deletes events (and their deliveries and attempts) older than the
/// retention, hourly, in small batches so ingest is never blocked.
async fn retention(state: AppState, stop: CancellationToken) {
    let keep_ms = i64::from(state.config.delivery.retention_days) * 86_400_000;
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {
                let before = tradehook_core::time::now_ms() - keep_ms;
                let mut total = 0;
                loop {
                    match state.store.prune_events(before, 500).await {
                        Ok(0) => break,
                        Ok(n) => total += n,
                        Err(e) => {
                            tracing::warn!(error = %e, "retention: could not prune events");
                            break;
                        }
                    }
                    if stop.is_cancelled() {
                        break;
                    }
                }
                if total > 0 {
                    tracing::info!(deleted = total, "retention: pruned old events");
                }
            }
        }
    }
}
