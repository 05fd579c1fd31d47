//! Server-only code: state, storage, crypto, sessions and audit. Never compiled into the wasm.

pub mod audit;
pub mod config;
pub mod context;
pub mod db;
pub mod flash;
pub mod keys;
pub mod owner;
pub mod passkeys;
pub mod password;
pub mod purge;
pub mod qr;
pub mod rows;
pub mod sessions;
pub mod state;
pub mod telemetry;
pub mod throttle;
pub mod tokens;
pub mod totp;
pub mod two_factor;
pub mod users;

pub use state::{AppState, Shared};

/// Seconds since the Unix epoch: the one clock every table uses.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Logs the cause of a storage or crypto failure and gives the user the generic sentence.
pub fn internal<E: std::fmt::Display>(
    context: &'static str,
) -> impl FnOnce(E) -> crate::domain::AppError {
    move |e| {
        tracing::error!(error = %e, "{context}");
        crate::domain::AppError::Internal
    }
}

/// A transaction on the pool.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Opens a transaction on the state's pool.
pub async fn begin(state: &AppState) -> Result<Tx, crate::domain::AppError> {
    state.pool.begin().await.map_err(internal("begin"))
}
