//! The state every handler and server function shares.

use std::sync::Arc;

use sqlx::AnyPool;

use super::{config::Config, db::Backend, password::Hasher};

#[derive(Clone)]
pub struct AppState {
    pub pool: AnyPool,
    pub backend: Backend,
    pub config: Arc<Config>,
    pub hasher: Hasher,
    pub leptos_options: leptos::config::LeptosOptions,
}

impl axum::extract::FromRef<AppState> for leptos::config::LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
