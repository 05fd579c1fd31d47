//! The owner's server functions. Each checks: a session, the owner role, the owner's account.

use leptos::prelude::*;

use crate::domain::{AppError, AuditPage, EnrollmentStart, HandedLink, PolicyImpact, UserRow};

#[cfg(feature = "ssr")]
pub(crate) fn owner(
    cx: &crate::server::context::Ctx,
) -> Result<crate::server::sessions::AuthUser, AppError> {
    let auth = cx.require_auth()?;
    if auth.role != crate::domain::Role::Owner {
        return Err(AppError::Forbidden);
    }
    Ok(auth)
}

/// The owner, having proved a current second factor (a code, or `credential`: a passkey) for
/// an account setting: the proof is spent in the returned transaction, for the change to join.
#[cfg(feature = "ssr")]
async fn owner_step_up(
    cx: &crate::server::context::Ctx,
    code: &str,
    credential: Option<String>,
) -> Result<(crate::server::sessions::AuthUser, crate::server::Tx), AppError> {
    use crate::server::{now, two_factor};
    let auth = owner(cx)?;
    let proof = two_factor::StepUp::from_form(code, credential)?;
    let addr = cx.client_addr();
    let tx = two_factor::step_up(&cx.state, cx.who(&addr)?, &proof, now()).await?;
    Ok((auth, tx))
}

#[server(endpoint = "account_policy")]
pub async fn account_policy() -> Result<PolicyImpact, AppError> {
    use crate::server::{context, owner as svc};
    let cx = context::ctx()?;
    let auth = owner(&cx)?;
    svc::impact(&cx.state, auth.account_id).await
}

/// Saves the account requirement. ON needs the owner's current second factor (an owner without
/// one enrolls instead, see `start_requirement_enrollment`); OFF needs one too: a code, or
/// (`credential`) a passkey, spent only on a change that is made.
#[server(endpoint = "set_account_requirement")]
pub async fn set_account_requirement(
    on: bool,
    #[server(default)] code: String,
    #[server(default)] credential: Option<String>,
) -> Result<(), AppError> {
    use crate::server::{context, owner as svc};
    let cx = context::ctx()?;
    let (auth, tx) = owner_step_up(&cx, &code, credential).await?;
    let addr = cx.client_addr();
    svc::set_requirement(tx, &cx.state, svc::Owner::of(&auth, &addr), on).await?;
    cx.keep_for_page(crate::domain::Flash::Done("Saved.".into()))
        .await
}

/// Requires passkeys or security keys at sign-in, or no longer; needs the owner's current second
/// factor, as the requirement of 2FA does, spent only on a change that is made.
#[server(endpoint = "set_passkey_requirement")]
pub async fn set_passkey_requirement(
    on: bool,
    #[server(default)] code: String,
    #[server(default)] credential: Option<String>,
) -> Result<(), AppError> {
    use crate::server::{context, owner as svc};
    let cx = context::ctx()?;
    let (auth, tx) = owner_step_up(&cx, &code, credential).await?;
    let addr = cx.client_addr();
    svc::set_passkey_requirement(tx, svc::Owner::of(&auth, &addr), on).await?;
    cx.keep_for_page(crate::domain::Flash::Done("Saved.".into()))
        .await
}

/// Sets the enrollment deadline while the account requires 2FA: `enroll_by` a date
/// (`YYYY-MM-DD`, the end of that day UTC; empty for none) and `new_user_days` (0–90) from the
/// day a user is added. A user's deadline is the later of the two. A later deadline lets users
/// in with a password alone for longer, so the change needs the owner's current second factor
/// (a code, or `credential`: a passkey), spent only on a change that is made.
#[server(endpoint = "set_enrollment_deadline")]
pub async fn set_enrollment_deadline(
    #[server(default)] enroll_by: String,
    #[server(default)] new_user_days: String,
    #[server(default)] code: String,
    #[server(default)] credential: Option<String>,
) -> Result<(), AppError> {
    use crate::server::{context, owner as svc};
    let cx = context::ctx()?;
    owner(&cx)?;
    let by = svc::parse_enroll_by(&enroll_by)?;
    let days = svc::parse_new_user_days(&new_user_days)?;
    let (auth, tx) = owner_step_up(&cx, &code, credential).await?;
    let addr = cx.client_addr();
    svc::set_enrollment_deadline(tx, svc::Owner::of(&auth, &addr), by, days).await?;
    cx.keep_for_page(crate::domain::Flash::Done("Saved.".into()))
        .await
}

/// For an owner without an authenticator: an enrollment whose confirmation also switches the
/// requirement on, in one transaction. Abandoned, it leaves the setting off.
#[server(endpoint = "start_requirement_enrollment")]
pub async fn start_requirement_enrollment() -> Result<EnrollmentStart, AppError> {
    use crate::server::{context, two_factor};
    let cx = context::ctx()?;
    owner(&cx)?;
    let addr = cx.client_addr();
    two_factor::start_enrollment_for(&cx.state, cx.who(&addr)?, true, false).await
}

#[server(endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<UserRow>, AppError> {
    use crate::server::{context, owner as svc};
    let cx = context::ctx()?;
    let auth = owner(&cx)?;
    svc::list_users(&cx.state, auth.account_id).await
}

/// Adds an admin; returns the invitation link to hand over.
#[server(endpoint = "add_user")]
pub async fn add_user(
    name: String,
    email: String,
    // A checkbox: absent from a plain form post when it is off.
    #[server(default)] two_factor: bool,
) -> Result<HandedLink, AppError> {
    use crate::domain::{normalize_email, validate_email, validate_name};
    use crate::server::{context, owner as svc};
    let cx = context::ctx()?;
    let auth = owner(&cx)?;
    validate_name("name", "a name", &name)?;
    let email = normalize_email(&email);
    validate_email("email", &email)?;
    let addr = cx.client_addr();
    let o = svc::Owner::of(&auth, &addr);
    let token = svc::add_user(&cx.state, o, name.trim(), &email, two_factor).await?;
    let path = crate::domain::LinkKind::Invitation.path(&token);
    keep_link(
        &cx,
        crate::domain::LinkKind::Invitation,
        name.trim().to_string(),
        false,
        &path,
    )
    .await
}

#[server(endpoint = "set_user_two_factor")]
pub async fn set_user_two_factor(user_id: i64, on: bool) -> Result<(), AppError> {
    use crate::server::{context, owner as svc};
    let cx = context::ctx()?;
    let auth = owner(&cx)?;
    let addr = cx.client_addr();
    let o = svc::Owner::of(&auth, &addr);
    svc::set_user_two_factor(&cx.state, o, user_id, on).await
}

/// Resets a user's 2FA; returns the setup link to hand over, for them to enroll again.
#[server(endpoint = "reset_user_two_factor")]
pub async fn reset_user_two_factor(user_id: i64) -> Result<HandedLink, AppError> {
    use crate::server::{context, owner as svc};
    let cx = context::ctx()?;
    let auth = owner(&cx)?;
    let addr = cx.client_addr();
    let o = svc::Owner::of(&auth, &addr);
    let (name, token) = svc::reset_user(&cx.state, o, user_id).await?;
    let kind = crate::domain::LinkKind::Setup;
    keep_link(&cx, kind, name, false, &kind.path(&token)).await
}

/// A password link for a user of the account (not the owner's own row), to hand over; their
/// current password works until it is used.
#[server(endpoint = "reset_user_password")]
pub async fn reset_user_password(user_id: i64) -> Result<HandedLink, AppError> {
    use crate::server::{context, owner as svc, password_reset};
    let cx = context::ctx()?;
    let auth = owner(&cx)?;
    let addr = cx.client_addr();
    let o = svc::Owner::of(&auth, &addr);
    let (name, token) = password_reset::owner_link(&cx.state, o, user_id).await?;
    let kind = crate::domain::LinkKind::Password;
    keep_link(&cx, kind, name, false, &kind.path(&token)).await
}

/// A new link in place of the one sent before (an invitation or a setup link still waiting);
/// returns the link.
#[server(endpoint = "renew_link")]
pub async fn renew_link(user_id: i64) -> Result<HandedLink, AppError> {
    use crate::server::{context, owner as svc};
    let cx = context::ctx()?;
    let auth = owner(&cx)?;
    let addr = cx.client_addr();
    let o = svc::Owner::of(&auth, &addr);
    let (kind, name, token) = svc::renew_link(&cx.state, o, user_id).await?;
    keep_link(&cx, kind, name, true, &kind.path(&token)).await
}

/// A link handed over, kept for the page after a plain form post. The link exists once this
/// is called: failing to keep it for the page is logged, and the link still answered (a plain
/// form's owner then sees no link and can renew it).
#[cfg(feature = "ssr")]
async fn keep_link(
    cx: &crate::server::context::Ctx,
    kind: crate::domain::LinkKind,
    name: String,
    renewed: bool,
    path: &str,
) -> Result<HandedLink, AppError> {
    let handed = HandedLink {
        kind,
        name,
        renewed,
        link: cx.link_to(path),
        mailable: crate::server::mail::enabled(&cx.state),
    };
    if let Err(e) = cx
        .keep_for_page(crate::domain::Flash::Link(handed.clone()))
        .await
    {
        tracing::warn!(error = %e, "could not keep a handed link for the page");
    }
    Ok(handed)
}

/// Sends an invitation or setup link the owner was handed to its user by email (with SMTP
/// configured); returns the sentence to show.
#[server(endpoint = "email_link")]
pub async fn email_link(link: String) -> Result<String, AppError> {
    use crate::server::{context, owner as svc};
    let cx = context::ctx()?;
    let auth = owner(&cx)?;
    let addr = cx.client_addr();
    let (name, email) = svc::email_link(&cx.state, svc::Owner::of(&auth, &addr), &link).await?;
    let sentence = format!("Sent to {name} at {email}.");
    cx.keep_for_page(crate::domain::Flash::Done(sentence.clone()))
        .await?;
    Ok(sentence)
}

#[server(endpoint = "remove_user")]
pub async fn remove_user(user_id: i64) -> Result<(), AppError> {
    use crate::server::{context, owner as svc};
    let cx = context::ctx()?;
    let auth = owner(&cx)?;
    if user_id == auth.user_id {
        return Err(AppError::invalid(
            "user",
            "The account owner cannot be removed.",
        ));
    }
    let addr = cx.client_addr();
    let o = svc::Owner::of(&auth, &addr);
    let name = svc::remove_user(&cx.state, o, user_id).await?;
    cx.keep_for_page(crate::domain::Flash::Done(format!("{name} was removed.")))
        .await
}

#[server(endpoint = "audit_log")]
pub async fn audit_log(event: String, user_id: i64, before: i64) -> Result<AuditPage, AppError> {
    use crate::server::{context, owner as svc};
    let cx = context::ctx()?;
    let auth = owner(&cx)?;
    // Event names are dotted lowercase words (`sign_in.failure`); nothing else is looked up.
    if event.len() > 64
        || !event
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_')
    {
        return Err(AppError::invalid("event", "Unknown event type."));
    }
    let opt = |v: i64| (v > 0).then_some(v);
    svc::audit_page(
        &cx.state,
        auth.account_id,
        (!event.is_empty()).then_some(event.as_str()),
        opt(user_id),
        opt(before),
    )
    .await
}
