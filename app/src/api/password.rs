//! Forgotten passwords: asking for a password link by email, and setting a new password with a
//! link (see `server::password_reset`).

use leptos::prelude::*;

use crate::domain::AppError;

/// Whether "Forgot password?" can send a link by email here (SMTP and a public URL).
#[server(endpoint = "password_reset_by_email")]
pub async fn password_reset_by_email() -> Result<bool, AppError> {
    use crate::server::{context, password_reset};
    let cx = context::ctx()?;
    Ok(password_reset::by_email(&cx.state))
}

/// "Send reset link": the same answer, at once, whether or not anyone has `email`; the link (if
/// there is someone to send it to) is made and queued for mail after the answer. Throttled per
/// email and per client address.
#[server(endpoint = "forgot_password")]
pub async fn forgot_password(email: String) -> Result<(), AppError> {
    use crate::domain::{normalize_email, validate_email};
    use crate::server::{context, now, password_reset, throttle};

    let cx = context::ctx()?;
    let email = normalize_email(&email);
    validate_email("email", &email)?;
    if !password_reset::by_email(&cx.state) {
        return Err(AppError::Refused(
            "This server does not send email: ask your account owner for a password link.".into(),
        ));
    }
    let addr = cx.client_addr();
    throttle::claim(
        &cx.state,
        &[
            (throttle::Scope::Addr, addr.as_str()),
            (throttle::Scope::Reset, email.as_str()),
        ],
        now(),
    )
    .await?;
    let state = cx.state.clone();
    crate::server::DETACHED.spawn(async move {
        if password_reset::asked(&state, &email, &addr).await.is_err() {
            tracing::warn!("a password link asked for by email could not be made");
        }
    });
    leptos_axum::redirect("/password/forgot?sent=1");
    Ok(())
}

/// Sets a new password with password link `token`. The link alone signs nobody in: the browser
/// goes to the sign-in page, where the new password asks for the second factor as always.
#[server(endpoint = "reset_password")]
pub async fn reset_password(
    token: String,
    password: String,
    confirm_password: String,
) -> Result<(), AppError> {
    use crate::domain::validate_password;
    use crate::server::{context, now, owner, password_reset, throttle};

    let cx = context::ctx()?;
    validate_password("password", &password)?;
    if password != confirm_password {
        return Err(AppError::invalid(
            "confirm_password",
            "The two passwords are not the same.",
        ));
    }
    if token.len() > 64 {
        return Err(password_reset::gone());
    }
    let addr = cx.client_addr();
    let link = owner::link_subject(&token);
    let subjects = [
        (throttle::Scope::Addr, addr.as_str()),
        (throttle::Scope::Link, link.as_str()),
    ];
    // A place in the hashing queue before the attempt counts, as at sign-in.
    let slot = cx.state.hasher.slot()?;
    throttle::claim(&cx.state, &subjects, now()).await?;
    // Checked before the hash is paid for; spent only in the statement that sets the password.
    password_reset::link_user(&cx.state, &token).await?;
    let hash = slot.hash(password).await?;
    password_reset::reset(&cx.state, &token, hash, &addr).await?;
    throttle::succeed(&cx.state, &subjects).await?;
    leptos_axum::redirect("/login?password=changed");
    Ok(())
}
