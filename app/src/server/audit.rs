//! The account's audit log: one row per security event, never updated.

use super::{internal, now, AppState};
use crate::domain::AppError;

/// The kinds of event the log knows; stored as their dotted names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    AccountCreated,
    SignInSuccess,
    SignInFailure,
    SignOut,
    CodeSuccess,
    CodeFailure,
    CodeLockout,
    CodeReplayRefused,
    RecoveryCodeUsed,
    RecoveryCodesRegenerated,
    TwoFactorEnrolled,
    TwoFactorDisabled,
    TwoFactorReset,
    PolicyChanged,
    UserTwoFactorChanged,
    UserAdded,
    UserRemoved,
    InvitationAccepted,
    UsersExported,
    LinkRenewed,
    PasskeyAdded,
    PasskeyRemoved,
    PasskeyUsed,
    MailSent,
    MailGivenUp,
    LinkEmailed,
    PasswordLinkIssued,
    PasswordReset,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::AccountCreated => "account.created",
            Event::SignInSuccess => "sign_in.success",
            Event::SignInFailure => "sign_in.failure",
            Event::SignOut => "session.ended",
            Event::CodeSuccess => "code.success",
            Event::CodeFailure => "code.failure",
            Event::CodeLockout => "code.lockout",
            Event::CodeReplayRefused => "code.replay_refused",
            Event::RecoveryCodeUsed => "recovery_code.used",
            Event::RecoveryCodesRegenerated => "recovery_codes.regenerated",
            Event::TwoFactorEnrolled => "two_factor.enrolled",
            Event::TwoFactorDisabled => "two_factor.disabled",
            Event::TwoFactorReset => "two_factor.reset",
            Event::PolicyChanged => "policy.changed",
            Event::UserTwoFactorChanged => "user.two_factor_changed",
            Event::UserAdded => "user.added",
            Event::UserRemoved => "user.removed",
            Event::InvitationAccepted => "invitation.accepted",
            Event::UsersExported => "users.exported",
            Event::LinkRenewed => "link.renewed",
            Event::PasskeyAdded => "passkey.added",
            Event::PasskeyRemoved => "passkey.removed",
            Event::PasskeyUsed => "passkey.used",
            Event::MailSent => "mail.sent",
            Event::MailGivenUp => "mail.given_up",
            Event::LinkEmailed => "link.emailed",
            Event::PasswordLinkIssued => "password.link_issued",
            Event::PasswordReset => "password.reset",
        }
    }
}

pub struct Entry<'a> {
    pub event: Event,
    pub account_id: Option<i64>,
    pub actor_user_id: Option<i64>,
    pub target_user_id: Option<i64>,
    pub detail: &'a str,
    pub client_addr: &'a str,
}

/// One event: account `$1`, actor `$2`, target `$3`, event `$4`, detail `$5`, client address
/// `$6`, at `$7`.
pub(crate) const INSERT_EVENT: &str = "INSERT INTO audit_events \
     (account_id, actor_user_id, target_user_id, event, detail, client_addr, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

pub async fn record<'c, E>(executor: E, entry: Entry<'_>) -> Result<(), AppError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    super::telemetry::event(entry.event, entry.detail);
    sqlx::query(INSERT_EVENT)
        .bind(entry.account_id)
        .bind(entry.actor_user_id)
        .bind(entry.target_user_id)
        .bind(entry.event.as_str())
        .bind(entry.detail.to_string())
        .bind(entry.client_addr.to_string())
        .bind(now())
        .execute(executor)
        .await
        .map_err(internal("write audit event"))?;
    Ok(())
}

/// Convenience for events outside a transaction.
pub async fn log(state: &AppState, entry: Entry<'_>) -> Result<(), AppError> {
    record(&state.pool, entry).await
}
