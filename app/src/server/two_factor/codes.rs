//! Checking a code. Each attempt is counted before its code is compared, in one conditional
//! UPDATE, so parallel guesses cannot overshoot the limit; a code's step is spent at most once.
//! Sign-in codes, recovery codes and step-up codes all pass through here.

use std::sync::{Arc, LazyLock};

use sqlx::Row;

use super::{entry, secret_context, Who};
use crate::domain::AppError;
use crate::server::{
    audit::{self, Event},
    begin,
    db::Backend,
    internal, mail, totp, AppState, Tx,
};

/// Consecutive wrong codes before the check locks.
pub const MAX_FAILURES: i64 = 5;

/// 30 s for the first lockout, doubling, at most 15 minutes.
pub fn lock_secs(previous_lockouts: i64) -> i64 {
    (30i64 << previous_lockouts.clamp(0, 5)).min(15 * 60)
}

/// [`lock_secs`] of `code_lockouts`, in SQL, written out from the function.
fn lock_secs_sql() -> String {
    let mut sql = String::from("CASE code_lockouts");
    for n in 0..5 {
        sql += &format!(" WHEN {n} THEN {}", lock_secs(n));
    }
    sql + &format!(" ELSE {} END", lock_secs(5))
}

/// Counts an attempt of user `$1` at `$2` unless the check is locked; the attempt that makes
/// [`MAX_FAILURES`] in a row takes the lock, and the count starts over. Returns the lock's end.
static TAKE_ATTEMPT: LazyLock<String> = LazyLock::new(|| {
    let fifth = format!("code_failures + 1 >= {MAX_FAILURES}");
    format!(
        "UPDATE users SET \
           code_failures = CASE WHEN {fifth} THEN 0 ELSE code_failures + 1 END, \
           code_lockouts = CASE WHEN {fifth} THEN code_lockouts + 1 ELSE code_lockouts END, \
           code_locked_until = CASE WHEN {fifth} THEN $2 + {lock} ELSE code_locked_until END \
         WHERE id = $1 AND code_locked_until <= $2 \
         RETURNING code_locked_until",
        lock = lock_secs_sql()
    )
});

/// Whether user `user_id`'s half sign-in `pending_hash` is live at `t` (and still owes its
/// second factor, not a passkey after one: see [`super::sign_in`]), read in `tx` once the
/// attempt holds the user's row: half sign-ins end only under that row, so the answer holds for
/// the transaction. It is a statement of its own: on PostgreSQL a statement that waited for the
/// row re-reads that row alone and sees other tables as they were when it began, before the
/// twin that held the row ended the half sign-in.
pub(crate) async fn pending_live(
    tx: &mut Tx,
    user_id: i64,
    pending_hash: &[u8],
    t: i64,
) -> Result<bool, AppError> {
    let live: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pending_logins WHERE id_hash = $1 AND user_id = $2 AND expires_at > $3 \
         AND owes_passkey = 0",
    )
    .bind(pending_hash.to_vec())
    .bind(user_id)
    .bind(t)
    .fetch_one(&mut **tx)
    .await
    .map_err(internal("half sign-in live"))?;
    Ok(live != 0)
}

/// A code attempt, counted (as a failure until the code proves right) before the comparison.
#[derive(Clone, Debug)]
pub(crate) struct Attempt {
    t: i64,
    /// The lock this attempt took, as the time it ends: it was the last one allowed.
    took_lock: Option<i64>,
    /// SQLite: this attempt's turn to write ([`crate::server::Shared::code_turn`]), held until
    /// the attempt is done with.
    _turn: Option<Arc<tokio::sync::OwnedMutexGuard<()>>>,
}

/// Counts an attempt of the user at `t` in a new transaction, returned with the user's row
/// locked, or refuses while their code check is locked. Everything the attempt leads to (the
/// refusal's audit rows, or what the code unlocks) commits with the count; a parallel attempt
/// waits on the row until then and sees it, so at most [`MAX_FAILURES`] codes are compared.
pub(crate) async fn take_attempt(
    state: &AppState,
    user_id: i64,
    t: i64,
) -> Result<(Tx, Attempt), AppError> {
    let turn = match state.backend {
        Backend::Sqlite => Some(state.code_turn.clone().lock_owned().await),
        Backend::Postgres => None,
    };
    let mut tx = begin(state).await?;
    let row = sqlx::query(TAKE_ATTEMPT.as_str())
        .bind(user_id)
        .bind(t)
        .fetch_optional(&mut *tx)
        .await
        .map_err(internal("count attempt"))?;
    if let Some(row) = row {
        let until: i64 = row.try_get(0).map_err(internal("attempt row"))?;
        let attempt = Attempt {
            t,
            took_lock: (until > t).then_some(until),
            _turn: turn.map(Arc::new),
        };
        return Ok((tx, attempt));
    }
    tx.rollback().await.map_err(internal("rollback"))?;
    let until: i64 = sqlx::query("SELECT code_locked_until FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&state.pool)
        .await
        .map_err(internal("read lock"))?
        .ok_or(AppError::Unauthorized)?
        .try_get(0)
        .map_err(internal("lock row"))?;
    crate::server::telemetry::throttled("code");
    Err(AppError::TooManyRequests {
        retry_after_secs: (until - t).max(1) as u64,
    })
}

/// A code was spent in `tx`: the run of failures ends, a lock its attempt took is given back,
/// and the use is logged.
pub(crate) async fn spent(
    tx: &mut Tx,
    who: Who<'_>,
    attempt: &Attempt,
    event: Event,
    detail: &str,
) -> Result<(), AppError> {
    sqlx::query(
        "UPDATE users SET code_failures = 0, \
           code_lockouts = CASE WHEN code_locked_until = $2 THEN code_lockouts - 1 ELSE code_lockouts END, \
           code_locked_until = CASE WHEN code_locked_until = $2 THEN 0 ELSE code_locked_until END \
         WHERE id = $1",
    )
    .bind(who.user_id)
    .bind(attempt.took_lock.unwrap_or(-1))
    .execute(&mut **tx)
    .await
    .map_err(internal("reset failures"))?;
    audit::record(&mut **tx, entry(who, event, detail)).await
}

/// A refused attempt: its audit rows commit with its count, in `tx`, and so does its mail: the
/// user hears that their password was followed by a wrong code (at a half sign-in), the owner
/// that the user's code check locked. Returns the error to show, which is the lock when this
/// attempt took it.
pub(crate) async fn refuse(
    state: &AppState,
    mut tx: Tx,
    who: Who<'_>,
    attempt: Attempt,
    refusal: Refusal,
) -> Result<AppError, AppError> {
    if refusal.replay {
        audit::record(
            &mut *tx,
            entry(who, Event::CodeReplayRefused, "code already used"),
        )
        .await?;
    }
    audit::record(&mut *tx, entry(who, Event::CodeFailure, refusal.why)).await?;
    mail::wrong_code_after_password(&mut tx, state, who.holder, who.client_addr, attempt.t).await?;
    if let Some(until) = attempt.took_lock {
        let detail = format!("locked for {} s", until - attempt.t);
        audit::record(&mut *tx, entry(who, Event::CodeLockout, &detail)).await?;
        mail::user_locked_out(&mut tx, state, who, MAX_FAILURES, attempt.t).await?;
    }
    tx.commit().await.map_err(internal("commit failure"))?;
    Ok(match attempt.took_lock {
        Some(until) => AppError::TooManyRequests {
            retry_after_secs: (until - attempt.t) as u64,
        },
        None => refusal.shown,
    })
}

/// Why a compared code was refused.
pub(crate) struct Refusal {
    shown: AppError,
    why: &'static str,
    replay: bool,
}

pub(crate) fn clock_hint(field: &str, offset_secs: i64) -> AppError {
    let direction = if offset_secs > 0 { "ahead" } else { "behind" };
    AppError::invalid(
        field,
        format!(
            "That code is for another time: your device's clock is about {} seconds {direction}. \
             Set it to update automatically and try again.",
            offset_secs.abs()
        ),
    )
}

pub(crate) fn wrong_code(field: &str) -> AppError {
    AppError::invalid(
        field,
        "That code is not valid. Check your authenticator app and try again.",
    )
}

fn already_used(field: &str) -> AppError {
    AppError::invalid(
        field,
        "That code was already used. Wait for the next code in your app.",
    )
}

pub(crate) fn replayed(field: &str) -> Refusal {
    Refusal {
        shown: already_used(field),
        why: "replayed code",
        replay: true,
    }
}

/// The user's authenticator secret, sealed, or a refusal when they have none.
pub(crate) async fn sealed_secret(
    state: &AppState,
    user_id: i64,
    field: &str,
) -> Result<Vec<u8>, AppError> {
    sqlx::query("SELECT secret_enc FROM authenticators WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(&state.pool)
        .await
        .map_err(internal("load authenticator"))?
        .ok_or_else(|| AppError::invalid(field, "You have no authenticator set up."))?
        .try_get(0)
        .map_err(internal("authenticator row"))
}

/// Compares `code` with the user's authenticator at `t`: the step it is valid for, or why not.
/// A code for a step up to ten ahead gets the clock hint only when that step is burnt (never
/// accepted afterwards, see [`CLAIM_STEP`]) and no other hinted step can still come due, so a
/// hint tells a guesser nothing they can use.
pub(crate) async fn compare(
    state: &AppState,
    tx: &mut Tx,
    who: Who<'_>,
    field: &str,
    code: &str,
    t: i64,
    sealed: &[u8],
) -> Result<Result<i64, Refusal>, AppError> {
    let secret = state
        .keys
        .open(&secret_context(who.user_id), sealed)
        .ok_or_else(|| internal("decrypt totp secret")("wrong server key or damaged row"))?;
    let wrong = Refusal {
        shown: wrong_code(field),
        why: "wrong code",
        replay: false,
    };
    Ok(match totp::check(&secret, code, t.max(0) as u64) {
        totp::Check::Valid { step } => Ok(step),
        totp::Check::ClockOff { offset_secs, step } if offset_secs > 0 => {
            let burnt = sqlx::query(
                "UPDATE authenticators SET hinted_step = $2 \
                 WHERE user_id = $1 AND (hinted_step IS NULL OR hinted_step < $3)",
            )
            .bind(who.user_id)
            .bind(step)
            .bind(totp::step_at(t) - 1)
            .execute(&mut **tx)
            .await
            .map_err(internal("burn hinted step"))?
            .rows_affected();
            if burnt == 1 {
                Err(Refusal {
                    shown: clock_hint(field, offset_secs),
                    why: "clock off",
                    replay: false,
                })
            } else {
                Err(wrong)
            }
        }
        // A step behind the window never comes due again: the hint proves nothing usable.
        totp::Check::ClockOff { offset_secs, .. } => Err(Refusal {
            shown: clock_hint(field, offset_secs),
            why: "clock off",
            replay: false,
        }),
        totp::Check::Wrong => Err(wrong),
    })
}

/// Claims step `$1` of user `$2`'s authenticator: changes a row only if no step at or after it
/// was claimed (on any instance) and the step was not proved by a hinted code.
const CLAIM_STEP: &str = "UPDATE authenticators SET last_step = $1 \
     WHERE user_id = $2 AND (last_step IS NULL OR last_step < $1) \
       AND (hinted_step IS NULL OR hinted_step <> $1)";

/// Claims `step` in `tx`; false when it was spent already (or burnt by a hint).
pub(crate) async fn claim_step(tx: &mut Tx, user_id: i64, step: i64) -> Result<bool, AppError> {
    Ok(sqlx::query(CLAIM_STEP)
        .bind(step)
        .bind(user_id)
        .execute(&mut **tx)
        .await
        .map_err(internal("claim step"))?
        .rows_affected()
        == 1)
}

/// The audit detail of a spent authenticator code.
pub(crate) const CODE_DETAIL: &str = "authenticator code";

/// Verifies a current code of the user's authenticator at `t`, once (a step-up).
pub async fn verify_code(
    state: &AppState,
    who: Who<'_>,
    field: &str,
    code: &str,
    t: i64,
) -> Result<(), AppError> {
    let tx = claim_code(state, who, field, code, t).await?;
    tx.commit().await.map_err(internal("commit code"))
}

/// As [`verify_code`], but the claim (with its audit row) is left in an open transaction for the
/// caller to add what the code unlocks and commit: a code is either spent on what it was given
/// for or, if that fails and the transaction rolls back, unused. The attempt counts either way.
pub async fn claim_code(
    state: &AppState,
    who: Who<'_>,
    field: &str,
    code: &str,
    t: i64,
) -> Result<Tx, AppError> {
    let sealed = sealed_secret(state, who.user_id, field).await?;
    let (mut tx, attempt) = take_attempt(state, who.user_id, t).await?;
    let step = match compare(state, &mut tx, who, field, code, t, &sealed).await? {
        Ok(step) => step,
        Err(refusal) => return Err(refuse(state, tx, who, attempt, refusal).await?),
    };
    if !claim_step(&mut tx, who.user_id, step).await? {
        return Err(refuse(state, tx, who, attempt, replayed(field)).await?);
    }
    spent(&mut tx, who, &attempt, Event::CodeSuccess, CODE_DETAIL).await?;
    Ok(tx)
}

/// Spends one unused recovery code in place of a code at the half sign-in `who.holder`; each
/// works once, also under races, and each attempt counts toward the same lock as codes. As with [`claim_code`], the spending is
/// left in an open transaction for the caller to commit.
pub async fn spend_recovery_code(
    state: &AppState,
    who: Who<'_>,
    field: &str,
    code: &str,
    t: i64,
) -> Result<Tx, AppError> {
    let (mut tx, attempt) = take_attempt(state, who.user_id, t).await?;
    let used = sqlx::query(
        "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
    )
    .bind(t)
    .bind(who.user_id)
    .bind(state.keys.mac(code.as_bytes()))
    .execute(&mut *tx)
    .await
    .map_err(internal("spend recovery code"))?
    .rows_affected();
    if used != 1 {
        // Used already by a twin of this submit that has just signed in (it held the user's row
        // until then): the twin rolls back, uncounted, as a code's twin does.
        if !pending_live(&mut tx, who.user_id, who.holder, t).await? {
            tx.rollback().await.map_err(internal("rollback"))?;
            return Err(AppError::Unauthorized);
        }
        let refusal = Refusal {
            shown: AppError::invalid(
                field,
                "That recovery code is not valid or was already used.",
            ),
            why: "wrong recovery code",
            replay: false,
        };
        return Err(refuse(state, tx, who, attempt, refusal).await?);
    }
    spent(
        &mut tx,
        who,
        &attempt,
        Event::RecoveryCodeUsed,
        "recovery code",
    )
    .await?;
    if mail::enabled(state) {
        let left: i64 = sqlx::query(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(who.user_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(internal("recovery codes left"))?
        .try_get(0)
        .map_err(internal("recovery codes left"))?;
        let notice = mail::Notice::RecoveryCodeUsed { left };
        mail::tell(&mut tx, state, who, &notice, t).await?;
    }
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_grows_and_is_capped() {
        assert_eq!(lock_secs(0), 30);
        assert_eq!(lock_secs(1), 60);
        assert_eq!(lock_secs(4), 480);
        assert_eq!(lock_secs(5), 900);
        assert_eq!(lock_secs(50), 900);
    }

    #[test]
    fn the_lock_in_sql_is_the_function() {
        assert_eq!(
            lock_secs_sql(),
            "CASE code_lockouts WHEN 0 THEN 30 WHEN 1 THEN 60 WHEN 2 THEN 120 WHEN 3 THEN 240 \
             WHEN 4 THEN 480 ELSE 900 END"
        );
    }
}
