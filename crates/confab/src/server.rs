//! `confab serve`: open the store, close what a crash left open, make sure an
//! account exists, then serve HTTP (and HTTPS) until SIGINT or SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use confab_core::SidStyle;
use confab_store::{SqliteStore, Store};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::state::{create_account, AppState};

/// Runs the server until a shutdown signal.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    // Claim the data directory and the port before touching any state: a
    // second server on the same directory would otherwise "recover" (end)
    // the conferences the first one is running.
    let _lock = lock_data_dir(&config.data_dir)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let bound = listener.local_addr()?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&config.database()).await?);
    // Before the media threads start: they take their metric handles when spawned.
    crate::http::metrics::install().context("installing the metrics recorder")?;
    let media = crate::media::Media::start(&config.media)
        .with_context(|| format!("starting the media threads on {}", config.media.bind))?;
    let state = AppState::with_media(store.clone(), Arc::new(media));
    // Callbacks a crash left pending queue first, before any new one is released.
    let pending_callbacks = state.outbox.recover().await?;
    if pending_callbacks > 0 {
        tracing::warn!(
            pending_callbacks,
            "delivering callbacks left pending by the previous run"
        );
    }
    let ended_calls = state.calls.recover().await?;
    if ended_calls > 0 {
        tracing::warn!(ended_calls, "ended calls left live by the previous run");
    }
    let recovered = state.conferences.recover().await?;
    if recovered > 0 {
        tracing::warn!(
            recovered,
            "completed conferences left in progress by the previous run"
        );
    }
    // After recovery, which would end the calls a fresh INVITE starts.
    let _sip = match &config.sip {
        Some(sip) => {
            let service = crate::sip::start(sip, state.clone())
                .await
                .with_context(|| {
                    format!(
                        "binding the SIP port {} (UDP and TCP; --sip-listen off runs without SIP)",
                        sip.listen
                    )
                })?;
            println!("confab SIP on udp+tcp {}", service.local_addr);
            Some(service)
        }
        None => None,
    };
    if store.accounts().await?.is_empty() {
        let account = create_account(store.as_ref(), SidStyle::Twilio, "Default account").await?;
        print_first_start(bound, &account);
    }

    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signal(shutdown.clone()));
    if let Some(service) = &_sip {
        // At shutdown the SIP side answers 503 and hangs up its calls while HTTP drains.
        let (sip, stop) = (service.handle.clone(), shutdown.clone());
        tokio::spawn(async move {
            stop.cancelled().await;
            sip.send(crate::sip::Command::Drain(None));
        });
    }
    let app = crate::app(state);

    println!("confab listening on http://{bound}");
    let plain = axum::serve(listener, app.clone())
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());

    let Some((addr, cert, key)) = config.tls.clone() else {
        plain.await?;
        drain_sip(_sip.as_ref()).await;
        return Ok(());
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
        .await
        .with_context(|| {
            format!(
                "loading TLS certificate {} and key {}",
                cert.display(),
                key.display()
            )
        })?;
    let handle = axum_server::Handle::new();
    let tls_server = axum_server::bind_rustls(addr, tls)
        .handle(handle.clone())
        .serve(app.into_make_service());
    println!("confab listening on https://{addr}");
    let stop_tls = shutdown.clone();
    tokio::spawn(async move {
        stop_tls.cancelled().await;
        handle.graceful_shutdown(Some(Duration::from_secs(5)));
    });
    let (plain_result, tls_result) = tokio::join!(plain, tls_server);
    plain_result?;
    tls_result?;
    drain_sip(_sip.as_ref()).await;
    Ok(())
}

/// Before the process exits: every SIP call's BYE is sent (at most a second's wait).
async fn drain_sip(sip: Option<&crate::sip::SipService>) {
    let Some(sip) = sip else {
        return;
    };
    let (done, drained) = tokio::sync::oneshot::channel();
    sip.handle.send(crate::sip::Command::Drain(Some(done)));
    let _ = tokio::time::timeout(Duration::from_secs(1), drained).await;
}

fn print_first_start(listen: std::net::SocketAddr, account: &confab_core::Account) {
    let base = format!("http://{}/2010-04-01/Accounts/{}", listen, account.sid);
    println!("confab: first start; created the default account");
    println!("  Account SID: {}", account.sid);
    println!("  Auth token:  {}", account.auth_token);
    println!("  Try it:");
    println!(
        "    curl -u {}:{} -d From=+15550100 -d To=sim:alice {base}/Conferences/my-room/Participants.json",
        account.sid, account.auth_token
    );
}

async fn wait_for_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    shutdown.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
    shutdown.cancel();
}

/// Takes an exclusive lock on `DIR/confab.lock` for as long as the returned
/// file lives. `confab accounts` does not take it, so accounts can be added
/// while the server runs.
fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let path = dir.join("confab.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another confab server is using the data directory {}",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}
