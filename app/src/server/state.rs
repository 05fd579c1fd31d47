//! The state every handler and server function shares.

use std::{ops::Deref, sync::Arc};

use sqlx::AnyPool;

use super::{config::Config, db::Backend, keys::ServerKey, password::Hasher};

/// A handle on [`Shared`]: axum's middleware, the page handler and every server function take
/// their own copy per request, so a copy is one reference count, not a copy of each field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub pool: AnyPool,
    pub backend: Backend,
    /// SQLite: code checks' write transactions take turns here, in the process, rather than in
    /// SQLite's busy handler, which sleeps 1, 2, 5, 10 … ms between tries of its one write lock.
    pub code_turn: std::sync::Arc<tokio::sync::Mutex<()>>,
    pub config: Config,
    pub hasher: Hasher,
    pub keys: ServerKey,
    /// Security mail, when SMTP is configured ([`super::mail`]).
    pub mail: Option<super::mail::Mailer>,
    /// The issuer authenticator apps show next to the code.
    pub issuer: Box<str>,
    pub leptos_options: leptos::config::LeptosOptions,
}

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl axum::extract::FromRef<AppState> for leptos::config::LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
