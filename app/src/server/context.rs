//! What a server function needs from its request: state, session, client address, response.

use leptos::prelude::{expect_context, use_context};
use leptos_axum::ResponseOptions;

use super::{
    sessions::{AuthUser, PendingLogin},
    two_factor::Who,
    AppState,
};
use crate::domain::AppError;

/// The client address as the session middleware determined it.
#[derive(Clone, Debug)]
pub struct ClientAddr(pub String);

pub struct Ctx {
    pub state: AppState,
    pub parts: http::request::Parts,
}

pub fn ctx() -> Result<Ctx, AppError> {
    let state = use_context::<AppState>().ok_or(AppError::Internal)?;
    let parts = use_context::<http::request::Parts>().ok_or(AppError::Internal)?;
    Ok(Ctx { state, parts })
}

impl Ctx {
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

    pub fn pending(&self) -> Option<&PendingLogin> {
        self.parts.extensions.get::<PendingLogin>()
    }

    pub fn require_pending(&self) -> Result<PendingLogin, AppError> {
        self.pending().cloned().ok_or(AppError::Unauthorized)
    }

    /// The user setting up or checking a second factor: a signed-in user, or one half-way
    /// through sign-in. `addr` must outlive the result.
    pub fn who<'a>(&self, addr: &'a str) -> Result<Who<'a>, AppError> {
        match (self.auth(), self.pending()) {
            (Some(a), _) => Ok(Who {
                account_id: a.account_id,
                user_id: a.user_id,
                client_addr: addr,
            }),
            (None, Some(p)) => Ok(Who {
                account_id: p.account_id,
                user_id: p.user_id,
                client_addr: addr,
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
