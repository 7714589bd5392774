//! What the receiver answers, and how one answer is turned into a response.
//!
//! Choosing an answer happens under the receiver's lock (it consumes queues
//! and advances random draws); building and delaying the response happens
//! outside it, so a slow answer never holds up other requests.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    body::{Body, Bytes},
    http::{HeaderName, HeaderValue, StatusCode, header},
    response::Response,
};
use tokio_util::sync::CancellationToken;

/// How the receiver answers a request.
///
/// Set with [`Receiver::set_default`](super::Receiver::set_default),
/// [`Receiver::set`](super::Receiver::set) or
/// [`Receiver::push`](super::Receiver::push); those panic at once on an
/// answer that could not be sent (a bad status, header name or rate), so a
/// mistake shows up in the test and not as a dropped connection.
#[derive(Clone, Debug, PartialEq)]
pub enum Behaviour {
    /// This status with an empty body. The default is `Status(200)`.
    Status(u16),
    /// This status with a `text/plain` body, like Slack's `ok` or
    /// `channel_is_archived`.
    StatusBody(u16, String),
    /// This status with an `application/json` body, like Telegram's
    /// `{"ok":true,...}` or Discord's 429 `{"retry_after":1.5,...}`.
    Json(u16, serde_json::Value),
    /// This status (usually 429 or 503) with a `Retry-After` header, given
    /// verbatim: seconds (`"120"`) or an HTTP date.
    RetryAfter { status: u16, retry_after: String },
    /// This status with these headers and this body, e.g. Discord's
    /// `X-RateLimit-*` headers. No `Content-Type` is added.
    Headers(u16, Vec<(String, String)>, String),
    /// Waits this long, then answers this status with an empty body.
    Slow(Duration, u16),
    /// Sends the status line and headers at once, then one `.` byte per
    /// `chunk_delay`, `chunks` times: a body that trickles in.
    SlowBody {
        status: u16,
        chunk_delay: Duration,
        chunks: usize,
    },
    /// Never answers. The request is recorded with `answered_status` 0 and
    /// its connection is reset when the receiver shuts down.
    Hang,
    /// Answers `fail_status` to a `failure_rate` fraction of requests and
    /// 200 to the rest. The draws depend only on `seed` and how many
    /// requests this behaviour has answered, so a run repeats exactly.
    Random {
        failure_rate: f64,
        fail_status: u16,
        seed: u64,
    },
    /// 302 with this `Location`. Webhook senders must not follow it.
    Redirect(String),
}

impl Default for Behaviour {
    fn default() -> Self {
        Self::Status(200)
    }
}

impl Behaviour {
    /// Panics, naming the problem, if this answer could not be sent.
    pub(super) fn validate(&self) {
        match self {
            Self::Status(s)
            | Self::StatusBody(s, _)
            | Self::Json(s, _)
            | Self::Slow(_, s)
            | Self::SlowBody { status: s, .. } => {
                status(*s);
            }
            Self::RetryAfter {
                status: s,
                retry_after,
            } => {
                status(*s);
                value("Retry-After", retry_after);
            }
            Self::Headers(s, headers, _) => {
                status(*s);
                for (n, v) in headers {
                    name(n);
                    value(n, v);
                }
            }
            Self::Hang => {}
            Self::Random {
                failure_rate,
                fail_status,
                ..
            } => {
                assert!(
                    (0.0..=1.0).contains(failure_rate),
                    "Behaviour::Random: failure_rate must be within 0.0..=1.0, got {failure_rate}"
                );
                status(*fail_status);
            }
            Self::Redirect(location) => {
                value("Location", location);
            }
        }
    }
}

/// One chosen answer. Plain statuses (including a resolved random draw) are
/// carried by value so the common benchmark path clones nothing.
#[derive(Clone, Debug)]
pub(super) enum Answer {
    Status(u16),
    Shared(Arc<Behaviour>),
}

impl Answer {
    /// Resolves `behaviour` for the `served`-th request it answers.
    pub(super) fn choose(behaviour: &Arc<Behaviour>, served: u64) -> Self {
        match **behaviour {
            Behaviour::Status(s) => Self::Status(s),
            Behaviour::Random {
                failure_rate,
                fail_status,
                seed,
            } => Self::Status(if unit_draw(seed, served) < failure_rate {
                fail_status
            } else {
                200
            }),
            _ => Self::Shared(Arc::clone(behaviour)),
        }
    }

    /// The status the client will see; 0 for an answer that never comes.
    pub(super) fn status(&self) -> u16 {
        match self {
            Self::Status(s) => *s,
            Self::Shared(b) => match &**b {
                Behaviour::Status(s)
                | Behaviour::StatusBody(s, _)
                | Behaviour::Json(s, _)
                | Behaviour::RetryAfter { status: s, .. }
                | Behaviour::Headers(s, _, _)
                | Behaviour::Slow(_, s)
                | Behaviour::SlowBody { status: s, .. } => *s,
                // `choose` resolves these to `Answer::Status`; kept total anyway.
                Behaviour::Random { fail_status, .. } => *fail_status,
                Behaviour::Hang => 0,
                Behaviour::Redirect(_) => 302,
            },
        }
    }

    /// Builds the response, waiting first if the answer says so.
    pub(super) async fn respond(self, shutdown: &CancellationToken) -> Response {
        let behaviour = match self {
            Self::Status(s) => return plain(s, Body::empty()),
            Self::Shared(b) => b,
        };
        match &*behaviour {
            Behaviour::Status(s) => plain(*s, Body::empty()),
            Behaviour::StatusBody(s, body) => {
                with_type(*s, "text/plain; charset=utf-8", body.clone())
            }
            Behaviour::Json(s, value) => with_type(*s, "application/json", value.to_string()),
            Behaviour::RetryAfter {
                status: s,
                retry_after,
            } => {
                let mut response = plain(*s, Body::empty());
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, value("Retry-After", retry_after));
                response
            }
            Behaviour::Headers(s, headers, body) => {
                let mut response = plain(*s, Body::from(body.clone()));
                for (n, v) in headers {
                    response.headers_mut().append(name(n), value(n, v));
                }
                response
            }
            Behaviour::Slow(delay, s) => {
                tokio::time::sleep(*delay).await;
                plain(*s, Body::empty())
            }
            Behaviour::SlowBody {
                status: s,
                chunk_delay,
                chunks,
            } => {
                let (delay, total) = (*chunk_delay, *chunks);
                let stream = futures::stream::unfold(0, move |sent| async move {
                    if sent == total {
                        return None;
                    }
                    tokio::time::sleep(delay).await;
                    Some((Ok::<_, Infallible>(Bytes::from_static(b".")), sent + 1))
                });
                let mut response = plain(*s, Body::from_stream(stream));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                response
            }
            Behaviour::Hang => {
                // The connection is reset at shutdown (see `conn`), which
                // drops this future; this status is never written.
                shutdown.cancelled().await;
                plain(503, Body::empty())
            }
            Behaviour::Random { .. } => unreachable!("Answer::choose resolves Random"),
            Behaviour::Redirect(location) => {
                let mut response = plain(302, Body::empty());
                response
                    .headers_mut()
                    .insert(header::LOCATION, value("Location", location));
                response
            }
        }
    }
}

/// A uniform draw in `[0, 1)` from splitmix64 over (seed, index): stateless,
/// so replaying a seed needs nothing but the request count.
fn unit_draw(seed: u64, index: u64) -> f64 {
    let mut z = seed.wrapping_add(index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

fn plain(s: u16, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status(s);
    response
}

fn with_type(s: u16, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut response = plain(s, body.into());
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn status(s: u16) -> StatusCode {
    match StatusCode::from_u16(s) {
        // A 1xx is not a final answer; hyper would not send it as one.
        Ok(code) if !code.is_informational() => code,
        _ => panic!("Behaviour: {s} is not a final HTTP status (expected 200..=999)"),
    }
}

fn name(n: &str) -> HeaderName {
    HeaderName::try_from(n).unwrap_or_else(|e| panic!("Behaviour: bad header name {n:?}: {e}"))
}

fn value(n: &str, v: &str) -> HeaderValue {
    HeaderValue::try_from(v)
        .unwrap_or_else(|e| panic!("Behaviour: bad value {v:?} for header {n}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_draw_is_stable_and_within_unit_interval() {
        let first: Vec<f64> = (0..100).map(|i| unit_draw(7, i)).collect();
        let again: Vec<f64> = (0..100).map(|i| unit_draw(7, i)).collect();
        assert_eq!(first, again);
        assert!(first.iter().all(|d| (0.0..1.0).contains(d)));
        assert_ne!(first, (0..100).map(|i| unit_draw(8, i)).collect::<Vec<_>>());
    }

    #[test]
    #[should_panic(expected = "failure_rate must be within")]
    fn random_rejects_a_rate_above_one() {
        Behaviour::Random {
            failure_rate: 1.5,
            fail_status: 500,
            seed: 1,
        }
        .validate();
    }

    #[test]
    #[should_panic(expected = "bad header name")]
    fn headers_reject_an_invalid_name() {
        Behaviour::Headers(200, vec![("bad name".into(), "x".into())], String::new()).validate();
    }

    #[test]
    #[should_panic(expected = "not a final HTTP status")]
    fn informational_status_is_rejected() {
        Behaviour::Status(101).validate();
    }
}
