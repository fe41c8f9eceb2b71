//! `annal serve`.

use std::net::SocketAddr;
use std::process::ExitCode;

use annal::http::{router, AppState};
use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ANNAL_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
}

pub async fn run(global: &super::Global, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let url = global.store_url()?;
    let store = global.open_store().await?;
    let head = store.head().await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    tracing::info!(listen = %listener.local_addr()?, store = %url, head_position = head.position, "annal serving");
    axum::serve(listener, router(AppState { store }))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("annal stopped");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return ctrl_c.await.unwrap_or(()),
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
