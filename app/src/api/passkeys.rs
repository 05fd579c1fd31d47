//! Passkeys and security keys: listing, adding and removing them in Profile, and proving one at
//! sign-in. The browser's WebAuthn options and answers travel as JSON text.

use leptos::prelude::*;

use crate::domain::{AppError, PasskeyAdded, PasskeyOffer, Passkeys};

/// The signed-in user's passkeys.
#[server(endpoint = "my_passkeys")]
pub async fn my_passkeys() -> Result<Passkeys, AppError> {
    use crate::server::{context, passkeys};
    let cx = context::ctx()?;
    let auth = cx.require_auth()?;
    Ok(Passkeys {
        enabled: passkeys::relying_party(&cx.state.config).is_some(),
        items: passkeys::list(&cx.state, auth.user_id).await?,
    })
}

/// Whether this console can use passkeys at all (it needs a public URL on a domain name), and
/// whether the asking user's account requires them: the enrollment offers them, or only them.
#[server(endpoint = "passkey_offer")]
pub async fn get_passkey_offer() -> Result<PasskeyOffer, AppError> {
    use crate::server::{context, passkeys, two_factor};
    let cx = context::ctx()?;
    let addr = cx.client_addr();
    let required = match cx.who(&addr) {
        Ok(who) => {
            two_factor::status(&cx.state, who.user_id)
                .await?
                .passkeys_required
        }
        Err(_) => false,
    };
    let available = passkeys::relying_party(&cx.state.config).is_some();
    Ok(PasskeyOffer {
        available,
        required: required && available,
    })
}

/// Starts adding a passkey named `name`; returns the options for `navigator.credentials.create`.
/// Who may: as for an authenticator app ([`super::two_factor::may_enroll`]): a signed-in user
/// whose own switch allows 2FA on (the first passkey turns it on), or a half-signed-in user who
/// must enroll; `for_requirement`, the owner's step to require 2FA for the account.
#[server(endpoint = "start_passkey_registration")]
pub async fn start_passkey_registration(
    name: String,
    #[server(default)] for_requirement: bool,
    #[server(default)] code: String,
    #[server(default)] credential: Option<String>,
) -> Result<String, AppError> {
    use crate::server::{context, now, passkeys, two_factor, users};
    let cx = context::ctx()?;
    // A console that cannot use passkeys says so before asking for anything.
    passkeys::webauthn(&cx.state)?;
    let adding = may_add(&cx, for_requirement).await?;
    let name = passkeys::parse_name(&name)?;
    let addr = cx.client_addr();
    let who = cx.who(&addr)?;
    // A signed-in user whose 2FA is in use confirms it is them before adding another factor (a
    // stolen session alone must not add one): a current code or passkey, spent here.
    let proven = match cx.auth() {
        Some(_) if two_factor::status(&cx.state, who.user_id).await?.in_use() => {
            if adding == passkeys::Adding::ForRequirement {
                return Err(AppError::invalid(
                    "name",
                    "You have a second factor already: confirm the requirement with it.",
                ));
            }
            if code.trim().is_empty() && credential.is_none() {
                return Err(AppError::invalid(
                    "code",
                    "Confirm it is you first: a current code from your authenticator app, or one of your passkeys.",
                ));
            }
            let proof = two_factor::StepUp::from_form(&code, credential)?;
            two_factor::step_up(&cx.state, who, &proof, now())
                .await?
                .commit()
                .await
                .map_err(crate::server::internal("commit step-up"))?;
            true
        }
        _ => false,
    };
    let (email, display) = match cx.auth() {
        Some(auth) => (auth.me.email.clone(), auth.me.name.clone()),
        None => {
            let email = users::email_of(&cx.state, who.user_id).await?;
            (email.clone(), email)
        }
    };
    let options =
        passkeys::start_registration(&cx.state, who, adding, proven, &email, &display, &name)
            .await?;
    serde_json::to_string(&options).map_err(crate::server::internal("encode options"))
}

/// Finishes adding the passkey with the browser's answer. With the user's first second factor
/// it turns their 2FA on and returns their new recovery codes, shown once; at sign-in it ends
/// the enrollment ("I have saved my recovery codes" opens the session).
#[server(endpoint = "finish_passkey_registration")]
pub async fn finish_passkey_registration(
    credential: String,
    #[server(default)] for_requirement: bool,
) -> Result<PasskeyAdded, AppError> {
    use crate::server::{begin, context, internal, now, passkeys, rows, two_factor};
    let cx = context::ctx()?;
    let adding = may_add(&cx, for_requirement).await?;
    let addr = cx.client_addr();
    let who = cx.who(&addr)?;
    let signed_in = cx.auth().is_some();
    let created = passkeys::finish_registration(&cx.state, who, adding, &credential).await?;
    let t = now();
    let mut tx = begin(&cx.state).await?;
    if !rows::lock_user(&mut tx, who.user_id).await? {
        return Err(AppError::Unauthorized);
    }
    if let Some(pending) = cx.pending().filter(|p| p.owes_passkey && !signed_in) {
        // The account requires passkeys and the user proved it is them: the new passkey and
        // the session commit together.
        let passkey = passkeys::insert_in(&mut tx, who, created, t).await?;
        super::two_factor::finish_sign_in(&cx, pending, two_factor::Factor::New, tx).await?;
        return Ok(PasskeyAdded {
            passkey,
            recovery_codes: Vec::new(),
        });
    }
    let had = two_factor::before_new_factor(&mut tx, who, signed_in, "passkey").await?;
    if had && !created.proven {
        // Their 2FA came into use after this ceremony started without a step-up.
        return Err(AppError::invalid(
            "code",
            "Confirm it is you first: a current code from your authenticator app, or one of your passkeys.",
        ));
    }
    if had && adding == passkeys::Adding::ForRequirement {
        return Err(AppError::invalid(
            "name",
            "You have a second factor already: confirm the requirement with it.",
        ));
    }
    let passkey = passkeys::insert_in(&mut tx, who, created, t).await?;
    let added = two_factor::NewFactor {
        had,
        signed_in,
        then_require_account: adding == passkeys::Adding::ForRequirement,
        what: "passkey",
    };
    let recovery_codes = two_factor::after_new_factor(&mut tx, &cx.state, who, t, added).await?;
    tx.commit().await.map_err(internal("commit passkey"))?;
    Ok(PasskeyAdded {
        passkey,
        recovery_codes,
    })
}

/// Whether this browser may add a passkey now, and for what.
#[cfg(feature = "ssr")]
async fn may_add(
    cx: &crate::server::context::Ctx,
    for_requirement: bool,
) -> Result<crate::server::passkeys::Adding, AppError> {
    use crate::server::passkeys::Adding;
    if for_requirement {
        super::owner::owner(cx)?;
        return Ok(Adding::ForRequirement);
    }
    if cx.auth().is_none() && cx.pending().is_some_and(|p| p.owes_passkey) {
        return Ok(Adding::Own);
    }
    let addr = cx.client_addr();
    let user_id = cx.who(&addr)?.user_id;
    super::two_factor::may_enroll(cx, user_id, "name").await?;
    Ok(Adding::Own)
}

/// Removes passkey `id`: needs a current second factor, a code from the authenticator app or
/// (`credential`, the browser's answer to [`start_passkey_confirmation`]) a passkey, any of the
/// user's, the one being removed too. The proof and the removal commit together: naming a
/// passkey that is not theirs, or their last second factor, leaves the proof unused.
#[server(endpoint = "remove_passkey")]
pub async fn remove_passkey(
    id: i64,
    #[server(default)] code: String,
    #[server(default)] credential: Option<String>,
) -> Result<(), AppError> {
    use crate::server::{context, internal, now, passkeys, two_factor};
    let cx = context::ctx()?;
    cx.require_auth()?;
    let proof = two_factor::StepUp::from_form(&code, credential)?;
    let addr = cx.client_addr();
    let who = cx.who(&addr)?;
    let mut tx = two_factor::step_up(&cx.state, who, &proof, now()).await?;
    let name = passkeys::remove_in(&mut tx, who, id).await?;
    tx.commit()
        .await
        .map_err(internal("commit passkey removal"))?;
    cx.keep_for_page(crate::domain::Flash::Done(format!(
        "Passkey \"{name}\" removed."
    )))
    .await
}

/// Starts confirming it is the signed-in user with one of their passkeys, instead of a code,
/// before a sensitive change; returns the options for `navigator.credentials.get`.
#[server(endpoint = "start_passkey_confirmation")]
pub async fn start_passkey_confirmation() -> Result<String, AppError> {
    use crate::server::{context, passkeys};
    let cx = context::ctx()?;
    cx.require_auth()?;
    let addr = cx.client_addr();
    let options =
        passkeys::start_authentication(&cx.state, cx.who(&addr)?, passkeys::Proof::Confirm).await?;
    serde_json::to_string(&options).map_err(crate::server::internal("encode options"))
}

/// Starts proving a passkey after the password; returns the options for
/// `navigator.credentials.get`.
#[server(endpoint = "start_passkey_sign_in")]
pub async fn start_passkey_sign_in() -> Result<String, AppError> {
    use crate::server::{context, passkeys};
    let cx = context::ctx()?;
    let pending = cx.require_pending()?;
    if pending.enrolled {
        return Err(AppError::Forbidden);
    }
    let addr = cx.client_addr();
    let options =
        passkeys::start_authentication(&cx.state, cx.who(&addr)?, passkeys::Proof::SignIn).await?;
    serde_json::to_string(&options).map_err(crate::server::internal("encode options"))
}

/// Finishes the sign-in with the browser's answer: the half sign-in becomes a session.
#[server(endpoint = "finish_passkey_sign_in")]
pub async fn finish_passkey_sign_in(credential: String) -> Result<(), AppError> {
    use crate::server::{context, passkeys};
    let cx = context::ctx()?;
    let pending = cx.require_pending()?;
    if pending.enrolled {
        return Err(AppError::Forbidden);
    }
    let addr = cx.client_addr();
    let who = cx.who(&addr)?;
    let tx = passkeys::finish_authentication(&cx.state, who, passkeys::Proof::SignIn, &credential)
        .await?;
    super::two_factor::finish_sign_in(
        &cx,
        &pending,
        crate::server::two_factor::Factor::Passkey,
        tx,
    )
    .await
}
