//! Single-use links the owner hands over: invitations and setup links after a reset.

use leptos::prelude::*;

use crate::domain::AppError;

/// Whom an invitation is for: the account they join and the email they will sign in with. Only
/// for a link that still works; the token is the secret that shows them.
#[server(endpoint = "invitation_details")]
pub async fn invitation_details(token: String) -> Result<(String, String), AppError> {
    use crate::server::{context, internal, owner};
    use sqlx::Row;
    let cx = context::ctx()?;
    let user_id = owner::link_user(&cx.state, &token, "invite").await?;
    let row = sqlx::query(
        "SELECT a.name, u.email FROM users u JOIN accounts a ON a.id = u.account_id WHERE u.id = $1",
    )
    .bind(user_id)
    .fetch_optional(&cx.state.pool)
    .await
    .map_err(internal("invitation details"))?
    .ok_or_else(owner::link_gone)?;
    Ok((
        row.try_get(0).map_err(internal("invitation row"))?,
        row.try_get(1).map_err(internal("invitation row"))?,
    ))
}

/// `/invite/<token>`: the new user sets a password; then enrolls if 2FA is on for them.
#[server(endpoint = "accept_invitation")]
pub async fn accept_invitation(token: String, password: String) -> Result<(), AppError> {
    use crate::domain::validate_password;
    use crate::server::{context, now, owner, sessions, throttle};
    let cx = context::ctx()?;
    validate_password("password", &password)?;
    let user_id = owner::link_user(&cx.state, &token, "invite").await?;
    // Each acceptance costs a password hash: the link is spent first, so one link is hashed for
    // once however many requests bring it (and attempts with it count together besides).
    let per_link = owner::link_subject(&token);
    let slot = cx.state.hasher.slot()?;
    throttle::claim(&cx.state, &[(throttle::Scope::Link, &per_link)], now()).await?;
    if !owner::spend_link(&cx.state, &token).await? {
        return Err(AppError::invalid("password", "This link was already used."));
    }
    let hash = match slot.hash(password).await {
        Ok(hash) => hash,
        Err(e) => {
            // Not hashed: the link works again.
            owner::unspend_link(&cx.state, &token).await?;
            return Err(e);
        }
    };
    let accepted = accept(&cx, user_id, &hash).await;
    let (account_id, tfa_on) = match accepted {
        Ok(Some(accepted)) => accepted,
        // Removed by the owner meanwhile, or already accepted.
        Ok(None) => return Err(owner::link_gone()),
        Err(e) => {
            // Nothing was accepted: the link works again.
            owner::unspend_link(&cx.state, &token).await?;
            return Err(e);
        }
    };
    let checked = sessions::Checked {
        user_id,
        account_id,
        password_hash: &hash,
    };
    let addr = cx.client_addr();
    let first = sessions::Arrival {
        addr: &addr,
        reported: false,
        new_browser: false,
    };
    match super::auth::open_after_password(&cx, checked, tfa_on, first).await? {
        super::auth::AfterPassword::Gone => Err(owner::link_gone()),
        _ => Ok(()),
    }
}

/// Sets the password of invited user `user_id` to `hash`, voids their other invitation links
/// and writes the audit row, in one transaction; returns their account and whether their 2FA
/// is on, or `None` when they are gone or have a password already.
#[cfg(feature = "ssr")]
async fn accept(
    cx: &crate::server::context::Ctx,
    user_id: i64,
    hash: &str,
) -> Result<Option<(i64, bool)>, AppError> {
    use crate::server::{audit, begin, internal};
    use sqlx::Row;
    let mut tx = begin(&cx.state).await?;
    // Only a user without a password yet: an invitation never replaces one (a new link issued
    // while this one was being accepted must not let its holder set another).
    let Some(row) = sqlx::query(
        "UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash IS NULL \
         RETURNING account_id, tfa_on",
    )
    .bind(hash.to_string())
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(internal("set password"))?
    else {
        return Ok(None);
    };
    // Any other invitation link of the user is void now.
    sqlx::query("DELETE FROM user_links WHERE user_id = $1 AND kind = 'invite'")
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(internal("void invitations"))?;
    let account_id: i64 = row.try_get(0).map_err(internal("invite row"))?;
    let tfa_on = row.try_get::<i64, _>(1).map_err(internal("invite row"))? != 0;
    let entry = audit::Entry {
        event: audit::Event::InvitationAccepted,
        account_id: Some(account_id),
        actor_user_id: Some(user_id),
        target_user_id: Some(user_id),
        detail: "password set",
        client_addr: &cx.client_addr(),
    };
    audit::record(&mut *tx, entry).await?;
    tx.commit().await.map_err(internal("commit invitation"))?;
    Ok(Some((account_id, tfa_on)))
}

/// `/setup/<token>`: after a reset, the user's own password opens enrollment (never the
/// password alone: the link is the second thing they hold). Password guesses here count like
/// sign-in's, against the account and the client address, and each failure is audited.
#[server(endpoint = "continue_setup")]
pub async fn continue_setup(token: String, password: String) -> Result<(), AppError> {
    use crate::server::{audit, context, internal, now, owner, sessions, throttle};
    use sqlx::Row;
    let cx = context::ctx()?;
    if password.is_empty() || password.len() > crate::domain::MAX_PASSWORD_LEN {
        return Err(AppError::invalid("password", "Enter your password."));
    }
    let user_id = owner::link_user(&cx.state, &token, "setup").await?;
    let row = sqlx::query("SELECT account_id, email, password_hash FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&cx.state.pool)
        .await
        .map_err(internal("setup user"))?
        .ok_or_else(owner::link_gone)?;
    let account_id: i64 = row.try_get(0).map_err(internal("setup row"))?;
    let email: String = row.try_get(1).map_err(internal("setup row"))?;
    let stored: Option<String> = row.try_get(2).map_err(internal("setup row"))?;
    let addr = cx.client_addr();
    let subjects = [
        (throttle::Scope::Addr, addr.as_str()),
        (throttle::Scope::Account, email.as_str()),
    ];
    let slot = cx.state.hasher.slot()?;
    throttle::claim(&cx.state, &subjects, now()).await?;
    if !slot.verify(password, stored.clone()).await? {
        audit::log(
            &cx.state,
            audit::Entry {
                event: audit::Event::SignInFailure,
                account_id: Some(account_id),
                actor_user_id: None,
                target_user_id: Some(user_id),
                detail: "wrong password at the setup link",
                client_addr: &addr,
            },
        )
        .await?;
        return Err(AppError::invalid("password", "Incorrect password."));
    }
    throttle::succeed(&cx.state, &subjects).await?;
    if !owner::spend_link(&cx.state, &token).await? {
        return Err(AppError::invalid("password", "This link was already used."));
    }
    let checked = sessions::Checked {
        user_id,
        account_id,
        password_hash: stored.as_deref().unwrap_or_default(),
    };
    let from = sessions::Arrival {
        addr: &addr,
        reported: false,
        new_browser: false,
    };
    let Some(t) = sessions::create_pending(&cx.state, checked, true, from).await? else {
        return Err(owner::link_gone());
    };
    context::append_header(
        http::header::SET_COOKIE,
        &sessions::set_pending_cookie(&cx.state.config, &t),
    );
    leptos_axum::redirect("/login/verify");
    Ok(())
}
