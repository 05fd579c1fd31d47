//! Writes on SQLite in one hop to a blocking thread, on a connection of its own: the password
//! sign-in's throttle count and reset (`throttle::claim`, `throttle::succeed`).
//!
//! Through sqlx every statement of a transaction is a round trip to the connection's thread and
//! back to the async task, and a writer that finds SQLite's write lock taken sleeps 1, 2, 5,
//! 10 … ms in SQLite's default busy handler. Here the whole transaction runs in one closure on
//! the blocking pool, the write lock is held for the microseconds SQLite needs, and a writer
//! that finds it taken retries every 100 µs.
//!
//! The WAL is checkpointed by a thread of its own rather than by any connection's commits: the
//! commit that crosses SQLite's 1,000-page mark would copy the pages into the database file and
//! sync both files while every other writer waits for the lock.

use std::{path::PathBuf, sync::Mutex, time::Duration};

use super::read::{self, Arg};
use super::{internal, AppState};
use crate::domain::AppError;

/// One write connection to the SQLite file, used by one transaction at a time.
pub struct SqliteWriter {
    path: PathBuf,
    conn: Mutex<Option<rusqlite::Connection>>,
    /// The checkpointer thread runs while this lives.
    _alive: std::sync::Arc<()>,
}

/// How often the checkpointer copies the WAL's committed pages into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// How long a writer waits for SQLite's write lock before giving up, as the pool's connections do.
const BUSY_FOR: Duration = Duration::from_secs(5);
const BUSY_POLL: Duration = Duration::from_micros(100);

/// SQLite's busy handler: sleep briefly and try again, for [`BUSY_FOR`] in all.
fn retry_soon(attempt: i32) -> bool {
    std::thread::sleep(BUSY_POLL);
    (attempt as u128) < BUSY_FOR.as_micros() / BUSY_POLL.as_micros()
}

impl SqliteWriter {
    /// For the SQLite file behind `url`; `None` for an in-memory database.
    pub fn for_url(url: &str) -> Result<Option<SqliteWriter>, sqlx::Error> {
        let Some(path) = super::read::sqlite_file(url)? else {
            return Ok(None);
        };
        let alive = std::sync::Arc::new(());
        start_checkpointer(path.clone(), std::sync::Arc::downgrade(&alive));
        Ok(Some(SqliteWriter {
            path,
            conn: Mutex::new(None),
            _alive: alive,
        }))
    }

    fn open(&self) -> rusqlite::Result<rusqlite::Connection> {
        let conn = super::read::open_file(&self.path)?;
        conn.busy_handler(Some(retry_soon))?;
        // As the pool's connections (db.rs): references enforced, WAL synced at checkpoints.
        // Its own commits checkpoint only as a backstop, should the checkpointer fall behind.
        conn.execute_batch(
            "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -256; \
             PRAGMA wal_autocheckpoint = 10000;",
        )?;
        Ok(conn)
    }

    /// Runs `f` in an immediate transaction (the write lock taken at its start): commits when
    /// `f` returns `Ok((true, _))`, rolls back when `Ok((false, _))` or an error.
    fn run<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<(bool, T)>,
    ) -> Result<T, AppError> {
        // A panic in another transaction leaves no half state behind (it rolled back on drop).
        let mut slot = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(self.open().map_err(internal("open write connection"))?);
        }
        let conn = slot.as_mut().ok_or(AppError::Internal)?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(internal("begin write"))?;
        let (commit, out) = f(&tx).map_err(internal("write"))?;
        if commit {
            tx.commit().map_err(internal("commit write"))?;
        } else {
            tx.rollback().map_err(internal("roll back write"))?;
        }
        Ok(out)
    }
}

/// Checkpoints the WAL every [`CHECKPOINT_EVERY`] from a thread of its own, PASSIVE: it waits for
/// no reader or writer and copies what no reader still needs. The pool's connections keep
/// SQLite's inline checkpoint at 1,000 pages; the writer's at 10,000 (above).
fn start_checkpointer(path: PathBuf, alive: std::sync::Weak<()>) {
    let spawned = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            let conn = match super::read::open_file(&path) {
                Ok(conn) => conn,
                Err(e) => return tracing::error!(error = %e, "open checkpoint connection"),
            };
            while alive.upgrade().is_some() {
                std::thread::sleep(CHECKPOINT_EVERY);
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::debug!(error = %e, "wal checkpoint");
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "start checkpoint thread");
    }
}

/// Runs `f` as [`SqliteWriter::run`] does, on the blocking pool. Only for a state with a writer
/// (a SQLite file); callers check `state.writer` to choose this path.
pub async fn transaction<T, F>(state: &AppState, f: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<(bool, T)> + Send + 'static,
{
    let state = state.clone();
    tokio::task::spawn_blocking(move || match &state.writer {
        Some(writer) => writer.run(f),
        None => Err(internal("write")("no SQLite writer in this state")),
    })
    .await
    .unwrap_or_else(|e| Err(internal("write task")(e)))
}

/// Runs `statements` (SQL and its args for `$1`, `$2`, …, as [`read::fetch_all`] takes them) in
/// one transaction, on either database: on a SQLite file in one hop to the writer's connection
/// ([`transaction`]), elsewhere through sqlx's pool (a single statement without
/// `BEGIN`/`COMMIT` around it). `what` names the write in errors.
pub async fn execute_all(
    state: &AppState,
    what: &'static str,
    statements: &[(&str, &[Arg<'_>])],
) -> Result<(), AppError> {
    if state.writer.is_some() {
        // The writer runs on the blocking pool: it gets its own copy of the statements.
        let owned: Vec<(String, Vec<OwnedArg>)> = statements
            .iter()
            .map(|(sql, args)| (sql.to_string(), args.iter().map(OwnedArg::of).collect()))
            .collect();
        return transaction(state, move |tx| {
            for (sql, args) in &owned {
                let args: Vec<Arg<'_>> = args.iter().map(OwnedArg::arg).collect();
                let mut stmt = tx.prepare_cached(sql)?;
                read::bind_sqlite(&mut stmt, &args)?;
                stmt.raw_execute()?;
            }
            Ok((true, ()))
        })
        .await;
    }
    if let [(sql, args)] = statements {
        read::sqlx_query(sql, args)
            .execute(&state.pool)
            .await
            .map_err(internal(what))?;
        return Ok(());
    }
    let mut tx = super::begin(state).await?;
    for (sql, args) in statements {
        read::sqlx_query(sql, args)
            .execute(&mut *tx)
            .await
            .map_err(internal(what))?;
    }
    tx.commit().await.map_err(internal(what))
}

/// An [`Arg`] that owns its value, to cross to the blocking pool.
enum OwnedArg {
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl OwnedArg {
    fn of(arg: &Arg<'_>) -> OwnedArg {
        match *arg {
            Arg::Int(v) => OwnedArg::Int(v),
            Arg::Text(v) => OwnedArg::Text(v.to_string()),
            Arg::Blob(v) => OwnedArg::Blob(v.to_vec()),
        }
    }

    fn arg(&self) -> Arg<'_> {
        match self {
            OwnedArg::Int(v) => Arg::Int(*v),
            OwnedArg::Text(v) => Arg::Text(v),
            OwnedArg::Blob(v) => Arg::Blob(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> rusqlite::Connection {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a INTEGER, b TEXT, c BLOB)")
            .unwrap();
        conn
    }

    #[test]
    fn values_go_to_their_numbered_parameter_whatever_the_order_in_the_sql() {
        let conn = conn();
        // SQLite numbers $3 first here: a positional bind would put the blob into `a`.
        let mut stmt = conn
            .prepare_cached("INSERT INTO t (c, b, a) VALUES ($3, $2, $1)")
            .unwrap();
        let owned = [
            OwnedArg::Int(7),
            OwnedArg::Text("seven".into()),
            OwnedArg::Blob(vec![7, 7]),
        ];
        let values: Vec<Arg<'_>> = owned.iter().map(OwnedArg::arg).collect();
        read::bind_sqlite(&mut stmt, &values).unwrap();
        assert_eq!(stmt.raw_execute().unwrap(), 1);
        drop(stmt);
        let row: (i64, String, Vec<u8>) = conn
            .query_row("SELECT a, b, c FROM t", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(row, (7, "seven".into(), vec![7, 7]));
    }

    #[test]
    fn too_few_or_too_many_values_are_refused() {
        let conn = conn();
        let mut stmt = conn
            .prepare_cached("INSERT INTO t (a, b) VALUES ($1, $2)")
            .unwrap();
        assert!(read::bind_sqlite(&mut stmt, &[Arg::Int(1)]).is_err());
        let three = [Arg::Int(1), Arg::Int(2), Arg::Int(3)];
        assert!(read::bind_sqlite(&mut stmt, &three).is_err());
        // Parameters not named `$N` are refused rather than bound by position.
        let mut named = conn
            .prepare_cached("INSERT INTO t (a) VALUES (:a)")
            .unwrap();
        assert!(read::bind_sqlite(&mut named, &[Arg::Int(1)]).is_err());
    }
}
