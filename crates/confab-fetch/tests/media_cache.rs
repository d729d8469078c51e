//! `<Play>` media through the cache, against a real local server.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{answer, serve, Recorded};
use confab_core::webhook::signature;
use confab_fetch::{codes, Fetcher, FetcherConfig};

const WAV: &str = "audio/wav";

async fn media(r: Recorded) -> axum::response::Response {
    let body = format!("audio of {}", r.path);
    match r.path.as_str() {
        "/fresh" => answer(
            200,
            &[("content-type", WAV), ("cache-control", "max-age=60")],
            body,
        ),
        "/etag" if r.header("if-none-match") == "\"v1\"" => answer(304, &[("etag", "\"v1\"")], ""),
        "/etag" => answer(200, &[("content-type", WAV), ("etag", "\"v1\"")], body),
        "/dated" if r.header("if-modified-since") == "Wed, 21 Oct 2015 07:28:00 GMT" => {
            answer(304, &[], "")
        }
        "/dated" => answer(
            200,
            &[
                ("content-type", WAV),
                ("last-modified", "Wed, 21 Oct 2015 07:28:00 GMT"),
                ("cache-control", "no-cache"),
            ],
            body,
        ),
        "/no-store" => answer(
            200,
            &[
                ("content-type", WAV),
                ("cache-control", "no-store"),
                ("etag", "\"x\""),
            ],
            body,
        ),
        "/plain" => answer(200, &[("content-type", WAV)], body),
        "/xml" => answer(200, &[("content-type", "text/xml")], "<Response/>"),
        "/gone" => answer(404, &[], ""),
        "/moved" => answer(302, &[("location", "/fresh")], ""),
        p if p.starts_with("/sized/") => answer(
            200,
            &[("content-type", WAV), ("cache-control", "max-age=60")],
            vec![7u8; 100],
        ),
        _ => answer(500, &[], ""),
    }
}

#[tokio::test]
async fn max_age_serves_the_second_fetch_from_the_cache() {
    let server = serve(media).await;
    let f = Fetcher::new(FetcherConfig::default());
    let first = f.fetch_media(&server.url("/fresh")).await.unwrap();
    let second = f.fetch_media(&server.url("/fresh")).await.unwrap();
    assert_eq!(first.body, "audio of /fresh");
    assert_eq!(first.mime, WAV);
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(server.hits("/fresh"), 1);
    let r = &server.requests()[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.query, None, "no standard parameters for <Play>");
    assert_eq!(
        r.header("x-twilio-signature"),
        "",
        "unsigned without a token"
    );
}

#[tokio::test]
async fn etag_and_last_modified_revalidate_and_304_reuses_the_body() {
    let server = serve(media).await;
    let f = Fetcher::new(FetcherConfig::default());
    for path in ["/etag", "/dated"] {
        let first = f.fetch_media(&server.url(path)).await.unwrap();
        let second = f.fetch_media(&server.url(path)).await.unwrap();
        assert!(Arc::ptr_eq(&first, &second), "{path}");
        assert_eq!(server.hits(path), 2, "{path}: revalidated every use");
    }
    let seen = server.requests();
    assert_eq!(seen[0].header("if-none-match"), "");
    assert_eq!(seen[1].header("if-none-match"), "\"v1\"");
    assert_eq!(
        seen[3].header("if-modified-since"),
        "Wed, 21 Oct 2015 07:28:00 GMT"
    );
}

#[tokio::test]
async fn no_store_and_validator_less_answers_are_not_kept() {
    let server = serve(media).await;
    let f = Fetcher::new(FetcherConfig::default());
    for path in ["/no-store", "/plain"] {
        f.fetch_media(&server.url(path)).await.unwrap();
        f.fetch_media(&server.url(path)).await.unwrap();
        assert_eq!(server.hits(path), 2, "{path}");
    }
    assert!(server
        .requests()
        .iter()
        .all(|r| r.header("if-none-match").is_empty()));
}

#[tokio::test]
async fn the_byte_bound_evicts_the_least_recently_used() {
    let server = serve(media).await;
    let config = FetcherConfig {
        cache_max_bytes: 250,
        ..FetcherConfig::default()
    };
    let f = Fetcher::new(config);
    for path in ["/sized/a", "/sized/b", "/sized/a", "/sized/c"] {
        f.fetch_media(&server.url(path)).await.unwrap();
    }
    // c pushed out b (least recently used), not a.
    f.fetch_media(&server.url("/sized/a")).await.unwrap();
    assert_eq!(server.hits("/sized/a"), 1);
    f.fetch_media(&server.url("/sized/b")).await.unwrap();
    assert_eq!(server.hits("/sized/b"), 2);
}

#[tokio::test]
async fn concurrent_requests_share_one_download() {
    let server = serve(|r: Recorded| async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        media(Recorded {
            path: "/fresh".into(),
            ..r
        })
        .await
    })
    .await;
    let f = Fetcher::new(FetcherConfig::default());
    let url = server.url("/slow");
    let all = futures::future::join_all((0..5).map(|_| f.fetch_media(&url))).await;
    assert!(all
        .iter()
        .all(|r| r.as_ref().is_ok_and(|b| b.body == "audio of /fresh")));
    assert_eq!(server.hits("/slow"), 1);
}

#[tokio::test]
async fn huge_bodies_are_refused_without_downloading_them() {
    let produced = Arc::new(AtomicUsize::new(0));
    let counter = produced.clone();
    let server = serve(move |r: Recorded| {
        let counter = counter.clone();
        async move {
            let chunks = futures::stream::repeat_with(move || {
                counter.fetch_add(64 * 1024, Ordering::SeqCst);
                Ok::<_, std::io::Error>(vec![0u8; 64 * 1024])
            });
            let body = axum::body::Body::from_stream(chunks);
            let mut response = answer(200, &[("content-type", "audio/mpeg")], body);
            if r.path == "/declared" {
                let length = axum::http::HeaderValue::from_static("10000000000");
                response.headers_mut().insert("content-length", length);
            }
            response
        }
    })
    .await;
    let config = FetcherConfig {
        audio_limit: 1024 * 1024,
        ..FetcherConfig::default()
    };
    let f = Fetcher::new(config);

    let err = f.fetch_media(&server.url("/declared")).await.unwrap_err();
    assert_eq!(err.code, codes::BODY_TOO_LARGE);
    let err = f.fetch_media(&server.url("/endless")).await.unwrap_err();
    assert_eq!(err.code, codes::BODY_TOO_LARGE);
    // The endless body was read only a little past the limit (socket buffers aside).
    assert!(produced.load(Ordering::SeqCst) < 64 * 1024 * 1024);
}

#[tokio::test]
async fn signed_redirected_and_failing_media() {
    let server = serve(media).await;
    let f = Fetcher::new(FetcherConfig::default());
    let moved = f
        .fetch_media_signed(&server.url("/moved"), Some("secret"))
        .await
        .unwrap();
    assert_eq!(moved.final_url, server.url("/fresh"));
    for r in server.requests() {
        assert_eq!(
            r.header("x-twilio-signature"),
            signature("secret", &r.url, &[])
        );
    }
    let err = f.fetch_media(&server.url("/xml")).await.unwrap_err();
    assert_eq!(err.code, codes::PLAY_NOT_AUDIO);
    let err = f.fetch_media(&server.url("/gone")).await.unwrap_err();
    assert_eq!(
        (err.code, err.status),
        (codes::HTTP_ERROR_STATUS, Some(404))
    );
    assert_eq!(
        f.fetch_media("file:///etc/passwd").await.unwrap_err().code,
        codes::HTTP_RETRIEVAL_FAILURE
    );
}

fn hold_request(url: String, method: confab_core::HttpMethod) -> confab_fetch::WebhookRequest {
    confab_fetch::WebhookRequest {
        url,
        method,
        params: vec![
            ("CallSid".to_owned(), "CA1".to_owned()),
            ("ConferenceSid".to_owned(), "CF1".to_owned()),
        ],
        auth_token: "token".to_owned(),
        cookies: None,
    }
}

#[tokio::test]
async fn a_hold_url_fetched_with_get_is_signed_with_its_query_and_its_audio_revalidated() {
    use confab_core::HttpMethod::{Get, Post};
    use confab_fetch::Content;
    let server = serve(media).await;
    let f = Fetcher::new(FetcherConfig::default());
    let first = f
        .fetch_cached(hold_request(server.url("/etag"), Get))
        .await
        .unwrap();
    assert!(matches!(first.content, Content::Audio { ref body, .. } if body == "audio of /etag"));
    let second = f
        .fetch_cached(hold_request(server.url("/etag"), Get))
        .await
        .unwrap();
    assert_eq!(first.content, second.content);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[1].header("if-none-match"),
        "\"v1\"",
        "the second hold revalidates"
    );
    let r = &requests[0];
    assert_eq!(r.query.as_deref(), Some("CallSid=CA1&ConferenceSid=CF1"));
    let signed_url = format!("{}?CallSid=CA1&ConferenceSid=CF1", server.url("/etag"));
    assert_eq!(
        r.header("x-twilio-signature"),
        signature("token", &signed_url, &[])
    );

    // A document is never kept; POST never goes through the cache.
    for _ in 0..2 {
        let xml = f
            .fetch_cached(hold_request(server.url("/xml"), Get))
            .await
            .unwrap();
        assert_eq!(xml.content, Content::Twiml("<Response/>".to_owned()));
    }
    assert_eq!(server.hits("/xml"), 2);
    for _ in 0..2 {
        f.fetch_cached(hold_request(server.url("/fresh"), Post))
            .await
            .unwrap();
    }
    assert_eq!(server.hits("/fresh"), 2);
    let gone = f
        .fetch_cached(hold_request(server.url("/gone"), Get))
        .await
        .unwrap_err();
    assert_eq!(gone.status, Some(404));
}
