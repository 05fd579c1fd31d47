//! What a plain form post produced, held for the page the browser is sent back to.
//!
//! With the wasm, a server function's result comes back to the page that called it. A plain
//! form post (JavaScript off, or a click before the wasm has loaded) is answered with a redirect
//! to its page instead, and a result the person must see (recovery codes, a link to hand over,
//! "Saved.") would be lost. The server function keeps it here, for the session or half sign-in
//! that posted (the SHA-256 of its id), sealed with the server key; the page it returns to takes
//! it once. One per holder (a newer result replaces an older one), gone after
//! [`FLASH_TTL_SECS`] and with its user.

use sqlx::Row;

use super::{internal, now, two_factor::Who, AppState};
use crate::domain::{AppError, Flash};

/// How long a result waits for its page.
pub const FLASH_TTL_SECS: i64 = 10 * 60;

fn context(user_id: i64) -> String {
    format!("flash:{user_id}")
}

/// Keeps `flash` for `who`'s next page, replacing what was kept before.
pub async fn put(state: &AppState, who: Who<'_>, flash: &Flash) -> Result<(), AppError> {
    let plain = serde_json::to_vec(flash).map_err(internal("encode flash"))?;
    let sealed = state.keys.seal(&context(who.user_id), &plain);
    sqlx::query(
        "INSERT INTO flashes (holder_hash, user_id, sealed, expires_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (holder_hash) DO UPDATE SET user_id = excluded.user_id, \
           sealed = excluded.sealed, expires_at = excluded.expires_at",
    )
    .bind(who.holder.to_vec())
    .bind(who.user_id)
    .bind(sealed)
    .bind(now() + FLASH_TTL_SECS)
    .execute(&state.pool)
    .await
    .map_err(internal("keep flash"))?;
    Ok(())
}

/// Takes what was kept for `who`, once: a second call (or a twin request) gets `None`.
pub async fn take(state: &AppState, who: Who<'_>) -> Result<Option<Flash>, AppError> {
    let row = sqlx::query(
        "DELETE FROM flashes WHERE holder_hash = $1 AND user_id = $2 AND expires_at > $3 \
         RETURNING sealed",
    )
    .bind(who.holder.to_vec())
    .bind(who.user_id)
    .bind(now())
    .fetch_optional(&state.pool)
    .await
    .map_err(internal("take flash"))?;
    let Some(row) = row else { return Ok(None) };
    let sealed: Vec<u8> = row.try_get(0).map_err(internal("flash row"))?;
    Ok(state
        .keys
        .open(&context(who.user_id), &sealed)
        .and_then(|plain| serde_json::from_slice(&plain).ok()))
}
