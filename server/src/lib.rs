//! The Latchkey HTTP server: builds the state and the router; `main.rs` only parses flags.

mod compress;
mod guard;
pub mod metrics;
mod middleware;
mod page_template;

pub use guard::MAX_BODY_BYTES;

use std::{future::IntoFuture, net::SocketAddr, path::PathBuf};

use app::server::{config::Config, db, keys::ServerKey, password::Hasher, AppState, Shared};
use axum::{
    body::Body,
    extract::{Request, State},
    response::IntoResponse,
    routing::get,
    Router,
};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};

/// Where the server keeps its data and how it reaches its database.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `sqlite:` or `postgres:` URL; `None` means a SQLite file inside `data_dir`.
    pub database_url: Option<String>,
    pub data_dir: PathBuf,
    /// Database connections the instance holds; `None` means
    /// [`db::Backend::default_connections`].
    pub max_connections: Option<u32>,
    /// Base64 server key shared by all instances; `None` means `secret.key` in `data_dir`.
    pub secret_key: Option<String>,
    pub issuer: String,
    pub config: Config,
    pub leptos_options: leptos::config::LeptosOptions,
    /// Security mail: the SMTP URL and the sender (`--smtp-url`, `--mail-from`); `None`: no
    /// mail.
    pub mail: Option<MailSettings>,
}

#[derive(Clone, Debug)]
pub struct MailSettings {
    pub smtp_url: String,
    pub from: String,
}

/// Opens the database, runs migrations and returns the shared state.
pub async fn open_state(settings: &Settings) -> anyhow_like::Result<AppState> {
    let url = match &settings.database_url {
        Some(url) => url.clone(),
        None => db::sqlite_url_in(&settings.data_dir)?,
    };
    let backend = db::Backend::of_url(&url)?;
    let n = settings
        .max_connections
        .unwrap_or(backend.default_connections());
    if n == 0 {
        return Err("the database needs at least 1 connection".into());
    }
    // Settings are checked before anything is written (the key file, the database).
    let mail = match &settings.mail {
        Some(m) => Some(app::server::mail::Mailer::new(&m.smtp_url, &m.from)?),
        None => None,
    };
    let keys = ServerKey::load(settings.secret_key.as_deref(), &settings.data_dir)?;
    let pool = db::connect(&url, backend, n).await?;
    db::migrate(&pool, backend).await?;
    if backend == db::Backend::Sqlite {
        db::spawn_checkpointer(pool.clone());
    }
    Ok(AppState::new(Shared {
        pool,
        backend,
        code_turn: Default::default(),
        config: settings.config.clone(),
        hasher: Hasher::default(),
        keys,
        mail,
        issuer: settings.issuer.as_str().into(),
        leptos_options: settings.leptos_options.clone(),
    }))
}

/// The app's page routes, walked once per process. leptos walks the view tree with every
/// resource's loading switched off by one process-wide flag (`SuppressResourceLoad`): a page
/// rendered in that window by another router of the same process gets a resource that never
/// loads, and its response never ends. Seen in the integration tests, which build a router per
/// test while other tests serve pages (a signed-in page hung in about one run in thirty).
static ROUTES: std::sync::LazyLock<Vec<leptos_axum::AxumRouteListing>> =
    std::sync::LazyLock::new(|| generate_route_list(app::App));

/// The whole HTTP surface: pages, server functions, health check and static files.
pub fn router(state: AppState) -> Router {
    let routes = ROUTES.clone();
    let leptos_options = state.leptos_options.clone();
    // Only a build with app's `test-clock` feature may shift the clock (main refuses the flag
    // otherwise).
    let test_clock = state.config.test_clock && app::server::clock::AVAILABLE;
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/two-factor/qr.svg", get(qr_svg))
        .route(app::domain::EXPORT_USERS_PATH, get(export_users))
        .leptos_routes_with_context(
            &state,
            routes,
            {
                let state = state.clone();
                move || provide_context(app::server::context::Provided::new(state.clone()))
            },
            {
                let leptos_options = leptos_options.clone();
                move || app::shell(leptos_options.clone())
            },
        )
        // Built assets: precompressed .br/.gz files (cargo leptos build --precompress) are sent
        // as they are to browsers that accept them.
        .nest_service(
            &format!("/{}", leptos_options.site_pkg_dir),
            tower_http::services::ServeDir::new(
                std::path::Path::new(&*leptos_options.site_root)
                    .join(&*leptos_options.site_pkg_dir),
            )
            .precompressed_br()
            .precompressed_gzip(),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ))
        // The signed-out sign-in page, and signed-in pages made from their user alone: rendered
        // once, then copied with a fresh nonce.
        .layer(axum::middleware::from_fn_with_state(
            page_template::Pages::default(),
            page_template::serve,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::session,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::signed_form_errors,
        ))
        .layer(axum::middleware::from_fn(server_fn_status))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::api_guard,
        ))
        // Pages, JSON and the QR gzip-compressed on the fly with a reused compressor; files
        // under /pkg are brotli/gzip-precompressed and pass untouched.
        .layer(axum::middleware::from_fn(compress::gzip))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            guard::MAX_BODY_BYTES,
        ))
        .with_state(state.clone());
    // Outside everything that reads the clock, so that the session and all after it read the
    // shifted one.
    let router = if test_clock {
        router.layer(axum::middleware::from_fn(middleware::clock_shift))
    } else {
        router
    };
    // A change runs to its end on a task of its own.
    router
        .layer(axum::middleware::from_fn_with_state(
            middleware::Changes::new(state.clone()),
            middleware::finish_changes,
        ))
        // Outermost: every answer carries them, the refusals above too.
        .layer(axum::middleware::from_fn(guard::security_headers))
}

/// The QR code of the caller's own pending enrollment: never cached, 404 for anyone else.
/// The Users page as CSV, for the account's owner only; audited. A plain `GET` from a link, so
/// it works without JavaScript; the session cookie is `SameSite=Strict`, so another site's link
/// arrives without it.
async fn export_users(
    State(state): State<AppState>,
    req: Request<Body>,
) -> axum::response::Response {
    use app::server::{context::ClientAddr, owner, sessions::AuthUser};
    use axum::http::{header, StatusCode};
    let no_store = [(header::CACHE_CONTROL, "no-store")];
    // axum answers HEAD with the GET handler: an export (and its audit row) only on GET.
    if req.method() != axum::http::Method::GET {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET")],
            "Use GET.",
        )
            .into_response();
    }
    let Some(auth) = req.extensions().get::<AuthUser>() else {
        return (StatusCode::UNAUTHORIZED, no_store, "Sign in first.").into_response();
    };
    if auth.role != app::domain::Role::Owner {
        return (
            StatusCode::FORBIDDEN,
            no_store,
            "Only the account owner can export the users.",
        )
            .into_response();
    }
    let addr = req
        .extensions()
        .get::<ClientAddr>()
        .map(|a| a.0.as_str())
        .unwrap_or("unknown");
    match owner::export_users_csv(&state, owner::Owner::of(auth, addr)).await {
        Ok(csv) => {
            let day = &app::domain::format_time(app::server::now())[..10];
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                    (header::CACHE_CONTROL, "no-store".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"latchkey-users-{day}.csv\""),
                    ),
                ],
                csv,
            )
                .into_response()
        }
        Err(e) => (
            StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            no_store,
            e.to_string(),
        )
            .into_response(),
    }
}

async fn qr_svg(State(state): State<AppState>, req: Request<Body>) -> axum::response::Response {
    use app::server::sessions::{AuthUser, PendingLogin};
    use axum::http::{header, StatusCode};
    // The enrollment belongs to this browser's session or half sign-in, not just to its user.
    let who = match (
        req.extensions().get::<AuthUser>(),
        req.extensions().get::<PendingLogin>(),
    ) {
        (Some(a), _) => Some((a.user_id, a.account_id, a.session_hash.as_slice())),
        (None, Some(p)) => Some((p.user_id, p.account_id, p.id_hash.as_slice())),
        _ => None,
    };
    let no_store = [(header::CACHE_CONTROL, "no-store")];
    let Some((user_id, account_id, holder)) = who else {
        return (StatusCode::NOT_FOUND, no_store, "Not found").into_response();
    };
    let who = app::server::two_factor::Who {
        account_id,
        user_id,
        client_addr: "",
        agent: "",
        holder,
    };
    let svg = match app::server::users::email_of(&state, user_id).await {
        Ok(email) => app::server::two_factor::enrollment_qr(&state, who, &email).await,
        Err(e) => Err(e),
    };
    match svg {
        Ok(Some(svg)) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            svg,
        )
            .into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, no_store, "Not found").into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, no_store, e.to_string()).into_response(),
    }
}

/// Server functions answer errors raised before their body ran (undecodable arguments) with
/// 500: give every typed error its own status, so bad input is a 4xx. A refusal to try again
/// later carries `Retry-After`.
async fn server_fn_status(
    req: Request<Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use http::StatusCode;
    let is_api = req.uri().path().starts_with("/api/");
    let res = next.run(req).await;
    let read = [
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::SERVICE_UNAVAILABLE,
    ];
    if !is_api || !read.contains(&res.status()) {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return (http::StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    };
    if let Ok(err) = serde_json::from_slice::<app::domain::AppError>(&bytes) {
        parts.status = http::StatusCode::from_u16(err.status_code()).unwrap_or(parts.status);
        if let Some(secs) = err.retry_after() {
            parts.headers.insert(http::header::RETRY_AFTER, secs.into());
        }
    }
    axum::response::Response::from_parts(parts, Body::from(bytes))
}

pub async fn serve(listener: tokio::net::TcpListener, app: Router) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // Pages stream in several writes (the shell, then each resolved Suspense): without
    // TCP_NODELAY the second small write waits for the client's delayed ACK, ~40 ms a page.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "TCP_NODELAY");
        }
    });
    // Once the stop signal comes, everything gets `STOP_GRACE` in all: the requests of open
    // connections to be answered, then the work left running (`app::server::DETACHED`: changes
    // whose browsers left, mail made after the answer) to end. What still runs then is given up (its transaction
    // rolls back): a connection that never finishes its request cannot hold the process.
    let (stop, mut stopped) = tokio::sync::watch::channel(None);
    let signal = async move {
        shutdown_signal().await;
        let _ = stop.send(Some(tokio::time::Instant::now() + STOP_GRACE));
    };
    let serving = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(signal)
    .into_future();
    let mut deadline = None;
    let given_up = async {
        if let Ok(at) = stopped.wait_for(Option::is_some).await {
            deadline = *at;
        }
        if let Some(at) = deadline {
            tokio::time::sleep_until(at).await;
        }
    };
    tokio::select! {
        served = serving => served?,
        () = given_up => tracing::warn!("requests still open {STOP_GRACE:?} after the stop signal"),
    }
    app::server::DETACHED.close();
    let deadline = (*stopped.borrow()).unwrap_or_else(tokio::time::Instant::now);
    if tokio::time::timeout_at(deadline, app::server::DETACHED.wait())
        .await
        .is_err()
    {
        tracing::warn!("changes still running {STOP_GRACE:?} after the stop signal");
    }
    Ok(())
}

/// How long a stopping server waits for requests under way.
pub const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// The operator command: resets the 2FA of the user with `email`; returns the setup link path.
pub async fn operator_reset(state: &AppState, email: &str) -> anyhow_like::Result<String> {
    use app::server::{owner, users};
    let email = app::domain::normalize_email(email);
    let login = users::find_login(state, &email)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no user with email {email}"))?;
    let by = owner::ResetBy::Operator;
    let token = owner::reset_two_factor(state, login.account_id, login.user_id, by)
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!("/setup/{token}"))
}

/// A boxed error for start-up failures, printed once in `main`.
/// The operator's password link for the user with `email` (the path, to put after the public
/// URL).
pub async fn operator_password_link(state: &AppState, email: &str) -> anyhow_like::Result<String> {
    use app::server::{password_reset, users};
    let email = app::domain::normalize_email(email);
    let login = users::find_login(state, &email)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no user with email {email}"))?;
    let token = password_reset::operator_link(state, login.user_id)
        .await
        .map_err(|e| e.to_string())?;
    Ok(app::domain::LinkKind::Password.path(&token))
}

pub mod anyhow_like {
    pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
}
