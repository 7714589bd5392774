//! The test receiver over real HTTP: every behaviour answers as promised,
//! answers are chosen per path and in queue order, and every request is
//! recorded, including the ones never answered.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tradehook_testkit::receiver::{Behaviour, Receiver};

/// Generous: these only bound how long a broken test takes to fail.
const WAIT: Duration = Duration::from_secs(10);

/// A client like a webhook sender's: it must never follow redirects.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn post(receiver: &Receiver, path: &str) -> reqwest::Response {
    client()
        .post(receiver.url(path))
        .body("{}")
        .send()
        .await
        .unwrap()
}

async fn status_of(client: &reqwest::Client, receiver: &Receiver, path: &str) -> u16 {
    client
        .post(receiver.url(path))
        .body("{}")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn default_answer_is_200_with_an_empty_body() {
    let receiver = Receiver::start().await;
    let response = post(&receiver, "/anything").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "");
    assert_eq!(receiver.requests()[0].answered_status, 200);
}

#[tokio::test]
async fn status_answers_that_status_with_an_empty_body() {
    let receiver = Receiver::start().await;
    receiver.set_default(Behaviour::Status(503));
    let response = post(&receiver, "/hook").await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.text().await.unwrap(), "");
}

#[tokio::test]
async fn status_body_answers_plain_text_like_slack() {
    let receiver = Receiver::start().await;
    receiver.set(
        "/services/T1/B1/x",
        Behaviour::StatusBody(410, "channel_is_archived".into()),
    );
    let response = post(&receiver, "/services/T1/B1/x").await;
    assert_eq!(response.status(), 410);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(response.text().await.unwrap(), "channel_is_archived");
}

#[tokio::test]
async fn json_answers_json_like_a_discord_429() {
    let receiver = Receiver::start().await;
    let body =
        json!({"message": "You are being rate limited.", "retry_after": 1.5, "global": false});
    receiver.set_default(Behaviour::Json(429, body.clone()));
    let response = post(&receiver, "/api/webhooks/1/t").await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.json::<serde_json::Value>().await.unwrap(), body);
}

#[tokio::test]
async fn retry_after_sends_the_header_verbatim() {
    let receiver = Receiver::start().await;
    receiver.set(
        "/seconds",
        Behaviour::RetryAfter {
            status: 429,
            retry_after: "120".into(),
        },
    );
    receiver.set(
        "/date",
        Behaviour::RetryAfter {
            status: 503,
            retry_after: "Wed, 21 Oct 2015 07:28:00 GMT".into(),
        },
    );

    let seconds = post(&receiver, "/seconds").await;
    assert_eq!(seconds.status(), 429);
    assert_eq!(seconds.headers()["retry-after"], "120");

    let date = post(&receiver, "/date").await;
    assert_eq!(date.status(), 503);
    assert_eq!(
        date.headers()["retry-after"],
        "Wed, 21 Oct 2015 07:28:00 GMT"
    );
}

#[tokio::test]
async fn headers_sends_every_given_header_and_the_body() {
    let receiver = Receiver::start().await;
    receiver.set_default(Behaviour::Headers(
        200,
        vec![
            ("X-RateLimit-Remaining".into(), "0".into()),
            ("X-RateLimit-Reset-After".into(), "1.25".into()),
            ("Set-Cookie".into(), "a=1".into()),
            ("Set-Cookie".into(), "b=2".into()),
        ],
        "{\"id\":\"1\"}".into(),
    ));
    let response = post(&receiver, "/hook").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(response.headers()["x-ratelimit-reset-after"], "1.25");
    let cookies: Vec<_> = response.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(response.text().await.unwrap(), "{\"id\":\"1\"}");
}

#[tokio::test]
async fn slow_answers_only_after_the_delay() {
    let receiver = Receiver::start().await;
    let delay = Duration::from_millis(150);
    receiver.set_default(Behaviour::Slow(delay, 202));
    let started = Instant::now();
    let response = post(&receiver, "/hook").await;
    assert!(
        started.elapsed() >= delay,
        "answered after {:?}",
        started.elapsed()
    );
    assert_eq!(response.status(), 202);
    assert_eq!(receiver.requests()[0].answered_status, 202);
}

#[tokio::test]
async fn slow_body_sends_headers_first_then_trickles_the_body() {
    let receiver = Receiver::start().await;
    let chunk_delay = Duration::from_millis(100);
    receiver.set_default(Behaviour::SlowBody {
        status: 200,
        chunk_delay,
        chunks: 3,
    });
    let started = Instant::now();
    let mut response = post(&receiver, "/hook").await;
    let headers_at = started.elapsed();
    assert_eq!(response.status(), 200);

    let (mut body, mut pieces) = (Vec::new(), 0);
    while let Some(chunk) = response.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
        pieces += 1;
    }
    let done_at = started.elapsed();
    assert_eq!(body, b"...");
    assert!(pieces >= 2, "body came in {pieces} piece(s), not trickled");
    // At least the last two delays fall after the headers arrived.
    assert!(
        done_at - headers_at >= 2 * chunk_delay,
        "headers at {headers_at:?}, body done at {done_at:?}"
    );
}

#[tokio::test]
async fn hang_never_answers_but_is_recorded_on_arrival() {
    let receiver = Receiver::start().await;
    receiver.set("/stuck", Behaviour::Hang);
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let error = impatient
        .post(receiver.url("/stuck"))
        .header("webhook-id", "msg_hang")
        .body("{}")
        .send()
        .await
        .expect_err("a hanging receiver answered");
    assert!(
        error.is_timeout(),
        "expected a client timeout, got {error:?}"
    );

    let recorded = receiver.wait_for_path("/stuck", 1, WAIT).await;
    assert_eq!(recorded[0].answered_status, 0);
    assert_eq!(recorded[0].webhook_id(), Some("msg_hang"));
}

#[tokio::test]
async fn shutdown_resets_hanging_connections_and_stops_listening() {
    let receiver = Receiver::start().await;
    receiver.set_default(Behaviour::Hang);
    let url = receiver.url("/stuck");
    let pending = tokio::spawn(client().post(url.clone()).body("{}").send());
    receiver.wait_for(1, WAIT).await;

    tokio::time::timeout(WAIT, receiver.shutdown())
        .await
        .expect("shutdown waited on a hanging request");
    let outcome = tokio::time::timeout(WAIT, pending)
        .await
        .expect("hanging request outlived the receiver")
        .unwrap();
    assert!(
        outcome.is_err(),
        "a hanging request got an answer: {outcome:?}"
    );
    assert!(client().post(url).send().await.is_err(), "still listening");
}

#[tokio::test]
async fn random_with_a_seed_repeats_exactly_and_matches_the_rate() {
    let receiver = Receiver::start().await;
    let client = client();
    let random = |seed| Behaviour::Random {
        failure_rate: 0.25,
        fail_status: 503,
        seed,
    };
    let run = async |seed| {
        // Setting again restarts the draws.
        receiver.set("/flaky", random(seed));
        let mut statuses = Vec::with_capacity(1000);
        for _ in 0..1000 {
            statuses.push(status_of(&client, &receiver, "/flaky").await);
        }
        statuses
    };
    let first = run(42).await;
    let again = run(42).await;
    let other = run(7).await;

    assert_eq!(first, again, "same seed, different answers");
    assert_ne!(first, other, "different seeds, same answers");
    assert!(first.iter().all(|s| *s == 200 || *s == 503));
    let failures = first.iter().filter(|s| **s == 503).count();
    assert!(
        (200..=300).contains(&failures),
        "{failures} failures in 1000 at rate 0.25"
    );
}

#[tokio::test]
async fn redirect_is_a_302_with_location() {
    let receiver = Receiver::start().await;
    receiver.set_default(Behaviour::Redirect("https://elsewhere.example/hook".into()));
    let response = post(&receiver, "/moved").await;
    assert_eq!(response.status(), 302);
    assert_eq!(
        response.headers()["location"],
        "https://elsewhere.example/hook"
    );
    assert_eq!(receiver.count(), 1);
}

#[tokio::test]
async fn push_queue_is_used_in_order_then_falls_back() {
    let receiver = Receiver::start().await;
    let client = client();
    receiver.set("/q", Behaviour::Status(201));
    receiver.push(
        "/q",
        [
            Behaviour::Status(500),
            Behaviour::StatusBody(429, "slow down".into()),
        ],
    );
    receiver.push("/q", [Behaviour::Status(503)]);

    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(status_of(&client, &receiver, "/q").await);
        // Another path must not consume this path's queue.
        assert_eq!(status_of(&client, &receiver, "/other").await, 200);
    }
    assert_eq!(statuses, [500, 429, 503, 201, 201]);

    let answered: Vec<u16> = receiver
        .requests_for("/q")
        .iter()
        .map(|r| r.answered_status)
        .collect();
    assert_eq!(answered, statuses);
}

#[tokio::test]
async fn push_without_a_path_setting_falls_back_to_the_default() {
    let receiver = Receiver::start().await;
    let client = client();
    receiver.set_default(Behaviour::Status(204));
    receiver.push("/q", [Behaviour::Status(500)]);
    assert_eq!(status_of(&client, &receiver, "/q").await, 500);
    assert_eq!(status_of(&client, &receiver, "/q").await, 204);
}

#[tokio::test]
async fn per_path_settings_do_not_affect_other_paths() {
    let receiver = Receiver::start().await;
    let client = client();
    receiver.set("/a", Behaviour::Status(500));
    receiver.set_default(Behaviour::Status(204));

    assert_eq!(status_of(&client, &receiver, "/a").await, 500);
    assert_eq!(status_of(&client, &receiver, "/b").await, 204);
    // The path is matched exactly, not as a prefix.
    assert_eq!(status_of(&client, &receiver, "/a/b").await, 204);

    receiver.set("/b", Behaviour::Status(410));
    assert_eq!(status_of(&client, &receiver, "/a").await, 500);
    assert_eq!(status_of(&client, &receiver, "/b").await, 410);
    assert_eq!(receiver.requests_for("/a").len(), 2);
    assert_eq!(receiver.requests_for("/b").len(), 2);
}

#[tokio::test]
async fn records_method_path_query_headers_and_body() {
    let receiver = Receiver::start().await;
    let body = json!({"type": "order.filled", "data": {"qty": "1.5"}});
    client()
        .put(receiver.url("/hooks/x?wait=true"))
        .header("Webhook-Id", "msg_1")
        .header("webhook-timestamp", "1614265330")
        .header("webhook-signature", "v1,abc v1,def")
        .json(&body)
        .send()
        .await
        .unwrap();
    client()
        .delete(receiver.url("/other"))
        .send()
        .await
        .unwrap();

    let all = receiver.requests();
    assert_eq!(all.len(), 2);
    let put = &all[0];
    assert_eq!(put.method, "PUT");
    assert_eq!(put.path, "/hooks/x");
    assert_eq!(put.query.as_deref(), Some("wait=true"));
    assert!(
        put.headers
            .iter()
            .any(|(n, v)| n == "webhook-id" && v == "msg_1")
    );
    assert_eq!(put.header("WEBHOOK-TIMESTAMP"), Some("1614265330"));
    assert_eq!(put.header("webhook-signature"), Some("v1,abc v1,def"));
    assert_eq!(put.webhook_id(), Some("msg_1"));
    assert_eq!(put.json(), body);
    assert_eq!(put.answered_status, 200);
    assert_eq!(all[1].method, "DELETE");
    assert_eq!(all[1].query, None);
    assert!(all[1].body.is_empty());
    assert!(all[0].received_at <= all[1].received_at);
}

#[tokio::test]
async fn bodies_of_several_mebibytes_are_recorded_whole() {
    let receiver = Receiver::start().await;
    let body: Vec<u8> = (0..4 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let response = client()
        .post(receiver.url("/big"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        receiver.requests()[0].body == body,
        "body changed in transit"
    );
}

#[tokio::test]
async fn counting_only_keeps_ids_and_times_but_not_bodies() {
    let receiver = Receiver::start_counting_only().await;
    client()
        .post(receiver.url("/bench"))
        .header("webhook-id", "msg_2")
        .header("webhook-timestamp", "1700000000")
        .header("x-extra", "dropped")
        .body(vec![b'x'; 64 * 1024])
        .send()
        .await
        .unwrap();
    let lean = &receiver.requests()[0];
    assert_eq!(lean.webhook_id(), Some("msg_2"));
    assert_eq!(lean.header("webhook-timestamp"), Some("1700000000"));
    assert_eq!(lean.header("x-extra"), None);
    assert!(lean.body.is_empty());
    assert_eq!(lean.answered_status, 200);

    receiver.record_bodies(true);
    post(&receiver, "/bench").await;
    assert_eq!(receiver.requests()[1].body, b"{}");
}

#[tokio::test]
async fn keeps_the_connection_alive_between_requests() {
    let receiver = Receiver::start().await;
    let mut socket = tokio::net::TcpStream::connect(receiver.addr())
        .await
        .unwrap();
    let request = b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}";
    socket.write_all(request).await.unwrap();
    socket.write_all(request).await.unwrap();

    let mut seen = Vec::new();
    let read_both = async {
        let mut buf = [0u8; 1024];
        while count_matches(&seen, b"HTTP/1.1 200 OK") < 2 {
            let n = socket.read(&mut buf).await.unwrap();
            assert_ne!(
                n,
                0,
                "connection closed after {:?}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(WAIT, read_both)
        .await
        .expect("second answer never came on the same connection");
    assert_eq!(receiver.count(), 2);
}

fn count_matches(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

#[tokio::test]
async fn wait_for_wakes_as_requests_arrive() {
    let receiver = Receiver::start().await;
    let send = async {
        for _ in 0..3 {
            post(&receiver, "/hook").await;
        }
    };
    // The waiter starts before any request exists and is woken by them.
    let (recorded, ()) = tokio::join!(receiver.wait_for(3, WAIT), send);
    assert_eq!(recorded.len(), 3);
}

#[tokio::test]
async fn wait_for_returns_at_once_when_already_satisfied() {
    let receiver = Receiver::start().await;
    post(&receiver, "/hook").await;
    let recorded = tokio::time::timeout(WAIT, receiver.wait_for(1, Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(recorded.len(), 1);
}

#[tokio::test]
async fn wait_for_path_counts_only_that_path() {
    let receiver = Receiver::start().await;
    let send = async {
        post(&receiver, "/other").await;
        post(&receiver, "/other").await;
        post(&receiver, "/wanted").await;
    };
    let (recorded, ()) = tokio::join!(receiver.wait_for_path("/wanted", 1, WAIT), send);
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].path, "/wanted");
}

#[tokio::test]
#[should_panic(expected = "expected at least 2 requests within 100ms, got 1")]
async fn wait_for_panics_with_what_arrived_on_timeout() {
    let receiver = Receiver::start().await;
    post(&receiver, "/only").await;
    receiver.wait_for(2, Duration::from_millis(100)).await;
}

#[tokio::test]
async fn clear_forgets_requests_but_keeps_behaviours() {
    let receiver = Receiver::start().await;
    receiver.set("/a", Behaviour::Status(500));
    post(&receiver, "/a").await;
    post(&receiver, "/a").await;
    receiver.clear();
    assert_eq!(receiver.count(), 0);

    let (recorded, response) = tokio::join!(receiver.wait_for(1, WAIT), post(&receiver, "/a"));
    assert_eq!(recorded.len(), 1);
    assert_eq!(response.status(), 500);
}

#[tokio::test]
#[should_panic(expected = "without a query")]
async fn set_refuses_a_path_with_a_query() {
    let receiver = Receiver::start().await;
    receiver.set("/hook?wait=true", Behaviour::Status(204));
}
