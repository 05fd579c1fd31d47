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
    use crate::server::{context, now, throttle, users};

    let cx = context::ctx()?;
    validate_name("account_name", "the account name", &account_name)?;
    validate_name("name", "your name", &name)?;
    let email = normalize_email(&email);
    validate_email("email", &email)?;
    validate_password("password", &password)?;
    let addr = cx.client_addr();
    // Each sign-up costs a password hash and makes an account: counted per address.
    let slot = cx.state.hasher.slot()?;
    throttle::claim(&cx.state, &[(throttle::Scope::SignUp, &addr)], now()).await?;
    if users::email_taken(&cx.state, &email).await? {
        return Err(users::email_taken_error());
    }
    let password_hash = slot.hash(password).await?;
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
    let t = now();
    let login = users::find_login(&cx.state, &email).await?;
    // A browser this user completed a sign-in with counts its attempts on its own, so a
    // stranger who used up the account's attempts does not lock the user out of it.
    let device = login.as_ref().and_then(|l| {
        sessions::cookie_value(
            &cx.parts.headers,
            throttle::device_cookie_name(&cx.state.config),
        )
        .and_then(|token| throttle::device_of(&cx.state, token, l.device_user(), t))
    });
    let subjects = [
        (throttle::Scope::Addr, addr.as_str()),
        match &device {
            Some(d) => (throttle::Scope::Device, d.as_str()),
            None => (throttle::Scope::Account, email.as_str()),
        },
    ];
    // A place in the hashing queue before the attempt counts: a busy server costs nobody one.
    let slot = cx.state.hasher.slot()?;
    throttle::claim(&cx.state, &subjects, t).await?;
    let stored = login.as_ref().and_then(|l| l.password_hash.clone());
    let (ok, anew) = slot.verify_upgrading(&password, stored).await?;
    let checked = login.as_ref().filter(|_| ok).and_then(|l| {
        Some(sessions::Checked {
            user_id: l.user_id,
            account_id: l.account_id,
            password_hash: l.password_hash.as_deref()?,
        })
    });
    let Some((l, checked)) = login.as_ref().zip(checked) else {
        audit::log(
            &cx.state,
            audit::Entry {
                event: audit::Event::SignInFailure,
                account_id: login.as_ref().map(|l| l.account_id),
                actor_user_id: None,
                target_user_id: login.as_ref().map(|l| l.user_id),
                detail: if login.is_some() {
                    "wrong password"
                } else {
                    "unknown email"
                },
                client_addr: &addr,
            },
        )
        .await?;
        return Err(AppError::BadCredentials);
    };
    throttle::succeed(&cx.state, &subjects).await?;
    // A password alone never enrolls a user whose 2FA the owner reset.
    if l.two_factor_on && users::reset_pending(&cx.state, l.user_id).await? {
        return Err(AppError::Refused(users::RESET_MESSAGE.into()));
    }
    let from = sessions::Arrival {
        addr: &addr,
        reported: true,
        new_browser: device.is_none(),
    };
    let old = checked.password_hash;
    let mut opened = open_after_password(&cx, checked, l.two_factor_on, from).await?;
    if matches!(opened, AfterPassword::Gone) && anew.is_some() {
        opened = after_a_twins_rehash(&cx, &email, l.user_id, old, password, from).await?;
    }
    match opened {
        AfterPassword::Session | AfterPassword::SecondFactorOwed => {
            // A hash of an older setting is replaced once its password is proved; only now,
            // as what opened was checked against the old one (which a twin that stored its
            // rehash first has replaced already: then this changes nothing).
            if let Some(anew) = anew {
                users::store_rehash(&cx.state, l.user_id, old, &anew).await;
            }
            Ok(())
        }
        // Removed (or changed) while the password was checked: the ordinary failure.
        AfterPassword::Gone => Err(AppError::BadCredentials),
    }
}

/// A sign-in whose password matched an outdated hash `old` of user `user_id` found the row
/// changed when it opened: a twin sign-in may have stored its rehash of the same password
/// meanwhile. The password is checked once more against the hash stored now, and opens with
/// that; a password changed meanwhile does not match it (`Gone`).
#[cfg(feature = "ssr")]
async fn after_a_twins_rehash(
    cx: &crate::server::context::Ctx,
    email: &str,
    user_id: i64,
    old: &str,
    password: String,
    from: crate::server::sessions::Arrival<'_>,
) -> Result<AfterPassword, AppError> {
    use crate::server::{sessions, users};
    let now = users::find_login(&cx.state, email).await?;
    let Some(now) = now.filter(|n| n.user_id == user_id) else {
        return Ok(AfterPassword::Gone);
    };
    let Some(hash) = now.password_hash.as_deref().filter(|h| *h != old) else {
        return Ok(AfterPassword::Gone);
    };
    let slot = cx.state.hasher.slot()?;
    if !slot.verify(password, Some(hash.to_string())).await? {
        return Ok(AfterPassword::Gone);
    }
    let checked = sessions::Checked {
        user_id,
        account_id: now.account_id,
        password_hash: hash,
    };
    open_after_password(cx, checked, now.two_factor_on, from).await
}

/// What a correct password led to.
#[cfg(feature = "ssr")]
pub(crate) enum AfterPassword {
    /// 2FA is off: a session is open.
    Session,
    /// 2FA is on: a half sign-in is open and the browser goes to the code page.
    SecondFactorOwed,
    /// The user row the password was checked against is gone or changed: nothing opened.
    Gone,
}

/// Opens what a correct password gives the user checked as `checked`: a session while their 2FA
/// is off or before their deadline to set it up, a half sign-in otherwise (also when 2FA was
/// turned on while the password was checked). The rule "a password alone never yields a session while 2FA is on" is the
/// storage's: the session opens only if the row still says 2FA is off.
#[cfg(feature = "ssr")]
pub(crate) async fn open_after_password(
    cx: &crate::server::context::Ctx,
    checked: crate::server::sessions::Checked<'_>,
    two_factor_on: bool,
    from: crate::server::sessions::Arrival<'_>,
) -> Result<AfterPassword, AppError> {
    use crate::server::{context, sessions, users};
    // 2FA off, or on but still before the user's deadline to set it up: the password suffices
    // (the storage checks it again as the session opens).
    if !two_factor_on || users::in_grace(&cx.state, checked.user_id).await? {
        let opened = sessions::create_password_only(
            &cx.state,
            checked,
            (&cx.client_addr(), cx.user_agent()),
            from,
        )
        .await?;
        if let Some((token, device)) = opened {
            if let Some(old) = cx.auth() {
                sessions::delete(&cx.state.pool, &old.session_hash).await?;
            }
            context::append_header(
                http::header::SET_COOKIE,
                &sessions::set_cookie(&cx.state.config, &token),
            );
            crate::server::throttle::remember_device(&cx.state, device);
            leptos_axum::redirect("/");
            return Ok(AfterPassword::Session);
        }
    }
    let Some(token) = sessions::create_pending(&cx.state, checked, false, from).await? else {
        return Ok(AfterPassword::Gone);
    };
    context::append_header(
        http::header::SET_COOKIE,
        &sessions::set_pending_cookie(&cx.state.config, &token),
    );
    leptos_axum::redirect("/login/verify");
    Ok(AfterPassword::SecondFactorOwed)
}

#[server(endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    use crate::server::{audit, begin, context, internal, now, sessions};

    let cx = context::ctx()?;
    if let Some(auth) = cx.auth() {
        // The session ends with its audit row, once however often it is signed out of.
        let mut tx = begin(&cx.state).await?;
        if sessions::delete(&mut *tx, &auth.session_hash).await? {
            let entry = audit::Entry {
                event: audit::Event::SignOut,
                account_id: Some(auth.account_id),
                actor_user_id: Some(auth.user_id),
                target_user_id: Some(auth.user_id),
                detail: "signed out",
                client_addr: &cx.client_addr(),
            };
            audit::record(&mut *tx, entry).await?;
        }
        tx.commit().await.map_err(internal("commit sign-out"))?;
    }
    // A half sign-in ends too ("Not you?" on the code page).
    if let Some(pending) = cx.pending() {
        sessions::take_pending(&cx.state.pool, &pending.id_hash, pending.user_id, now()).await?;
        // "Not you?": the password was right, and no second factor follows: the user's mail
        // about it stays due.
        context::append_header(
            http::header::SET_COOKIE,
            &sessions::clear_pending_cookie(&cx.state.config),
        );
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
    use crate::server::{begin, context, internal, sessions, throttle};
    if let Some(old) = cx.auth() {
        sessions::delete(&cx.state.pool, &old.session_hash).await?;
    }
    let mut tx = begin(&cx.state).await?;
    let token = sessions::create(
        &mut *tx,
        &cx.state.config,
        user_id,
        (&cx.client_addr(), cx.user_agent()),
        false,
    )
    .await?;
    let device = throttle::issue_device(&mut tx, user_id)
        .await?
        .ok_or(AppError::Unauthorized)?;
    tx.commit().await.map_err(internal("commit session"))?;
    context::append_header(
        http::header::SET_COOKIE,
        &sessions::set_cookie(&cx.state.config, &token),
    );
    throttle::remember_device(&cx.state, device);
    Ok(())
}
