//! CPU per status-callback delivery over the plain-HTTP path, against a minimal receiver
//! in the same thread: `cargo run --release -p confab-fetch --example delivery_cost [N]`.
//!
//! Everything runs on one thread (a current-thread runtime), so that thread's CPU time
//! (`/proc/thread-self/schedstat`, nanoseconds) divided by the deliveries is the cost of one
//! delivery plus the receiver's share, which is the same whichever client sends. 16
//! deliveries are in flight at a time, each on its kept-alive connection, as the delivery
//! worker keeps several per receiver. Used to compare ways of sending (the figures in
//! `src/receiver.rs`).

use std::time::Instant;

use confab_core::HttpMethod;
use confab_fetch::{CallbackRequest, Fetcher, FetcherConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() {
    let total: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run(total));
}

async fn run(total: usize) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}/cb", listener.local_addr().expect("an address"));
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(answer_all(conn));
        }
    });
    let fetcher = Fetcher::new(FetcherConfig::default());
    let params: Vec<(String, String)> = [
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("ConferenceSid", "CF0123456789abcdef0123456789abcdef"),
        ("CallSid", "CA0123456789abcdef0123456789abcdef"),
        ("StatusCallbackEvent", "participant-mute"),
        ("SequenceNumber", "7"),
        ("Muted", "true"),
        ("Timestamp", "Tue, 01 Dec 2026 18:00:00 +0000"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    // Warm up: connections opened, URL parsed.
    deliver_all(&fetcher, &url, &params, 2_000).await;
    let (cpu, wall) = (thread_cpu_ns(), Instant::now());
    deliver_all(&fetcher, &url, &params, total).await;
    let cpu = thread_cpu_ns() - cpu;
    let wall = wall.elapsed();
    println!(
        "{total} deliveries: {:.2} us CPU each (client and receiver), {:.0}/s",
        cpu as f64 / 1e3 / total as f64,
        total as f64 / wall.as_secs_f64()
    );
}

async fn deliver_all(fetcher: &Fetcher, url: &str, params: &[(String, String)], total: usize) {
    let lanes = (0..IN_FLIGHT).map(|_| async {
        for _ in 0..total / IN_FLIGHT {
            let report = fetcher
                .deliver(&CallbackRequest {
                    url,
                    method: HttpMethod::Post,
                    params,
                    auth_token: "0123456789abcdef0123456789abcdef",
                    idempotency_token: "0f6d4c1e-5b1a-4c53-9a83-3f1f2c0e9b11",
                })
                .await;
            assert_eq!(report.result, Ok(204), "the receiver answers 204");
        }
    });
    futures::future::join_all(lanes).await;
}

/// Answers every request on `conn` with a 204 (requests end at their head plus
/// `content-length` bytes).
async fn answer_all(mut conn: tokio::net::TcpStream) {
    let mut buf = Vec::with_capacity(4096);
    loop {
        let head = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if conn.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                return;
            }
        };
        let text = String::from_utf8_lossy(&buf[..head]).to_ascii_lowercase();
        let length: usize = text
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head + length {
            if conn.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                return;
            }
        }
        buf.drain(..head + length);
        if conn
            .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Nanoseconds this thread has run on a CPU.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

const IN_FLIGHT: usize = 16;
