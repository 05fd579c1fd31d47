//! The second factor: enrollment, code checks with one-time use and lockout, recovery codes.
//! Every rule that must hold across server instances is one conditional statement in the database.

use rand::Rng;
use sqlx::{any::AnyArguments, Any, AnyConnection, Connection, Row};

use super::{
    audit::{self, Event},
    begin,
    db::Backend,
    internal, now,
    read::{self, Arg, Columns},
    totp, AppState, Tx,
};
use crate::domain::{policy, AppError, EnrollmentStart, TwoFactorStatus};

/// Consecutive wrong codes before the check locks.
pub const MAX_FAILURES: i64 = 5;
/// A pending enrollment is abandoned after this long.
const ENROLLMENT_TTL_SECS: i64 = 15 * 60;
pub const RECOVERY_CODES: usize = 10;
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// 30 s for the first lockout, doubling, at most 15 minutes.
pub fn lock_secs(previous_lockouts: i64) -> i64 {
    (30i64 << previous_lockouts.clamp(0, 5)).min(15 * 60)
}

fn secret_context(user_id: i64) -> String {
    format!("totp:{user_id}")
}

/// Who is acting, for the audit log.
#[derive(Clone, Copy)]
pub struct Who<'a> {
    pub account_id: i64,
    pub user_id: i64,
    pub client_addr: &'a str,
}

fn entry<'a>(who: Who<'a>, event: Event, detail: &'a str) -> audit::Entry<'a> {
    audit::Entry {
        event,
        account_id: Some(who.account_id),
        actor_user_id: Some(who.user_id),
        target_user_id: Some(who.user_id),
        detail,
        client_addr: who.client_addr,
    }
}

pub async fn status(state: &AppState, user_id: i64) -> Result<TwoFactorStatus, AppError> {
    static QUERY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!("SELECT {STATUS_COLUMNS} FROM users u JOIN accounts a ON a.id = u.account_id WHERE u.id = $1")
    });
    let row = sqlx::query(QUERY.as_str())
        .bind(user_id)
        .fetch_optional(&state.pool)
        .await
        .map_err(internal("2fa status"))?
        .ok_or(AppError::Unauthorized)?;
    status_from_row(&row)
}

/// The columns [`status_from_row`] reads, for a query over `users u JOIN accounts a`.
pub(crate) const STATUS_COLUMNS: &str = "u.tfa_on, u.tfa_source, a.require_2fa, \
    (SELECT COUNT(*) FROM authenticators t WHERE t.user_id = u.id) AS has_auth, \
    (SELECT COUNT(*) FROM recovery_codes r WHERE r.user_id = u.id AND r.used_at IS NULL) AS codes_left";

pub(crate) fn status_from_row(row: &dyn Columns) -> Result<TwoFactorStatus, AppError> {
    Ok(TwoFactorStatus {
        setting: policy::Setting {
            on: row.int("tfa_on")? != 0,
            source: row
                .opt_text("tfa_source")?
                .as_deref()
                .and_then(policy::Source::parse),
        },
        account_required: row.int("require_2fa")? != 0,
        has_authenticator: row.int("has_auth")? != 0,
        recovery_codes_left: row.int("codes_left")?,
    })
}

/// Refuses while the user's code check is locked, saying when to try again.
async fn ensure_unlocked(state: &AppState, user_id: i64, t: i64) -> Result<(), AppError> {
    let row = sqlx::query("SELECT code_locked_until FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(&state.pool)
        .await
        .map_err(internal("read lock"))?;
    let until: i64 = row.try_get(0).map_err(internal("lock row"))?;
    check_lock(until, t)
}

fn check_lock(locked_until: i64, t: i64) -> Result<(), AppError> {
    if locked_until > t {
        return Err(AppError::TooManyRequests {
            retry_after_secs: (locked_until - t) as u64,
        });
    }
    Ok(())
}

/// Counts one more wrong code of user `$1`; returns the count and the lockouts so far.
const COUNT_FAILURE: &str = "UPDATE users SET code_failures = code_failures + 1 WHERE id = $1 \
     RETURNING code_failures, code_lockouts";
/// Locks user `$1`'s code check until `$2`. Only one of several racing fifth failures takes it.
const TAKE_LOCK: &str = "UPDATE users SET code_failures = 0, code_lockouts = code_lockouts + 1, \
     code_locked_until = $2 WHERE id = $1 AND code_failures >= $3";

/// After a wrong code that made the count `failures`: the lock to take, in seconds, if any.
fn lock_after(failures: i64, previous_lockouts: i64) -> Option<i64> {
    (failures >= MAX_FAILURES).then(|| lock_secs(previous_lockouts))
}

/// Counts a wrong code; the fifth in a row locks the check. Returns the error to show.
async fn record_failure(
    state: &AppState,
    who: Who<'_>,
    t: i64,
    shown: AppError,
    why: &str,
) -> Result<AppError, AppError> {
    record_failure_in(begin(state).await?, who, t, shown, why).await
}

/// As [`record_failure`], in `tx` (which may already hold the refusal's audit row): the audit
/// row, the count and a lockout are one commit.
async fn record_failure_in(
    mut tx: Tx,
    who: Who<'_>,
    t: i64,
    shown: AppError,
    why: &str,
) -> Result<AppError, AppError> {
    audit::record(&mut *tx, entry(who, Event::CodeFailure, why)).await?;
    let row = sqlx::query(COUNT_FAILURE)
        .bind(who.user_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(internal("count failure"))?;
    let failures: i64 = row.try_get(0).map_err(internal("failure row"))?;
    let lockouts: i64 = row.try_get(1).map_err(internal("failure row"))?;
    let lock = lock_after(failures, lockouts);
    if let Some(secs) = lock {
        let locked = sqlx::query(TAKE_LOCK)
            .bind(who.user_id)
            .bind(t + secs)
            .bind(MAX_FAILURES)
            .execute(&mut *tx)
            .await
            .map_err(internal("lock"))?
            .rows_affected();
        if locked == 1 {
            let detail = format!("locked for {secs} s");
            audit::record(&mut *tx, entry(who, Event::CodeLockout, &detail)).await?;
        }
    }
    let shown = match lock {
        Some(secs) => AppError::TooManyRequests {
            retry_after_secs: secs as u64,
        },
        None => shown,
    };
    tx.commit().await.map_err(internal("commit failure"))?;
    Ok(shown)
}

/// A code was spent in `tx`: the failure count starts over and the use is logged, in `tx`.
async fn spent(
    mut tx: Tx,
    who: Who<'_>,
    reset: bool,
    event: Event,
    detail: &str,
) -> Result<Tx, AppError> {
    if reset {
        reset_failures(&mut tx, who.user_id).await?;
    }
    audit::record(&mut *tx, entry(who, event, detail)).await?;
    Ok(tx)
}

/// User `$1`'s count of wrong codes starts over (no write when it is zero).
const RESET_FAILURES: &str =
    "UPDATE users SET code_failures = 0 WHERE id = $1 AND code_failures <> 0";

async fn reset_failures(tx: &mut Tx, user_id: i64) -> Result<(), AppError> {
    sqlx::query(RESET_FAILURES)
        .bind(user_id)
        .execute(&mut **tx)
        .await
        .map_err(internal("reset failures"))?;
    Ok(())
}

fn clock_hint(field: &str, offset_secs: i64) -> AppError {
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

fn wrong_code(field: &str) -> AppError {
    AppError::invalid(
        field,
        "That code is not valid. Check your authenticator app and try again.",
    )
}

/// Verifies a current code of the user's authenticator at `t`, once: the step is claimed in one
/// conditional UPDATE, so the same code is refused afterwards, on any server instance.
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
/// caller to add what the code unlocks and commit: one commit for the whole step, and a code is
/// either spent on what it was given for or, if that fails and the transaction rolls back, unused.
/// Wrong codes are counted outside it, so they count whatever the caller does.
pub async fn claim_code(
    state: &AppState,
    who: Who<'_>,
    field: &str,
    code: &str,
    t: i64,
) -> Result<Tx, AppError> {
    let matched = match_code(state, who, field, code, t, None).await?;
    let mut tx = begin(state).await?;
    let claimed = sqlx::query(CLAIM_STEP)
        .bind(matched.step)
        .bind(who.user_id)
        .execute(&mut *tx)
        .await
        .map_err(internal("claim step"))?
        .rows_affected();
    if claimed == 1 {
        // Usually there is nothing to reset: skip the write.
        spent(
            tx,
            who,
            matched.failures != 0,
            Event::CodeSuccess,
            CODE_DETAIL,
        )
        .await
    } else {
        // The claim changed nothing: the refusal is written in its transaction.
        Err(replayed(tx, who, field, t).await?)
    }
}

/// Claims step `$1` of user `$2`'s authenticator: changes a row only if no step at or after it
/// was claimed, on any instance.
const CLAIM_STEP: &str = "UPDATE authenticators SET last_step = $1 \
     WHERE user_id = $2 AND (last_step IS NULL OR last_step < $1)";

/// The audit detail of a spent authenticator code.
const CODE_DETAIL: &str = "authenticator code";

/// A code that matched the user's authenticator; its step is not claimed yet.
struct Matched {
    step: i64,
    /// The user's count of wrong codes before this one, reset when the code is spent.
    failures: i64,
}

/// What checking a user's code needs to know: the lock, the sealed secret, the count of wrong
/// codes. Read with the half sign-in itself (`sessions::resolve_pending`), so a sign-in's code
/// check costs no query of its own before the claim.
#[derive(Clone, Debug)]
pub struct CodeState {
    locked_until: i64,
    sealed: Option<Vec<u8>>,
    failures: i64,
}

/// The columns [`code_state_from_row`] reads, for a query over
/// `users u LEFT JOIN authenticators a ON a.user_id = u.id`.
pub(crate) const CODE_STATE_COLUMNS: &str = "u.code_locked_until, a.secret_enc, u.code_failures";

pub(crate) fn code_state_from_row(row: &dyn Columns) -> Result<CodeState, AppError> {
    Ok(CodeState {
        locked_until: row.int("code_locked_until")?,
        sealed: row.opt_blob("secret_enc")?,
        failures: row.int("code_failures")?,
    })
}

/// Checks `code` against the user's authenticator at `t`, refusing while the check is locked.
/// A wrong code or one for another time is counted (its own commit) and becomes the error.
/// `known` is the user's code state if this request read it already.
async fn match_code(
    state: &AppState,
    who: Who<'_>,
    field: &str,
    code: &str,
    t: i64,
    known: Option<CodeState>,
) -> Result<Matched, AppError> {
    // Lock state and secret in one read, unless the request has them already.
    static QUERY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT {CODE_STATE_COLUMNS} FROM users u \
             LEFT JOIN authenticators a ON a.user_id = u.id WHERE u.id = $1"
        )
    });
    let CodeState {
        locked_until,
        sealed,
        failures,
    } = match known {
        Some(known) => known,
        None => read::fetch_optional(
            state,
            QUERY.as_str(),
            &[Arg::Int(who.user_id)],
            code_state_from_row,
        )
        .await?
        .ok_or_else(|| internal("load authenticator")("no such user"))?,
    };
    check_lock(locked_until, t)?;
    let sealed =
        sealed.ok_or_else(|| AppError::invalid(field, "You have no authenticator set up."))?;
    let secret = state
        .keys
        .open(&secret_context(who.user_id), &sealed)
        .ok_or_else(|| internal("decrypt totp secret")("wrong server key or damaged row"))?;
    match totp::check(&secret, code, t.max(0) as u64) {
        totp::Check::Valid { step } => Ok(Matched { step, failures }),
        totp::Check::ClockOff { offset_secs } => {
            Err(record_failure(state, who, t, clock_hint(field, offset_secs), "clock off").await?)
        }
        totp::Check::Wrong => {
            Err(record_failure(state, who, t, wrong_code(field), "wrong code").await?)
        }
    }
}

fn already_used(field: &str) -> AppError {
    AppError::invalid(
        field,
        "That code was already used. Wait for the next code in your app.",
    )
}

/// A matching code whose step was claimed already (by its twin, or earlier): refused and
/// counted as a failure, in `tx`. Returns the error to show.
async fn replayed(mut tx: Tx, who: Who<'_>, field: &str, t: i64) -> Result<AppError, AppError> {
    audit::record(
        &mut *tx,
        entry(who, Event::CodeReplayRefused, "code already used"),
    )
    .await?;
    record_failure_in(tx, who, t, already_used(field), "replayed code").await
}

/// Ends the half sign-in `pending_hash` with a code of the user's authenticator: the code's step
/// is claimed, the half sign-in ends, both audit rows are written and the session (with its
/// second factor) opens in one commit. Returns the session's token. `Unauthorized` when the half
/// sign-in already ended (its twin request won); the code then stays unspent.
pub async fn sign_in_with_code(
    state: &AppState,
    who: Who<'_>,
    pending_hash: &[u8],
    known: Option<CodeState>,
    code: &str,
    t: i64,
) -> Result<String, AppError> {
    const FIELD: &str = "code";
    if state.backend == Backend::Sqlite && state.writer.is_none() {
        // An in-memory SQLite database: the pool's transaction.
        let tx = claim_code(state, who, FIELD, code, t).await?;
        return open_session_in(tx, state, who, pending_hash, SIGN_IN_HOW).await;
    }
    let matched = match_code(state, who, FIELD, code, t, known).await?;
    let token = super::sessions::new_token();
    let claim = Claim {
        user_id: who.user_id,
        account_id: who.account_id,
        client_addr: who.client_addr.to_string(),
        pending_hash: pending_hash.to_vec(),
        step: matched.step,
        reset_failures: matched.failures != 0,
        session_hash: super::sessions::hash_token(&token),
        expires_at: t + state.config.session_absolute_secs,
        t,
    };
    let ended = match state.backend {
        Backend::Postgres => sign_in_postgres(state, &claim).await?,
        Backend::Sqlite => sign_in_sqlite(state, claim).await?,
    };
    match ended {
        SignIn::Done => Ok(token),
        SignIn::NotPending => Err(AppError::Unauthorized),
        SignIn::Replayed => Err(replayed(begin(state).await?, who, FIELD, t).await?),
        SignIn::ReplayLogged { locked_for } => Err(match locked_for {
            Some(secs) => AppError::TooManyRequests {
                retry_after_secs: secs as u64,
            },
            None => already_used(FIELD),
        }),
    }
}

const SIGN_IN_HOW: &str = "password + authenticator code";

/// What [`sign_in_with_code`] writes, as owned values for a blocking thread.
struct Claim {
    user_id: i64,
    account_id: i64,
    client_addr: String,
    pending_hash: Vec<u8>,
    step: i64,
    reset_failures: bool,
    /// Of the new session's token, which only the browser gets.
    session_hash: Vec<u8>,
    expires_at: i64,
    t: i64,
}

/// How the sign-in's write ended.
enum SignIn {
    Done,
    /// The half sign-in had ended: nothing was written.
    NotPending,
    /// The step was claimed already: nothing was written; the refusal is for the caller to log.
    Replayed,
    /// The step was claimed already; the refusal was logged and counted, and `locked_for` is
    /// the lock this failure started, in seconds.
    ReplayLogged {
        locked_for: Option<i64>,
    },
}

/// [`sign_in_postgres`]'s statement. Each parameter is cast to the type it is bound as, so every
/// execution of it on one connection is the same prepared statement, whose plan PostgreSQL
/// caches: see [`warm_sign_in_postgres`].
const SIGN_IN_POSTGRES: &str = "\
        WITH pend AS ( \
            SELECT user_id FROM pending_logins \
            WHERE id_hash = $3::BYTEA AND user_id = $2::BIGINT AND expires_at > $5::BIGINT FOR UPDATE \
        ), claim AS ( \
            UPDATE authenticators SET last_step = $1::BIGINT \
            WHERE user_id IN (SELECT user_id FROM pend) AND (last_step IS NULL OR last_step < $1) \
            RETURNING user_id \
        ), took AS ( \
            DELETE FROM pending_logins \
            WHERE id_hash = $3 AND user_id IN (SELECT user_id FROM claim) RETURNING user_id \
        ), reset AS ( \
            UPDATE users SET code_failures = 0 \
            WHERE id IN (SELECT user_id FROM took) AND code_failures <> 0 \
        ), opened AS ( \
            INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at, client_addr, second_factor) \
            SELECT $4::BYTEA, user_id, $5, $5, $6::BIGINT, $7::TEXT, 1 FROM took \
        ), logged AS ( \
            INSERT INTO audit_events (account_id, actor_user_id, target_user_id, event, detail, client_addr, created_at) \
            SELECT $8::BIGINT, user_id, user_id, e.event, e.detail, $7, $5 FROM took \
            CROSS JOIN (VALUES ($9::TEXT, $10::TEXT), ($11::TEXT, $12::TEXT)) AS e(event, detail) \
        ) \
        SELECT (SELECT COUNT(*) FROM pend) AS pending, (SELECT COUNT(*) FROM took) AS signed_in";

/// PostgreSQL: one statement, so one round trip and one commit, and the twin of a winning code
/// waits on the authenticator's row for one statement rather than a transaction's seven round
/// trips. The half sign-in is locked first, so the claim, the end of the half sign-in, the
/// session and the audit rows happen all or none; a code whose half sign-in is gone stays unspent.
async fn sign_in_postgres(state: &AppState, c: &Claim) -> Result<SignIn, AppError> {
    let row = state
        .hot_fetch_optional(sign_in_postgres_query(c))
        .await
        .and_then(|r| r.ok_or(sqlx::Error::RowNotFound))
        .map_err(internal("sign in with code"))?;
    let pending: i64 = row.try_get("pending").map_err(internal("sign-in row"))?;
    let signed_in: i64 = row.try_get("signed_in").map_err(internal("sign-in row"))?;
    Ok(match (pending, signed_in) {
        (_, 1) => SignIn::Done,
        (0, _) => SignIn::NotPending,
        _ => SignIn::Replayed,
    })
}

fn sign_in_postgres_query(c: &Claim) -> sqlx::query::Query<'_, Any, AnyArguments<'_>> {
    sqlx::query(SIGN_IN_POSTGRES)
        .bind(c.step)
        .bind(c.user_id)
        .bind(c.pending_hash.clone())
        .bind(c.session_hash.clone())
        .bind(c.t)
        .bind(c.expires_at)
        .bind(c.client_addr.clone())
        .bind(c.account_id)
        .bind(Event::CodeSuccess.as_str())
        .bind(CODE_DETAIL)
        .bind(Event::SignInSuccess.as_str())
        .bind(SIGN_IN_HOW)
}

/// Executions after which PostgreSQL (15: `plan_cache_mode = auto`) has planned a prepared
/// statement five times with its parameters and from then on uses its generic plan.
const WARM_EXECUTIONS: usize = 6;

/// Runs the sign-in statement on a new connection until PostgreSQL plans it once for all, with a
/// claim that matches no row, in a transaction that is rolled back, so nothing is written. Its
/// first run on a new backend costs about 4.6 ms (loading five tables' catalog entries and
/// planning), the next four about 1 ms each, then 0.4 ms: measured with psql on PostgreSQL 15.
/// Without this those runs fell on the first real sign-ins of each connection opened in a burst.
pub(crate) async fn warm_sign_in_postgres(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    let nobody = Claim {
        user_id: 0,
        account_id: 0,
        client_addr: String::new(),
        pending_hash: Vec::new(),
        step: i64::MAX,
        reset_failures: false,
        session_hash: Vec::new(),
        expires_at: i64::MAX,
        t: i64::MAX,
    };
    let mut tx = conn.begin().await?;
    for _ in 0..WARM_EXECUTIONS {
        let row = sign_in_postgres_query(&nobody).fetch_one(&mut *tx).await?;
        let signed_in: i64 = row.try_get("signed_in")?;
        if signed_in != 0 {
            return Err(sqlx::Error::Protocol(
                "the warm-up sign-in matched a row".into(),
            ));
        }
    }
    tx.rollback().await
}

/// SQLite file: the same writes in one transaction on the writer's connection, in one hop.
async fn sign_in_sqlite(state: &AppState, c: Claim) -> Result<SignIn, AppError> {
    use rusqlite::{named_params, params};
    super::sqlite_write::transaction(state, move |tx| {
        let live = tx
            .prepare_cached(
                "SELECT 1 FROM pending_logins WHERE id_hash = ?1 AND user_id = ?2 AND expires_at > ?3",
            )?
            .exists(params![c.pending_hash, c.user_id, c.t])?;
        if !live {
            return Ok((false, SignIn::NotPending));
        }
        let claimed = tx
            .prepare_cached(CLAIM_STEP)?
            .execute(named_params! { "$1": c.step, "$2": c.user_id })?;
        let audit = |event: Event, detail: &str| {
            tx.prepare_cached(audit::INSERT_EVENT)?
                .execute(named_params! {
                    "$1": c.account_id,
                    "$2": c.user_id,
                    "$3": c.user_id,
                    "$4": event.as_str(),
                    "$5": detail,
                    "$6": c.client_addr,
                    "$7": c.t,
                })
        };
        if claimed != 1 {
            // Refused as a replay, logged and counted in this transaction as
            // `record_failure_in` does, with its statements.
            audit(Event::CodeReplayRefused, "code already used")?;
            audit(Event::CodeFailure, "replayed code")?;
            let (failures, lockouts): (i64, i64) = tx
                .prepare_cached(COUNT_FAILURE)?
                .query_row(named_params! { "$1": c.user_id }, |r| Ok((r.get(0)?, r.get(1)?)))?;
            let lock = lock_after(failures, lockouts);
            if let Some(secs) = lock {
                let locked = tx.prepare_cached(TAKE_LOCK)?.execute(named_params! {
                    "$1": c.user_id,
                    "$2": c.t + secs,
                    "$3": MAX_FAILURES,
                })?;
                if locked == 1 {
                    audit(Event::CodeLockout, &format!("locked for {secs} s"))?;
                }
            }
            return Ok((true, SignIn::ReplayLogged { locked_for: lock }));
        }
        tx.prepare_cached(super::sessions::TAKE_PENDING)?
            .execute(named_params! { "$1": c.pending_hash })?;
        if c.reset_failures {
            tx.prepare_cached(RESET_FAILURES)?
                .execute(named_params! { "$1": c.user_id })?;
        }
        tx.prepare_cached(super::sessions::INSERT_SESSION)?
            .execute(named_params! {
                "$1": c.session_hash,
                "$2": c.user_id,
                "$3": c.t,
                "$4": c.expires_at,
                "$5": c.client_addr,
                "$6": 1,
            })?;
        audit(Event::CodeSuccess, CODE_DETAIL)?;
        audit(Event::SignInSuccess, SIGN_IN_HOW)?;
        Ok((true, SignIn::Done))
    })
    .await
}

/// Ends the half sign-in `pending_hash` in `tx`, the transaction that spent its second factor:
/// the sign-in's audit row and the session are added and all of it commits at once. A half
/// sign-in that already ended rolls back, leaving the factor unspent: `Unauthorized`. Returns
/// the session's token.
pub async fn open_session_in(
    mut tx: Tx,
    state: &AppState,
    who: Who<'_>,
    pending_hash: &[u8],
    how: &str,
) -> Result<String, AppError> {
    if !super::sessions::take_pending(&mut *tx, pending_hash).await? {
        tx.rollback().await.map_err(internal("rollback"))?;
        return Err(AppError::Unauthorized);
    }
    audit::record(&mut *tx, entry(who, Event::SignInSuccess, how)).await?;
    let token =
        super::sessions::create(&mut *tx, &state.config, who.user_id, who.client_addr, true)
            .await?;
    tx.commit().await.map_err(internal("commit sign-in"))?;
    Ok(token)
}

/// Spends one unused recovery code in place of a code; each works once, also under races. As with
/// [`claim_code`], the spending is left in an open transaction for the caller to commit.
pub async fn spend_recovery_code(
    state: &AppState,
    who: Who<'_>,
    field: &str,
    code: &str,
    t: i64,
) -> Result<Tx, AppError> {
    ensure_unlocked(state, who.user_id, t).await?;
    let mut tx = begin(state).await?;
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
    if used == 1 {
        spent(tx, who, true, Event::RecoveryCodeUsed, "recovery code").await
    } else {
        // Nothing was spent: the failure is counted in the same transaction.
        let shown = AppError::invalid(
            field,
            "That recovery code is not valid or was already used.",
        );
        Err(record_failure_in(tx, who, t, shown, "wrong recovery code").await?)
    }
}

/// Starts (or restarts) an enrollment: a fresh secret, kept encrypted until a code confirms it.
pub async fn start_enrollment(state: &AppState, user_id: i64) -> Result<EnrollmentStart, AppError> {
    start_enrollment_for(state, user_id, false).await
}

/// As `start_enrollment`; with `then_require_account` the confirmation also switches the
/// owner's account requirement on, in the same transaction.
pub async fn start_enrollment_for(
    state: &AppState,
    user_id: i64,
    then_require_account: bool,
) -> Result<EnrollmentStart, AppError> {
    // An authenticator left from before an exemption is replaced; one in use is not.
    let has = sqlx::query(
        "SELECT 1 AS one FROM authenticators a JOIN users u ON u.id = a.user_id \
         WHERE a.user_id = $1 AND u.tfa_on = 1",
    )
    .bind(user_id)
    .fetch_optional(&state.pool)
    .await
    .map_err(internal("check authenticator"))?;
    if has.is_some() {
        return Err(AppError::invalid(
            "code",
            "You already have an authenticator set up.",
        ));
    }
    let secret = totp::SecretKey::generate();
    let sealed = state.keys.seal(&secret_context(user_id), &secret.0);
    let t = now();
    let mut tx = begin(state).await?;
    sqlx::query("DELETE FROM enrollments WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(internal("clear enrollment"))?;
    sqlx::query(
        "INSERT INTO enrollments (user_id, secret_enc, created_at, expires_at, then_require_account) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(user_id)
    .bind(sealed)
    .bind(t)
    .bind(t + ENROLLMENT_TTL_SECS)
    .bind(i64::from(then_require_account))
        .execute(&mut *tx)
        .await
        .map_err(internal("insert enrollment"))?;
    tx.commit().await.map_err(internal("commit enrollment"))?;
    Ok(EnrollmentStart {
        setup_key: group(&secret.base32()),
        qr_version: rand::thread_rng().gen_range(0..i64::MAX),
    })
}

/// "ABCD EFGH …": easier to type into an app by hand.
fn group(key: &str) -> String {
    key.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

async fn pending_secret(state: &AppState, user_id: i64) -> Result<Option<Vec<u8>>, AppError> {
    Ok(pending(state, user_id).await?.map(|(s, _)| s))
}

/// The pending enrollment's secret and whether it switches the account requirement on.
async fn pending(state: &AppState, user_id: i64) -> Result<Option<(Vec<u8>, bool)>, AppError> {
    let row = sqlx::query(
            "SELECT secret_enc, then_require_account FROM enrollments WHERE user_id = $1 AND expires_at > $2",
        )
            .bind(user_id)
            .bind(now())
            .fetch_optional(&state.pool)
            .await
            .map_err(internal("load enrollment"))?;
    let Some(row) = row else { return Ok(None) };
    let sealed: Vec<u8> = row.try_get(0).map_err(internal("enrollment row"))?;
    let require = row
        .try_get::<i64, _>(1)
        .map_err(internal("enrollment row"))?
        != 0;
    Ok(state
        .keys
        .open(&secret_context(user_id), &sealed)
        .map(|s| (s, require)))
}

/// The QR code of the user's pending enrollment, or `None` when there is none.
pub async fn enrollment_qr(
    state: &AppState,
    user_id: i64,
    email: &str,
) -> Result<Option<String>, AppError> {
    let Some(secret) = pending_secret(state, user_id).await? else {
        return Ok(None);
    };
    let uri = totp::otpauth_uri(&totp::SecretKey(secret), &state.issuer, email)
        .ok_or_else(|| internal("otpauth uri")("label rejected"))?;
    Ok(super::qr::svg(&uri))
}

/// Confirms the pending enrollment with a code: in one transaction the authenticator is stored,
/// 2FA turns on, fresh recovery codes replace old ones, and the user's sessions opened without
/// a second factor end (except `keep_session`, which is upgraded). Returns the recovery codes.
pub async fn confirm_enrollment(
    state: &AppState,
    who: Who<'_>,
    code: &str,
    t: i64,
    keep_session: Option<&[u8]>,
) -> Result<Vec<String>, AppError> {
    let (secret, then_require_account) = pending(state, who.user_id).await?.ok_or_else(|| {
        AppError::invalid(
            "code",
            "This setup has expired. Start again to get a new QR code.",
        )
    })?;
    let step = match totp::check(&secret, code, t.max(0) as u64) {
        totp::Check::Valid { step } => step,
        totp::Check::ClockOff { offset_secs } => return Err(clock_hint("code", offset_secs)),
        totp::Check::Wrong => return Err(wrong_code("code")),
    };
    let codes = new_recovery_codes();
    let mut tx = begin(state).await?;
    // Deleting the pending row first makes two racing confirmations produce one authenticator.
    let claimed = sqlx::query("DELETE FROM enrollments WHERE user_id = $1")
        .bind(who.user_id)
        .execute(&mut *tx)
        .await
        .map_err(internal("take enrollment"))?
        .rows_affected();
    if claimed != 1 {
        return Err(AppError::invalid(
            "code",
            "This setup has expired. Start again to get a new QR code.",
        ));
    }
    sqlx::query("DELETE FROM authenticators WHERE user_id = $1")
        .bind(who.user_id)
        .execute(&mut *tx)
        .await
        .map_err(internal("replace authenticator"))?;
    sqlx::query("INSERT INTO authenticators (user_id, secret_enc, last_step, created_at) VALUES ($1, $2, $3, $4)")
        .bind(who.user_id)
        .bind(state.keys.seal(&secret_context(who.user_id), &secret))
        .bind(step)
        .bind(t)
        .execute(&mut *tx)
        .await
        .map_err(internal("insert authenticator"))?;
    replace_recovery_codes(&mut tx, state, who.user_id, &codes).await?;
    // Turning on by oneself records the source; a setting made by the owner or account stays theirs.
    sqlx::query(
        "UPDATE users SET tfa_source = CASE WHEN tfa_on = 1 THEN tfa_source ELSE 'self' END, \
           tfa_set_by = CASE WHEN tfa_on = 1 THEN tfa_set_by ELSE id END, \
           tfa_set_at = CASE WHEN tfa_on = 1 THEN tfa_set_at ELSE $2 END, \
           tfa_on = 1, code_failures = 0, tfa_reset_pending = 0 WHERE id = $1",
    )
    .bind(who.user_id)
    .bind(t)
    .execute(&mut *tx)
    .await
    .map_err(internal("turn 2fa on"))?;
    if let Some(hash) = keep_session {
        sqlx::query("UPDATE sessions SET second_factor = 1 WHERE id_hash = $1")
            .bind(hash.to_vec())
            .execute(&mut *tx)
            .await
            .map_err(internal("upgrade session"))?;
    }
    // After the upgrade above, so the owner's own session survives the requirement.
    if then_require_account {
        // The owner completing "Require 2FA" setup: the requirement and the enrollment are one step.
        super::owner::require_in(&mut tx, who.account_id, who.user_id, t).await?;
        audit::record(
            &mut *tx,
            audit::Entry {
                event: Event::PolicyChanged,
                account_id: Some(who.account_id),
                actor_user_id: Some(who.user_id),
                target_user_id: None,
                detail: "2FA required at login",
                client_addr: who.client_addr,
            },
        )
        .await?;
    }
    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND second_factor = 0")
        .bind(who.user_id)
        .execute(&mut *tx)
        .await
        .map_err(internal("end 1fa sessions"))?;
    audit::record(
        &mut *tx,
        audit::Entry {
            event: Event::TwoFactorEnrolled,
            account_id: Some(who.account_id),
            actor_user_id: Some(who.user_id),
            target_user_id: Some(who.user_id),
            detail: "authenticator app",
            client_addr: who.client_addr,
        },
    )
    .await?;
    tx.commit().await.map_err(internal("commit enrollment"))?;
    Ok(codes)
}

fn new_recovery_codes() -> Vec<String> {
    let mut rng = rand::rngs::OsRng;
    (0..RECOVERY_CODES)
        .map(|_| {
            let chars: String = (0..10)
                .map(|_| RECOVERY_ALPHABET[rng.gen_range(0..RECOVERY_ALPHABET.len())] as char)
                .collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect()
}

async fn replace_recovery_codes(
    tx: &mut Tx,
    state: &AppState,
    user_id: i64,
    codes: &[String],
) -> Result<(), AppError> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await
        .map_err(internal("clear recovery codes"))?;
    for code in codes {
        sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
            .bind(user_id)
            .bind(state.keys.mac(code.replace('-', "").as_bytes()))
            .execute(&mut **tx)
            .await
            .map_err(internal("insert recovery code"))?;
    }
    Ok(())
}

/// New recovery codes after a current code (step-up); the old ones stop working.
pub async fn regenerate_recovery_codes(
    state: &AppState,
    who: Who<'_>,
    code: &str,
) -> Result<Vec<String>, AppError> {
    let mut tx = claim_code(state, who, "code", code, now()).await?;
    let codes = new_recovery_codes();
    replace_recovery_codes(&mut tx, state, who.user_id, &codes).await?;
    audit::record(
        &mut *tx,
        entry(who, Event::RecoveryCodesRegenerated, "10 new codes"),
    )
    .await?;
    tx.commit()
        .await
        .map_err(internal("commit recovery codes"))?;
    Ok(codes)
}

/// Turns the user's own 2FA off after a current code: authenticator and codes are removed.
pub async fn disable_own(state: &AppState, who: Who<'_>, code: &str) -> Result<(), AppError> {
    let t = now();
    let mut tx = claim_code(state, who, "code", code, t).await?;
    for sql in [
        "DELETE FROM authenticators WHERE user_id = $1",
        "DELETE FROM recovery_codes WHERE user_id = $1",
        "DELETE FROM enrollments WHERE user_id = $1",
    ] {
        sqlx::query(sql)
            .bind(who.user_id)
            .execute(&mut *tx)
            .await
            .map_err(internal("remove 2fa"))?;
    }
    sqlx::query("UPDATE users SET tfa_on = 0, tfa_source = 'self', tfa_set_by = id, tfa_set_at = $2 WHERE id = $1")
        .bind(who.user_id)
        .bind(t)
        .execute(&mut *tx)
        .await
        .map_err(internal("turn 2fa off"))?;
    audit::record(
        &mut *tx,
        entry(who, Event::TwoFactorDisabled, "by the user"),
    )
    .await?;
    tx.commit().await.map_err(internal("commit 2fa off"))
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
    fn recovery_codes_are_distinct_and_well_formed() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        let mut sorted = codes.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 10);
        for c in &codes {
            assert_eq!(c.len(), 11);
            assert_eq!(
                crate::domain::parse_recovery_code("code", c).unwrap(),
                c.replace('-', "")
            );
        }
    }

    #[test]
    fn setup_key_is_grouped() {
        assert_eq!(group("ABCDEFGHIJ"), "ABCD EFGH IJ");
    }
}
