//! The second step of a sign-in: a code, a recovery code, a passkey or a new second factor ends
//! the half sign-in and opens the session in one transaction with the spending of the factor.
//! Where the account requires passkeys, a factor other than a passkey proves the user once and
//! the half sign-in then owes a passkey ([`Finished::PasskeyOwed`]): the rule lives in
//! [`open_session_in`], which every way through calls.

use super::{
    codes::{
        claim_step, compare, pending_live, refuse, replayed, sealed_secret, spent, take_attempt,
        CODE_DETAIL,
    },
    entry, Who,
};
use crate::domain::AppError;
use crate::server::{
    audit::Event,
    internal, mail, rows, sessions,
    throttle::{self, DeviceUser},
    AppState, Tx,
};

const SIGN_IN_HOW: &str = "password + authenticator code";

/// Ends the half sign-in `pending_hash` with a code of the user's authenticator: the attempt is
/// counted first; then, in one commit, the half sign-in ends, the code's step is claimed, both
/// audit rows are written and the session (with its second factor) opens. Returns the session's
/// token. `Unauthorized` when the half sign-in already ended (its twin request won); the code
/// then stays unspent. `sealed` is the user's sealed secret if this request read it already.
pub async fn sign_in_with_code(
    state: &AppState,
    who: Who<'_>,
    pending_hash: &[u8],
    sealed: Option<Vec<u8>>,
    code: &str,
    t: i64,
) -> Result<Finished, AppError> {
    const FIELD: &str = "code";
    let sealed = match sealed {
        Some(sealed) => sealed,
        None => sealed_secret(state, who.user_id, FIELD).await?,
    };
    let (mut tx, attempt) = take_attempt(state, who.user_id, t).await?;
    let step = match compare(state, &mut tx, who, FIELD, code, t, &sealed).await? {
        Ok(step) => step,
        Err(refusal) => return Err(refuse(state, tx, who, attempt, refusal).await?),
    };
    if !claim_step(&mut tx, who.user_id, step).await? {
        // Spent already: a replay, which counts and leaves the half sign-in as it was, or the
        // twin of a submit that has just signed in with it: the twin waited for the user's row,
        // finds the half sign-in gone and rolls back, its attempt with it (a right code is no
        // failure).
        if !pending_live(&mut tx, who.user_id, pending_hash, t).await? {
            tx.rollback().await.map_err(internal("rollback"))?;
            return Err(AppError::Unauthorized);
        }
        return Err(refuse(state, tx, who, attempt, replayed(FIELD)).await?);
    }
    spent(&mut tx, who, &attempt, Event::CodeSuccess, CODE_DETAIL).await?;
    // A half sign-in that ended otherwise (expired, or the user signed out of it) rolls back
    // the claim: the code stays unspent.
    let finished = open_session_in(tx, state, who, pending_hash, Factor::Code).await;
    // The attempt (with its turn to write on SQLite) ends once the sign-in has committed.
    drop(attempt);
    finished
}

/// A finished sign-in: the session's token and the browser's new remembered-device number.
pub struct SignedIn {
    pub token: String,
    pub device: DeviceUser,
}

/// Where a second factor given at sign-in led.
pub enum Finished {
    /// The session is open.
    Session(SignedIn),
    /// The account requires passkeys: the user proved it is them, and the half sign-in goes on
    /// until they add one.
    PasskeyOwed,
}

/// The second factor a half sign-in was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Factor {
    Code,
    RecoveryCode,
    Passkey,
    /// A second factor set up at this sign-in (enrollment) or, by a half sign-in that owed one,
    /// a new passkey.
    New,
}

impl Factor {
    /// How the sign-in was done, for the audit log.
    fn how(self) -> &'static str {
        match self {
            Factor::Code => SIGN_IN_HOW,
            Factor::RecoveryCode => "password + recovery code",
            Factor::Passkey => "password + passkey",
            Factor::New => "password + new second factor",
        }
    }
}

/// Ends the half sign-in `pending_hash` in `tx`, the transaction that spent its second factor
/// `factor`: the sign-in's audit row and the session are added and all of it commits at once
/// (or, where the account requires passkeys and `factor` is none, the half sign-in is marked as
/// owing one). A half sign-in that already ended rolls back, leaving the factor unspent:
/// `Unauthorized`. The one place a second factor finishes a sign-in.
pub async fn open_session_in(
    mut tx: Tx,
    state: &AppState,
    who: Who<'_>,
    pending_hash: &[u8],
    factor: Factor,
) -> Result<Finished, AppError> {
    let t = crate::server::now();
    // The user's row first, as every transaction over several of their tables: a sign-out
    // everywhere (which locks it, then ends sessions and half sign-ins) runs wholly before or
    // after this, never interleaved with it (a deadlock on PostgreSQL).
    let proves = matches!(
        factor,
        Factor::Code | Factor::RecoveryCode | Factor::Passkey
    );
    let Some((required, has_passkey)) =
        lock_with_passkey_rule(&mut tx, who.user_id, proves).await?
    else {
        tx.rollback().await.map_err(internal("rollback"))?;
        return Err(AppError::Unauthorized);
    };
    // A console that cannot use passkeys (its public URL lost its domain name) cannot require
    // them: 2FA alone holds, and nobody is locked out.
    let required = required && crate::server::passkeys::relying_party(&state.config).is_some();
    let by_passkey = match factor {
        Factor::Passkey => true,
        Factor::New => has_passkey,
        Factor::Code | Factor::RecoveryCode => false,
    };
    if required && !by_passkey {
        if has_passkey && factor == Factor::Code {
            // Nothing of this stays: the code is unspent, its attempt uncounted.
            tx.rollback().await.map_err(internal("rollback"))?;
            return Err(AppError::invalid(
                "code",
                "Your account requires a passkey or security key: use yours (or a recovery \
                 code if you lost it).",
            ));
        }
        let marked = sqlx::query(
            "UPDATE pending_logins SET owes_passkey = 1 WHERE id_hash = $1 AND user_id = $2 \
             AND expires_at > $3 AND owes_passkey = 0",
        )
        .bind(pending_hash.to_vec())
        .bind(who.user_id)
        .bind(t)
        .execute(&mut *tx)
        .await
        .map_err(internal("owe a passkey"))?
        .rows_affected();
        if marked != 1 {
            tx.rollback().await.map_err(internal("rollback"))?;
            return Err(AppError::Unauthorized);
        }
        // The user proved it is them: their "unfinished sign-in" mail has nothing to say.
        mail::sign_in_finished(&mut tx, state, pending_hash).await?;
        tx.commit().await.map_err(internal("commit proof"))?;
        return Ok(Finished::PasskeyOwed);
    }
    let Some(taken) = sessions::take_pending(&mut *tx, pending_hash, who.user_id, t).await? else {
        tx.rollback().await.map_err(internal("rollback"))?;
        return Err(AppError::Unauthorized);
    };
    mail::sign_in_finished(&mut tx, state, pending_hash).await?;
    if taken.new_browser {
        mail::new_browser(
            &mut tx,
            state,
            who.account_id,
            who.user_id,
            who.client_addr,
            who.agent,
        )
        .await?;
    }
    crate::server::audit::record(&mut *tx, entry(who, Event::SignInSuccess, factor.how())).await?;
    let token = sessions::create(
        &mut *tx,
        &state.config,
        who.user_id,
        (who.client_addr, who.agent),
        true,
    )
    .await?;
    let device = throttle::issue_device(&mut tx, who.user_id)
        .await?
        .ok_or(AppError::Unauthorized)?;
    tx.commit().await.map_err(internal("commit sign-in"))?;
    Ok(Finished::Session(SignedIn { token, device }))
}

/// Locks user `user_id`'s row in `tx` (as [`rows::lock_user`]) and reads, in the same
/// statement, whether their account requires passkeys and whether they have one: one round trip
/// on the path of every sign-in. `None` when the user is gone.
async fn lock_with_passkey_rule(
    tx: &mut Tx,
    user_id: i64,
    proves: bool,
) -> Result<Option<(bool, bool)>, AppError> {
    // A second factor they had before (`proves`) vouches for a password a link set.
    let row = sqlx::query(
        "UPDATE users SET code_failures = code_failures, \
           password_by_link = CASE WHEN $2 = 1 THEN 0 ELSE password_by_link END \
         WHERE id = $1 RETURNING \
           (SELECT a.require_passkeys FROM accounts a WHERE a.id = users.account_id) AS required, \
           (SELECT COUNT(*) FROM passkeys k WHERE k.user_id = users.id) AS passkeys",
    )
    .bind(user_id)
    .bind(i64::from(proves))
    .fetch_optional(&mut **tx)
    .await
    .map_err(internal("lock user, passkey rule"))?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some((
        rows::col::<i64>(&row, "required")? != 0,
        rows::col::<i64>(&row, "passkeys")? > 0,
    )))
}
