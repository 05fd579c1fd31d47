//! Sign-up, sign-in, sign-out and who-am-I.

use leptos::prelude::*;

use crate::domain::{AppError, Me};

/// Creates an account with its owner and signs the owner in.
#[server(endpoint = "sign_up")]
pub async fn sign_up(
    account_name: String,
    name: String,
    email: String,
    password: String,
) -> Result<(), AppError> {
    use crate::domain::{normalize_email, validate_email, validate_name, validate_password};
    use crate::server::{context, users};

    let cx = context::ctx()?;
    validate_name("account_name", "the account name", &account_name)?;
    validate_name("name", "your name", &name)?;
    let email = normalize_email(&email);
    validate_email("email", &email)?;
    validate_password("password", &password)?;
    if users::email_taken(&cx.state, &email).await? {
        return Err(users::email_taken_error());
    }
    let password_hash = cx.state.hasher.hash(password).await?;
    let addr = cx.client_addr();
    let (_, user_id) = users::create_account(
        &cx.state,
        users::NewOwner {
            account_name: account_name.trim(),
            name: name.trim(),
            email: &email,
            password_hash,
            client_addr: &addr,
        },
    )
    .await?;
    tracing::info!(user_id, "account created");
    start_session(&cx, user_id).await?;
    leptos_axum::redirect("/");
    Ok(())
}

#[server(endpoint = "sign_in")]
pub async fn sign_in(email: String, password: String) -> Result<(), AppError> {
    use crate::domain::{normalize_email, MAX_PASSWORD_LEN};
    use crate::server::{audit, context, now, sessions, throttle, users};

    let cx = context::ctx()?;
    let email = normalize_email(&email);
    if email.is_empty() {
        return Err(AppError::invalid("email", "Enter your email address."));
    }
    if password.is_empty() {
        return Err(AppError::invalid("password", "Enter your password."));
    }
    // Nothing this long was ever stored; refuse before hashing megabytes.
    // Control characters (NUL, which PostgreSQL cannot even store) were never accepted either.
    if email.len() > 254 || password.len() > MAX_PASSWORD_LEN || email.chars().any(char::is_control)
    {
        return Err(AppError::BadCredentials);
    }
    let addr = cx.client_addr();
    let login = users::find_login(&cx.state, &email).await?;
    // A browser this user completed a sign-in with counts its attempts on its own, so a
    // stranger who used up the account's attempts does not lock the user out of it.
    let device = login.as_ref().and_then(|l| {
        sessions::cookie_value(
            &cx.parts.headers,
            throttle::device_cookie_name(&cx.state.config),
        )
        .and_then(|token| throttle::device_of(&cx.state, token, l.user_id))
    });
    let subjects = [
        (throttle::Scope::Addr, addr.as_str()),
        match &device {
            Some(d) => (throttle::Scope::Device, d.as_str()),
            None => (throttle::Scope::Account, email.as_str()),
        },
    ];
    throttle::claim(&cx.state, &subjects, now()).await?;
    let stored = login.as_ref().and_then(|l| l.password_hash.clone());
    let ok = cx.state.hasher.verify(password, stored).await?;
    if ok {
        throttle::succeed(&cx.state, &subjects).await?;
    }
    match login {
        Some(l) if ok && l.two_factor_on => {
            // A password alone never enrolls a user whose 2FA the owner reset.
            if users::reset_pending(&cx.state, l.user_id).await? {
                return Err(AppError::Refused(users::RESET_MESSAGE.into()));
            }
            // First proof done; no session until the second.
            let token = sessions::create_pending(&cx.state, l.user_id, false).await?;
            context::append_header(
                http::header::SET_COOKIE,
                &sessions::set_pending_cookie(&cx.state.config, &token),
            );
            leptos_axum::redirect("/login/verify");
            Ok(())
        }
        Some(l) if ok => {
            audit::log(
                &cx.state,
                audit::Entry {
                    event: audit::Event::SignInSuccess,
                    account_id: Some(l.account_id),
                    actor_user_id: Some(l.user_id),
                    target_user_id: Some(l.user_id),
                    detail: "password",
                    client_addr: &addr,
                },
            )
            .await?;
            start_session(&cx, l.user_id).await?;
            leptos_axum::redirect("/");
            Ok(())
        }
        other => {
            audit::log(
                &cx.state,
                audit::Entry {
                    event: audit::Event::SignInFailure,
                    account_id: other.as_ref().map(|l| l.account_id),
                    actor_user_id: None,
                    target_user_id: other.as_ref().map(|l| l.user_id),
                    detail: if other.is_some() {
                        "wrong password"
                    } else {
                        "unknown email"
                    },
                    client_addr: &addr,
                },
            )
            .await?;
            Err(AppError::BadCredentials)
        }
    }
}

#[server(endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    use crate::server::{audit, context, sessions};

    let cx = context::ctx()?;
    if let Some(auth) = cx.auth() {
        sessions::delete(&cx.state, &auth.session_hash).await?;
        audit::log(
            &cx.state,
            audit::Entry {
                event: audit::Event::SignOut,
                account_id: Some(auth.account_id),
                actor_user_id: Some(auth.user_id),
                target_user_id: Some(auth.user_id),
                detail: "signed out",
                client_addr: &cx.client_addr(),
            },
        )
        .await?;
    }
    context::append_header(
        http::header::SET_COOKIE,
        &sessions::clear_cookie(&cx.state.config),
    );
    leptos_axum::redirect("/login");
    Ok(())
}

/// The signed-in user; `Unauthorized` without a valid session.
#[server(endpoint = "current_user")]
pub async fn current_user() -> Result<Me, AppError> {
    use crate::server::context;

    let cx = context::ctx()?;
    // Read with the session by the session middleware, for this request.
    Ok(cx.require_auth()?.me.clone())
}

/// Rotates the session: ends the one the browser came with, opens a fresh one, sets the cookie.
#[cfg(feature = "ssr")]
pub(crate) async fn start_session(
    cx: &crate::server::context::Ctx,
    user_id: i64,
) -> Result<(), AppError> {
    use crate::server::{context, sessions};
    if let Some(old) = cx.auth() {
        sessions::delete(&cx.state, &old.session_hash).await?;
    }
    let token = sessions::create(
        &cx.state.pool,
        &cx.state.config,
        user_id,
        &cx.client_addr(),
        false,
    )
    .await?;
    context::append_header(
        http::header::SET_COOKIE,
        &sessions::set_cookie(&cx.state.config, &token),
    );
    crate::server::throttle::remember_device(&cx.state, user_id);
    Ok(())
}
