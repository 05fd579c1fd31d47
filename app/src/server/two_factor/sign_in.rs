//! The second step of a sign-in: a code, a recovery code or a new authenticator ends the half
//! sign-in and opens the session in one transaction with the spending of the factor.

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
    internal, rows, sessions,
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
) -> Result<SignedIn, AppError> {
    const FIELD: &str = "code";
    let sealed = match sealed {
        Some(sealed) => sealed,
        None => sealed_secret(state, who.user_id, FIELD).await?,
    };
    let (mut tx, attempt) = take_attempt(state, who.user_id, t).await?;
    let step = match compare(state, &mut tx, who, FIELD, code, t, &sealed).await? {
        Ok(step) => step,
        Err(refusal) => return Err(refuse(tx, who, attempt, refusal).await?),
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
        return Err(refuse(tx, who, attempt, replayed(FIELD)).await?);
    }
    // A half sign-in that ended otherwise (expired, or the user signed out of it) rolls back
    // the claim: the code stays unspent.
    if !sessions::take_pending(&mut *tx, pending_hash, who.user_id, t).await? {
        tx.rollback().await.map_err(internal("rollback"))?;
        return Err(AppError::Unauthorized);
    }
    spent(&mut tx, who, &attempt, Event::CodeSuccess, CODE_DETAIL).await?;
    let signed = open_session(tx, state, who, SIGN_IN_HOW).await;
    // The attempt (with its turn to write on SQLite) ends once the sign-in has committed.
    drop(attempt);
    signed
}

/// A finished sign-in: the session's token and the browser's new remembered-device number.
pub struct SignedIn {
    pub token: String,
    pub device: DeviceUser,
}

/// Ends the half sign-in `pending_hash` in `tx`, the transaction that spent its second factor:
/// the sign-in's audit row and the session are added and all of it commits at once. A half
/// sign-in that already ended rolls back, leaving the factor unspent: `Unauthorized`.
pub async fn open_session_in(
    mut tx: Tx,
    state: &AppState,
    who: Who<'_>,
    pending_hash: &[u8],
    how: &str,
) -> Result<SignedIn, AppError> {
    // The user's row first, as every transaction over several of their tables: a sign-out
    // everywhere (which locks it, then ends sessions and half sign-ins) runs wholly before or
    // after this, never interleaved with it (a deadlock on PostgreSQL).
    if !rows::lock_user(&mut tx, who.user_id).await?
        || !sessions::take_pending(&mut *tx, pending_hash, who.user_id, crate::server::now())
            .await?
    {
        tx.rollback().await.map_err(internal("rollback"))?;
        return Err(AppError::Unauthorized);
    }
    open_session(tx, state, who, how).await
}

/// The sign-in's audit row, the session and the browser's remembered-device number, in `tx`,
/// which commits.
async fn open_session(
    mut tx: Tx,
    state: &AppState,
    who: Who<'_>,
    how: &str,
) -> Result<SignedIn, AppError> {
    crate::server::audit::record(&mut *tx, entry(who, Event::SignInSuccess, how)).await?;
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
    Ok(SignedIn { token, device })
}
