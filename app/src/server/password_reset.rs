//! Forgotten passwords. A password link (`user_links` kind `password`: a random token kept only
//! as its SHA-256, single use, expiring, a newer one voiding older ones) comes by email when the
//! user asks ("Forgot password?", with SMTP configured: 1 hour), from the owner (Users → Reset
//! password: 24 hours) or from the operator (`server reset-password`). Using it sets the new
//! password, ends every session and half sign-in of the user, forgets every browser they were
//! remembered on, and signs nobody in: the user signs in with the new password, which asks for
//! their second factor exactly as every sign-in does. The link alone never opens a session.

use sqlx::Row;

use super::{
    audit::{self, Event},
    internal, mail, now,
    owner::{self, Owner},
    AppState,
};
use crate::domain::{AppError, LinkKind};

/// A link the user asked for by email works this long.
pub const ASKED_TTL_SECS: i64 = 3600;
/// A link from the owner or the operator works this long.
pub const HANDED_TTL_SECS: i64 = 24 * 3600;

/// Whether "Forgot password?" can send a link by email here (SMTP and a public URL to build it
/// on).
pub fn by_email(state: &AppState) -> bool {
    mail::enabled(state) && state.config.public_origin.is_some()
}

/// A user who has a password (an invited user who never set one gets their invitation again),
/// of account `account` if given: a user of another account is not found, whatever their state.
async fn user_with_password(
    state: &AppState,
    user_id: i64,
    account: Option<i64>,
) -> Result<(i64, String), AppError> {
    let row = sqlx::query("SELECT account_id, name, password_hash FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&state.pool)
        .await
        .map_err(internal("password link user"))?
        .ok_or(AppError::NotFound)?;
    let account_id: i64 = row.try_get(0).map_err(internal("password link row"))?;
    if account.is_some_and(|a| a != account_id) {
        return Err(AppError::NotFound);
    }
    let hash: Option<String> = row.try_get(2).map_err(internal("password link row"))?;
    if hash.is_none() {
        return Err(AppError::invalid(
            "user",
            "They have not set a password yet: send them their invitation link again.",
        ));
    }
    Ok((
        account_id,
        row.try_get(1).map_err(internal("password link row"))?,
    ))
}

/// The owner's password link for user `user_id` of their account (never their own row: the
/// operator's command is the owner's way). Returns the user's name and the token.
pub async fn owner_link(
    state: &AppState,
    o: Owner<'_>,
    user_id: i64,
) -> Result<(String, String), AppError> {
    if user_id == o.user_id {
        return Err(AppError::invalid(
            "user",
            "You cannot reset your own password here. Use \"Forgot password?\" on the sign-in \
             page, or ask the server operator.",
        ));
    }
    let (account_id, name) = user_with_password(state, user_id, Some(o.account_id)).await?;
    let by = Issuer {
        user_id: Some(o.user_id),
        client_addr: o.client_addr,
        detail: "by the owner; valid 24 hours",
    };
    let token = issue(state, account_id, user_id, by).await?;
    Ok((name, token))
}

/// The operator's password link for `user_id` (`server reset-password`).
pub async fn operator_link(state: &AppState, user_id: i64) -> Result<String, AppError> {
    let (account_id, _) = user_with_password(state, user_id, None).await?;
    let by = Issuer {
        user_id: None,
        client_addr: "operator",
        detail: "by operator command on the server host; valid 24 hours",
    };
    issue(state, account_id, user_id, by).await
}

/// Who hands a password link over, for the audit log.
struct Issuer<'a> {
    user_id: Option<i64>,
    client_addr: &'a str,
    detail: &'a str,
}

/// A password link for user `user_id` (of account `account_id`) to hand over, valid
/// [`HANDED_TTL_SECS`]; older ones stop working. Returns the token.
async fn issue(
    state: &AppState,
    account_id: i64,
    user_id: i64,
    by: Issuer<'_>,
) -> Result<String, AppError> {
    let mut tx = super::begin(state).await?;
    let token = owner::insert_link(
        &mut tx,
        user_id,
        LinkKind::Password.stored(),
        HANDED_TTL_SECS,
    )
    .await?;
    audit::record(
        &mut *tx,
        audit::Entry {
            event: Event::PasswordLinkIssued,
            account_id: Some(account_id),
            actor_user_id: by.user_id,
            target_user_id: Some(user_id),
            detail: by.detail,
            client_addr: by.client_addr,
        },
    )
    .await?;
    tx.commit()
        .await
        .map_err(internal("commit password link"))?;
    Ok(token)
}

/// "Forgot password?" for `email` (normalized), asked from `addr`: a link by email to its user,
/// if there is one with a password. Runs after the answer has gone (see `api::password`), so
/// neither the answer nor its timing says whether anyone has that email.
pub async fn asked(state: &AppState, email: &str, addr: &str) -> Result<(), AppError> {
    let Some(login) = super::users::find_login(state, email).await? else {
        return Ok(());
    };
    if login.password_hash.is_none() {
        return Ok(());
    }
    let Some(origin) = state.config.public_origin.clone() else {
        return Ok(());
    };
    let mut tx = super::begin(state).await?;
    // The user's row first: the link mail below sees any other of a moment ago, and a 2FA reset
    // of this moment is seen here or voids this link.
    let Some(mailbox) = owner::Mailbox::lock(&mut tx, login.user_id).await? else {
        return Ok(());
    };
    if mailbox.may_mail(LinkKind::Password).is_err() {
        // The mail says to ask the account owner, and no link is kept.
        let notice = mail::Notice::PasswordLinkWithheld {
            addr: addr.to_string(),
        };
        let to = mail::To::User(login.user_id);
        mail::enqueue(&mut tx, state, login.account_id, to, &notice, now()).await?;
        return tx.commit().await.map_err(internal("commit password mail"));
    }
    let token = owner::insert_locked_link(
        &mut tx,
        login.user_id,
        LinkKind::Password.stored(),
        ASKED_TTL_SECS,
    )
    .await?;
    let link = format!("{origin}{}", LinkKind::Password.path(&token));
    let notice = mail::Notice::PasswordResetAsked {
        addr: addr.to_string(),
    };
    // At most one such mail a minute per user: a stranger cannot flood their inbox (the
    // newest link still replaced the older ones).
    if !mail::enqueue_link(
        &mut tx,
        state,
        login.account_id,
        login.user_id,
        &notice,
        &link,
    )
    .await?
    {
        return Ok(());
    }
    audit::record(
        &mut *tx,
        audit::Entry {
            event: Event::PasswordLinkIssued,
            account_id: Some(login.account_id),
            actor_user_id: None,
            target_user_id: Some(login.user_id),
            detail: "asked for by email; valid 1 hour",
            client_addr: addr,
        },
    )
    .await?;
    tx.commit().await.map_err(internal("commit password link"))
}

/// The user of a live password link `token`, or the error every unusable link gets.
pub async fn link_user(state: &AppState, token: &str) -> Result<i64, AppError> {
    owner::link_user(state, token, LinkKind::Password.stored())
        .await
        .map_err(|_| gone())
}

/// The one error of a password link that is unknown, used, expired, replaced by a newer one, or
/// whose user is gone.
pub fn gone() -> AppError {
    AppError::invalid(
        "password",
        "This password link is not valid any more. Ask for a new one with \"Forgot password?\", \
         or ask your account owner.",
    )
}

/// Sets `password_hash` (the new password, hashed) for the user of password link `token`, once:
/// the link is spent by one conditional UPDATE (of two at once, one wins), and in the same
/// transaction the password changes, every session and half sign-in of the user ends, their
/// remembered browsers are forgotten, the audit row and the user's mail are written.
pub async fn reset(
    state: &AppState,
    token: &str,
    password_hash: String,
    addr: &str,
) -> Result<(), AppError> {
    let t = now();
    let mut tx = super::begin(state).await?;
    let spent = sqlx::query(
        "UPDATE user_links SET used_at = $1 WHERE token_hash = $2 AND kind = $3 \
         AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
    )
    .bind(t)
    .bind(super::tokens::hash_token(token))
    .bind(LinkKind::Password.stored())
    .fetch_optional(&mut *tx)
    .await
    .map_err(internal("spend password link"))?;
    let Some(spent) = spent else {
        return Err(gone());
    };
    let user_id: i64 = spent.try_get(0).map_err(internal("password link row"))?;
    let row = sqlx::query(
        "UPDATE users SET password_hash = $1, device_epoch = device_epoch + 1, \
         password_by_link = 1 WHERE id = $2 AND password_hash IS NOT NULL RETURNING account_id",
    )
    .bind(password_hash)
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(internal("set password"))?;
    let Some(row) = row else {
        return Err(gone());
    };
    let account_id: i64 = row.try_get(0).map_err(internal("password row"))?;
    for sql in [
        "DELETE FROM sessions WHERE user_id = $1",
        "DELETE FROM pending_logins WHERE user_id = $1",
        "DELETE FROM user_links WHERE user_id = $1 AND kind = 'password'",
    ] {
        sqlx::query(sql)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(internal("end sessions after a new password"))?;
    }
    audit::record(
        &mut *tx,
        audit::Entry {
            event: Event::PasswordReset,
            account_id: Some(account_id),
            actor_user_id: Some(user_id),
            target_user_id: Some(user_id),
            detail: "with a password link; every session ended",
            client_addr: addr,
        },
    )
    .await?;
    let notice = mail::Notice::PasswordChanged {
        addr: addr.to_string(),
    };
    mail::enqueue(
        &mut tx,
        state,
        account_id,
        mail::To::User(user_id),
        &notice,
        t,
    )
    .await?;
    tx.commit().await.map_err(internal("commit new password"))
}
