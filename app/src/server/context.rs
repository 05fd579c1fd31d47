//! What a server function needs from its request: state, session, client address, response.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use leptos::prelude::{expect_context, use_context, with_context};
use leptos_axum::ResponseOptions;

use super::{
    sessions::{self, AuthUser, PendingLogin},
    two_factor::Who,
    AppState,
};
use crate::domain::{AppError, Flash, Me};

/// The client address as the session middleware determined it.
#[derive(Clone, Debug)]
pub struct ClientAddr(pub String);

/// Put in a server function call's request by the API guard (`server/src/guard.rs`) when it
/// came as a plain form post: the browser is sent back to its page, which shows what the call
/// kept with [`Ctx::keep_for_page`].
#[derive(Clone, Copy, Debug)]
pub struct PlainForm;

pub struct Ctx {
    pub state: AppState,
    pub parts: http::request::Parts,
}

/// Whether a page's render read anything but the signed-in user: set by [`ctx`], which every
/// server function calls before it touches the database, so also by every resource a page loads
/// while it renders.
///
/// The server's page cache (`server/src/page_template.rs`) puts one in a signed-in page's
/// request. A page whose render left it unset was made from the session's user, the path and
/// the nonce alone, so it can be kept for that user and sent again, with a new nonce, for as long
/// as the user reads the same.
#[derive(Clone, Debug, Default)]
pub struct RenderReads(Arc<AtomicBool>);

impl RenderReads {
    pub fn mark(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Read once the page's body has ended: the render may have run on another thread.
    pub fn any(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The state as pages and server functions find it in leptos' context. Its field is private:
/// [`ctx`] is the only way to the database from a render or a server function, and it marks the
/// render as one that read it ([`RenderReads`]), which decides whether a page may be kept.
#[derive(Clone)]
pub struct Provided(AppState);

impl Provided {
    pub fn new(state: AppState) -> Provided {
        Provided(state)
    }

    /// The build's settings: not the database, so reading them marks nothing.
    pub fn leptos_options(&self) -> &leptos::config::LeptosOptions {
        &self.0.leptos_options
    }
}

/// Everything that reads the database goes through here, so that a render that did is marked
/// ([`RenderReads`]).
pub fn ctx() -> Result<Ctx, AppError> {
    let state = use_context::<Provided>().ok_or(AppError::Internal)?.0;
    let parts = use_context::<http::request::Parts>().ok_or(AppError::Internal)?;
    if let Some(reads) = parts.extensions.get::<RenderReads>() {
        reads.mark();
    }
    Ok(Ctx { state, parts })
}

/// The signed-in user of this request, as the session middleware read them with the session
/// (`Unauthorized` without one). Not a read of data: it is what a kept page is kept by.
pub fn signed_in_user() -> Result<Me, AppError> {
    with_context::<http::request::Parts, _>(|parts| {
        parts
            .extensions
            .get::<AuthUser>()
            .map(|auth| auth.me.clone())
            .ok_or(AppError::Unauthorized)
    })
    .unwrap_or(Err(AppError::Internal))
}

impl Ctx {
    /// The browser's `User-Agent`, cut to [`sessions::MAX_AGENT_BYTES`] on a character
    /// boundary; empty when absent or not text.
    pub fn user_agent(&self) -> &str {
        let agent = self
            .parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mut end = agent.len().min(sessions::MAX_AGENT_BYTES);
        while !agent.is_char_boundary(end) {
            end -= 1;
        }
        &agent[..end]
    }

    pub fn client_addr(&self) -> String {
        self.parts
            .extensions
            .get::<ClientAddr>()
            .map(|c| c.0.clone())
            .unwrap_or_else(|| "unknown".into())
    }

    pub fn auth(&self) -> Option<&AuthUser> {
        self.parts.extensions.get::<AuthUser>()
    }

    pub fn require_auth(&self) -> Result<AuthUser, AppError> {
        self.auth().cloned().ok_or(AppError::Unauthorized)
    }

    /// `path` as a link to hand over: on the console's public URL, or else on the origin this
    /// request was sent to.
    pub fn link_to(&self, path: &str) -> String {
        let origin = self
            .state
            .config
            .public_origin
            .clone()
            .or_else(|| self.state.config.request_origin(&self.parts.headers))
            .unwrap_or_default();
        format!("{origin}{path}")
    }

    /// Whether this call came as a plain form post ([`PlainForm`]).
    pub fn plain_form(&self) -> bool {
        self.parts.extensions.get::<PlainForm>().is_some()
    }

    /// Keeps what the page must show after a plain form post ([`super::flash`]); a call from
    /// the wasm gets its result in the answer, and nothing is kept.
    pub async fn keep_for_page(&self, flash: Flash) -> Result<(), AppError> {
        if !self.plain_form() {
            return Ok(());
        }
        let addr = self.client_addr();
        super::flash::put(&self.state, self.who(&addr)?, &flash).await
    }

    pub fn pending(&self) -> Option<&PendingLogin> {
        self.parts.extensions.get::<PendingLogin>()
    }

    pub fn require_pending(&self) -> Result<PendingLogin, AppError> {
        self.pending().cloned().ok_or(AppError::Unauthorized)
    }

    /// The user setting up or checking a second factor: a signed-in user, or one half-way
    /// through sign-in. `addr` must outlive the result.
    pub fn who<'a>(&'a self, addr: &'a str) -> Result<Who<'a>, AppError> {
        match (self.auth(), self.pending()) {
            (Some(a), _) => Ok(Who {
                account_id: a.account_id,
                user_id: a.user_id,
                client_addr: addr,
                agent: self.user_agent(),
                holder: &a.session_hash,
            }),
            (None, Some(p)) => Ok(Who {
                account_id: p.account_id,
                user_id: p.user_id,
                client_addr: addr,
                agent: self.user_agent(),
                holder: &p.id_hash,
            }),
            (None, None) => Err(AppError::Unauthorized),
        }
    }
}

pub fn append_header(name: http::HeaderName, value: &str) {
    if let Ok(v) = http::HeaderValue::from_str(value) {
        expect_context::<ResponseOptions>().append_header(name, v);
    }
}
