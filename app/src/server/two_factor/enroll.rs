//! Setting up an authenticator (in Profile, at sign-in, after a reset, or as the owner's step
//! to require 2FA), recovery codes, and turning one's own 2FA off.

use rand::Rng;
use sqlx::Row;

use super::{entry, secret_context, step_up, StepUp, Who};
use crate::domain::{policy, AppError, EnrollmentStart};
use crate::server::{
    audit::{self, Event},
    begin, internal, mail, now,
    rows::lock_user,
    totp, AppState, Tx,
};

/// A pending enrollment is abandoned after this long.
const ENROLLMENT_TTL_SECS: i64 = 15 * 60;
pub const RECOVERY_CODES: usize = 10;
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// An authenticator in use (2FA on) is never replaced by an enrollment: one left from before
/// an exemption is. Checked when an enrollment starts and again in the transaction that
/// confirms it, so a policy change in between cannot slip a new secret in.
const AUTHENTICATOR_IN_USE: &str =
    "SELECT 1 AS one FROM authenticators a JOIN users u ON u.id = a.user_id \
     WHERE a.user_id = $1 AND u.tfa_on = 1";

fn in_use_error() -> AppError {
    AppError::invalid("code", "You already have an authenticator set up.")
}

fn expired_error() -> AppError {
    AppError::invalid(
        "code",
        "This setup has expired. Start again to get a new QR code.",
    )
}

/// Starts an enrollment: a secret kept encrypted until a code confirms it; fresh unless this
/// browser's enrollment is still open.
pub async fn start_enrollment(
    state: &AppState,
    who: Who<'_>,
    proven: bool,
) -> Result<EnrollmentStart, AppError> {
    start_enrollment_for(state, who, false, proven).await
}

/// As `start_enrollment`; with `then_require_account` the confirmation also switches the
/// owner's account requirement on, in the same transaction. `proven`: started after a step-up,
/// which adding an app beside a second factor in use needs (checked when it is confirmed).
pub async fn start_enrollment_for(
    state: &AppState,
    who: Who<'_>,
    then_require_account: bool,
    proven: bool,
) -> Result<EnrollmentStart, AppError> {
    let user_id = who.user_id;
    let in_use = sqlx::query(AUTHENTICATOR_IN_USE)
        .bind(user_id)
        .fetch_optional(&state.pool)
        .await
        .map_err(internal("check authenticator"))?;
    if in_use.is_some() {
        return Err(in_use_error());
    }
    let fresh = totp::SecretKey::generate();
    let sealed = state.keys.seal(&secret_context(user_id), &fresh.0);
    let t = now();
    // One statement: parallel starts leave one secret, never a duplicate key. A start from the
    // browser whose enrollment is still open, for the same purpose, keeps its secret and its
    // expiry: the page may be rendered more than once, or opened again, and its setup key must
    // stay the one the QR code carries. A start for the other purpose (Profile, or the
    // account's requirement) gets a new secret, so a code from the first page's key cannot
    // confirm what the second one started.
    let kept: Vec<u8> = sqlx::query_scalar(
        "INSERT INTO enrollments \
           (user_id, secret_enc, created_at, expires_at, then_require_account, holder_hash, proven) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (user_id) DO UPDATE SET \
           secret_enc = CASE WHEN enrollments.holder_hash = excluded.holder_hash \
             AND enrollments.expires_at > excluded.created_at \
             AND enrollments.then_require_account = excluded.then_require_account \
             THEN enrollments.secret_enc ELSE excluded.secret_enc END, \
           expires_at = CASE WHEN enrollments.holder_hash = excluded.holder_hash \
             AND enrollments.expires_at > excluded.created_at \
             AND enrollments.then_require_account = excluded.then_require_account \
             THEN enrollments.expires_at ELSE excluded.expires_at END, \
           created_at = excluded.created_at, \
           then_require_account = excluded.then_require_account, \
           holder_hash = excluded.holder_hash, proven = excluded.proven \
         RETURNING secret_enc",
    )
    .bind(user_id)
    .bind(sealed)
    .bind(t)
    .bind(t + ENROLLMENT_TTL_SECS)
    .bind(i64::from(then_require_account))
    .bind(who.holder.to_vec())
    .bind(i64::from(proven))
    .fetch_one(&state.pool)
    .await
    .map_err(internal("insert enrollment"))?;
    let secret = state
        .keys
        .open(&secret_context(user_id), &kept)
        .map(totp::SecretKey)
        .ok_or_else(|| internal("open enrollment secret")("sealed by another key"))?;
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

/// The secret of the enrollment `who` started (from this browser's session or half sign-in)
/// and whether it switches the account requirement on.
async fn pending(
    state: &AppState,
    who: Who<'_>,
) -> Result<Option<(Vec<u8>, bool, bool)>, AppError> {
    let user_id = who.user_id;
    let row = sqlx::query(
        "SELECT secret_enc, then_require_account, proven FROM enrollments \
         WHERE user_id = $1 AND holder_hash = $2 AND expires_at > $3",
    )
    .bind(user_id)
    .bind(who.holder.to_vec())
    .bind(now())
    .fetch_optional(&state.pool)
    .await
    .map_err(internal("load enrollment"))?;
    let Some(row) = row else { return Ok(None) };
    let sealed: Vec<u8> = row.try_get(0).map_err(internal("enrollment row"))?;
    let flag = |i: usize| -> Result<bool, AppError> {
        Ok(row
            .try_get::<i64, _>(i)
            .map_err(internal("enrollment row"))?
            != 0)
    };
    let (require, proven) = (flag(1)?, flag(2)?);
    Ok(state
        .keys
        .open(&secret_context(user_id), &sealed)
        .map(|s| (s, require, proven)))
}

/// The QR code of the enrollment `who` started, or `None` when there is none.
pub async fn enrollment_qr(
    state: &AppState,
    who: Who<'_>,
    email: &str,
) -> Result<Option<String>, AppError> {
    let Some((secret, _, _)) = pending(state, who).await? else {
        return Ok(None);
    };
    let uri = totp::otpauth_uri(&totp::SecretKey(secret), &state.issuer, email)
        .ok_or_else(|| internal("otpauth uri")("label rejected"))?;
    Ok(crate::server::qr::svg(&uri))
}

/// Confirms the pending enrollment with a code: in one transaction the authenticator is stored,
/// 2FA turns on and the user's sessions opened without a second factor end (the browser's own: a
/// session is upgraded, a half sign-in marked as enrolled); as the first second factor it comes
/// with fresh recovery codes, returned (none when passkeys were in use before). Only the session
/// or half sign-in that started the enrollment can confirm it, and never over an authenticator
/// in use.
pub async fn confirm_enrollment(
    state: &AppState,
    who: Who<'_>,
    code: &str,
    t: i64,
    signed_in: bool,
) -> Result<Vec<String>, AppError> {
    let (secret, then_require_account, proven) =
        pending(state, who).await?.ok_or_else(expired_error)?;
    let step = match totp::check(&secret, code, t.max(0) as u64) {
        totp::Check::Valid { step } => step,
        totp::Check::ClockOff { offset_secs, .. } => {
            return Err(super::codes::clock_hint("code", offset_secs))
        }
        totp::Check::Wrong => return Err(super::codes::wrong_code("code")),
    };
    let mut tx = begin(state).await?;
    if !lock_user(&mut tx, who.user_id).await? {
        return Err(AppError::Unauthorized);
    }
    // Deleting the pending row first makes two racing confirmations produce one authenticator.
    let claimed = sqlx::query(
        "DELETE FROM enrollments WHERE user_id = $1 AND holder_hash = $2 AND expires_at > $3",
    )
    .bind(who.user_id)
    .bind(who.holder.to_vec())
    .bind(t)
    .execute(&mut *tx)
    .await
    .map_err(internal("take enrollment"))?
    .rows_affected();
    if claimed != 1 {
        tx.rollback().await.map_err(internal("rollback"))?;
        return Err(expired_error());
    }
    let in_use = sqlx::query(AUTHENTICATOR_IN_USE)
        .bind(who.user_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(internal("check authenticator"))?;
    if in_use.is_some() {
        tx.rollback().await.map_err(internal("rollback"))?;
        return Err(in_use_error());
    }
    let had = before_new_factor(&mut tx, who, signed_in, "code").await?;
    if had && !proven {
        // An app beside passkeys in use needs the step-up its enrollment started with.
        tx.rollback().await.map_err(internal("rollback"))?;
        return Err(AppError::invalid(
            "code",
            "Confirm it is you with a passkey first, then set up the app.",
        ));
    }
    // An authenticator left from before an exemption is gone now (`before_new_factor`); one
    // beside passkeys in use was not in use itself (2FA on means it would be): replaced too.
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
    let added = NewFactor {
        had,
        signed_in,
        then_require_account,
        what: "authenticator app",
    };
    let codes = after_new_factor(&mut tx, state, who, t, added).await?;
    tx.commit().await.map_err(internal("commit enrollment"))?;
    Ok(codes)
}

/// Before a new second factor is stored, in `tx` with the user's row locked: whether their first
/// factor is in place already (2FA on, with an authenticator app or a passkey). A half sign-in
/// adds only the first (`field` says so otherwise). Before the first, whatever is left from
/// before (an authenticator or passkeys kept through an exemption) is removed, and if anything
/// was, every other browser of the user signs in again, with the new factor.
pub(crate) async fn before_new_factor(
    tx: &mut Tx,
    who: Who<'_>,
    signed_in: bool,
    field: &str,
) -> Result<bool, AppError> {
    let had = crate::server::rows::factor_in_use(tx, who.user_id).await?;
    if had && !signed_in {
        return Err(AppError::invalid(
            field,
            "Your second factor is set up already. Sign in with it.",
        ));
    }
    if had {
        return Ok(true);
    }
    let mut left = 0;
    // Other enrollments of the user in progress end too: the first factor is in place.
    sqlx::query("DELETE FROM enrollments WHERE user_id = $1")
        .bind(who.user_id)
        .execute(&mut **tx)
        .await
        .map_err(internal("end other enrollments"))?;
    for sql in [
        "DELETE FROM authenticators WHERE user_id = $1",
        "DELETE FROM passkeys WHERE user_id = $1",
    ] {
        left += sqlx::query(sql)
            .bind(who.user_id)
            .execute(&mut **tx)
            .await
            .map_err(internal("remove left-over factors"))?
            .rows_affected();
    }
    if left > 0 {
        for sql in [
            "DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2",
            "DELETE FROM pending_logins WHERE user_id = $1 AND id_hash <> $2",
        ] {
            sqlx::query(sql)
                .bind(who.user_id)
                .bind(who.holder.to_vec())
                .execute(&mut **tx)
                .await
                .map_err(internal("end other sessions"))?;
        }
    }
    Ok(false)
}

/// A second factor just stored, as [`after_new_factor`] records it.
#[derive(Clone, Copy)]
pub(crate) struct NewFactor {
    /// The first factor was in place before ([`before_new_factor`]).
    pub had: bool,
    /// Added from a session (Profile, Settings); otherwise from a half sign-in.
    pub signed_in: bool,
    /// The owner's step to require 2FA: the requirement switches on with it.
    pub then_require_account: bool,
    /// "authenticator app", "passkey": for the audit log.
    pub what: &'static str,
}

/// After a new second factor was stored in `tx`: 2FA turns on, the browser's own session is
/// upgraded (or its half sign-in marked enrolled: `Unauthorized` when it ended meanwhile), the
/// user's sessions without a second factor end, and with the first factor fresh recovery codes
/// replace any old ones and are returned (none for a further factor). The caller commits.
pub(crate) async fn after_new_factor(
    tx: &mut Tx,
    state: &AppState,
    who: Who<'_>,
    t: i64,
    added: NewFactor,
) -> Result<Vec<String>, AppError> {
    let codes = if added.had {
        Vec::new()
    } else {
        let codes = new_recovery_codes();
        replace_recovery_codes(tx, state, who.user_id, &codes).await?;
        codes
    };
    // Turning on by oneself records the source; a setting made by the owner or account stays theirs.
    sqlx::query(
        "UPDATE users SET tfa_source = CASE WHEN tfa_on = 1 THEN tfa_source ELSE 'self' END, \
           tfa_set_by = CASE WHEN tfa_on = 1 THEN tfa_set_by ELSE id END, \
           tfa_set_at = CASE WHEN tfa_on = 1 THEN tfa_set_at ELSE $2 END, \
           tfa_on = 1, code_failures = 0, tfa_reset_pending = 0 WHERE id = $1",
    )
    .bind(who.user_id)
    .bind(t)
    .execute(&mut **tx)
    .await
    .map_err(internal("turn 2fa on"))?;
    let own = if added.signed_in {
        "UPDATE sessions SET second_factor = 1 WHERE id_hash = $1 AND user_id = $2 \
         AND expires_at > $3"
    } else {
        "UPDATE pending_logins SET enrolled = 1 WHERE id_hash = $1 AND user_id = $2 \
         AND enrolled = 0 AND expires_at > $3"
    };
    let upgraded = sqlx::query(own)
        .bind(who.holder.to_vec())
        .bind(who.user_id)
        .bind(t)
        .execute(&mut **tx)
        .await
        .map_err(internal("upgrade session"))?
        .rows_affected();
    if upgraded != 1 {
        // The session or half sign-in ended meanwhile: nothing of this stays.
        return Err(AppError::Unauthorized);
    }
    // After the upgrade above, so the owner's own session survives the requirement.
    if added.then_require_account {
        // The owner completing "Require 2FA" setup: the requirement and the enrollment are one step.
        crate::server::owner::require_in(tx, who.account_id, who.user_id, t).await?;
        audit::record(
            &mut **tx,
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
        .execute(&mut **tx)
        .await
        .map_err(internal("end 1fa sessions"))?;
    if !added.had {
        let on = mail::Notice::TwoFactorOn;
        mail::tell(tx, state, who, &on, t).await?;
    }
    if !added.had || added.what == "authenticator app" {
        audit::record(
            &mut **tx,
            audit::Entry {
                event: Event::TwoFactorEnrolled,
                account_id: Some(who.account_id),
                actor_user_id: Some(who.user_id),
                target_user_id: Some(who.user_id),
                detail: added.what,
                client_addr: who.client_addr,
            },
        )
        .await?;
    }
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

/// New recovery codes after a current second factor (step-up); the old ones stop working.
pub async fn regenerate_recovery_codes(
    state: &AppState,
    who: Who<'_>,
    proof: &StepUp,
) -> Result<Vec<String>, AppError> {
    let mut tx = step_up(state, who, proof, now()).await?;
    let codes = new_recovery_codes();
    replace_recovery_codes(&mut tx, state, who.user_id, &codes).await?;
    audit::record(
        &mut *tx,
        entry(who, Event::RecoveryCodesRegenerated, "10 new codes"),
    )
    .await?;
    let notice = mail::Notice::RecoveryCodesRegenerated;
    mail::tell(&mut tx, state, who, &notice, now()).await?;
    tx.commit()
        .await
        .map_err(internal("commit recovery codes"))?;
    Ok(codes)
}

/// Turns the user's own 2FA off after a current second factor: authenticator, passkeys and
/// recovery codes are removed.
pub async fn disable_own(state: &AppState, who: Who<'_>, proof: &StepUp) -> Result<(), AppError> {
    let t = now();
    let mut tx = step_up(state, who, proof, t).await?;
    // The rule of the Profile switch, checked again under the locks: not while the account
    // requires 2FA (the account row is locked, so a requirement being switched on waits or is
    // seen), not when the owner turned it on (the user's row is locked by the claim).
    let unrequired = sqlx::query(
        "UPDATE accounts SET require_2fa = require_2fa WHERE id = $1 AND require_2fa = 0",
    )
    .bind(who.account_id)
    .execute(&mut *tx)
    .await
    .map_err(internal("check requirement"))?
    .rows_affected();
    let off = if unrequired == 1 {
        sqlx::query(
            "UPDATE users SET tfa_on = 0, tfa_source = 'self', tfa_set_by = id, tfa_set_at = $2 \
             WHERE id = $1 AND tfa_on = 1 AND (tfa_source IS NULL OR tfa_source <> 'owner')",
        )
        .bind(who.user_id)
        .bind(t)
        .execute(&mut *tx)
        .await
        .map_err(internal("turn 2fa off"))?
        .rows_affected()
    } else {
        0
    };
    if off != 1 {
        // The code stays unspent.
        tx.rollback().await.map_err(internal("rollback"))?;
        let refusal = if unrequired == 1 {
            policy::Refusal::SetByOwner
        } else {
            policy::Refusal::RequiredByAccount
        };
        return Err(AppError::invalid("code", refusal.message()));
    }
    for sql in [
        "DELETE FROM authenticators WHERE user_id = $1",
        "DELETE FROM passkeys WHERE user_id = $1",
        "DELETE FROM webauthn_ceremonies WHERE user_id = $1",
        "DELETE FROM recovery_codes WHERE user_id = $1",
        "DELETE FROM enrollments WHERE user_id = $1",
    ] {
        sqlx::query(sql)
            .bind(who.user_id)
            .execute(&mut *tx)
            .await
            .map_err(internal("remove 2fa"))?;
    }
    audit::record(
        &mut *tx,
        entry(who, Event::TwoFactorDisabled, "by the user"),
    )
    .await?;
    let notice = mail::Notice::TwoFactorOff { by: None };
    mail::tell(&mut tx, state, who, &notice, t).await?;
    tx.commit().await.map_err(internal("commit 2fa off"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
