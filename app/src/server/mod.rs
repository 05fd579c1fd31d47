//! Server-only code: state, storage, crypto, sessions and audit. Never compiled into the wasm.

pub mod audit;
pub mod config;
pub mod context;
pub mod db;
pub mod keys;
pub mod owner;
pub mod password;
pub mod qr;
pub mod sessions;
pub mod state;
pub mod throttle;
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

/// SQLite writes one transaction at a time. A writer that finds the file locked waits in
/// SQLite's busy handler, which sleeps 1, 2, 5, 10 ms … between retries however soon the lock is
/// free: with writes a fraction of a millisecond long, those sleeps were the tail of every write
/// path (two browsers sending the same code collide every time). The writers of this process
/// queue here instead, in arrival order, and each is woken as the one before it finishes; the busy
/// handler is left for other processes on the file (the operator commands). PostgreSQL locks
/// rows, and several instances share one database: nothing to queue.
pub struct WriteQueue(Option<std::sync::Arc<tokio::sync::Mutex<()>>>);

/// A place at the head of the [`WriteQueue`]: held for the length of one write.
#[must_use = "the turn ends when it is dropped"]
pub struct Turn(#[allow(dead_code)] Option<tokio::sync::OwnedMutexGuard<()>>);

impl WriteQueue {
    pub fn new(backend: db::Backend) -> WriteQueue {
        WriteQueue((backend == db::Backend::Sqlite).then(Default::default))
    }

    /// Waits for this task's turn to write. Take it before the connection (never the other way
    /// round) and never twice in one task: a task holding a [`Tx`] writes through it.
    pub async fn turn(&self) -> Turn {
        match &self.0 {
            Some(queue) => Turn(Some(queue.clone().lock_owned().await)),
            None => Turn(None),
        }
    }
}

/// A transaction on the pool, holding its turn in the [`WriteQueue`] until it ends. Derefs to
/// the connection, so statements run on `&mut *tx`.
pub struct Tx {
    // Declared first: dropped (rolled back) before the turn passes on.
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Turn,
}

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl std::ops::Deref for Tx {
    type Target = sqlx::AnyConnection;

    fn deref(&self) -> &sqlx::AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}

/// Opens a write transaction on the state's pool, once it is this task's turn to write.
pub async fn begin(state: &AppState) -> Result<Tx, crate::domain::AppError> {
    let turn = state.writes.turn().await;
    let tx = state.pool.begin().await.map_err(internal("begin"))?;
    Ok(Tx { tx, _turn: turn })
}
