//! PostgreSQL connections for the hot path, without sqlx's ping on every release.
//!
//! sqlx's pool sends a `/* SQLx ping */` query on each connection as it comes back (sqlx-core
//! 0.8 `Floating::return_to_pool`; no option turns it off), so every query costs PostgreSQL a
//! second wake-up and round trip. It does so because a query future dropped half-way (a client
//! gone mid-request) can leave a connection mid-protocol. Here a connection goes back only
//! after its query finished; a lease dropped before that closes its connection instead, so no
//! connection in the idle list can be mid-protocol. One idle for a second or more is pinged
//! before use, as the main pool does ([`super::db`]), since the server or a proxy may have
//! closed it meanwhile.
//!
//! Used by the reads behind every request ([`super::read`]); everything else stays on sqlx's
//! pool.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use sqlx::{
    any::{AnyArguments, AnyConnectOptions, AnyRow},
    Any, AnyConnection, ConnectOptions, Connection,
};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::db::PING_IF_IDLE_FOR;

type Query<'q> = sqlx::query::Query<'q, Any, AnyArguments<'q>>;

pub struct PgDirect {
    options: AnyConnectOptions,
    idle: Mutex<Vec<(AnyConnection, Instant)>>,
    permits: Semaphore,
}

/// A connection taken from [`PgDirect`]; [`Lease::release`] gives it back.
pub struct Lease<'a> {
    pool: &'a PgDirect,
    conn: Option<AnyConnection>,
    _permit: SemaphorePermit<'a>,
}

const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// sqlx's default `idle_timeout`.
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

impl PgDirect {
    /// Up to `max` connections to `options`, opened when first needed.
    pub fn new(options: AnyConnectOptions, max: u32) -> PgDirect {
        PgDirect {
            options,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(max.max(1) as usize),
        }
    }

    pub async fn acquire(&self) -> Result<Lease<'_>, sqlx::Error> {
        let permit = tokio::time::timeout(ACQUIRE_TIMEOUT, self.permits.acquire())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        loop {
            let taken = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let conn = match taken {
                Some((mut conn, since)) => {
                    if since.elapsed() >= PING_IF_IDLE_FOR && conn.ping().await.is_err() {
                        continue; // dead while idle: dropped, try the next one
                    }
                    conn
                }
                None => self.options.connect().await?,
            };
            return Ok(Lease {
                pool: self,
                conn: Some(conn),
                _permit: permit,
            });
        }
    }

    /// All rows of `query`, on a leased connection given back once they are read.
    pub async fn fetch_all(&self, query: Query<'_>) -> Result<Vec<AnyRow>, sqlx::Error> {
        let mut lease = self.acquire().await?;
        let rows = query.fetch_all(lease.conn()).await?;
        lease.release();
        Ok(rows)
    }

    /// The first row of `query`, if any, likewise.
    pub async fn fetch_optional(&self, query: Query<'_>) -> Result<Option<AnyRow>, sqlx::Error> {
        let mut lease = self.acquire().await?;
        let row = query.fetch_optional(lease.conn()).await?;
        lease.release();
        Ok(row)
    }

    /// Connections waiting in the idle list.
    pub fn idle_count(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Lease<'_> {
    pub fn conn(&mut self) -> &mut AnyConnection {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until released")
    }

    /// Back to the idle list: call only after the connection's last query finished.
    pub fn release(mut self) {
        if let Some(conn) = self.conn.take() {
            let mut idle = self.pool.idle.lock().unwrap_or_else(|e| e.into_inner());
            // Taken last-in first-out, so the longest idle are at the front: after a burst the
            // connections it needed are closed again once unused this long, as sqlx's are.
            let stale = idle
                .iter()
                .take_while(|(_, since)| since.elapsed() >= IDLE_TIMEOUT)
                .count();
            idle.drain(..stale);
            idle.push((conn, Instant::now()));
        }
    }
}

/// The hot path's PostgreSQL queries (the reads behind every request, the code sign-in) take the
/// direct set where there is one, and sqlx's pool otherwise (`--db-connections 1`).
impl super::Shared {
    pub(super) async fn hot_fetch_all(&self, query: Query<'_>) -> Result<Vec<AnyRow>, sqlx::Error> {
        match &self.pg_direct {
            Some(direct) => direct.fetch_all(query).await,
            None => query.fetch_all(&self.pool).await,
        }
    }

    pub(super) async fn hot_fetch_optional(
        &self,
        query: Query<'_>,
    ) -> Result<Option<AnyRow>, sqlx::Error> {
        match &self.pg_direct {
            Some(direct) => direct.fetch_optional(query).await,
            None => query.fetch_optional(&self.pool).await,
        }
    }
}
