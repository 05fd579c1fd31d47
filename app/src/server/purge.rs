//! Deleting what has expired: sessions, half sign-ins, enrollments, plain-form results, spent
//! or expired links, mail done with a week ago,
//! throttle rows quiet for a day, and audit events past their retention. Each is one idempotent DELETE, so several instances may purge
//! at once.

use super::{internal, sessions::CLEAR_EXPIRED_PENDING, throttle, AppState};
use crate::domain::AppError;

/// How often each instance purges.
pub const EVERY_SECS: u64 = 10 * 60;

/// A throttle row this long without an attempt is forgotten (unless it locked its subject).
const THROTTLE_QUIET_SECS: i64 = 24 * 3600;
/// Mail sent (or given up) stays in the outbox this long: the hourly limits read it.
const OUTBOX_KEPT_SECS: i64 = 7 * 24 * 3600;
/// Audit events are kept this long (a year and a month).
pub const AUDIT_RETENTION_SECS: i64 = 400 * 24 * 3600;
/// Audit events of no account (failed sign-ins with unknown emails: nobody can read them) are
/// kept this long, for the operator's logs of an attack.
const UNOWNED_AUDIT_SECS: i64 = 30 * 24 * 3600;

/// Deletes every row expired at `t`; returns how many went.
pub async fn run_once(state: &AppState, t: i64) -> Result<u64, AppError> {
    let idle_since = t - state.config.session_idle_secs;
    let statements: [(&str, &[i64]); 9] = [
        (
            "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2",
            &[t, idle_since],
        ),
        (CLEAR_EXPIRED_PENDING, &[t]),
        ("DELETE FROM enrollments WHERE expires_at <= $1", &[t]),
        ("DELETE FROM flashes WHERE expires_at <= $1", &[t]),
        (
            "DELETE FROM webauthn_ceremonies WHERE expires_at <= $1",
            &[t],
        ),
        (
            "DELETE FROM user_links WHERE expires_at <= $1 OR used_at IS NOT NULL",
            &[t],
        ),
        (
            "DELETE FROM sign_in_throttle WHERE updated_at <= $1 AND blocked_until <= $2 \
             AND attempts < $3",
            &[t - THROTTLE_QUIET_SECS, t, throttle::ATTEMPT_LIMIT],
        ),
        (
            "DELETE FROM outbox WHERE done_at IS NOT NULL AND done_at <= $1",
            &[t - OUTBOX_KEPT_SECS],
        ),
        (
            "DELETE FROM audit_events WHERE created_at <= $1 \
             OR (account_id IS NULL AND created_at <= $2)",
            &[t - AUDIT_RETENTION_SECS, t - UNOWNED_AUDIT_SECS],
        ),
    ];
    let mut purged = 0;
    for (sql, args) in statements {
        let mut q = sqlx::query(sql);
        for a in args {
            q = q.bind(*a);
        }
        purged += q
            .execute(&state.pool)
            .await
            .map_err(internal("purge"))?
            .rows_affected();
    }
    Ok(purged)
}

/// Purges every [`EVERY_SECS`] for as long as the process runs.
pub fn spawn(state: AppState) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(EVERY_SECS));
        loop {
            every.tick().await;
            match run_once(&state, super::now()).await {
                Ok(n) => tracing::debug!(purged = n, "purged expired rows"),
                Err(_) => tracing::warn!("purge failed; trying again later"),
            }
        }
    });
}
