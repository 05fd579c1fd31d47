//! Single-use links the owner hands over: invitations and setup links after a reset.

use leptos::prelude::*;

use crate::domain::AppError;

/// `/invite/<token>`: the new user sets a password; then enrolls if 2FA is on for them.
#[server(endpoint = "accept_invitation")]
pub async fn accept_invitation(token: String, password: String) -> Result<(), AppError> {
    use crate::domain::validate_password;
    use crate::server::{audit, context, internal, owner, sessions};
    use sqlx::Row;
    let cx = context::ctx()?;
    validate_password("password", &password)?;
    let user_id = owner::link_user(&cx.state, &token, "invite").await?;
    let hash = cx.state.hasher.hash(password).await?;
    if !owner::spend_link(&cx.state, &token).await? {
        return Err(AppError::invalid("password", "This link was already used."));
    }
    let row = sqlx::query(
        "UPDATE users SET password_hash = $1 WHERE id = $2 RETURNING account_id, tfa_on",
    )
    .bind(hash)
    .bind(user_id)
    .fetch_one(&cx.state.pool)
    .await
    .map_err(internal("set password"))?;
    let account_id: i64 = row.try_get(0).map_err(internal("invite row"))?;
    let tfa_on = row.try_get::<i64, _>(1).map_err(internal("invite row"))? != 0;
    audit::log(
        &cx.state,
        audit::Entry {
            event: audit::Event::InvitationAccepted,
            account_id: Some(account_id),
            actor_user_id: Some(user_id),
            target_user_id: Some(user_id),
            detail: "password set",
            client_addr: &cx.client_addr(),
        },
    )
    .await?;
    if tfa_on {
        let t = sessions::create_pending(&cx.state, user_id, false).await?;
        context::append_header(
            http::header::SET_COOKIE,
            &sessions::set_pending_cookie(&cx.state.config, &t),
        );
        leptos_axum::redirect("/login/verify");
    } else {
        super::auth::start_session(&cx, user_id).await?;
        leptos_axum::redirect("/");
    }
    Ok(())
}

/// `/setup/<token>`: after a reset, the user's own password opens enrollment (never the
/// password alone: the link is the second thing they hold).
#[server(endpoint = "continue_setup")]
pub async fn continue_setup(token: String, password: String) -> Result<(), AppError> {
    use crate::server::{context, internal, owner, sessions};
    use sqlx::Row;
    let cx = context::ctx()?;
    if password.is_empty() || password.len() > crate::domain::MAX_PASSWORD_LEN {
        return Err(AppError::invalid("password", "Enter your password."));
    }
    let user_id = owner::link_user(&cx.state, &token, "setup").await?;
    let row = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(&cx.state.pool)
        .await
        .map_err(internal("setup user"))?;
    let stored: Option<String> = row.try_get(0).map_err(internal("setup row"))?;
    if !cx.state.hasher.verify(password, stored).await? {
        return Err(AppError::invalid("password", "Incorrect password."));
    }
    if !owner::spend_link(&cx.state, &token).await? {
        return Err(AppError::invalid("password", "This link was already used."));
    }
    let t = sessions::create_pending(&cx.state, user_id, true).await?;
    context::append_header(
        http::header::SET_COOKIE,
        &sessions::set_pending_cookie(&cx.state.config, &t),
    );
    leptos_axum::redirect("/login/verify");
    Ok(())
}
