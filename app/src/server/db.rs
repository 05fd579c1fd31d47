//! The one way to the database: sqlx's pool, the same SQL on SQLite (the embedded default) and
//! PostgreSQL (several instances). Opening it, its per-connection settings, and the migrations.
//! Every query in the app goes through [`AppState::pool`](super::Shared::pool), or a
//! transaction on it ([`super::begin`]); sqlx runs each SQLite connection on a thread of its
//! own, so no blocking SQLite call runs on the async runtime's workers.

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    any::{AnyConnectOptions, AnyPoolOptions},
    AnyPool, Connection, Executor,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The database a URL names, from its scheme.
    pub fn of_url(url: &str) -> Result<Backend, sqlx::Error> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(sqlx::Error::Configuration(
                "DATABASE_URL must start with sqlite: or postgres:".into(),
            ))
        }
    }

    /// Connections an instance holds when none are configured: 4 on SQLite (one writer at a
    /// time anyway, and each connection keeps its own page cache and thread), 16 on PostgreSQL.
    pub fn default_connections(self) -> u32 {
        match self {
            Backend::Sqlite => 4,
            Backend::Postgres => 16,
        }
    }
}

/// The URL of the default SQLite database inside `data_dir`, creating the folder if needed.
pub fn sqlite_url_in(data_dir: &Path) -> std::io::Result<String> {
    std::fs::create_dir_all(data_dir)?;
    Ok(format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("latchkey.db").display()
    ))
}

/// A PostgreSQL connection idle in the pool this long is pinged before it is handed out; one
/// in steady use was answered by the server moments ago (and sqlx pings each one as it comes
/// back to the pool), so a ping per acquire would be a round trip per query for nothing.
pub(super) const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// sqlx's pool for `url`, which names `backend` (see [`Backend::of_url`]).
pub async fn connect(
    url: &str,
    backend: Backend,
    max_connections: u32,
) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let options = AnyConnectOptions::from_str(url)?;
    let pool = AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        // sqlx pings a connection when it goes back to the pool, and by default again when it
        // is taken out. A SQLite connection is a thread of this process and cannot have gone
        // away in between: the second ping is a wasted round trip to that thread on every
        // query. A PostgreSQL connection can (server restart, a proxy's idle timeout): one idle
        // for a second or more is checked before use and replaced if dead; one in steady use is
        // not (a restart within that second fails its next query, as it fails queries in flight).
        .test_before_acquire(false)
        .before_acquire(move |conn, meta| {
            Box::pin(async move {
                if backend == Backend::Postgres && meta.idle_for >= PING_IF_IDLE_FOR {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // Per connection: wait for the writer instead of failing, enforce references.
                    conn.execute("PRAGMA busy_timeout = 5000").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    // 256 KiB of page cache per connection (SQLite's default is 2 MiB): the
                    // operating system caches the file anyway, a miss here is one pread of a
                    // cached page, and every connection fills its own cache.
                    conn.execute("PRAGMA cache_size = -256").await?;
                    // Commits leave the WAL to the checkpointer ([`spawn_checkpointer`]); one
                    // checkpoints inline only should it fall far behind.
                    conn.execute(
                        format!("PRAGMA wal_autocheckpoint = {INLINE_CHECKPOINT_PAGES}").as_str(),
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    if backend == Backend::Sqlite {
        // WAL is a property of the file: readers never wait for the writer; a killed process loses nothing committed.
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&pool)
            .await?;
    }
    Ok(pool)
}

/// How often [`spawn_checkpointer`] copies the WAL's committed pages into the SQLite file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// WAL pages past which a commit checkpoints inline, as a backstop (SQLite's default is 1,000,
/// which made every few hundredth commit copy the WAL and sync both files while every other
/// writer waited: the code check's p99 on SQLite rose by ~2 ms, BENCHMARKS.md).
const INLINE_CHECKPOINT_PAGES: u32 = 10_000;

/// SQLite: checkpoints the WAL every [`CHECKPOINT_EVERY`] on a pool connection, PASSIVE (it waits
/// for no reader or writer and copies what no reader still needs), so commits do not. Runs
/// until the pool closes.
pub fn spawn_checkpointer(pool: AnyPool) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(CHECKPOINT_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        while !pool.is_closed() {
            every.tick().await;
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                tracing::debug!(error = %e, "wal checkpoint");
            }
        }
    });
}

pub async fn migrate(pool: &AnyPool, backend: Backend) -> Result<(), sqlx::migrate::MigrateError> {
    match backend {
        Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(pool).await,
        Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(pool).await,
    }
}
