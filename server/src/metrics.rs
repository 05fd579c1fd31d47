//! Prometheus metrics on their own address (`--metrics-listen`), never on the console's: the
//! recorder (`metrics-exporter-prometheus`), a layer that times every request by route class,
//! and `GET /metrics`. Off by default: without the flag no recorder is installed, the layer is
//! not added and every count in the app is a no-op.

use std::time::Instant;

use app::server::{telemetry, AppState};
use axum::{extract::Request, middleware::Next, response::Response, routing::get, Router};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Request times, in seconds: from a cached page (well under a millisecond) to a slow
/// password hash.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Installs the process's recorder. Once per process.
pub fn install() -> Result<PrometheusHandle, String> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("latchkey_http_request_duration_seconds".into()),
            BUCKETS,
        )
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| e.to_string())
}

/// The class of a path, a fixed word: what a request's labels may say about where it went.
pub fn route_class(path: &str) -> &'static str {
    if path.starts_with("/api/") {
        "server_fn"
    } else if path.starts_with("/pkg/") {
        "asset"
    } else if path == "/healthz" {
        "health"
    } else if path == "/two-factor/qr.svg" {
        "qr"
    } else if path == app::domain::EXPORT_USERS_PATH {
        "export"
    } else {
        "page"
    }
}

/// Counts and times each request (until its response starts) by route class and status.
pub async fn measure(req: Request, next: Next) -> Response {
    let class = route_class(req.uri().path());
    let start = Instant::now();
    let res = next.run(req).await;
    telemetry::request(class, res.status().as_u16(), start.elapsed().as_secs_f64());
    res
}

/// `GET /metrics` on `listener`: the text format, with the database pool as of the scrape.
pub async fn serve(
    listener: tokio::net::TcpListener,
    handle: PrometheusHandle,
    state: AppState,
) -> std::io::Result<()> {
    tracing::info!("metrics on http://{}/metrics", listener.local_addr()?);
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    let app = Router::new().route(
        "/metrics",
        get(move || async move {
            telemetry::pool(state.pool.size(), state.pool.num_idle());
            handle.render()
        }),
    );
    axum::serve(listener, app).await
}

#[cfg(test)]
mod tests {
    use super::route_class;

    #[test]
    fn every_path_falls_in_a_fixed_class() {
        assert_eq!(route_class("/api/sign_in"), "server_fn");
        assert_eq!(route_class("/api/anything-at-all-12345"), "server_fn");
        assert_eq!(route_class("/pkg/latchkey.abc.wasm"), "asset");
        assert_eq!(route_class("/users"), "page");
        assert_eq!(route_class("/no/such/page/98765"), "page");
        assert_eq!(route_class("/healthz"), "health");
    }
}
