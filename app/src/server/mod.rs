//! Server-only code: state, storage, crypto, sessions and audit. Never compiled into the wasm.

pub mod audit;
pub mod config;
pub mod context;
pub mod db;
pub mod flash;
pub mod keys;
pub mod mail;
pub mod owner;
pub mod passkeys;
pub mod password;
pub mod password_reset;
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

/// Work that runs on after its request has been answered or its browser has left: changes
/// (the server's `finish_changes`) and mail made after the answer. A stopping server waits for
/// it, up to its grace.
pub static DETACHED: std::sync::LazyLock<tokio_util::task::TaskTracker> =
    std::sync::LazyLock::new(tokio_util::task::TaskTracker::new);

/// Seconds since the Unix epoch: the one clock every table uses. A build with the `test-clock`
/// feature adds the shift of the request being served ([`clock`]).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
        + clock::shift()
}

/// The test-only clock: with the `test-clock` feature (never in a production build, whose
/// server refuses `--test-clock`) and that flag, a request carrying [`clock::HEADER`] is served
/// with [`now`] shifted by that many seconds, so a browser test can stand before or after a
/// deadline without moving anyone else's clock.
pub mod clock {
    /// The request header that shifts the clock, in seconds.
    pub const HEADER: &str = "x-latchkey-clock-shift";
    /// The largest shift taken: ten years either way.
    pub const MAX_SHIFT_SECS: i64 = 10 * 366 * 86_400;

    #[cfg(feature = "test-clock")]
    tokio::task_local! {
        static SHIFT: i64;
    }

    /// Whether this build can shift the clock at all.
    pub const AVAILABLE: bool = cfg!(feature = "test-clock");

    /// The shift of the request being served (0 outside one, or in a production build).
    pub fn shift() -> i64 {
        #[cfg(feature = "test-clock")]
        {
            SHIFT.try_with(|s| *s).unwrap_or(0)
        }
        #[cfg(not(feature = "test-clock"))]
        {
            0
        }
    }

    /// Runs `work` with the clock shifted by `secs` (bounded by [`MAX_SHIFT_SECS`]); a
    /// production build runs it unshifted.
    pub async fn shifted<F: std::future::Future>(secs: i64, work: F) -> F::Output {
        #[cfg(feature = "test-clock")]
        {
            SHIFT
                .scope(secs.clamp(-MAX_SHIFT_SECS, MAX_SHIFT_SECS), work)
                .await
        }
        #[cfg(not(feature = "test-clock"))]
        {
            let _ = secs;
            work.await
        }
    }
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
