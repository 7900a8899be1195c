//! The verifyd server: configuration, start-up (keys, store, accounts), the HTTP app, and
//! serving with graceful shutdown. `main.rs` is the command line on top of it; the
//! end-to-end tests drive the same functions on 127.0.0.1:0 with a test clock.

pub mod app;
pub mod config;
pub mod console;
pub mod metrics;
pub mod migrate_store;
pub mod start;
pub mod untrusted;

pub use app::{AppState, app, app_with, metrics_app, serve};
pub use start::{Backend, Opened, StartError, Started, open_core, open_core_using, open_core_with};

use std::future::Future;
use std::sync::Arc;

use verifyd_core::{Core, Store};

/// Serves the API on `listener` and runs the background work (maintenance, webhook delivery)
/// on the core's clock, until `shutdown` resolves; then lets requests in flight finish and
/// stops the background loops. Closing the store is left to the caller.
pub async fn run<S: Store>(
    core: Arc<Core<S>>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with(core, listener, None, shutdown).await
}

/// [`run`], with `/metrics` on `metrics_listener` alone when one is given (and then not on
/// `listener`).
pub async fn run_with<S: Store>(
    core: Arc<Core<S>>,
    listener: tokio::net::TcpListener,
    metrics_listener: Option<tokio::net::TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let metrics = Arc::new(metrics::Metrics::new());
    let metrics_server = metrics_listener.map(|l| {
        let app = metrics_app(Arc::clone(&metrics));
        tokio::spawn(async move { axum::serve(l, app).await })
    });
    let app = app_with(Arc::clone(&core), metrics, metrics_server.is_none());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let background = {
        let core = Arc::clone(&core);
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            verifyd_core::background::run(core, async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })
            .await;
        })
    };
    let served = serve(listener, app, shutdown).await;
    let _ = stop.send(true);
    let _ = background.await;
    if let Some(server) = metrics_server {
        server.abort();
    }
    served
}
