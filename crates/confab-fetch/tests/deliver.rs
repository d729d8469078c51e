//! Status callback deliveries against a real local server: signing (checked by twilio-python's
//! validator too), headers, retries by override with one idempotency token, redirects not
//! followed, a hanging receiver and an endless body.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use common::{answer, pairs, serve, twilio_python_validates, Recorded};
use confab_core::webhook::signature;
use confab_core::HttpMethod;
use confab_fetch::{codes, delivery_host, CallbackRequest, Fetcher, FetcherConfig};

const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const IDEMPOTENCY: &str = "0f6d4c1e-5b1a-4c53-9a83-3f1f2c0e9b11";

fn callback<'a>(
    url: &'a str,
    method: HttpMethod,
    params: &'a [(String, String)],
) -> CallbackRequest<'a> {
    CallbackRequest {
        url,
        method,
        params,
        auth_token: TOKEN,
        idempotency_token: IDEMPOTENCY,
    }
}

fn fetcher() -> Fetcher {
    Fetcher::new(FetcherConfig::default())
}

async fn no_content(_: Recorded) -> axum::response::Response {
    answer(204, &[], "")
}

#[tokio::test]
async fn post_and_get_are_signed_as_twilio_signs_and_carry_its_headers() {
    let server = serve(no_content).await;
    let f = fetcher();
    let params = pairs(&[
        ("ConferenceSid", "CF1"),
        ("SequenceNumber", "3"),
        ("StatusCallbackEvent", "participant-join"),
        ("FriendlyName", "a room & more"),
    ]);
    let post_url = server.url("/cb?app=1#ct=2000&rc=0");
    let report = f
        .deliver(&callback(&post_url, HttpMethod::Post, &params))
        .await;
    assert_eq!((report.attempts, report.result), (1, Ok(204)));
    let get_url = server.url("/cb?app=2");
    let report = f
        .deliver(&callback(&get_url, HttpMethod::Get, &params))
        .await;
    assert_eq!((report.attempts, report.result), (1, Ok(204)));

    let seen = server.requests();
    let (post, get) = (&seen[0], &seen[1]);
    assert_eq!(post.method, "POST");
    assert_eq!(
        post.url,
        server.url("/cb?app=1"),
        "the fragment is never sent"
    );
    assert_eq!(post.form(), params);
    assert_eq!(
        post.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        post.header("x-twilio-signature"),
        signature(TOKEN, &post.url, &params)
    );
    assert_eq!(get.method, "GET");
    assert!(get.body.is_empty());
    let query: Vec<(String, String)> =
        form_urlencoded::parse(get.query.as_deref().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    assert_eq!(query[0], ("app".to_owned(), "2".to_owned()));
    assert_eq!(
        &query[1..],
        &params[..],
        "GET carries the parameters in its query"
    );
    assert_eq!(
        get.header("x-twilio-signature"),
        signature(TOKEN, &get.url, &[])
    );
    for r in &seen {
        assert_eq!(r.header("user-agent"), "TwilioProxy/1.1");
        assert_eq!(r.header("i-twilio-idempotency-token"), IDEMPOTENCY);
    }
    assert_eq!(
        twilio_python_validates(&seen, TOKEN).await,
        vec![true, true]
    );
}

#[tokio::test]
async fn retries_follow_the_overrides_with_one_token() {
    let server = serve(|_| async { answer(500, &[], "down") }).await;
    let f = fetcher();
    let params = pairs(&[("CallSid", "CA1")]);
    // Twilio's default retries only a failed connect: a 500 is tried once.
    let plain = server.url("/default");
    let report = f
        .deliver(&callback(&plain, HttpMethod::Post, &params))
        .await;
    assert_eq!(report.attempts, 1);
    let error = report.result.expect_err("500 is a failure");
    assert_eq!(
        (error.code, error.status),
        (codes::HTTP_ERROR_STATUS, Some(500))
    );

    let retried = server.url("/retried#rc=2&rp=5xx");
    let report = f
        .deliver(&callback(&retried, HttpMethod::Post, &params))
        .await;
    assert_eq!(report.attempts, 3, "one attempt and rc=2 retries");
    assert_eq!(server.hits("/retried"), 3);
    let tokens: Vec<String> = server
        .requests()
        .iter()
        .filter(|r| r.path == "/retried")
        .map(|r| r.header("i-twilio-idempotency-token"))
        .collect();
    assert_eq!(
        tokens,
        vec![IDEMPOTENCY.to_owned(); 3],
        "the same token on every attempt"
    );

    // Nothing listens on a port just released: the connect fails and is retried once.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/cb#ct=500", listener.local_addr().unwrap())
    };
    let report = f
        .deliver(&callback(&closed, HttpMethod::Post, &params))
        .await;
    assert_eq!(report.attempts, 2);
    let error = report.result.expect_err("nobody listens");
    assert_eq!(error.code, codes::CONNECTION_REFUSED);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server =
        serve(|r: Recorded| async move { answer(302, &[("location", r.path.as_str())], "") }).await;
    let url = server.url("/loop#rc=5&rp=all");
    let params = pairs(&[("CallSid", "CA1")]);
    let report = fetcher()
        .deliver(&callback(&url, HttpMethod::Post, &params))
        .await;
    assert_eq!(report.attempts, 1, "a redirect is an answer, never retried");
    let error = report.result.expect_err("a redirect is not a delivery");
    assert_eq!(
        (error.code, error.status),
        (codes::HTTP_ERROR_STATUS, Some(302))
    );
    assert_eq!(server.hits("/loop"), 1, "the redirect loop is not entered");
}

#[tokio::test]
async fn a_hanging_receiver_times_out() {
    let server = serve(|_| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        answer(204, &[], "")
    })
    .await;
    let url = server.url("/hang#rt=300&tt=600");
    let params = pairs(&[("CallSid", "CA1")]);
    let report = fetcher()
        .deliver(&callback(&url, HttpMethod::Post, &params))
        .await;
    let error = report.result.expect_err("no answer came");
    assert!(
        [codes::CONNECTION_FAILURE, codes::TOTAL_TIMEOUT].contains(&error.code),
        "{error}"
    );
    assert_eq!(
        report.attempts, 1,
        "a read timeout is not retried by default"
    );
}

/// A body that never ends, counting what it sent and noticing when it is dropped (the
/// client closed the connection).
struct Endless {
    sent: Arc<AtomicUsize>,
    dropped: Arc<AtomicBool>,
}

impl Drop for Endless {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn an_endless_body_is_not_downloaded() {
    let sent = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicBool::new(false));
    let (s, d) = (sent.clone(), dropped.clone());
    let server = serve(move |_| {
        let endless = Endless {
            sent: s.clone(),
            dropped: d.clone(),
        };
        async move {
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            let stream = futures::stream::unfold(endless, move |endless| {
                let chunk = chunk.clone();
                async move {
                    endless.sent.fetch_add(chunk.len(), Ordering::SeqCst);
                    Some((Ok::<_, std::io::Error>(chunk), endless))
                }
            });
            answer(
                200,
                &[("content-type", "text/plain")],
                Body::from_stream(stream),
            )
        }
    })
    .await;
    let url = server.url("/huge");
    let params = pairs(&[("CallSid", "CA1")]);
    let report = fetcher()
        .deliver(&callback(&url, HttpMethod::Post, &params))
        .await;
    assert_eq!(
        (report.attempts, report.result),
        (1, Ok(200)),
        "a 2xx is delivered"
    );
    for _ in 0..200 {
        if dropped.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(dropped.load(Ordering::SeqCst), "the connection was closed");
    let sent = sent.load(Ordering::SeqCst);
    assert!(
        sent < 64 << 20,
        "{sent} bytes were sent before the client hung up"
    );
}

#[test]
fn hosts_of_callback_urls() {
    assert_eq!(
        delivery_host("http://a.test/cb#rc=1").as_deref(),
        Some("a.test:80")
    );
    assert_eq!(
        delivery_host("https://a.test:8443/x").as_deref(),
        Some("a.test:8443")
    );
    assert_eq!(delivery_host("ftp://a.test/x"), None);
    assert_eq!(delivery_host("not a url"), None);
}

/// A receiver on a raw socket: answers each request on a connection with the next of
/// `answers` (cycling), closes every connection after `per_connection` answers, and counts
/// the connections it accepted.
async fn raw_receiver(
    answers: &'static [&'static str],
    per_connection: usize,
) -> (String, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                for n in 0..per_connection {
                    // One request: its head, then Content-Length bytes of body.
                    let body_at = loop {
                        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break at + 4;
                        }
                        if conn.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                            return;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..body_at]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    while buf.len() < body_at + length {
                        if conn.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                            return;
                        }
                    }
                    buf.drain(..body_at + length);
                    let answer = answers[n % answers.len()];
                    if conn.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, accepted)
}

#[tokio::test]
async fn deliveries_keep_the_connection_alive_and_survive_its_closing() {
    let answers: &[&str] = &[
        "HTTP/1.1 204 No Content\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    ];
    let (url, accepted) = raw_receiver(answers, 3).await;
    let f = fetcher();
    let params = pairs(&[("CallSid", "CA1")]);
    for expected in [204, 200, 200] {
        let report = f.deliver(&callback(&url, HttpMethod::Post, &params)).await;
        assert_eq!((report.attempts, report.result), (1, Ok(expected)));
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "three answers with delimited bodies, one connection"
    );
    // The receiver closed that connection after its third answer: the next delivery
    // notices and opens another, without a failed attempt.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let report = f.deliver(&callback(&url, HttpMethod::Get, &params)).await;
    assert_eq!((report.attempts, report.result), (1, Ok(204)));
    assert_eq!(accepted.load(Ordering::SeqCst), 2);

    // An answer that closes the connection is not reused.
    let (url, accepted) =
        raw_receiver(&["HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n"], 5).await;
    for _ in 0..2 {
        let report = f.deliver(&callback(&url, HttpMethod::Post, &params)).await;
        assert_eq!(report.result, Ok(204));
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}
