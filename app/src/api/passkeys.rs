//! Passkeys and security keys: listing, adding and removing them in Profile, and proving one at
//! sign-in. The browser's WebAuthn options and answers travel as JSON text.

use leptos::prelude::*;

use crate::domain::{AppError, PasskeyInfo, Passkeys};

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

/// Starts adding a passkey named `name`; returns the options for `navigator.credentials.create`.
/// A passkey is an extra way to give the second factor: it needs an authenticator app first.
#[server(endpoint = "start_passkey_registration")]
pub async fn start_passkey_registration(name: String) -> Result<String, AppError> {
    use crate::server::{context, passkeys, two_factor};
    let cx = context::ctx()?;
    let auth = cx.require_auth()?;
    let name = passkeys::parse_name(&name)?;
    let status = two_factor::status(&cx.state, auth.user_id).await?;
    if !status.has_authenticator {
        return Err(AppError::invalid(
            "name",
            "Set up an authenticator app first: a passkey is an extra way to confirm it is you.",
        ));
    }
    let addr = cx.client_addr();
    let options = passkeys::start_registration(
        &cx.state,
        cx.who(&addr)?,
        &auth.me.email,
        &auth.me.name,
        &name,
    )
    .await?;
    serde_json::to_string(&options).map_err(crate::server::internal("encode options"))
}

/// Finishes adding the passkey with the browser's answer.
#[server(endpoint = "finish_passkey_registration")]
pub async fn finish_passkey_registration(credential: String) -> Result<PasskeyInfo, AppError> {
    use crate::server::{context, passkeys};
    let cx = context::ctx()?;
    cx.require_auth()?;
    let addr = cx.client_addr();
    passkeys::finish_registration(&cx.state, cx.who(&addr)?, &credential).await
}

/// Removes passkey `id`: needs a current code from the authenticator app.
#[server(endpoint = "remove_passkey")]
pub async fn remove_passkey(id: i64, code: String) -> Result<(), AppError> {
    use crate::domain::parse_code;
    use crate::server::{context, internal, now, passkeys, two_factor};
    let cx = context::ctx()?;
    cx.require_auth()?;
    let code = parse_code("code", &code)?;
    let addr = cx.client_addr();
    let who = cx.who(&addr)?;
    let mut tx = two_factor::claim_code(&cx.state, who, "code", &code, now()).await?;
    // Not theirs (or gone): the code stays unspent.
    let name = passkeys::remove_in(&mut tx, who, id).await?;
    tx.commit()
        .await
        .map_err(internal("commit passkey removal"))?;
    cx.keep_for_page(crate::domain::Flash::Done(format!(
        "Passkey \"{name}\" removed."
    )))
    .await
}

/// Starts confirming it is the signed-in user with one of their passkeys (instead of a code,
/// before removing a passkey); returns the options for `navigator.credentials.get`.
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

/// Removes passkey `id`, confirmed with one of the user's passkeys (the browser's answer to
/// [`start_passkey_confirmation`]). The proof and the removal commit together: naming a
/// passkey that is not theirs rolls back the proof's use (its counter and audit row); the
/// challenge itself is spent either way.
#[server(endpoint = "remove_passkey_with_passkey")]
pub async fn remove_passkey_with_passkey(id: i64, credential: String) -> Result<(), AppError> {
    use crate::server::{context, internal, passkeys};
    let cx = context::ctx()?;
    cx.require_auth()?;
    let addr = cx.client_addr();
    let who = cx.who(&addr)?;
    let mut tx =
        passkeys::finish_authentication(&cx.state, who, passkeys::Proof::Confirm, &credential)
            .await?;
    passkeys::remove_in(&mut tx, who, id).await?;
    tx.commit()
        .await
        .map_err(internal("commit passkey removal"))
}

/// Whether the half-signed-in user can prove a passkey now (they have one, at the code stage).
#[server(endpoint = "passkey_sign_in_offered")]
pub async fn passkey_sign_in_offered() -> Result<bool, AppError> {
    use crate::server::{context, passkeys};
    let cx = context::ctx()?;
    let pending = cx.require_pending()?;
    Ok(!pending.enrolled
        && passkeys::relying_party(&cx.state.config).is_some()
        && passkeys::count(&cx.state, pending.user_id).await? > 0)
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
    super::two_factor::finish_sign_in(&cx, &pending, "password + passkey", tx).await
}
