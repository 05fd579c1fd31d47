//! Row mappers and the column lists they read, shared by the services that query users: a leaf
//! module, so that no service imports another's internals.

use sqlx::{any::AnyRow, Any, Row};

use crate::domain::{policy, AppError, Me, Role, TwoFactorStatus};

/// Column `column` of `row` as `T`; a missing column or a wrong type is logged and answered with
/// the generic error.
pub(crate) fn col<'r, T>(row: &'r AnyRow, column: &str) -> Result<T, AppError>
where
    T: sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    row.try_get(column).map_err(super::internal("read column"))
}

/// The columns [`me_from_row`] reads, for a query over `users u JOIN accounts a`.
pub(crate) static ME_COLUMNS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "u.id, u.name, u.email, u.role, u.account_id, a.name AS account_name, {}",
        STATUS_COLUMNS
    )
});

/// Who the user is and their 2FA state, from a row with [`ME_COLUMNS`].
pub(crate) fn me_from_row(row: &AnyRow) -> Result<Me, AppError> {
    Ok(Me {
        user_id: col::<i64>(row, "id")?,
        name: col::<String>(row, "name")?,
        email: col::<String>(row, "email")?,
        role: Role::parse(&col::<String>(row, "role")?).ok_or(AppError::Internal)?,
        account_id: col::<i64>(row, "account_id")?,
        account_name: col::<String>(row, "account_name")?,
        two_factor: status_from_row(row)?,
    })
}

/// User `u`'s deadline to set up a second factor in account `a` (Unix seconds): the later of the
/// account's Enroll by and the moment they were added plus its days for new users. Computed
/// when read, from the current policy; never stored per user, so a change of the dates takes
/// effect for everyone at once.
macro_rules! deadline_sql {
    () => {
        "(CASE WHEN COALESCE(a.enroll_by, 0) > u.created_at + a.new_user_days * 86400 \
          THEN COALESCE(a.enroll_by, 0) ELSE u.created_at + a.new_user_days * 86400 END)"
    };
}
pub(crate) const DEADLINE: &str = deadline_sql!();

/// SQL true when user `u` may still sign in with a password alone although their 2FA is on:
/// the account requires 2FA, they have nothing set up, no reset of theirs waits for its setup
/// link, and their [`DEADLINE`] is after `now` (a parameter such as `$2`).
pub(crate) fn in_grace(now: &str) -> String {
    format!(
        "(a.require_2fa = 1 AND u.tfa_on = 1 AND u.tfa_reset_pending = 0 AND NOT {SET_UP} \
          AND {DEADLINE} > {now})"
    )
}

/// The columns [`status_from_row`] reads, for a query over `users u JOIN accounts a`.
pub(crate) const STATUS_COLUMNS: &str = concat!(
    "u.tfa_on, u.tfa_source, u.tfa_reset_pending, a.require_2fa, a.require_passkeys, ",
    deadline_sql!(),
    " AS deadline, \
    (SELECT COUNT(*) FROM authenticators t WHERE t.user_id = u.id) AS has_auth, \
    (SELECT COUNT(*) FROM passkeys k WHERE k.user_id = u.id) AS passkeys, \
    (SELECT COUNT(*) FROM recovery_codes r WHERE r.user_id = u.id AND r.used_at IS NULL) AS codes_left"
);

pub(crate) fn status_from_row(row: &AnyRow) -> Result<TwoFactorStatus, AppError> {
    let mut status = TwoFactorStatus {
        setting: policy::Setting {
            on: col::<i64>(row, "tfa_on")? != 0,
            source: col::<Option<String>>(row, "tfa_source")?
                .as_deref()
                .and_then(policy::Source::parse),
        },
        account_required: col::<i64>(row, "require_2fa")? != 0,
        has_authenticator: col::<i64>(row, "has_auth")? != 0,
        passkeys: col::<i64>(row, "passkeys")?,
        passkeys_required: col::<i64>(row, "require_passkeys")? != 0,
        recovery_codes_left: col::<i64>(row, "codes_left")?,
        enroll_by: None,
    };
    // Still to set up, before a deadline that has not passed: the password alone lets them in
    // until then (the same rule as [`in_grace`], which the session's query applies).
    let deadline = col::<i64>(row, "deadline")?;
    if status.account_required
        && status.setting.on
        && !status.set_up()
        && col::<i64>(row, "tfa_reset_pending")? == 0
        && deadline > super::now()
    {
        status.enroll_by = Some(deadline);
    }
    Ok(status)
}

/// SQL true when user `u` has a second factor set up (an authenticator app or a passkey),
/// whether or not their 2FA is on: [`crate::domain::TwoFactorStatus::set_up`] in the database.
pub(crate) const SET_UP: &str = "(EXISTS (SELECT 1 FROM authenticators t WHERE t.user_id = u.id) \
    OR EXISTS (SELECT 1 FROM passkeys k WHERE k.user_id = u.id))";

/// Whether user `user_id`'s 2FA is on with a second factor set up, in `tx`: their first factor
/// is in place, and what is added now is another.
pub(crate) async fn factor_in_use(tx: &mut super::Tx, user_id: i64) -> Result<bool, AppError> {
    static QUERY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!("SELECT 1 AS one FROM users u WHERE u.id = $1 AND u.tfa_on = 1 AND {SET_UP}")
    });
    Ok(sqlx::query(QUERY.as_str())
        .bind(user_id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(super::internal("factor in use"))?
        .is_some())
}

/// The statement of [`lock_user`], for a caller that adds a `RETURNING` to read the row it locks.
macro_rules! lock_user_sql {
    () => {
        "UPDATE users SET code_failures = code_failures WHERE id = $1"
    };
}
pub(crate) use lock_user_sql;

/// Locks user `$1`'s row for the rest of the transaction (PostgreSQL: a row lock; SQLite: the
/// write lock, as any write), changing nothing. Every transaction that changes several of one
/// user's tables writes that user's row first (this, or a statement of its own: a code check's
/// attempt, a reset), so they serialize on one row instead of meeting in opposite orders (a
/// deadlock on PostgreSQL). False when the user is gone.
pub(crate) async fn lock_user(tx: &mut super::Tx, user_id: i64) -> Result<bool, AppError> {
    Ok(sqlx::query(lock_user_sql!())
        .bind(user_id)
        .execute(&mut **tx)
        .await
        .map_err(super::internal("lock user"))?
        .rows_affected()
        == 1)
}
