//! The state every handler and server function shares.

use std::sync::Arc;

use sqlx::AnyPool;

use super::{config::Config, db::Backend, keys::ServerKey, password::Hasher};

#[derive(Clone)]
pub struct AppState {
    pub pool: AnyPool,
    pub backend: Backend,
    pub config: Arc<Config>,
    pub hasher: Hasher,
    pub keys: ServerKey,
    /// The issuer authenticator apps show next to the code.
    pub issuer: Arc<str>,
    pub leptos_options: leptos::config::LeptosOptions,
}

impl axum::extract::FromRef<AppState> for leptos::config::LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
