//! A user's own second factor: status, enrollment, sign-in codes, recovery codes, turning off.

use leptos::prelude::*;

use crate::domain::{AppError, EnrollmentStart, Flash, SignInStage, TwoFactorStatus};

#[server(endpoint = "my_two_factor")]
pub async fn my_two_factor() -> Result<TwoFactorStatus, AppError> {
    use crate::server::{context, two_factor};
    let cx = context::ctx()?;
    two_factor::status(&cx.state, cx.require_auth()?.user_id).await
}

/// Where a half-signed-in user stands: owes a code, or must enroll first.
#[server(endpoint = "sign_in_stage")]
pub async fn get_sign_in_stage() -> Result<SignInStage, AppError> {
    use crate::server::{context, two_factor};
    let cx = context::ctx()?;
    let pending = cx.require_pending()?;
    if pending.owes_passkey {
        return Ok(SignInStage::AddPasskey);
    }
    if pending.enrolled {
        return Ok(SignInStage::Enrolled);
    }
    let status = two_factor::status(&cx.state, pending.user_id).await?;
    let passkey =
        status.passkeys > 0 && crate::server::passkeys::relying_party(&cx.state.config).is_some();
    if status.set_up() {
        return Ok(SignInStage::Code {
            // Where passkeys are required, one who has a passkey must use it.
            app: status.has_authenticator && !(status.passkeys_required && passkey),
            passkey,
        });
    }
    if pending.via_setup_link {
        if let Some((by, at)) = crate::server::owner::last_reset(&cx.state, pending.user_id).await?
        {
            return Ok(SignInStage::Reenroll { by, at });
        }
    }
    Ok(SignInStage::Enroll)
}

/// Starts setting up an authenticator: in Profile, or during sign-in when 2FA is on but none exists.
/// A signed-in user whose passkeys are in use adds an app only after proving one of them
/// (`credential`, the browser's answer to `start_passkey_confirmation`).
#[server(endpoint = "start_enrollment")]
pub async fn start_enrollment(
    #[server(default)] credential: Option<String>,
) -> Result<EnrollmentStart, AppError> {
    use crate::server::{context, internal, now, two_factor};
    let cx = context::ctx()?;
    let addr = cx.client_addr();
    let who = cx.who(&addr)?;
    may_enroll(&cx, who.user_id, "code").await?;
    let in_use = cx.auth().is_some() && two_factor::status(&cx.state, who.user_id).await?.in_use();
    let proven = match credential {
        Some(answer) if in_use => {
            two_factor::step_up(&cx.state, who, &two_factor::StepUp::Passkey(answer), now())
                .await?
                .commit()
                .await
                .map_err(internal("commit step-up"))?;
            true
        }
        _ => false,
    };
    two_factor::start_enrollment(&cx.state, who, proven).await
}

/// Confirms the authenticator with a code; returns the 10 recovery codes, shown once (none when
/// passkeys were set up before: the codes made with them stay).
#[server(endpoint = "confirm_enrollment")]
pub async fn confirm_enrollment(code: String) -> Result<Vec<String>, AppError> {
    use crate::domain::parse_code;
    use crate::server::{context, now, two_factor};
    let cx = context::ctx()?;
    let code = parse_code("code", &code)?;
    let addr = cx.client_addr();
    let who = cx.who(&addr)?;
    may_enroll(&cx, who.user_id, "code").await?;
    let codes =
        two_factor::confirm_enrollment(&cx.state, who, &code, now(), cx.auth().is_some()).await?;
    cx.keep_for_page(Flash::RecoveryCodes(codes.clone()))
        .await?;
    Ok(codes)
}

/// Who may set up a second factor (an authenticator app or a passkey) now, checked alike when
/// it starts and when it is confirmed: a signed-in user as their Profile switch allows; a
/// half-signed-in user only at the enrollment stage (2FA on, nothing set up, and after a reset
/// only through the setup link). Whether a factor is in use is checked by the storage, in the
/// confirming transaction too. `field` is the form field a refusal belongs to.
#[cfg(feature = "ssr")]
pub(crate) async fn may_enroll(
    cx: &crate::server::context::Ctx,
    user_id: i64,
    field: &str,
) -> Result<(), AppError> {
    use crate::domain::policy;
    use crate::server::{two_factor, users};
    let status = two_factor::status(&cx.state, user_id).await?;
    if let Some(auth) = cx.auth() {
        if !status.setting.on {
            let actor = policy::Actor {
                role: auth.role,
                is_target: true,
            };
            policy::may_set(actor, status.account_required, status.setting, true)
                .map_err(|r| AppError::invalid(field, r.message()))?;
        }
        return Ok(());
    }
    let pending = cx.require_pending()?;
    if !status.setting.on || status.set_up() || pending.enrolled {
        return Err(AppError::Forbidden);
    }
    if !pending.via_setup_link && users::reset_pending(&cx.state, user_id).await? {
        return Err(AppError::Refused(users::RESET_MESSAGE.into()));
    }
    Ok(())
}

/// "I have saved my recovery codes": during sign-in this opens the session.
#[server(endpoint = "finish_enrollment")]
pub async fn finish_enrollment() -> Result<(), AppError> {
    use crate::server::{context, two_factor::Factor};
    let cx = context::ctx()?;
    if cx.auth().is_some() {
        return Ok(());
    }
    let pending = cx.require_pending()?;
    if !pending.enrolled {
        return Err(AppError::Forbidden);
    }
    let tx = crate::server::begin(&cx.state).await?;
    finish_sign_in(&cx, &pending, Factor::New, tx).await
}

#[server(endpoint = "verify_sign_in")]
pub async fn verify_sign_in(code: String) -> Result<(), AppError> {
    use crate::domain::parse_code;
    use crate::server::{context, now, two_factor};
    let cx = context::ctx()?;
    let pending = cx.require_pending()?;
    let code = parse_code("code", &code)?;
    let addr = cx.client_addr();
    let finished = two_factor::sign_in_with_code(
        &cx.state,
        cx.who(&addr)?,
        &pending.id_hash,
        pending.sealed.clone(),
        &code,
        now(),
    )
    .await?;
    signed_in(&cx, finished);
    Ok(())
}

#[server(endpoint = "verify_sign_in_recovery")]
pub async fn verify_sign_in_recovery(recovery_code: String) -> Result<(), AppError> {
    use crate::domain::parse_recovery_code;
    use crate::server::{context, now, two_factor, two_factor::Factor};
    let cx = context::ctx()?;
    let pending = cx.require_pending()?;
    let code = parse_recovery_code("recovery_code", &recovery_code)?;
    let addr = cx.client_addr();
    let tx =
        two_factor::spend_recovery_code(&cx.state, cx.who(&addr)?, "recovery_code", &code, now())
            .await?;
    finish_sign_in(&cx, &pending, Factor::RecoveryCode, tx).await
}

/// New recovery codes; needs a current second factor: a code, or (`credential`) a passkey.
#[server(endpoint = "regenerate_recovery_codes")]
pub async fn regenerate_recovery_codes(
    #[server(default)] code: String,
    #[server(default)] credential: Option<String>,
) -> Result<Vec<String>, AppError> {
    use crate::server::{context, two_factor};
    let cx = context::ctx()?;
    cx.require_auth()?;
    let proof = two_factor::StepUp::from_form(&code, credential)?;
    let addr = cx.client_addr();
    let codes = two_factor::regenerate_recovery_codes(&cx.state, cx.who(&addr)?, &proof).await?;
    cx.keep_for_page(Flash::RecoveryCodes(codes.clone()))
        .await?;
    Ok(codes)
}

/// Turns the signed-in user's own 2FA off; needs a current second factor (a code, or
/// `credential`: a passkey) and the policy's consent.
#[server(endpoint = "disable_two_factor")]
pub async fn disable_two_factor(
    #[server(default)] code: String,
    #[server(default)] credential: Option<String>,
) -> Result<(), AppError> {
    use crate::domain::policy;
    use crate::server::{context, two_factor};
    let cx = context::ctx()?;
    let auth = cx.require_auth()?;
    let status = two_factor::status(&cx.state, auth.user_id).await?;
    if !status.setting.on {
        return Err(AppError::invalid(
            "code",
            "Two-factor authentication is already off.",
        ));
    }
    policy::own_switch(auth.role, status.account_required, status.setting)
        .map_err(|r| AppError::invalid("code", r.message()))?;
    let proof = two_factor::StepUp::from_form(&code, credential)?;
    let addr = cx.client_addr();
    two_factor::disable_own(&cx.state, cx.who(&addr)?, &proof).await?;
    cx.keep_for_page(Flash::Done("Two-factor authentication is off.".into()))
        .await
}

/// What the last plain form post of this browser left for its page ([`Flash`]), once. Pages
/// ask only when the post sent them back with `?done` ([`crate::domain::FLASH_PARAM`]).
#[server(endpoint = "take_flash")]
pub async fn take_flash() -> Result<Option<Flash>, AppError> {
    use crate::server::{context, flash};
    let cx = context::ctx()?;
    let addr = cx.client_addr();
    flash::take(&cx.state, cx.who(&addr)?).await
}

/// The second factor `factor` is done: the pending sign-in becomes a session with
/// `second_factor` (or owes a passkey, where the account requires them), in `tx`, the
/// transaction that spent the factor: one commit, and a factor that opens no session (the twin
/// of a sign-in that won the race) stays unspent.
#[cfg(feature = "ssr")]
pub(crate) async fn finish_sign_in(
    cx: &crate::server::context::Ctx,
    pending: &crate::server::sessions::PendingLogin,
    factor: crate::server::two_factor::Factor,
    tx: crate::server::Tx,
) -> Result<(), AppError> {
    let addr = cx.client_addr();
    let finished = crate::server::two_factor::open_session_in(
        tx,
        &cx.state,
        cx.who(&addr)?,
        &pending.id_hash,
        factor,
    )
    .await?;
    signed_in(cx, finished);
    Ok(())
}

/// The browser of a finished sign-in: the session cookie replaces the half sign-in's, the
/// browser is remembered for the sign-in throttle, and it goes to the Overview. One that owes a
/// passkey goes back to the sign-in's page, which asks for it.
#[cfg(feature = "ssr")]
fn signed_in(cx: &crate::server::context::Ctx, finished: crate::server::two_factor::Finished) {
    use crate::server::{context, sessions, two_factor::Finished};
    let signed = match finished {
        Finished::Session(signed) => signed,
        Finished::PasskeyOwed => {
            // A new address, so the page (also with the wasm, which stays on its route) asks
            // for the stage again.
            leptos_axum::redirect("/login/verify?passkey=owed");
            return;
        }
    };
    context::append_header(
        http::header::SET_COOKIE,
        &sessions::set_cookie(&cx.state.config, &signed.token),
    );
    context::append_header(
        http::header::SET_COOKIE,
        &sessions::clear_pending_cookie(&cx.state.config),
    );
    crate::server::throttle::remember_device(&cx.state, signed.device);
    leptos_axum::redirect("/");
}
