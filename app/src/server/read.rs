//! Reads on the hot path of every request, without sqlx's round trips on SQLite.
//!
//! sqlx runs each SQLite connection on a thread of its own: a query is a message to that thread,
//! the rows come back over a channel, and the connection's return to the pool is another round
//! trip (a ping). For the session lookup behind every signed-in page that was more CPU than the
//! page itself (`perf` on the Overview under load: the SQLite connection threads 27 % of the
//! samples, the kernel switching threads 22 %, `sqlite3VdbeExec` 1 %). An indexed read from
//! SQLite's page cache takes microseconds, so on SQLite these reads run on the calling thread,
//! on a connection of their own that only reads. PostgreSQL is a network round trip either
//! way: it goes through sqlx, on connections without the ping on release ([`super::pg_direct`]).

use std::{path::PathBuf, sync::Mutex, time::Duration};

use super::{internal, AppState};
use crate::domain::AppError;

/// A bound parameter of a [`fetch_optional`] or [`fetch_all`] query, for `$1`, `$2`, … in order.
#[derive(Clone, Copy, Debug)]
pub enum Arg<'a> {
    Int(i64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// A result row, by column name, from either path.
pub trait Columns {
    fn int(&self, column: &str) -> Result<i64, AppError>;
    fn text(&self, column: &str) -> Result<String, AppError>;
    fn opt_text(&self, column: &str) -> Result<Option<String>, AppError>;
    fn opt_blob(&self, column: &str) -> Result<Option<Vec<u8>>, AppError>;
}

impl Columns for sqlx::any::AnyRow {
    fn int(&self, column: &str) -> Result<i64, AppError> {
        sqlx::Row::try_get(self, column).map_err(internal("read column"))
    }
    fn text(&self, column: &str) -> Result<String, AppError> {
        sqlx::Row::try_get(self, column).map_err(internal("read column"))
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>, AppError> {
        sqlx::Row::try_get(self, column).map_err(internal("read column"))
    }
    fn opt_blob(&self, column: &str) -> Result<Option<Vec<u8>>, AppError> {
        sqlx::Row::try_get(self, column).map_err(internal("read column"))
    }
}

/// A rusqlite row, read by column name. rusqlite finds a name by asking SQLite for every
/// column's name in turn until one matches: for the eleven columns of the session lookup that was
/// 66 name reads per row, a tenth of the Overview's instructions before its page (callgrind).
/// Readers here take the columns in their SELECT's order, so the column after the last one read
/// is tried first, and rusqlite's own search, with the same case-insensitive match, covers any
/// other order.
struct InOrder<'a, 'stmt> {
    row: &'a rusqlite::Row<'stmt>,
    next: std::cell::Cell<usize>,
}

impl<'a, 'stmt> InOrder<'a, 'stmt> {
    fn new(row: &'a rusqlite::Row<'stmt>) -> Self {
        InOrder {
            row,
            next: std::cell::Cell::new(0),
        }
    }

    fn get<T: rusqlite::types::FromSql>(&self, column: &str) -> Result<T, AppError> {
        let stmt: &rusqlite::Statement<'_> = self.row.as_ref();
        let guess = self.next.get();
        let index = match stmt.column_name(guess) {
            Ok(name) if name.eq_ignore_ascii_case(column) => guess,
            _ => stmt.column_index(column).map_err(internal("read column"))?,
        };
        self.next.set(index + 1);
        self.row.get(index).map_err(internal("read column"))
    }
}

impl Columns for InOrder<'_, '_> {
    fn int(&self, column: &str) -> Result<i64, AppError> {
        self.get(column)
    }
    fn text(&self, column: &str) -> Result<String, AppError> {
        self.get(column)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>, AppError> {
        self.get(column)
    }
    fn opt_blob(&self, column: &str) -> Result<Option<Vec<u8>>, AppError> {
        self.get(column)
    }
}

/// The SQLite file behind `url`; `None` for an in-memory database, which only the pool's
/// connections share.
pub(super) fn sqlite_file(url: &str) -> Result<Option<PathBuf>, sqlx::Error> {
    use std::str::FromStr;
    let path = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
        .get_filename()
        .to_path_buf();
    Ok(path.is_file().then_some(path))
}

/// A `rusqlite` connection to the file, used by one thread at a time.
pub(super) fn open_file(path: &std::path::Path) -> rusqlite::Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}

/// Connections that only read the SQLite file, used on the calling thread one at a time.
pub struct SqliteReader {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

/// Idle read connections kept; more exist only while more threads read at once.
const KEEP_IDLE: usize = 4;

impl SqliteReader {
    /// For the SQLite file behind `url`; `None` for an in-memory database, which only the
    /// pool's connections share.
    pub fn for_url(url: &str) -> Result<Option<SqliteReader>, sqlx::Error> {
        Ok(sqlite_file(url)?.map(|path| SqliteReader {
            path,
            idle: Mutex::new(Vec::new()),
        }))
    }

    fn open(&self) -> rusqlite::Result<rusqlite::Connection> {
        let conn = open_file(&self.path)?;
        // In WAL mode a reader waits only while a writer resets the log, which is brief.
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch("PRAGMA query_only = ON; PRAGMA cache_size = -256;")?;
        Ok(conn)
    }

    /// Runs `f` on an idle read connection (opening one if none is idle).
    fn with<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        let conn = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match conn {
            Some(conn) => conn,
            None => self.open().map_err(internal("open read connection"))?,
        };
        let out = f(&conn);
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < KEEP_IDLE {
                idle.push(conn);
            }
        }
        out
    }
}

/// Runs a read of at most one row: `sql` with `$1`, `$2`, … bound to `args`, and `map` over the
/// row if there is one.
pub async fn fetch_optional<T>(
    state: &AppState,
    sql: &str,
    args: &[Arg<'_>],
    map: impl FnMut(&dyn Columns) -> Result<T, AppError>,
) -> Result<Option<T>, AppError> {
    Ok(fetch(state, sql, args, 1, map).await?.pop())
}

/// Runs a read: `sql` with `$1`, `$2`, … bound to `args`, and `map` over every row.
pub async fn fetch_all<T>(
    state: &AppState,
    sql: &str,
    args: &[Arg<'_>],
    map: impl FnMut(&dyn Columns) -> Result<T, AppError>,
) -> Result<Vec<T>, AppError> {
    fetch(state, sql, args, usize::MAX, map).await
}

/// `map` over the first `max_rows` rows.
async fn fetch<T>(
    state: &AppState,
    sql: &str,
    args: &[Arg<'_>],
    max_rows: usize,
    mut map: impl FnMut(&dyn Columns) -> Result<T, AppError>,
) -> Result<Vec<T>, AppError> {
    if let Some(reader) = &state.reader {
        return reader.with(|conn| {
            let mut stmt = conn.prepare_cached(sql).map_err(internal("prepare read"))?;
            bind_sqlite(&mut stmt, args).map_err(internal("bind read"))?;
            let mut rows = stmt.raw_query();
            let mut out = Vec::new();
            while out.len() < max_rows {
                match rows.next().map_err(internal("read"))? {
                    Some(row) => out.push(map(&InOrder::new(row))?),
                    None => break,
                }
            }
            Ok(out)
        });
    }
    let query = sqlx_query(sql, args);
    // PostgreSQL: on a connection without sqlx's ping on release (`pg_direct`).
    let rows = if max_rows == 1 {
        state.hot_fetch_optional(query).await.map(Vec::from_iter)
    } else {
        state.hot_fetch_all(query).await
    }
    .map_err(internal("read"))?;
    rows.iter().map(|row| map(row)).collect()
}

/// Binds `args` to a rusqlite statement's parameters: `$N` takes `args[N - 1]`, wherever and
/// however often it appears (SQLite numbers parameters in their order of first appearance, which
/// need not be N). Every arg must be used, as PostgreSQL requires of the same statement.
pub(super) fn bind_sqlite(
    stmt: &mut rusqlite::Statement<'_>,
    args: &[Arg<'_>],
) -> rusqlite::Result<()> {
    if stmt.parameter_count() != args.len() {
        return Err(rusqlite::Error::InvalidParameterCount(
            args.len(),
            stmt.parameter_count(),
        ));
    }
    for i in 1..=stmt.parameter_count() {
        let name = stmt.parameter_name(i).unwrap_or_default();
        let n: usize = name
            .strip_prefix('$')
            .and_then(|n| n.parse().ok())
            .filter(|n| (1..=args.len()).contains(n))
            .ok_or_else(|| rusqlite::Error::InvalidParameterName(name.to_string()))?;
        match args[n - 1] {
            Arg::Int(v) => stmt.raw_bind_parameter(i, v),
            Arg::Text(v) => stmt.raw_bind_parameter(i, v),
            Arg::Blob(v) => stmt.raw_bind_parameter(i, v),
        }?;
    }
    Ok(())
}

/// `sql` for sqlx with `$1`, `$2`, … bound to `args`.
pub(super) fn sqlx_query<'q>(
    sql: &'q str,
    args: &[Arg<'_>],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    args.iter().fold(sqlx::query(sql), |query, arg| match *arg {
        Arg::Int(v) => query.bind(v),
        Arg::Text(v) => query.bind(v.to_string()),
        Arg::Blob(v) => query.bind(v.to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read<T>(
        sql: &str,
        f: impl FnOnce(&dyn Columns) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let mut stmt = conn.prepare(sql).unwrap();
        let mut rows = stmt.raw_query();
        let row = rows.next().unwrap().unwrap();
        f(&InOrder::new(row))
    }

    const ROW: &str = "SELECT 7 AS id, 'Ada' AS name, NULL AS source, x'0102' AS blob";

    #[test]
    fn columns_read_by_name_in_any_order() {
        let in_order = read(ROW, |r| {
            Ok((
                r.int("id")?,
                r.text("name")?,
                r.opt_text("source")?,
                r.opt_blob("blob")?,
            ))
        })
        .unwrap();
        assert_eq!(in_order, (7, "Ada".to_string(), None, Some(vec![1, 2])));

        let shuffled = read(ROW, |r| {
            Ok((
                r.opt_blob("blob")?,
                r.text("name")?,
                r.int("id")?,
                r.text("NAME")?,
            ))
        })
        .unwrap();
        assert_eq!(
            shuffled,
            (Some(vec![1, 2]), "Ada".to_string(), 7, "Ada".to_string())
        );

        // The same column twice, then one before it.
        let again = read(ROW, |r| {
            Ok((r.int("id")?, r.int("id")?, r.text("name")?, r.int("id")?))
        })
        .unwrap();
        assert_eq!(again, (7, 7, "Ada".to_string(), 7));
    }

    #[test]
    fn an_unknown_column_or_a_wrong_type_is_an_error() {
        assert!(read(ROW, |r| r.int("missing")).is_err());
        // After the last column, the guess is past the end.
        assert!(read(ROW, |r| {
            r.opt_blob("blob")?;
            r.int("missing")
        })
        .is_err());
        assert!(read(ROW, |r| r.int("name")).is_err());
        assert!(read(ROW, |r| r.text("source")).is_err());
    }
}
