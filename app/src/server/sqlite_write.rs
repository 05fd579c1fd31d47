//! The sign-in's write transaction on SQLite in one hop to a blocking thread, on a connection of
//! its own.
//!
//! Through sqlx every statement of a transaction is a round trip to the connection's thread and
//! back to the async task, and a writer that finds SQLite's write lock taken sleeps 1, 2, 5,
//! 10 … ms in SQLite's default busy handler. A sign-in with a code is seven statements; with its
//! twin (a double submit) contending for the lock, that was most of its latency. Here the whole
//! transaction runs in one closure on the blocking pool, the write lock is held for the
//! microseconds SQLite needs, and a writer that finds it taken retries every 100 µs.
//!
//! The WAL is checkpointed by a thread of its own rather than by this connection's commits: the
//! commit that crosses SQLite's 1,000-page mark copies the pages into the database file and syncs
//! both files while every other sign-in waits for the lock, which was what remained of the p99.

use std::{path::PathBuf, sync::Mutex, time::Duration};

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

/// A value bound to `$1`, `$2`, … of a statement of [`execute_all`].
#[derive(Clone, Debug)]
pub enum Value {
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// Runs `statements` (SQL and its values for `$1`, `$2`, …) in one transaction, on either
/// database: on a SQLite file in one hop to the writer's connection ([`transaction`]), elsewhere
/// through sqlx's pool (a single statement without `BEGIN`/`COMMIT` around it). `what` names the
/// write in errors.
pub async fn execute_all(
    state: &AppState,
    what: &'static str,
    statements: Vec<(String, Vec<Value>)>,
) -> Result<(), AppError> {
    if state.writer.is_some() {
        return transaction(state, move |tx| {
            for (sql, values) in &statements {
                let mut stmt = tx.prepare_cached(sql)?;
                bind_numbered(&mut stmt, values)?;
                stmt.raw_execute()?;
            }
            Ok((true, ()))
        })
        .await;
    }
    fn bound<'q>(
        sql: &'q str,
        values: &'q [Value],
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        values.iter().fold(sqlx::query(sql), |q, v| match v {
            Value::Int(i) => q.bind(*i),
            Value::Text(t) => q.bind(t.as_str()),
            Value::Blob(b) => q.bind(b.as_slice()),
        })
    }
    if let [(sql, values)] = statements.as_slice() {
        bound(sql, values)
            .execute(&state.pool)
            .await
            .map_err(internal(what))?;
        return Ok(());
    }
    let mut tx = super::begin(state).await?;
    for (sql, values) in &statements {
        bound(sql, values)
            .execute(&mut *tx)
            .await
            .map_err(internal(what))?;
    }
    tx.commit().await.map_err(internal(what))
}

/// Binds `values` to the parameters named `$1`, `$2`, … by name: SQLite numbers `$N` parameters
/// in their order of first appearance, which need not be N.
fn bind_numbered(
    stmt: &mut rusqlite::CachedStatement<'_>,
    values: &[Value],
) -> rusqlite::Result<()> {
    if stmt.parameter_count() != values.len() {
        return Err(rusqlite::Error::InvalidParameterCount(
            values.len(),
            stmt.parameter_count(),
        ));
    }
    for (i, value) in values.iter().enumerate() {
        let name = format!("${}", i + 1);
        let index = stmt
            .parameter_index(&name)?
            .ok_or_else(|| rusqlite::Error::InvalidParameterName(name))?;
        match value {
            Value::Int(v) => stmt.raw_bind_parameter(index, v)?,
            Value::Text(v) => stmt.raw_bind_parameter(index, v)?,
            Value::Blob(v) => stmt.raw_bind_parameter(index, v)?,
        }
    }
    Ok(())
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
        let values = [
            Value::Int(7),
            Value::Text("seven".into()),
            Value::Blob(vec![7, 7]),
        ];
        bind_numbered(&mut stmt, &values).unwrap();
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
        assert!(bind_numbered(&mut stmt, &[Value::Int(1)]).is_err());
        let three = [Value::Int(1), Value::Int(2), Value::Int(3)];
        assert!(bind_numbered(&mut stmt, &three).is_err());
        // Parameters not named `$N` are refused rather than bound by position.
        let mut named = conn
            .prepare_cached("INSERT INTO t (a) VALUES (:a)")
            .unwrap();
        assert!(bind_numbered(&mut named, &[Value::Int(1)]).is_err());
    }
}
