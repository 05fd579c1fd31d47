//! The owner's controls: the account requirement, users and their 2FA exceptions, invitations,
//! resets and the audit log. Every query is scoped to the owner's account.

use sqlx::Row;

use super::{
    audit::{self, Event},
    internal, mail, now, sessions, AppState,
};
use crate::domain::{
    policy::{self, Source},
    AppError, AuditEntry, AuditPage, LinkKind, PolicyImpact, Role, UserBrief, UserRow,
};

pub const INVITE_TTL_SECS: i64 = 7 * 24 * 3600;
pub const SETUP_TTL_SECS: i64 = 24 * 3600;
pub const AUDIT_PAGE: i64 = 50;
/// Users one account may hold: what one owner can add is bounded.
pub const MAX_USERS: i64 = 10_000;

/// The owner acting, for scoping and the audit log.
#[derive(Clone, Copy)]
pub struct Owner<'a> {
    pub account_id: i64,
    pub user_id: i64,
    pub client_addr: &'a str,
}

impl<'a> Owner<'a> {
    pub fn of(auth: &sessions::AuthUser, client_addr: &'a str) -> Owner<'a> {
        Owner {
            account_id: auth.account_id,
            user_id: auth.user_id,
            client_addr,
        }
    }
}

impl<'a> Owner<'a> {
    /// The audit row of something the owner did (to user `target`).
    fn entry<'d>(&self, event: Event, target: Option<i64>, detail: &'d str) -> audit::Entry<'d>
    where
        'a: 'd,
    {
        audit::Entry {
            event,
            account_id: Some(self.account_id),
            actor_user_id: Some(self.user_id),
            target_user_id: target,
            detail,
            client_addr: self.client_addr,
        }
    }
}

/// The audit row of a change the owner makes, in the change's own transaction: the change and
/// its row commit together or not at all.
async fn log(
    tx: &mut super::Tx,
    o: Owner<'_>,
    event: Event,
    target: Option<i64>,
    detail: &str,
) -> Result<(), AppError> {
    audit::record(&mut **tx, o.entry(event, target, detail)).await
}

pub async fn account_required<'c, E>(executor: E, account_id: i64) -> Result<bool, AppError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let row = sqlx::query("SELECT require_2fa FROM accounts WHERE id = $1")
        .bind(account_id)
        .fetch_one(executor)
        .await
        .map_err(internal("account row"))?;
    Ok(row.try_get::<i64, _>(0).map_err(internal("account row"))? != 0)
}

/// Users of the account, oldest first, with their 2FA state and who set it.
pub async fn list_users(state: &AppState, account_id: i64) -> Result<Vec<UserRow>, AppError> {
    static QUERY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT u.id, u.name, u.email, u.role, u.tfa_on, u.tfa_source, u.tfa_set_at, u.password_hash IS NULL AS invited, \
               u.tfa_reset_pending, s.name AS set_by_name, a.require_2fa, {deadline} AS deadline, \
               (SELECT COUNT(*) FROM authenticators t WHERE t.user_id = u.id) AS has_auth, \
               (SELECT COUNT(*) FROM passkeys k WHERE k.user_id = u.id) AS passkeys \
             FROM users u JOIN accounts a ON a.id = u.account_id LEFT JOIN users s ON s.id = u.tfa_set_by \
             WHERE u.account_id = $1 ORDER BY u.id",
            deadline = super::rows::DEADLINE
        )
    });
    let t = now();
    let rows = sqlx::query(QUERY.as_str())
        .bind(account_id)
        .fetch_all(&state.pool)
        .await
        .map_err(internal("list users"))?;
    rows.iter()
        .map(|r| -> Result<UserRow, sqlx::Error> {
            let role: String = r.try_get("role")?;
            let source: Option<String> = r.try_get("tfa_source")?;
            Ok(UserRow {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                email: r.try_get("email")?,
                role: Role::parse(&role).unwrap_or(Role::Admin),
                setting: policy::Setting {
                    on: r.try_get::<i64, _>("tfa_on")? != 0,
                    source: source.as_deref().and_then(Source::parse),
                },
                set_by: r.try_get("set_by_name")?,
                set_at: r.try_get("tfa_set_at")?,
                has_authenticator: r.try_get::<i64, _>("has_auth")? != 0,
                invitation_pending: r
                    .try_get::<bool, _>("invited")
                    .or_else(|_| r.try_get::<i64, _>("invited").map(|v| v != 0))?,
                reset_pending: r.try_get::<i64, _>("tfa_reset_pending")? != 0,
                passkeys: r.try_get("passkeys")?,
                due: None,
                due_by: None,
            })
            .map(|mut row| {
                // Still to set up while the account requires it: how their deadline stands.
                let owing = row.setting.on && !row.has_authenticator && row.passkeys == 0;
                if owing && !row.reset_pending && r.try_get::<i64, _>("require_2fa").ok() == Some(1)
                {
                    row.due_by = r.try_get::<i64, _>("deadline").ok();
                    row.due = row.due_by.map(|d| crate::domain::due_label(d, t));
                }
                row
            })
        })
        .collect::<Result<_, _>>()
        .map_err(internal("user row"))
}

/// What saving the requirement ON would do: who will be asked for a code, who must set up first.
/// Counted in the database: the Overview shows this on every visit, whatever the account's size.
pub async fn impact(state: &AppState, account_id: i64) -> Result<PolicyImpact, AppError> {
    use super::rows::{col, SET_UP};
    // SUM is NUMERIC on PostgreSQL: cast, so both databases answer a BIGINT.
    static COUNTS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT COUNT(*) AS total, \
               CAST(COALESCE(SUM(CASE WHEN u.tfa_on = 1 AND {SET_UP} THEN 1 ELSE 0 END), 0) AS BIGINT) AS protected, \
               CAST(COALESCE(SUM(CASE WHEN NOT {SET_UP} \
                 AND (u.tfa_on = 1 OR (SELECT require_2fa FROM accounts WHERE id = $1) = 0) THEN 1 ELSE 0 END), 0) AS BIGINT) AS pending, \
               CAST(COALESCE(SUM(CASE WHEN u.tfa_on = 1 AND NOT {SET_UP} THEN 1 ELSE 0 END), 0) AS BIGINT) AS to_set_up, \
               CAST(COALESCE(SUM(CASE WHEN u.tfa_on = 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS off, \
               CAST(COALESCE(SUM(CASE WHEN u.tfa_on = 1 \
                 AND EXISTS (SELECT 1 FROM authenticators t WHERE t.user_id = u.id) \
                 AND NOT EXISTS (SELECT 1 FROM passkeys k WHERE k.user_id = u.id) THEN 1 ELSE 0 END), 0) AS BIGINT) AS app_only, \
               CAST(COALESCE(SUM(CASE WHEN {grace} THEN 1 ELSE 0 END), 0) AS BIGINT) AS due, \
               (SELECT require_2fa FROM accounts WHERE id = $1) AS required, \
               (SELECT require_passkeys FROM accounts WHERE id = $1) AS passkeys_required, \
               (SELECT enroll_by FROM accounts WHERE id = $1) AS enroll_by, \
               (SELECT new_user_days FROM accounts WHERE id = $1) AS new_user_days, \
               (SELECT require_2fa_since FROM accounts WHERE id = $1) AS required_since \
             FROM users u JOIN accounts a ON a.id = u.account_id WHERE u.account_id = $1",
            grace = super::rows::in_grace("$2")
        )
    });
    let counts = sqlx::query(COUNTS.as_str())
        .bind(account_id)
        .bind(now())
        .fetch_one(&state.pool)
        .await
        .map_err(internal("policy counts"))?;
    // Who will be asked to set up an authenticator: while the account requires 2FA, everyone
    // without one but the exempt; before, everyone without one (saving turns theirs on).
    static PENDING: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT u.id, u.name, u.email FROM users u WHERE u.account_id = $1 AND NOT {SET_UP} \
             AND (u.tfa_on = 1 OR (SELECT require_2fa FROM accounts WHERE id = $1) = 0) \
             ORDER BY u.id LIMIT $2"
        )
    });
    let pending_setup = briefs(state, PENDING.as_str(), account_id).await?;
    let exempt = briefs(
        state,
        "SELECT u.id, u.name, u.email FROM users u WHERE u.account_id = $1 AND u.tfa_on = 0 \
         AND u.tfa_source = 'owner' AND (SELECT require_2fa FROM accounts WHERE id = $1) = 1 \
         ORDER BY u.id LIMIT $2",
        account_id,
    )
    .await?;
    // An account removed meanwhile has no row to say it requires anything.
    let required = col::<Option<i64>>(&counts, "required")?.is_some_and(|r| r != 0);
    let (users_total, protected, pending_total) = (
        col(&counts, "total")?,
        col(&counts, "protected")?,
        col(&counts, "pending")?,
    );
    let (to_set_up, off) = (col(&counts, "to_set_up")?, col(&counts, "off")?);
    let passkeys_required =
        required && col::<Option<i64>>(&counts, "passkeys_required")?.is_some_and(|r| r != 0);
    Ok(PolicyImpact {
        required,
        users_total,
        protected,
        pending_total,
        pending_setup,
        to_set_up,
        off,
        exempt,
        passkeys_required,
        app_only: col(&counts, "app_only")?,
        due: col(&counts, "due")?,
        enroll_by: col::<Option<i64>>(&counts, "enroll_by")?.filter(|_| required),
        new_user_days: col::<Option<i64>>(&counts, "new_user_days")?
            .filter(|_| required)
            .unwrap_or(0),
        required_since: col::<Option<i64>>(&counts, "required_since")?.filter(|_| required),
        mail_from: state.mail.as_ref().map(mail::Mailer::sender),
    })
}

/// The first [`crate::domain::PENDING_SHOWN`] users that `sql` selects (`id`, `name`, `email`;
/// `$1` the account, `$2` the limit).
async fn briefs(state: &AppState, sql: &str, account_id: i64) -> Result<Vec<UserBrief>, AppError> {
    use super::rows::col;
    sqlx::query(sql)
        .bind(account_id)
        .bind(crate::domain::PENDING_SHOWN)
        .fetch_all(&state.pool)
        .await
        .map_err(internal("users of the policy"))?
        .iter()
        .map(|row| {
            Ok(UserBrief {
                id: col(row, "id")?,
                name: col(row, "name")?,
                email: col(row, "email")?,
            })
        })
        .collect()
}

/// Applies the requirement ON inside `tx`: every user's 2FA on (source: account); users whose
/// 2FA was already on keep their source. Their sessions without a second factor end by rule.
pub async fn require_in(
    tx: &mut super::Tx,
    account_id: i64,
    owner_id: i64,
    t: i64,
) -> Result<(), AppError> {
    // Since when: kept while it stays on (saving ON again changes nothing).
    sqlx::query(
        "UPDATE accounts SET require_2fa = 1, \
         require_2fa_since = CASE WHEN require_2fa = 1 THEN require_2fa_since ELSE $2 END \
         WHERE id = $1",
    )
    .bind(account_id)
    .bind(t)
    .execute(&mut **tx)
    .await
    .map_err(internal("require 2fa"))?;
    // Users turned on here lose every session (see `set_user_two_factor`); the others, their
    // sessions opened without a second factor.
    sqlx::query(
        "DELETE FROM sessions WHERE user_id IN \
           (SELECT id FROM users WHERE account_id = $1 AND tfa_on = 0)",
    )
    .bind(account_id)
    .execute(&mut **tx)
    .await
    .map_err(internal("end sessions of users turned on"))?;
    sqlx::query(
        "UPDATE users SET tfa_on = 1, tfa_source = 'account', tfa_set_by = $2, tfa_set_at = $3 \
         WHERE account_id = $1 AND tfa_on = 0",
    )
    .bind(account_id)
    .bind(owner_id)
    .bind(t)
    .execute(&mut **tx)
    .await
    .map_err(internal("turn users on"))?;
    sqlx::query(
        "DELETE FROM sessions WHERE second_factor = 0 AND user_id IN (SELECT id FROM users WHERE account_id = $1)",
    )
    .bind(account_id)
    .execute(&mut **tx)
    .await
    .map_err(internal("end 1fa sessions"))?;
    Ok(())
}

/// Turns the requirement ON (owner already has an authenticator and gave a code) or OFF.
/// `tx` is the step-up that spent the owner's second factor: it is spent only with the change.
pub async fn set_requirement(
    mut tx: super::Tx,
    state: &AppState,
    o: Owner<'_>,
    on: bool,
) -> Result<(), AppError> {
    let t = now();
    if on {
        require_in(&mut tx, o.account_id, o.user_id, t).await?;
    } else {
        // OFF changes nobody's 2FA: protection is never removed behind a user's back. Passkeys
        // and the enrollment deadline belong to the requirement: they end with it.
        sqlx::query(
            "UPDATE accounts SET require_2fa = 0, require_2fa_since = NULL, require_passkeys = 0, \
             enroll_by = NULL, new_user_days = 0 WHERE id = $1",
        )
        .bind(o.account_id)
        .execute(&mut *tx)
        .await
        .map_err(internal("unrequire 2fa"))?;
        if mail::enabled(state) {
            let by = mail::name_of(&mut tx, o.user_id).await?;
            let notice = mail::Notice::RequirementOff { by };
            mail::enqueue(&mut tx, state, o.account_id, mail::To::Owner, &notice, t).await?;
        }
    }
    log(
        &mut tx,
        o,
        Event::PolicyChanged,
        None,
        if on {
            "2FA required at login"
        } else {
            "2FA no longer required"
        },
    )
    .await?;
    tx.commit().await.map_err(internal("commit policy"))
}

/// Requires passkeys or security keys at sign-in (`on`), or no longer. Only while the account
/// requires 2FA, and only by an owner who has a passkey (so their own next sign-in works). The
/// sessions of users without a passkey end: they add one at their next sign-in. In `tx`, the
/// transaction of the owner's step-up: a refusal leaves their proof unused.
pub async fn set_passkey_requirement(
    mut tx: super::Tx,
    o: Owner<'_>,
    on: bool,
) -> Result<(), AppError> {
    if on {
        let own: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM passkeys WHERE user_id = $1")
            .bind(o.user_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(internal("owner passkeys"))?;
        if own == 0 {
            return Err(AppError::invalid(
                "passkeys",
                "Add a passkey for yourself in Profile first, so that you can still sign in.",
            ));
        }
    }
    // The account's row next: a requirement of 2FA switched off meanwhile is seen.
    let changed = sqlx::query(
        "UPDATE accounts SET require_passkeys = $2 WHERE id = $1 AND (require_2fa = 1 OR $2 = 0)",
    )
    .bind(o.account_id)
    .bind(i64::from(on))
    .execute(&mut *tx)
    .await
    .map_err(internal("require passkeys"))?
    .rows_affected();
    if changed != 1 {
        return Err(AppError::invalid(
            "passkeys",
            "Require two-factor authentication first: passkeys are required on top of it.",
        ));
    }
    if on {
        sqlx::query(
            "DELETE FROM sessions WHERE user_id IN (SELECT u.id FROM users u \
             WHERE u.account_id = $1 AND NOT EXISTS (SELECT 1 FROM passkeys k WHERE k.user_id = u.id))",
        )
        .bind(o.account_id)
        .execute(&mut *tx)
        .await
        .map_err(internal("end sessions without a passkey"))?;
    }
    let detail = if on {
        "passkeys required at login"
    } else {
        "passkeys no longer required"
    };
    audit::record(&mut *tx, o.entry(Event::PolicyChanged, None, detail)).await?;
    tx.commit()
        .await
        .map_err(internal("commit passkey requirement"))
}

/// Days a new user may be given to set up, at most.
pub const MAX_NEW_USER_DAYS: i64 = 90;

/// Enroll by as typed (`YYYY-MM-DD`, a date field's value; empty for none): the moment it
/// passes, the end of that day UTC. At most ten years ahead; a day in the past is a deadline
/// that has passed.
pub fn parse_enroll_by(raw: &str) -> Result<Option<i64>, AppError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let bad = || {
        AppError::invalid(
            "enroll_by",
            "Enter a date as YYYY-MM-DD, or leave it empty.",
        )
    };
    let mut parts = raw.splitn(3, '-');
    let mut next = |len: usize| {
        parts
            .next()
            .filter(|p| p.len() == len && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<i32>().ok())
            .ok_or_else(bad)
    };
    let (year, month, day) = (next(4)?, next(2)?, next(2)?);
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .ok_or_else(bad)?;
    let date = time::Date::from_calendar_date(year, month, u8::try_from(day).map_err(|_| bad())?)
        .map_err(|_| bad())?;
    let end = (i64::from(date.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY + 1) * 86_400;
    if end > now() + 10 * 366 * 86_400 {
        return Err(AppError::invalid(
            "enroll_by",
            "Choose a date within the next ten years.",
        ));
    }
    Ok(Some(end))
}

/// The Julian day of 1 January 1970.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// Days for new users as typed: a whole number from 0 to [`MAX_NEW_USER_DAYS`]; empty is 0.
pub fn parse_new_user_days(raw: &str) -> Result<i64, AppError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(0);
    }
    raw.parse::<i64>()
        .ok()
        .filter(|d| (0..=MAX_NEW_USER_DAYS).contains(d))
        .ok_or_else(|| {
            AppError::invalid(
                "new_user_days",
                format!("Enter a whole number of days from 0 to {MAX_NEW_USER_DAYS}."),
            )
        })
}

/// Sets the enrollment deadline while the account requires 2FA: `enroll_by` (the moment it
/// passes; `None`: no date, new users' days only) and the days a new user has from the day they
/// were added. Every user's deadline follows at once (see [`super::rows::DEADLINE`]). In `tx`,
/// the transaction of the owner's step-up.
pub async fn set_enrollment_deadline(
    mut tx: super::Tx,
    o: Owner<'_>,
    enroll_by: Option<i64>,
    new_user_days: i64,
) -> Result<(), AppError> {
    // Password-only sessions whose deadline passed under the dates being replaced end now:
    // a later deadline must not bring them back.
    static ENDED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "DELETE FROM sessions WHERE second_factor = 0 AND user_id IN \
               (SELECT u.id FROM users u JOIN accounts a ON a.id = u.account_id \
                WHERE u.account_id = $1 AND u.tfa_on = 1 AND NOT {})",
            super::rows::in_grace("$2")
        )
    });
    sqlx::query(ENDED.as_str())
        .bind(o.account_id)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(internal("end sessions past the deadline"))?;
    let changed = sqlx::query(
        "UPDATE accounts SET enroll_by = $2, new_user_days = $3 WHERE id = $1 AND require_2fa = 1",
    )
    .bind(o.account_id)
    .bind(enroll_by)
    .bind(new_user_days)
    .execute(&mut *tx)
    .await
    .map_err(internal("set deadline"))?
    .rows_affected();
    if changed != 1 {
        return Err(AppError::invalid(
            "enroll_by",
            "Require two-factor authentication first: the deadline is part of the requirement.",
        ));
    }
    let detail = match (enroll_by, new_user_days) {
        (None, 0) => "enrollment deadline cleared: set up at the next sign-in".to_string(),
        (by, days) => format!(
            "enrollment deadline: {}; {} for new users",
            by.map(|t| format!("enroll by {}", crate::domain::format_date(t - 1)))
                .unwrap_or_else(|| "no date".into()),
            crate::domain::count_of(days, "day", "days")
        ),
    };
    audit::record(&mut *tx, o.entry(Event::PolicyChanged, None, &detail)).await?;
    tx.commit().await.map_err(internal("commit deadline"))
}

/// A user of the owner's account, or NotFound (also for other accounts' ids).
async fn target<'c, E>(
    executor: E,
    o: Owner<'_>,
    user_id: i64,
) -> Result<(Role, policy::Setting), AppError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let row =
        sqlx::query("SELECT role, tfa_on, tfa_source FROM users WHERE id = $1 AND account_id = $2")
            .bind(user_id)
            .bind(o.account_id)
            .fetch_optional(executor)
            .await
            .map_err(internal("target user"))?
            .ok_or(AppError::NotFound)?;
    let role: String = row.try_get(0).map_err(internal("target row"))?;
    let source: Option<String> = row.try_get(2).map_err(internal("target row"))?;
    Ok((
        Role::parse(&role).unwrap_or(Role::Admin),
        policy::Setting {
            on: row.try_get::<i64, _>(1).map_err(internal("target row"))? != 0,
            source: source.as_deref().and_then(Source::parse),
        },
    ))
}

/// The owner turns a user's 2FA on or off (a per-user exception to the account setting).
pub async fn set_user_two_factor(
    state: &AppState,
    o: Owner<'_>,
    user_id: i64,
    on: bool,
) -> Result<(), AppError> {
    let t = now();
    let mut tx = super::begin(state).await?;
    // The user's setting is read under their row, once: of the same switch sent twice at once,
    // the second sees the first's change and finds nothing to do (no second mail, no second
    // audit row).
    // Only a row of the owner's account is locked: another account's id is refused untouched.
    let locked = sqlx::query(concat!(
        super::rows::lock_user_sql!(),
        " AND account_id = $2"
    ))
    .bind(user_id)
    .bind(o.account_id)
    .execute(&mut *tx)
    .await
    .map_err(internal("lock user"))?
    .rows_affected();
    if locked != 1 {
        return Err(AppError::NotFound);
    }
    let (_, current) = target(&mut *tx, o, user_id).await?;
    let required = account_required(&mut *tx, o.account_id).await?;
    let actor = policy::Actor {
        role: Role::Owner,
        is_target: user_id == o.user_id,
    };
    policy::may_set(actor, required, current, on)
        .map_err(|r| AppError::invalid("two_factor", r.message()))?;
    if actor.is_target {
        // The owner's own switch lives in Profile, where turning it on means enrolling.
        return Err(AppError::invalid(
            "two_factor",
            "Change your own two-factor authentication in your Profile.",
        ));
    }
    if current.on == on && current.source == Some(Source::Owner) {
        return Ok(());
    }
    sqlx::query("UPDATE users SET tfa_on = $1, tfa_source = 'owner', tfa_set_by = $2, tfa_set_at = $3 WHERE id = $4 AND account_id = $5")
        .bind(i64::from(on))
        .bind(o.user_id)
        .bind(t)
        .bind(user_id)
        .bind(o.account_id)
        .execute(&mut *tx)
        .await
        .map_err(internal("set user 2fa"))?;
    if on {
        // Their sessions end, all of them (not just hidden: turning 2FA off again must not bring
        // them back). One that gave a second factor while 2FA was off gave it for an
        // authenticator set up without the owner's requirement, perhaps by whoever had the
        // password then: with 2FA required now, they sign in again with it.
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(internal("end 1fa sessions"))?;
    } else if current.on && mail::enabled(state) {
        let by = mail::name_of(&mut tx, o.user_id).await?;
        let user = mail::name_of(&mut tx, user_id).await?;
        let to_user = mail::Notice::TwoFactorOff {
            by: Some(by.clone()),
        };
        mail::enqueue(
            &mut tx,
            state,
            o.account_id,
            mail::To::User(user_id),
            &to_user,
            t,
        )
        .await?;
        let to_owner = mail::Notice::UserExempted { user, by };
        mail::enqueue(&mut tx, state, o.account_id, mail::To::Owner, &to_owner, t).await?;
    }
    log(
        &mut tx,
        o,
        Event::UserTwoFactorChanged,
        Some(user_id),
        if on {
            "turned on by owner"
        } else {
            "turned off by owner"
        },
    )
    .await?;
    tx.commit().await.map_err(internal("commit user 2fa"))
}

fn link_token() -> (String, Vec<u8>) {
    let token = super::tokens::new_token();
    let hash = super::tokens::hash_token(&token);
    (token, hash)
}

/// A new `kind` link of user `user_id` in `tx`, valid `ttl` seconds: the user's older links of
/// that kind stop working. The user's row is locked first, so links issued at once take turns
/// and only the newest stays (on PostgreSQL a DELETE does not see a link a concurrent
/// transaction inserted).
pub(crate) async fn insert_link(
    tx: &mut super::Tx,
    user_id: i64,
    kind: &str,
    ttl: i64,
) -> Result<String, AppError> {
    if !super::rows::lock_user(tx, user_id).await? {
        return Err(AppError::NotFound);
    }
    insert_locked_link(tx, user_id, kind, ttl).await
}

/// [`insert_link`] for a user whose row `tx` has locked already ([`Mailbox::lock`]).
pub(crate) async fn insert_locked_link(
    tx: &mut super::Tx,
    user_id: i64,
    kind: &str,
    ttl: i64,
) -> Result<String, AppError> {
    let (token, hash) = link_token();
    let t = now();
    sqlx::query("DELETE FROM user_links WHERE user_id = $1 AND kind = $2")
        .bind(user_id)
        .bind(kind.to_string())
        .execute(&mut **tx)
        .await
        .map_err(internal("clear links"))?;
    sqlx::query("INSERT INTO user_links (token_hash, user_id, kind, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(hash)
        .bind(user_id)
        .bind(kind.to_string())
        .bind(t)
        .bind(t + ttl)
        .execute(&mut **tx)
        .await
        .map_err(internal("insert link"))?;
    Ok(token)
}

/// What a user's mailbox may hold, read in the statement that locks their row, for the one rule
/// of links by email: **a mailbox never holds both a way to set the password and a way to set up
/// the second factor**, or whoever reads it gets in with nothing else.
///
/// - While a 2FA reset waits, the setup link (which asks for the password) may be there: no
///   password link goes by email (the reset itself voids any that waited, in
///   [`reset_two_factor`]).
/// - While the password is one a password link set and has not been used with a second factor
///   since (`users.password_by_link`, cleared at sign-in), that link may have been read by
///   someone else: no setup link goes by email.
///
/// Links the owner or operator hands over in person are not mail and are not limited.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mailbox {
    reset_waiting: bool,
    password_by_link: bool,
}

/// Why a link may not be mailed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Withheld {
    /// A password link while the setup link of a 2FA reset waits.
    ResetWaiting,
    /// A setup link while the password is one a password link set.
    PasswordByLink,
}

impl Mailbox {
    /// Locks user `user_id`'s row for the rest of `tx` (as [`super::rows::lock_user`]) and reads
    /// what their mailbox may hold; `None` when the user is gone.
    pub(crate) async fn lock(tx: &mut super::Tx, user_id: i64) -> Result<Option<Self>, AppError> {
        let row: Option<(i64, i64)> = sqlx::query_as(concat!(
            super::rows::lock_user_sql!(),
            " RETURNING tfa_reset_pending, password_by_link"
        ))
        .bind(user_id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(internal("lock user"))?;
        Ok(row.map(|(reset, by_link)| Mailbox {
            reset_waiting: reset != 0,
            password_by_link: by_link != 0,
        }))
    }

    /// May a `kind` link go to this mailbox?
    pub(crate) fn may_mail(self, kind: LinkKind) -> Result<(), Withheld> {
        match kind {
            LinkKind::Password if self.reset_waiting => Err(Withheld::ResetWaiting),
            LinkKind::Setup if self.password_by_link => Err(Withheld::PasswordByLink),
            _ => Ok(()),
        }
    }
}

/// Adds an admin with no password yet; returns the invitation token (single use, 7 days).
pub async fn add_user(
    state: &AppState,
    o: Owner<'_>,
    name: &str,
    email: &str,
    two_factor: bool,
) -> Result<String, AppError> {
    let required = account_required(&state.pool, o.account_id).await?;
    let source = if two_factor == required && required {
        Source::Account
    } else {
        Source::Owner
    };
    let t = now();
    let mut tx = super::begin(state).await?;
    // The cap is checked in the insert itself, so parallel adds cannot pass it.
    let inserted = sqlx::query(
        "INSERT INTO users (account_id, name, email, role, password_hash, created_at, tfa_on, tfa_source, tfa_set_by, tfa_set_at) \
         SELECT $1, $2, $3, 'admin', NULL, $4, $5, $6, $7, $4 \
         WHERE (SELECT COUNT(*) FROM users WHERE account_id = $1) < $8 RETURNING id",
    )
    .bind(o.account_id)
    .bind(name.to_string())
    .bind(email.to_string())
    .bind(t)
    .bind(i64::from(two_factor))
    .bind(source.as_str())
    .bind(o.user_id)
    .bind(MAX_USERS)
    .fetch_optional(&mut *tx)
    .await;
    let user_id: i64 = match inserted {
        Ok(Some(row)) => row.try_get(0).map_err(internal("user id"))?,
        Ok(None) => {
            return Err(AppError::invalid(
                "email",
                format!("This account has reached its limit of {MAX_USERS} users."),
            ));
        }
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(AppError::invalid(
                "email",
                "A user with this email already exists.",
            ));
        }
        Err(e) => return Err(internal("insert user")(e)),
    };
    let token = insert_link(&mut tx, user_id, "invite", INVITE_TTL_SECS).await?;
    log(
        &mut tx,
        o,
        Event::UserAdded,
        Some(user_id),
        &format!("{email}; 2FA {}", if two_factor { "on" } else { "off" }),
    )
    .await?;
    tx.commit().await.map_err(internal("commit user"))?;
    Ok(token)
}

/// Who resets a user's 2FA.
#[derive(Clone, Copy)]
pub enum ResetBy<'a> {
    Owner(Owner<'a>),
    /// The operator's command on the server host.
    Operator,
}

/// Lost phone: removes the user's authenticator, passkeys, recovery codes and sessions; returns a setup
/// link token (single use, 24 hours). Until it is used, a password alone cannot enroll.
/// `by`: who reset it, for the audit row and the user's mail.
pub async fn reset_two_factor(
    state: &AppState,
    account_id: i64,
    user_id: i64,
    by: ResetBy<'_>,
) -> Result<String, AppError> {
    let mut tx = super::begin(state).await?;
    // The user's row first, as every transaction over several of one user's tables does: marked
    // reset, the lock and its count cleared, and the device epoch moved on, so every browser the
    // user was remembered on is forgotten.
    let mine = sqlx::query(
        "UPDATE users SET tfa_reset_pending = 1, code_failures = 0, code_locked_until = 0, \
         device_epoch = device_epoch + 1 WHERE id = $1 AND account_id = $2",
    )
    .bind(user_id)
    .bind(account_id)
    .execute(&mut *tx)
    .await
    .map_err(internal("mark reset"))?
    .rows_affected();
    if mine != 1 {
        return Err(AppError::NotFound);
    }
    for sql in [
        "DELETE FROM pending_logins WHERE user_id = $1",
        "DELETE FROM sessions WHERE user_id = $1",
        "DELETE FROM enrollments WHERE user_id = $1",
        "DELETE FROM authenticators WHERE user_id = $1",
        "DELETE FROM passkeys WHERE user_id = $1",
        "DELETE FROM webauthn_ceremonies WHERE user_id = $1",
        "DELETE FROM recovery_codes WHERE user_id = $1",
        // A password link waiting in their mailbox and the setup link would let the mailbox
        // alone in (a new password, then their own authenticator): the reset voids it, and no
        // new one comes by email while the setup link waits (`Mailbox`).
        "DELETE FROM user_links WHERE user_id = $1 AND kind = 'password'",
    ] {
        sqlx::query(sql)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(internal("reset 2fa"))?;
    }
    let token = insert_link(&mut tx, user_id, "setup", SETUP_TTL_SECS).await?;
    match by {
        ResetBy::Owner(o) => {
            let detail = "by the owner; setup link issued";
            log(&mut tx, o, Event::TwoFactorReset, Some(user_id), detail).await?
        }
        ResetBy::Operator => {
            let entry = audit::Entry {
                event: Event::TwoFactorReset,
                account_id: Some(account_id),
                actor_user_id: None,
                target_user_id: Some(user_id),
                detail: "by operator command on the server host; setup link issued",
                client_addr: "operator",
            };
            audit::record(&mut *tx, entry).await?
        }
    }
    if mail::enabled(state) {
        let by = match by {
            ResetBy::Owner(o) => mail::name_of(&mut tx, o.user_id).await?,
            ResetBy::Operator => "The server operator".into(),
        };
        let notice = mail::Notice::TwoFactorReset { by };
        mail::enqueue(
            &mut tx,
            state,
            account_id,
            mail::To::User(user_id),
            &notice,
            now(),
        )
        .await?;
    }
    tx.commit().await.map_err(internal("commit reset"))?;
    Ok(token)
}

/// A new link in place of the one sent before, for a user whose invitation or 2FA reset is
/// still pending: the old link stops working. Returns the kind and the new token.
pub async fn renew_link(
    state: &AppState,
    o: Owner<'_>,
    user_id: i64,
) -> Result<(LinkKind, String, String), AppError> {
    if user_id == o.user_id {
        return Err(AppError::invalid(
            "user",
            "Your own setup link comes from the server operator.",
        ));
    }
    let mut tx = super::begin(state).await?;
    // The user's row first, locked for the rest of the transaction: renewals at once take
    // turns, and each voids the link the one before it issued (on PostgreSQL a DELETE does
    // not see a link a concurrent renewal inserted).
    let row = sqlx::query(
        "UPDATE users SET tfa_reset_pending = tfa_reset_pending WHERE id = $1 AND account_id = $2 \
         RETURNING CASE WHEN password_hash IS NULL THEN 1 ELSE 0 END AS invited, tfa_reset_pending, name",
    )
    .bind(user_id)
    .bind(o.account_id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(internal("lock user"))?
    .ok_or(AppError::NotFound)?;
    let invited = row.try_get::<i64, _>(0).map_err(internal("user row"))? != 0;
    let reset = row.try_get::<i64, _>(1).map_err(internal("user row"))? != 0;
    let name: String = row.try_get(2).map_err(internal("user row"))?;
    let (kind, db_kind, ttl) = match (invited, reset) {
        (true, _) => (LinkKind::Invitation, "invite", INVITE_TTL_SECS),
        (false, true) => (LinkKind::Setup, "setup", SETUP_TTL_SECS),
        (false, false) => {
            return Err(AppError::invalid(
                "user",
                "This user has no invitation or setup link waiting: they have signed in.",
            ))
        }
    };
    let token = insert_link(&mut tx, user_id, db_kind, ttl).await?;
    log(
        &mut tx,
        o,
        Event::LinkRenewed,
        Some(user_id),
        match kind {
            LinkKind::Invitation => "new invitation link; the old one voided",
            LinkKind::Setup => "new setup link; the old one voided",
            LinkKind::Password => "new password link; the old one voided",
        },
    )
    .await?;
    tx.commit().await.map_err(internal("commit link"))?;
    Ok((kind, name, token))
}

pub async fn reset_user(
    state: &AppState,
    o: Owner<'_>,
    user_id: i64,
) -> Result<(String, String), AppError> {
    let name = user_name(state, o.account_id, user_id).await?;
    if user_id == o.user_id {
        // With no code asked, a stolen owner session could lock the owner out; an owner who
        // lost their phone uses a recovery code, or the operator's reset on the server host.
        return Err(AppError::invalid(
            "user",
            "You cannot reset your own two-factor authentication here. Sign in with a recovery \
             code, or ask the server operator to reset it.",
        ));
    }
    let token = reset_two_factor(state, o.account_id, user_id, ResetBy::Owner(o)).await?;
    Ok((name, token))
}

/// Sends the invitation or setup link `link` (one the owner was handed: `…/invite/<token>` or
/// `…/setup/<token>`) to its user by email. Only a live link of a user of the owner's account,
/// never the owner's own; the link is checked, not trusted. Returns the user's name and email.
pub async fn email_link(
    state: &AppState,
    o: Owner<'_>,
    link: &str,
) -> Result<(String, String), AppError> {
    if !mail::enabled(state) {
        return Err(AppError::Refused(mail::NOT_CONFIGURED.into()));
    }
    let path = link.trim();
    let (kind, token) = LinkKind::ALL
        .into_iter()
        .find_map(|kind| {
            let prefix = kind.path("");
            let at = path.rfind(&prefix)?;
            Some((kind, &path[at + prefix.len()..]))
        })
        .filter(|(_, token)| {
            !token.is_empty()
                && token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .ok_or_else(|| {
            AppError::Refused("That is not an invitation, setup or password link.".into())
        })?;
    let db_kind = kind.stored();
    let user_id = link_user(state, token, db_kind).await.map_err(|_| {
        AppError::Refused("This link is not valid any more: issue a new one.".into())
    })?;
    if user_id == o.user_id {
        return Err(AppError::Refused(
            "Your own setup link comes from the server operator.".into(),
        ));
    }
    let row = sqlx::query("SELECT name, email FROM users WHERE id = $1 AND account_id = $2")
        .bind(user_id)
        .bind(o.account_id)
        .fetch_optional(&state.pool)
        .await
        .map_err(internal("link user"))?
        .ok_or(AppError::NotFound)?;
    let name: String = row.try_get(0).map_err(internal("link user row"))?;
    let email: String = row.try_get(1).map_err(internal("link user row"))?;
    if !mail::deliverable(&email) {
        return Err(AppError::Refused(format!(
            "Mail cannot be sent to {email}: copy the link and hand it over yourself."
        )));
    }
    // The link sent is the console's own (its public URL), whatever host the owner's copy or
    // the request named.
    let Some(origin) = state.config.public_origin.clone() else {
        return Err(AppError::Refused(
            "This server has no public URL (--public-url): send the link yourself.".into(),
        ));
    };
    let full = format!("{origin}{}", kind.path(token));
    let mut tx = super::begin(state).await?;
    // The user's row first: sends of one user's link take turns, and each sees the one before.
    let mailbox = Mailbox::lock(&mut tx, user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if let Err(why) = mailbox.may_mail(kind) {
        let because = match why {
            Withheld::ResetWaiting => format!(
                "{name}'s two-factor authentication is being reset: a password link by email \
                 and the setup link would let their mailbox alone in."
            ),
            Withheld::PasswordByLink => format!(
                "{name}'s password was last set with a password link and has not been used \
                 with their second factor since: a setup link by email would let their \
                 mailbox alone in."
            ),
        };
        return Err(AppError::Refused(format!(
            "{because} Hand this link over yourself."
        )));
    }
    let by = mail::name_of(&mut tx, o.user_id).await?;
    let notice = match kind {
        LinkKind::Invitation => mail::Notice::Invitation { by },
        LinkKind::Setup => mail::Notice::SetupLink { by },
        LinkKind::Password => mail::Notice::PasswordLink { by },
    };
    if !mail::enqueue_link(&mut tx, state, o.account_id, user_id, &notice, &full).await? {
        return Err(AppError::Refused(format!(
            "A link went to {email} less than a minute ago, or mail to them is waiting. Try again in a minute."
        )));
    }
    let detail = format!("{} to {email}", kind.label().to_lowercase());
    audit::record(
        &mut *tx,
        o.entry(Event::LinkEmailed, Some(user_id), &detail),
    )
    .await?;
    tx.commit().await.map_err(internal("commit link mail"))?;
    Ok((name, email))
}

/// Removes user `user_id` of the owner's account; returns their name.
pub async fn remove_user(state: &AppState, o: Owner<'_>, user_id: i64) -> Result<String, AppError> {
    let (role, _) = target(&state.pool, o, user_id).await?;
    if role == Role::Owner {
        return Err(AppError::invalid(
            "user",
            "The account owner cannot be removed.",
        ));
    }
    let mut tx = super::begin(state).await?;
    // A twin request that removed them first leaves nothing to remove: not found.
    let name: String = sqlx::query_scalar(
        "DELETE FROM users WHERE id = $1 AND account_id = $2 AND role <> 'owner' RETURNING name",
    )
    .bind(user_id)
    .bind(o.account_id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(internal("remove user"))?
    .ok_or(AppError::NotFound)?;
    log(
        &mut tx,
        o,
        Event::UserRemoved,
        Some(user_id),
        "removed; sessions ended",
    )
    .await?;
    tx.commit().await.map_err(internal("commit removal"))?;
    Ok(name)
}

/// The name of user `user_id` of account `account_id`.
pub async fn user_name(
    state: &AppState,
    account_id: i64,
    user_id: i64,
) -> Result<String, AppError> {
    sqlx::query_scalar("SELECT name FROM users WHERE id = $1 AND account_id = $2")
        .bind(user_id)
        .bind(account_id)
        .fetch_optional(&state.pool)
        .await
        .map_err(internal("user name"))?
        .ok_or(AppError::NotFound)
}

/// Who last reset user `user_id`'s 2FA (`None`: the server's operator) and when, from the
/// audit log of the user's own account.
pub async fn last_reset(
    state: &AppState,
    user_id: i64,
) -> Result<Option<(Option<String>, i64)>, AppError> {
    let row = sqlx::query(
        "SELECT e.created_at, a.name FROM audit_events e \
         JOIN users t ON t.id = e.target_user_id AND t.account_id = e.account_id \
         LEFT JOIN users a ON a.id = e.actor_user_id AND a.account_id = e.account_id \
         WHERE e.target_user_id = $1 AND e.event = $2 ORDER BY e.id DESC LIMIT 1",
    )
    .bind(user_id)
    .bind(Event::TwoFactorReset.as_str())
    .fetch_optional(&state.pool)
    .await
    .map_err(internal("last reset"))?;
    row.map(|row| {
        Ok((
            super::rows::col(&row, "name")?,
            super::rows::col(&row, "created_at")?,
        ))
    })
    .transpose()
}

/// The Users page as CSV, for the owner to hand to their auditors: one row per user with their
/// 2FA setting, where it comes from, who set it and when, their methods, the authenticator's
/// state and their last sign-in (within the audit log's 400 days). Audited.
pub async fn export_users_csv(state: &AppState, o: Owner<'_>) -> Result<Vec<u8>, AppError> {
    let users = list_users(state, o.account_id).await?;
    let last_sign_in: std::collections::HashMap<i64, i64> = sqlx::query(
        "SELECT target_user_id, MAX(created_at) AS at FROM audit_events \
         WHERE account_id = $1 AND event = $2 AND target_user_id IS NOT NULL \
         GROUP BY target_user_id",
    )
    .bind(o.account_id)
    .bind(Event::SignInSuccess.as_str())
    .fetch_all(&state.pool)
    .await
    .map_err(internal("last sign-ins"))?
    .iter()
    .map(|row| {
        Ok((
            super::rows::col(row, "target_user_id")?,
            super::rows::col(row, "at")?,
        ))
    })
    .collect::<Result<_, AppError>>()?;
    let time = |t: Option<i64>| t.map(crate::domain::format_time).unwrap_or_default();
    // Every field quoted: a spreadsheet set to another separator (`;`) keeps `a;=1+1` one
    // text cell instead of splitting off a formula.
    let mut out = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(Vec::new());
    let header = [
        "Name",
        "Email",
        "Role",
        "Two-factor authentication",
        "Source",
        "Set by",
        "Set at",
        "Methods",
        "Authenticator",
        "Set up by",
        "Last sign-in",
    ];
    out.write_record(header).map_err(internal("csv"))?;
    for u in &users {
        let row = [
            u.name.clone(),
            u.email.clone(),
            u.role.label().to_string(),
            if u.setting.on { "On" } else { "Off" }.to_string(),
            u.setting
                .source
                .map(Source::label)
                .unwrap_or_default()
                .to_string(),
            u.set_by.clone().unwrap_or_default(),
            time(u.set_at),
            match u.methods().as_str() {
                "—" => String::new(),
                methods => methods.to_string(),
            },
            u.authenticator_state().to_string(),
            // The last day of their enrollment deadline, while they still have to set up.
            u.due_by
                .map(|by| crate::domain::format_iso_date(by - 1))
                .unwrap_or_default(),
            time(last_sign_in.get(&u.id).copied()),
        ];
        out.write_record(row.iter().map(|cell| formula_safe(cell).into_owned()))
            .map_err(internal("csv"))?;
    }
    let bytes = out.into_inner().map_err(internal("csv"))?;
    let detail = crate::domain::count_of(users.len() as i64, "user", "users");
    audit::log(state, o.entry(Event::UsersExported, None, &detail)).await?;
    Ok(bytes)
}

/// A cell a spreadsheet would run as a formula (it starts with `=`, `+`, `-`, `@`, a tab or a
/// carriage return: a user can name themselves `=HYPERLINK(…)`) is written as text, behind an
/// apostrophe (OWASP's CSV injection advice).
pub fn formula_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// The throttle subject of a link: attempts with one link count together, by the link's hash
/// (never the token itself).
pub fn link_subject(token: &str) -> String {
    let hash = super::tokens::hash_token(token);
    let hex: String = hash[..12].iter().map(|b| format!("{b:02x}")).collect();
    hex
}

/// The error for a link whose user is gone or that no longer works.
pub fn link_gone() -> AppError {
    AppError::invalid(
        "password",
        "This link is not valid any more. Ask your account owner for a new one.",
    )
}

/// A link's user if the token is valid, unused and unexpired.
pub async fn link_user(state: &AppState, token: &str, kind: &str) -> Result<i64, AppError> {
    let row = sqlx::query("SELECT user_id FROM user_links WHERE token_hash = $1 AND kind = $2 AND used_at IS NULL AND expires_at > $3")
        .bind(super::tokens::hash_token(token))
        .bind(kind.to_string())
        .bind(now())
        .fetch_optional(&state.pool)
        .await
        .map_err(internal("find link"))?
        .ok_or_else(link_gone)?;
    row.try_get(0).map_err(internal("link row"))
}

/// Marks a link used; false when someone used it first.
pub async fn spend_link(state: &AppState, token: &str) -> Result<bool, AppError> {
    Ok(
        sqlx::query("UPDATE user_links SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL")
            .bind(now())
            .bind(super::tokens::hash_token(token))
            .execute(&state.pool)
            .await
            .map_err(internal("spend link"))?
            .rows_affected()
            == 1,
    )
}

/// Gives back a link spent by a request that then failed before it could use it.
pub async fn unspend_link(state: &AppState, token: &str) -> Result<(), AppError> {
    sqlx::query("UPDATE user_links SET used_at = NULL WHERE token_hash = $1")
        .bind(super::tokens::hash_token(token))
        .execute(&state.pool)
        .await
        .map_err(internal("unspend link"))?;
    Ok(())
}

/// One page of the account's audit log, newest first, optionally filtered.
pub async fn audit_page(
    state: &AppState,
    account_id: i64,
    event: Option<&str>,
    user_id: Option<i64>,
    before_id: Option<i64>,
) -> Result<AuditPage, AppError> {
    let rows = sqlx::query(
        "SELECT e.id, e.event, e.detail, e.client_addr, e.created_at, a.name AS actor, t.name AS target, t.email AS target_email \
         FROM audit_events e \
         LEFT JOIN users a ON a.id = e.actor_user_id AND a.account_id = e.account_id \
         LEFT JOIN users t ON t.id = e.target_user_id AND t.account_id = e.account_id \
         WHERE e.account_id = $1 AND ($2 = '' OR e.event = $2) AND ($3 = 0 OR e.actor_user_id = $3 OR e.target_user_id = $3) \
           AND ($4 = 0 OR e.id < $4) \
         ORDER BY e.id DESC LIMIT $5",
    )
    .bind(account_id)
    .bind(event.unwrap_or("").to_string())
    .bind(user_id.unwrap_or(0))
    .bind(before_id.unwrap_or(0))
    .bind(AUDIT_PAGE + 1)
    .fetch_all(&state.pool)
    .await
    .map_err(internal("audit page"))?;
    let mut entries = rows
        .iter()
        .map(|r| -> Result<AuditEntry, sqlx::Error> {
            Ok(AuditEntry {
                id: r.try_get("id")?,
                event: r.try_get("event")?,
                detail: r.try_get("detail")?,
                client_addr: r.try_get("client_addr")?,
                at: r.try_get("created_at")?,
                actor: r.try_get("actor")?,
                target: r.try_get("target")?,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(internal("audit row"))?;
    let more = entries.len() as i64 > AUDIT_PAGE;
    entries.truncate(AUDIT_PAGE as usize);
    Ok(AuditPage {
        next_before: if more {
            entries.last().map(|e| e.id)
        } else {
            None
        },
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::{Mailbox, Withheld};
    use crate::domain::LinkKind::{Invitation, Password, Setup};

    #[test]
    fn a_mailbox_never_gets_both_a_password_and_a_setup_link() {
        use Withheld::{PasswordByLink, ResetWaiting};
        // (reset waiting, password set by a link) => what Invitation, Setup, Password get.
        let table = [
            ((false, false), [Ok(()), Ok(()), Ok(())]),
            ((true, false), [Ok(()), Ok(()), Err(ResetWaiting)]),
            ((false, true), [Ok(()), Err(PasswordByLink), Ok(())]),
            (
                (true, true),
                [Ok(()), Err(PasswordByLink), Err(ResetWaiting)],
            ),
        ];
        for ((reset_waiting, password_by_link), expected) in table {
            let m = Mailbox {
                reset_waiting,
                password_by_link,
            };
            let got = [Invitation, Setup, Password].map(|k| m.may_mail(k));
            assert_eq!(got, expected, "{m:?}");
        }
    }
}
