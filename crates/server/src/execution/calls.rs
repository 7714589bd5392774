//! The broker call log: every request to a broker and its answer, stored
//! in `broker_calls` for `GET /api/v1/bots/{id}/logs`.
//!
//! Alpaca exchanges come from the adapter's own call log (real HTTP
//! method, path, status and bodies with secrets removed). The paper broker
//! has no HTTP, so [`Recorded`] logs its state-changing calls (submit,
//! cancel, close) as `PAPER` calls with the same shape: the request and
//! the answer as JSON, 200 or the 4xx an equivalent HTTP broker would
//! answer.
//!
//! Records go through a channel to one writer task that inserts them in
//! batches, so a broker call never waits for the database. Records still
//! buffered when the process dies are lost: the log is an audit aid, the
//! orders themselves are written before and after each call.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tradehook_brokers::alpaca::{CallLog, CallRecord};
use tradehook_brokers::{
    Account, BrokerAdapter, BrokerError, Order, OrderRequest, Position, Rejection,
};
use tradehook_core::time::now_ms;
use tradehook_store::{NewBrokerCall, Store};

/// Most records written in one transaction.
const BATCH: usize = 256;

/// Where call records go; cheap to clone.
#[derive(Clone)]
pub struct CallSink(mpsc::UnboundedSender<NewBrokerCall>);

impl CallSink {
    /// Starts the writer task; it drains what is queued when `shutdown`
    /// fires and every sender is gone.
    pub fn spawn(store: Store, workers: &TaskTracker, shutdown: &CancellationToken) -> CallSink {
        let (tx, mut rx) = mpsc::unbounded_channel::<NewBrokerCall>();
        let stop = shutdown.clone();
        workers.spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            loop {
                let n = tokio::select! {
                    n = rx.recv_many(&mut batch, BATCH) => n,
                    () = stop.cancelled() => {
                        // Whatever is queued now is written, then we end.
                        while let Ok(c) = rx.try_recv() {
                            batch.push(c);
                        }
                        write(&store, &mut batch).await;
                        break;
                    }
                };
                if n == 0 {
                    break;
                }
                write(&store, &mut batch).await;
            }
        });
        CallSink(tx)
    }

    pub fn record(&self, call: NewBrokerCall) {
        // The writer only ends at shutdown; a record after that is dropped.
        let _ = self.0.send(call);
    }

    /// The Alpaca adapter's callback for one account (and bot, when the
    /// calls are made for one).
    pub fn alpaca_log(&self, account_id: &str, bot_id: Option<&str>) -> CallLog {
        let sink = self.clone();
        let account_id = account_id.to_string();
        let bot_id = bot_id.map(str::to_string);
        Arc::new(move |c: CallRecord| {
            let error = match (&c.error, c.attempt) {
                (Some(e), 0) => Some(e.clone()),
                (Some(e), n) => Some(format!("{e} (retry {n})")),
                (None, 0) => None,
                (None, n) => Some(format!("retry {n}")),
            };
            sink.record(NewBrokerCall {
                bot_id: bot_id.clone(),
                broker_account_id: account_id.clone(),
                method: c.method,
                path: c.path,
                status: c.status.map(i64::from),
                latency_ms: i64::try_from(c.latency_ms).unwrap_or(i64::MAX),
                request: c.request_body,
                response: c.response_body,
                error,
                created_at: now_ms(),
            });
        })
    }
}

async fn write(store: &Store, batch: &mut Vec<NewBrokerCall>) {
    if batch.is_empty() {
        return;
    }
    if let Err(e) = store.insert_broker_calls(batch).await {
        tracing::warn!(error = %e, calls = batch.len(), "cannot store broker calls");
    }
    batch.clear();
}

/// A broker whose state-changing calls are logged (for the paper broker).
pub struct Recorded {
    pub inner: Arc<dyn BrokerAdapter>,
    pub sink: CallSink,
    pub account_id: String,
    pub bot_id: Option<String>,
}

fn status_of(e: &BrokerError) -> i64 {
    match e {
        BrokerError::Rejected { status, .. } => i64::from(*status),
        BrokerError::Invalid(_) => 422,
        BrokerError::InsufficientFunds(_) => 403,
        BrokerError::NotFound => 404,
        BrokerError::RateLimited { .. } => 429,
        BrokerError::Unavailable(_) => 503,
    }
}

impl Recorded {
    fn log<T: serde::Serialize>(
        &self,
        method: &str,
        path: String,
        request: Option<Value>,
        started: Instant,
        result: &Result<T, BrokerError>,
    ) {
        let (status, response, error) = match result {
            Ok(v) => (
                200,
                serde_json::to_string(v).ok().filter(|s| s != "null"),
                None,
            ),
            Err(e) => (
                status_of(e),
                Some(json!({"message": e.to_string()}).to_string()),
                Some(e.to_string()),
            ),
        };
        self.sink.record(NewBrokerCall {
            bot_id: self.bot_id.clone(),
            broker_account_id: self.account_id.clone(),
            method: method.to_string(),
            path,
            status: Some(status),
            latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            request: request.map(|r| r.to_string()),
            response,
            error,
            created_at: now_ms(),
        });
    }
}

#[async_trait]
impl BrokerAdapter for Recorded {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    async fn account(&self) -> Result<Account, BrokerError> {
        self.inner.account().await
    }
    async fn positions(&self) -> Result<Vec<Position>, BrokerError> {
        self.inner.positions().await
    }
    async fn submit_order(&self, req: &OrderRequest) -> Result<Order, BrokerError> {
        let started = Instant::now();
        let result = self.inner.submit_order(req).await;
        let request = serde_json::to_value(req).ok();
        self.log("PAPER", "/orders".into(), request, started, &result);
        result
    }
    async fn get_order(&self, id: &str) -> Result<Order, BrokerError> {
        self.inner.get_order(id).await
    }
    async fn get_order_by_client_id(
        &self,
        client_order_id: &str,
    ) -> Result<Option<Order>, BrokerError> {
        self.inner.get_order_by_client_id(client_order_id).await
    }
    async fn cancel_order(&self, id: &str) -> Result<(), BrokerError> {
        let started = Instant::now();
        let result = self.inner.cancel_order(id).await;
        self.log("PAPER", format!("/orders/{id}"), None, started, &result);
        result
    }
    async fn list_open_orders(&self) -> Result<Vec<Order>, BrokerError> {
        self.inner.list_open_orders().await
    }
    async fn close_position(&self, symbol: &str) -> Result<Option<Order>, BrokerError> {
        let started = Instant::now();
        let result = self.inner.close_position(symbol).await;
        self.log(
            "PAPER",
            format!("/positions/{symbol}"),
            None,
            started,
            &result,
        );
        result
    }
    fn check_restrictions(
        &self,
        req: &OrderRequest,
        position: Option<&Position>,
    ) -> Result<(), Rejection> {
        self.inner.check_restrictions(req, position)
    }
}
