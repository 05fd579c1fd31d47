//! The second factor: a user's status, code checks ([`codes`]), the sign-in's second step
//! ([`sign_in`]) and enrollment ([`enroll`]).

mod codes;
mod enroll;
mod sign_in;

pub use codes::{claim_code, lock_secs, spend_recovery_code, verify_code, MAX_FAILURES};
pub(crate) use enroll::{after_new_factor, before_new_factor, NewFactor};
pub use enroll::{
    confirm_enrollment, disable_own, enrollment_qr, regenerate_recovery_codes, start_enrollment,
    start_enrollment_for, RECOVERY_CODES,
};
pub use sign_in::{open_session_in, sign_in_with_code, Factor, Finished, SignedIn};

use super::{
    audit::{self, Event},
    internal,
    rows::{status_from_row, STATUS_COLUMNS},
    AppState,
};
use crate::domain::{AppError, TwoFactorStatus};

/// Who is acting, for the audit log, and the browser they act from.
#[derive(Clone, Copy)]
pub struct Who<'a> {
    pub account_id: i64,
    pub user_id: i64,
    pub client_addr: &'a str,
    /// The browser's `User-Agent` (cut to [`crate::server::sessions::MAX_AGENT_BYTES`]), kept with
    /// a session it opens.
    pub agent: &'a str,
    /// The SHA-256 of the session's or half sign-in's id: what an enrollment belongs to.
    pub holder: &'a [u8],
}

fn entry<'a>(who: Who<'a>, event: Event, detail: &'a str) -> audit::Entry<'a> {
    audit::Entry {
        event,
        account_id: Some(who.account_id),
        actor_user_id: Some(who.user_id),
        target_user_id: Some(who.user_id),
        detail,
        client_addr: who.client_addr,
    }
}

fn secret_context(user_id: i64) -> String {
    format!("totp:{user_id}")
}

pub async fn status(state: &AppState, user_id: i64) -> Result<TwoFactorStatus, AppError> {
    static QUERY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!("SELECT {STATUS_COLUMNS} FROM users u JOIN accounts a ON a.id = u.account_id WHERE u.id = $1")
    });
    let row = sqlx::query(QUERY.as_str())
        .bind(user_id)
        .fetch_optional(&state.pool)
        .await
        .map_err(internal("2fa status"))?
        .ok_or(AppError::Unauthorized)?;
    status_from_row(&row)
}

/// A current second factor, proved again before a sensitive change: a code of the user's
/// authenticator app, or a passkey (the browser's answer to `start_passkey_confirmation`).
pub enum StepUp {
    Code(String),
    Passkey(String),
}

impl StepUp {
    /// What a form sent: the passkey's answer when there is one, else the code (checked here).
    pub fn from_form(code: &str, credential: Option<String>) -> Result<StepUp, AppError> {
        match credential {
            Some(answer) => Ok(StepUp::Passkey(answer)),
            None => crate::domain::parse_code("code", code).map(StepUp::Code),
        }
    }
}

/// Proves `proof` for `who` at `t`, once: the proof's use (a code's step, a passkey's counter,
/// the audit row) is left in an open transaction, with the user's row locked, for the caller to
/// add what it unlocks and commit; dropped, the proof stays unused.
pub async fn step_up(
    state: &AppState,
    who: Who<'_>,
    proof: &StepUp,
    t: i64,
) -> Result<crate::server::Tx, AppError> {
    match proof {
        StepUp::Code(code) => claim_code(state, who, "code", code, t).await,
        StepUp::Passkey(answer) => {
            crate::server::passkeys::finish_authentication(
                state,
                who,
                crate::server::passkeys::Proof::Confirm,
                answer,
            )
            .await
        }
    }
}
