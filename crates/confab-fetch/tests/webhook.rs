//! Webhook requests against a real local server: signing, parameters,
//! redirects, timeouts, retries, body limits, content types and cookies.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{answer, pairs, serve, twilio_python_validates, Recorded};
use confab_core::webhook::signature;
use confab_core::HttpMethod;
use confab_fetch::{codes, CallCookies, Content, Fetcher, FetcherConfig, WebhookRequest};

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

fn request(url: String, method: HttpMethod, params: &[(&str, &str)]) -> WebhookRequest {
    WebhookRequest {
        url,
        method,
        params: pairs(params),
        auth_token: TOKEN.to_owned(),
        cookies: None,
    }
}

fn fetcher() -> Fetcher {
    Fetcher::new(FetcherConfig::default())
}

async fn twiml(_: Recorded) -> axum::response::Response {
    answer(200, &[("content-type", "text/xml")], "<Response/>")
}

/// The signature the server should have seen for `r`.
fn expected_signature(r: &Recorded) -> String {
    let params = if r.method == "POST" {
        r.form()
    } else {
        Vec::new()
    };
    signature(TOKEN, &r.url, &params)
}

#[tokio::test]
async fn post_is_a_signed_form_and_twilio_python_agrees() {
    let server = serve(twiml).await;
    let f = fetcher();
    let params = [
        ("CallSid", "CA1"),
        ("Caller", "+1 415"),
        ("Digits", "2"),
        ("Digits", "1"),
        ("Digits", "1"),
    ];
    let got = f
        .fetch_webhook(request(
            server.url("/voice?x=1&y=a%20b#ct=2000"),
            HttpMethod::Post,
            &params,
        ))
        .await
        .unwrap();
    assert_eq!(got.content, Content::Twiml("<Response/>".into()));
    assert_eq!(got.status, 200);
    let get = request(
        server.url("/status?x=1"),
        HttpMethod::Get,
        &[("CallStatus", "in-progress"), ("To", "+1&2")],
    );
    f.fetch_webhook(get).await.unwrap();
    f.fetch_webhook(request(server.url("/empty"), HttpMethod::Post, &[]))
        .await
        .unwrap();

    let seen = server.requests();
    assert_eq!(seen.len(), 3);
    let post = &seen[0];
    assert_eq!(post.method, "POST");
    assert_eq!(
        post.query.as_deref(),
        Some("x=1&y=a%20b"),
        "the fragment is never sent"
    );
    assert_eq!(post.form(), pairs(&params));
    assert_eq!(
        post.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    assert_eq!(post.header("user-agent"), "TwilioProxy/1.1");
    assert_eq!(post.header("accept"), "*/*");
    let token = post.header("i-twilio-idempotency-token");
    assert_eq!(
        uuid::Uuid::parse_str(&token).map(|u| u.get_version_num()),
        Ok(4)
    );
    assert_ne!(token, seen[1].header("i-twilio-idempotency-token"));
    for r in &seen {
        assert_eq!(
            r.header("x-twilio-signature"),
            expected_signature(r),
            "{}",
            r.url
        );
    }
    assert_eq!(
        twilio_python_validates(&seen, TOKEN).await,
        vec![true, true, true]
    );
}

#[tokio::test]
async fn get_appends_params_to_the_query_and_signs_the_url() {
    let server = serve(twiml).await;
    let req = request(
        server.url("/hold?a=1"),
        HttpMethod::Get,
        &[("CallSid", "CA1"), ("From", "+1 2")],
    );
    fetcher().fetch_webhook(req).await.unwrap();
    let r = &server.requests()[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.query.as_deref(), Some("a=1&CallSid=CA1&From=%2B1+2"));
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-type"), "");
    assert_eq!(
        r.header("x-twilio-signature"),
        signature(TOKEN, &r.url, &[])
    );
}

async fn redirects(r: Recorded) -> axum::response::Response {
    let hop = |status: u16, to: &str| answer(status, &[("location", to)], "");
    match r.path.as_str() {
        "/303" => hop(303, "/final?k=v"),
        "/307" => hop(307, "/final"),
        "/nowhere" => answer(302, &[], ""),
        "/ftp" => hop(301, "ftp://example.com/x"),
        p if p.starts_with("/chain/") => {
            let n: u32 = p["/chain/".len()..].parse().unwrap();
            if n == 0 {
                twiml(r).await
            } else {
                hop(302, &format!("/chain/{}", n - 1))
            }
        }
        _ => twiml(r).await,
    }
}

#[tokio::test]
async fn redirects_follow_twilio_rules() {
    let server = serve(redirects).await;
    let f = fetcher();
    let post = |path: &str| request(server.url(path), HttpMethod::Post, &[("CallSid", "CA1")]);

    let got = f.fetch_webhook(post("/303")).await.unwrap();
    assert_eq!(got.final_url, server.url("/final?k=v"));
    let seen = server.requests();
    let last = seen.last().unwrap();
    assert_eq!(
        (last.method.as_str(), last.body.is_empty()),
        ("GET", true),
        "303 drops the parameters"
    );
    assert_eq!(
        last.header("x-twilio-signature"),
        signature(TOKEN, &last.url, &[])
    );
    assert_eq!(
        last.header("i-twilio-idempotency-token"),
        seen[0].header("i-twilio-idempotency-token")
    );

    f.fetch_webhook(post("/307")).await.unwrap();
    let last = server.requests().pop().unwrap();
    assert_eq!(last.method, "POST", "307 keeps method and body");
    assert_eq!(last.form(), pairs(&[("CallSid", "CA1")]));
    assert_eq!(last.header("x-twilio-signature"), expected_signature(&last));

    assert!(
        f.fetch_webhook(post("/chain/10")).await.is_ok(),
        "10 redirects are allowed"
    );
    let err = f.fetch_webhook(post("/chain/11")).await.unwrap_err();
    assert_eq!(err.code, codes::TOO_MANY_REDIRECTS);
    assert_eq!(
        f.fetch_webhook(post("/nowhere")).await.unwrap_err().code,
        codes::INVALID_REDIRECT
    );
    assert_eq!(
        f.fetch_webhook(post("/ftp")).await.unwrap_err().code,
        codes::INVALID_REDIRECT
    );
}

async fn slow(r: Recorded) -> axum::response::Response {
    tokio::time::sleep(Duration::from_millis(3000)).await;
    twiml(r).await
}

#[tokio::test]
async fn read_and_total_timeouts_come_from_the_fragment() {
    let server = serve(slow).await;
    let f = fetcher();
    let started = Instant::now();
    let err = f
        .fetch_webhook(request(server.url("/slow#rt=200"), HttpMethod::Post, &[]))
        .await
        .unwrap_err();
    assert_eq!(err.code, codes::CONNECTION_FAILURE, "{err}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        server.hits("/slow"),
        1,
        "read timeouts are not retried by default"
    );

    let started = Instant::now();
    let err = f
        .fetch_webhook(request(server.url("/slow#tt=300"), HttpMethod::Post, &[]))
        .await
        .unwrap_err();
    assert_eq!(err.code, codes::TOTAL_TIMEOUT, "{err}");
    assert!(started.elapsed() < Duration::from_millis(1500));

    // rp=rt retries the read timeout, with the same idempotency token.
    f.fetch_webhook(request(
        server.url("/slow2#rt=150&rp=rt&rc=2"),
        HttpMethod::Post,
        &[],
    ))
    .await
    .unwrap_err();
    let retried: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/slow2")
        .collect();
    assert_eq!(retried.len(), 3);
    assert!(retried
        .iter()
        .all(|r| r.header("i-twilio-idempotency-token")
            == retried[0].header("i-twilio-idempotency-token")));
}

#[tokio::test]
async fn server_errors_are_11217_and_retried_only_when_rp_says_so() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let server = serve(move |r: Recorded| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            match (r.path.as_str(), n) {
                ("/flaky", 0) => answer(503, &[], "busy"),
                ("/missing", _) => answer(404, &[], "no"),
                _ => twiml(r).await,
            }
        }
    })
    .await;
    let f = fetcher();
    let err = f
        .fetch_webhook(request(server.url("/missing"), HttpMethod::Post, &[]))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code, err.status),
        (codes::HTTP_ERROR_STATUS, Some(404))
    );
    assert_eq!(server.hits("/missing"), 1, "4xx is not retried by default");

    attempts.store(0, Ordering::SeqCst);
    let ok = f
        .fetch_webhook(request(
            server.url("/flaky#rp=5xx&rc=1"),
            HttpMethod::Post,
            &[("A", "1")],
        ))
        .await
        .unwrap();
    assert_eq!(ok.status, 200);
    let tries: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/flaky")
        .collect();
    assert_eq!(tries.len(), 2);
    assert_eq!(
        tries[0].header("i-twilio-idempotency-token"),
        tries[1].header("i-twilio-idempotency-token")
    );
    assert_eq!(
        tries[0].header("x-twilio-signature"),
        tries[1].header("x-twilio-signature")
    );

    attempts.store(0, Ordering::SeqCst);
    let err = f
        .fetch_webhook(request(server.url("/flaky"), HttpMethod::Post, &[]))
        .await
        .unwrap_err();
    assert_eq!(err.status, Some(503), "5xx is not retried by default");
}

/// A listener whose accept queue is full, so new connection attempts time
/// out; it starts accepting (and answering) after `delay`.
async fn listener_that_accepts_after(
    delay: Duration,
) -> (std::net::SocketAddr, Vec<tokio::net::TcpStream>) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    // Fill the accept queue; further SYNs are dropped by the kernel.
    let mut fillers = Vec::new();
    for _ in 0..2 {
        if let Ok(Ok(s)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            fillers.push(s);
        }
    }
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let app = axum::Router::new()
            .fallback(|| async { answer(200, &[("content-type", "text/xml")], "<Response/>") });
        axum::serve(listener, app).await.unwrap();
    });
    (addr, fillers)
}

#[tokio::test]
async fn a_failed_connect_is_retried_once_by_default() {
    let (addr, _fillers) = listener_that_accepts_after(Duration::from_millis(150)).await;
    let f = fetcher();
    let started = Instant::now();
    // The first SYN is dropped (queue full); the kernel would resend it only
    // after 1 s, so the attempt times out at ct=500 and the retry connects.
    let got = f
        .fetch_webhook(request(
            format!("http://{addr}/a#ct=500"),
            HttpMethod::Post,
            &[],
        ))
        .await;
    assert!(got.is_ok(), "{got:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "the first attempt timed out"
    );

    let (addr, _fillers) = listener_that_accepts_after(Duration::from_millis(150)).await;
    let err = f
        .fetch_webhook(request(
            format!("http://{addr}/a#ct=500&rc=0"),
            HttpMethod::Post,
            &[],
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code, codes::CONNECT_TIMEOUT, "{err}");
}

#[tokio::test]
async fn refused_and_unresolvable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let f = fetcher();
    let err = f
        .fetch_webhook(request(
            format!("http://127.0.0.1:{port}/x"),
            HttpMethod::Post,
            &[],
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code, codes::CONNECTION_REFUSED, "{err}");
    let err = f
        .fetch_webhook(request(
            "http://no-such-host.invalid/x".into(),
            HttpMethod::Post,
            &[],
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code, codes::BAD_HOST_NAME, "{err}");
}

async fn bodies(r: Recorded) -> axum::response::Response {
    let big = "x".repeat(64 * 1024 + 1);
    match r.path.as_str() {
        "/xml" => answer(
            200,
            &[("content-type", "application/xml; charset=utf-8")],
            "<Response/>",
        ),
        "/text" => answer(200, &[("content-type", "text/plain")], "Hello"),
        "/mp3" => answer(
            200,
            &[("content-type", "audio/mpeg")],
            vec![0xffu8, 0xfb, 0x90],
        ),
        "/204" => answer(204, &[], ""),
        "/json" => answer(200, &[("content-type", "application/json")], "{}"),
        "/none" => answer(200, &[], "<Response/>"),
        "/empty" => answer(200, &[("content-type", "text/xml")], ""),
        "/exactly64k" => answer(200, &[("content-type", "text/xml")], "y".repeat(64 * 1024)),
        "/big" => answer(200, &[("content-type", "text/xml")], big),
        "/big-chunked" => {
            let chunks = (0..17).map(|_| Ok::<_, std::io::Error>(vec![b'z'; 4096]));
            let body = axum::body::Body::from_stream(futures::stream::iter(chunks));
            answer(200, &[("content-type", "text/plain")], body)
        }
        _ => answer(500, &[], ""),
    }
}

#[tokio::test]
async fn content_types_and_body_limits() {
    let server = serve(bodies).await;
    let f = fetcher();
    let get = |path: &str| f.fetch_webhook(request(server.url(path), HttpMethod::Get, &[]));
    assert_eq!(
        get("/xml").await.unwrap().content,
        Content::Twiml("<Response/>".into())
    );
    assert_eq!(
        get("/text").await.unwrap().content,
        Content::Text("Hello".into())
    );
    assert_eq!(
        get("/mp3").await.unwrap().content,
        Content::Audio {
            mime: "audio/mpeg".into(),
            body: vec![0xffu8, 0xfb, 0x90].into()
        }
    );
    let empty = get("/204").await.unwrap();
    assert_eq!((empty.status, empty.content), (204, Content::Empty));
    for (path, code) in [
        ("/json", codes::INVALID_CONTENT_TYPE),
        ("/none", codes::INVALID_CONTENT_TYPE),
        ("/empty", codes::EMPTY_BODY),
        ("/big", codes::BODY_TOO_LARGE),
        ("/big-chunked", codes::BODY_TOO_LARGE),
    ] {
        assert_eq!(
            get(path).await.map(|_| ()).map_err(|e| e.code),
            Err(code),
            "{path}"
        );
    }
    assert!(get("/exactly64k").await.is_ok());
}

async fn cookie_app(r: Recorded) -> axum::response::Response {
    match r.path.as_str() {
        "/login" => answer(
            200,
            &[
                ("content-type", "text/xml"),
                ("set-cookie", "session=abc; Path=/"),
            ],
            "<Response/>",
        ),
        "/bounce" => answer(
            302,
            &[("location", "/check"), ("set-cookie", "hop=1; Path=/")],
            "",
        ),
        _ => twiml(r).await,
    }
}

#[tokio::test]
async fn cookies_are_kept_per_call() {
    let server = serve(cookie_app).await;
    let f = fetcher();
    let call_a = Arc::new(CallCookies::new());
    let call_b = Arc::new(CallCookies::new());
    let with = |path: &str, jar: &Arc<CallCookies>| WebhookRequest {
        cookies: Some(jar.clone()),
        ..request(server.url(path), HttpMethod::Post, &[])
    };
    f.fetch_webhook(with("/login", &call_a)).await.unwrap();
    f.fetch_webhook(with("/bounce", &call_a)).await.unwrap();
    f.fetch_webhook(with("/check", &call_b)).await.unwrap();
    f.fetch_webhook(request(server.url("/check"), HttpMethod::Post, &[]))
        .await
        .unwrap();

    let cookies: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.header("cookie"))
        .collect();
    assert_eq!(cookies[0], "");
    assert_eq!(cookies[1], "session=abc");
    // The redirect's own cookie is sent on the follow-up.
    let check = &cookies[2];
    assert!(
        check.contains("session=abc") && check.contains("hop=1"),
        "{check}"
    );
    assert_eq!(cookies[3], "", "another call has its own jar");
    assert_eq!(cookies[4], "", "no jar, no cookies");
}
