//! Sessions people can see and end: their own in Profile, and a user's everywhere for the owner.

use leptos::prelude::*;

use crate::domain::{AppError, SessionInfo};

/// The signed-in user's live sessions, newest first; this browser's is marked.
#[server(endpoint = "my_sessions")]
pub async fn my_sessions() -> Result<Vec<SessionInfo>, AppError> {
    use crate::server::{context, sessions};
    let cx = context::ctx()?;
    let auth = cx.require_auth()?;
    sessions::list(&cx.state, auth.user_id, &auth.session_hash).await
}

/// Ends another session of the signed-in user (`handle` from [`my_sessions`]); returns its
/// browser, in words.
#[server(endpoint = "sign_out_session")]
pub async fn sign_out_session(handle: String) -> Result<String, AppError> {
    use crate::server::{begin, context, internal, sessions};
    let cx = context::ctx()?;
    let auth = cx.require_auth()?;
    let mut tx = begin(&cx.state).await?;
    let browser = sessions::end_other(&mut tx, auth.user_id, &auth.session_hash, &handle).await?;
    let addr = cx.client_addr();
    record_ended(
        &mut tx,
        &auth,
        auth.user_id,
        &addr,
        std::slice::from_ref(&browser),
        "by the user",
    )
    .await?;
    tx.commit().await.map_err(internal("commit sign-out"))?;
    cx.keep_for_page(crate::domain::Flash::Done(format!(
        "Signed out of {browser}."
    )))
    .await?;
    Ok(browser)
}

/// Ends every other session of the signed-in user; returns how many ended.
#[server(endpoint = "sign_out_other_sessions")]
pub async fn sign_out_other_sessions() -> Result<usize, AppError> {
    use crate::server::{begin, context, internal, sessions};
    let cx = context::ctx()?;
    let auth = cx.require_auth()?;
    let mut tx = begin(&cx.state).await?;
    let ended = sessions::end_all(&mut tx, auth.user_id, Some(&auth.session_hash)).await?;
    let addr = cx.client_addr();
    record_ended(&mut tx, &auth, auth.user_id, &addr, &ended, "by the user").await?;
    tx.commit().await.map_err(internal("commit sign-out"))?;
    cx.keep_for_page(crate::domain::Flash::Done(ended_sentence(ended.len())))
        .await?;
    Ok(ended.len())
}

/// The owner ends every session and half sign-in of user `user_id` of their account ("Sign out
/// everywhere"); returns what was done, in a sentence that names them.
#[server(endpoint = "sign_out_user_everywhere")]
pub async fn sign_out_user_everywhere(user_id: i64) -> Result<String, AppError> {
    use crate::server::{begin, context, internal, sessions};
    let cx = context::ctx()?;
    let auth = super::owner::owner(&cx)?;
    if user_id == auth.user_id {
        return Err(AppError::invalid(
            "user",
            "End your own other sessions in Profile.",
        ));
    }
    let mut tx = begin(&cx.state).await?;
    // The user, in the owner's account, locked: a removal or sign-in racing this waits.
    let name: String = sqlx::query_scalar(
        "UPDATE users SET code_failures = code_failures WHERE id = $1 AND account_id = $2 \
         RETURNING name",
    )
    .bind(user_id)
    .bind(auth.account_id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(internal("lock user"))?
    .ok_or(AppError::NotFound)?;
    let ended = sessions::end_all(&mut tx, user_id, None).await?;
    let addr = cx.client_addr();
    // One audit row per ended session; nothing ended, nothing to record.
    record_ended(&mut tx, &auth, user_id, &addr, &ended, "by the owner").await?;
    tx.commit().await.map_err(internal("commit sign-out"))?;
    let sentence = format!(
        "{name} was signed out everywhere ({} ended).",
        sessions_count(ended.len())
    );
    cx.keep_for_page(crate::domain::Flash::Done(sentence.clone()))
        .await?;
    Ok(sentence)
}

/// "1 session", "3 sessions".
pub fn sessions_count(n: usize) -> String {
    format!("{n} session{}", if n == 1 { "" } else { "s" })
}

/// What Profile says after "Sign out of all other sessions".
pub fn ended_sentence(n: usize) -> String {
    match n {
        0 => "There were no other sessions.".into(),
        n => format!("Signed out of {}.", sessions_count(n)),
    }
}

/// One audit row per ended session, in `tx`.
#[cfg(feature = "ssr")]
async fn record_ended(
    tx: &mut crate::server::Tx,
    actor: &crate::server::sessions::AuthUser,
    target: i64,
    addr: &str,
    ended: &[String],
    by: &str,
) -> Result<(), AppError> {
    use crate::server::audit;
    for browser in ended {
        let detail = format!("{browser}, signed out {by}");
        audit::record(
            &mut **tx,
            audit::Entry {
                event: audit::Event::SignOut,
                account_id: Some(actor.account_id),
                actor_user_id: Some(actor.user_id),
                target_user_id: Some(target),
                detail: &detail,
                client_addr: addr,
            },
        )
        .await?;
    }
    Ok(())
}
