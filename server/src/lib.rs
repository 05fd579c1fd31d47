//! The Latchkey HTTP server: builds the state and the router; `main.rs` only parses flags.

mod middleware;

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use app::server::{config::Config, db, password::Hasher, AppState};
use axum::{
    body::Body,
    extract::{Request, State},
    response::IntoResponse,
    routing::{get, post},
    Router,
};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, handle_server_fns_with_context, LeptosRoutes};

/// Where the server keeps its data and how it reaches its database.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `sqlite:` or `postgres:` URL; `None` means a SQLite file inside `data_dir`.
    pub database_url: Option<String>,
    pub data_dir: PathBuf,
    pub max_connections: u32,
    pub config: Config,
    pub leptos_options: leptos::config::LeptosOptions,
}

/// Opens the database, runs migrations and returns the shared state.
pub async fn open_state(settings: &Settings) -> anyhow_like::Result<AppState> {
    let url = match &settings.database_url {
        Some(url) => url.clone(),
        None => db::sqlite_url_in(&settings.data_dir)?,
    };
    let (pool, backend) = db::connect(&url, settings.max_connections).await?;
    db::migrate(&pool, backend).await?;
    Ok(AppState {
        pool,
        backend,
        config: Arc::new(settings.config.clone()),
        hasher: Hasher::default(),
        leptos_options: settings.leptos_options.clone(),
    })
}

/// The whole HTTP surface: pages, server functions, health check and static files.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(app::App);
    let leptos_options = state.leptos_options.clone();
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/{*fn_name}", post(server_fn_handler))
        .leptos_routes_with_context(
            &state,
            routes,
            {
                let state = state.clone();
                move || provide_context(state.clone())
            },
            {
                let leptos_options = leptos_options.clone();
                move || app::shell(leptos_options.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(app::shell))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::session,
        ))
        .with_state(state)
}

async fn server_fn_handler(State(state): State<AppState>, req: Request<Body>) -> impl IntoResponse {
    handle_server_fns_with_context(move || provide_context(state.clone()), req).await
}

pub async fn serve(listener: tokio::net::TcpListener, app: Router) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// A boxed error for start-up failures, printed once in `main`.
pub mod anyhow_like {
    pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
}
