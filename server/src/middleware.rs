//! Resolves the session cookie once per request and keeps signed-out browsers off console pages.

use std::net::SocketAddr;

use app::server::{context::ClientAddr, sessions, users, AppState};
use axum::{
    extract::{ConnectInfo, Request, State},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};

/// Pages anyone may see; every other page needs a session.
fn is_public_page(path: &str) -> bool {
    matches!(
        path,
        "/login" | "/signup" | "/login/verify" | "/password/forgot"
    ) || path.starts_with("/invite/")
        || path.starts_with("/setup/")
        || path.starts_with("/password/reset/")
}

/// Paths that are not pages: assets, server functions, health.
pub(crate) fn is_page(path: &str) -> bool {
    !(path.starts_with("/api/")
        || path.starts_with("/pkg/")
        || path == "/healthz"
        || path.contains('.'))
}

pub async fn session(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/pkg/") || path == "/healthz" {
        return next.run(req).await;
    }
    let addr = client_addr(&state, &req);
    req.extensions_mut().insert(ClientAddr(addr));

    let token = sessions::cookie_value(req.headers(), state.config.session_cookie_name())
        .map(str::to_owned);
    let auth = match token {
        Some(t) => match sessions::resolve(&state, &t).await {
            Ok(a) => a,
            Err(e) => return e.to_string().into_response_with(e.status_code()),
        },
        None => None,
    };
    let signed_in = auth.is_some();
    if let Some(a) = auth {
        req.extensions_mut().insert(a);
    } else if let Some(t) =
        sessions::cookie_value(req.headers(), state.config.pending_cookie_name())
    {
        // Half-signed-in (password passed, code owed): good only for the code check and enrollment.
        match sessions::resolve_pending(&state, t).await {
            Ok(Some(p)) => {
                req.extensions_mut().insert(p);
            }
            Ok(None) => {}
            Err(e) => return e.to_string().into_response_with(e.status_code()),
        }
    }

    if req.method() == http::Method::GET
        && path == "/login/verify"
        && req.extensions().get::<sessions::PendingLogin>().is_none()
    {
        return Redirect::to(if signed_in { "/" } else { "/login" }).into_response();
    }
    if req.method() == http::Method::GET && is_page(&path) {
        if signed_in && matches!(path.as_str(), "/login" | "/signup") {
            return Redirect::to("/").into_response();
        }
        if !signed_in && !is_public_page(&path) {
            // A fresh install has nobody to sign in: offer sign-up.
            let target = match users::any_user_exists(&state).await {
                Ok(false) => "/signup",
                _ => "/login",
            };
            return Redirect::to(target).into_response();
        }
    }
    next.run(req).await
}

fn client_addr(state: &AppState, req: &Request) -> String {
    if state.config.trust_proxy {
        // The proxy appends the address it saw; earlier entries are the client's own claims.
        if let Some(last) = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim)
            .filter(|v| v.parse::<std::net::IpAddr>().is_ok())
        {
            return last.to_string();
        }
    }
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

trait WithStatus {
    fn into_response_with(self, status: u16) -> Response;
}

impl WithStatus for String {
    fn into_response_with(self, status: u16) -> Response {
        let code =
            http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        (code, self).into_response()
    }
}

/// Serves the request with the clock shifted by its [`app::server::clock::HEADER`] (seconds):
/// test builds started with `--test-clock` only (see `router`).
pub async fn clock_shift(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let shift = req
        .headers()
        .get(app::server::clock::HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(0);
    app::server::clock::shifted(shift, next.run(req)).await
}

/// Changes one router runs at once on tasks of their own. Each kind of work has its own bound
/// besides (the hashing queue, the database pool, the throttles); this one caps them all, so
/// however many connections send a change and close, the tasks and bodies left running stay
/// few. A body of [`crate::guard::MAX_BODY_BYTES`] at most each: 256 of them hold 4 MiB.
pub const MAX_CHANGES: usize = 256;

/// Places one client address may hold at once: one client's flood cannot take the places of
/// everyone else's sign-ins.
pub const MAX_CHANGES_PER_ADDR: usize = MAX_CHANGES / 2;

/// How long a change waits for a place when all are taken, before the answer is 503.
const PLACE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The places for changes of one router (see [`finish_changes`]).
#[derive(Clone)]
pub struct Changes {
    room: std::sync::Arc<tokio::sync::Semaphore>,
    /// Places held per client address; an address leaves the map with its last place.
    held: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    state: AppState,
}

impl Changes {
    pub fn new(state: AppState) -> Self {
        Changes {
            room: std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CHANGES)),
            held: Default::default(),
            state,
        }
    }

    /// A place for a change from `addr`: its address's share first, then one of the room's
    /// (waiting up to [`PLACE_WAIT`] for it). `None`: the answer is 503.
    async fn take(&self, addr: String) -> Option<Place> {
        {
            let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
            let mine = held.entry(addr.clone()).or_default();
            if *mine >= MAX_CHANGES_PER_ADDR {
                return None;
            }
            *mine += 1;
        }
        let share = Share {
            held: self.held.clone(),
            addr,
        };
        let room = self.room.clone();
        let place = tokio::time::timeout(PLACE_WAIT, room.acquire_owned()).await;
        Some(Place {
            _room: place.ok()?.ok()?,
            _share: share,
        })
    }
}

/// An address's share of the places, given back when dropped.
struct Share {
    held: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    addr: String,
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mine) = held.get_mut(&self.addr) {
            *mine -= 1;
            if *mine == 0 {
                held.remove(&self.addr);
            }
        }
    }
}

/// A place taken: the room's and its address's, both given back when its change ends.
struct Place {
    _room: tokio::sync::OwnedSemaphorePermit,
    _share: Share,
}

/// A request that may change something (any method but `GET`, `HEAD` and `OPTIONS`) runs to its
/// end on a task of its own, even if its browser leaves first. When a connection closes, hyper
/// drops the future of the request it was serving: a change would stop at whatever await it
/// had reached, its transaction rolled back and the answer the browser already showed (an
/// optimistic switch, a tab closed after pressing a button) silently untrue. A page read loses
/// nothing by stopping, so it stays on the connection's task.
///
/// The body is read first, on the connection's task: a sender that trickles it holds its own
/// connection, never one of the [`MAX_CHANGES`] places. One client address holds at most
/// [`MAX_CHANGES_PER_ADDR`] of them; beyond its share, or with every place taken for a second,
/// the answer is 503 with `Retry-After`, and nothing runs.
pub async fn finish_changes(State(places): State<Changes>, req: Request, next: Next) -> Response {
    use axum::http::{header, Method, StatusCode};
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let addr = client_addr(&places.state, &req);
    let (parts, body) = req.into_parts();
    // An error answered here: JSON to the wasm client (which asks for it), words to a plain form.
    let refuse = |status: StatusCode, err: app::domain::AppError| {
        let json = parts
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        let mut res = if json {
            axum::Json(&err).into_response()
        } else {
            err.to_string().into_response()
        };
        *res.status_mut() = status;
        if let Some(secs) = err.retry_after() {
            res.headers_mut().insert(header::RETRY_AFTER, secs.into());
        }
        res
    };
    let Ok(bytes) = axum::body::to_bytes(body, crate::guard::MAX_BODY_BYTES).await else {
        // Too large, or the browser left while sending it: nothing ran.
        let large = app::domain::AppError::Request("the request body is too large.".into());
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, large);
    };
    let Some(place) = places.take(addr).await else {
        let busy = app::domain::AppError::Busy {
            retry_after_secs: 1,
        };
        return refuse(StatusCode::SERVICE_UNAVAILABLE, busy);
    };
    let req = Request::from_parts(parts, axum::body::Body::from(bytes));
    let change = async move {
        let res = next.run(req).await;
        drop(place);
        res
    };
    match app::server::DETACHED.spawn(change).await {
        Ok(res) => res,
        Err(e) => {
            tracing::error!(error = %e, "a request's task failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
