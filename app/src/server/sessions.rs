//! Server-side sessions: the browser holds a random id, the database only its SHA-256.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{config::Config, internal, now, AppState};
use crate::domain::{AppError, Role};

/// Who a valid session belongs to; put into request extensions by the session middleware.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub user_id: i64,
    pub account_id: i64,
    pub role: Role,
    pub session_hash: Vec<u8>,
}

/// Last-seen is written at most this often, so reads do not turn every page view into a write.
const TOUCH_EVERY_SECS: i64 = 60;

pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The value of cookie `name` in a `Cookie` header, if present and well-formed.
pub fn cookie_value<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        // A real id is 43 base64url characters; anything else is forged or damaged.
        .filter(|v| v.len() == 43 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

pub fn set_cookie(config: &Config, token: &str) -> String {
    format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        config.session_cookie_name(),
        config.session_absolute_secs,
        if config.secure_cookies { "; Secure" } else { "" }
    )
}

pub fn clear_cookie(config: &Config) -> String {
    format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        config.session_cookie_name(),
        if config.secure_cookies { "; Secure" } else { "" }
    )
}

/// Opens a session for `user_id` and returns the token for the cookie.
pub async fn create(state: &AppState, user_id: i64, client_addr: &str) -> Result<String, AppError> {
    let token = new_token();
    let t = now();
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at, client_addr) \
         VALUES ($1, $2, $3, $3, $4, $5)",
    )
    .bind(hash_token(&token))
    .bind(user_id)
    .bind(t)
    .bind(t + state.config.session_absolute_secs)
    .bind(client_addr.to_string())
    .execute(&state.pool)
    .await
    .map_err(internal("create session"))?;
    Ok(token)
}

/// The user behind a session cookie, if the session exists and has not expired.
pub async fn resolve(state: &AppState, token: &str) -> Result<Option<AuthUser>, AppError> {
    let hash = hash_token(token);
    let t = now();
    let row = sqlx::query(
        "SELECT s.user_id, s.last_seen_at, u.account_id, u.role FROM sessions s \
         JOIN users u ON u.id = s.user_id \
         WHERE s.id_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3",
    )
    .bind(hash.clone())
    .bind(t)
    .bind(t - state.config.session_idle_secs)
    .fetch_optional(&state.pool)
    .await
    .map_err(internal("resolve session"))?;
    let Some(row) = row else { return Ok(None) };
    let last_seen: i64 = row.try_get("last_seen_at").map_err(internal("session row"))?;
    if t - last_seen >= TOUCH_EVERY_SECS {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(t)
            .bind(hash.clone())
            .execute(&state.pool)
            .await
            .map_err(internal("touch session"))?;
    }
    let role: String = row.try_get("role").map_err(internal("session row"))?;
    Ok(Some(AuthUser {
        user_id: row.try_get("user_id").map_err(internal("session row"))?,
        account_id: row.try_get("account_id").map_err(internal("session row"))?,
        role: Role::parse(&role).ok_or(AppError::Internal)?,
        session_hash: hash,
    }))
}

pub async fn delete(state: &AppState, session_hash: &[u8]) -> Result<(), AppError> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(session_hash.to_vec())
        .execute(&state.pool)
        .await
        .map_err(internal("delete session"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_is_stable() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
    }

    #[test]
    fn cookie_parsing_rejects_forgeries() {
        let good = new_token();
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            format!("other=1; latchkey_session={good}").parse().unwrap(),
        );
        assert_eq!(cookie_value(&h, "latchkey_session"), Some(good.as_str()));
        for forged in ["short", "x".repeat(44).as_str(), &format!("{}!", &good[..42])] {
            let mut h = http::HeaderMap::new();
            h.insert(http::header::COOKIE, format!("latchkey_session={forged}").parse().unwrap());
            assert_eq!(cookie_value(&h, "latchkey_session"), None);
        }
    }

    #[test]
    fn cookie_attributes() {
        let mut c = Config::default();
        let s = set_cookie(&c, "t");
        assert!(s.contains("HttpOnly") && s.contains("SameSite=Strict") && !s.contains("Secure"));
        c.secure_cookies = true;
        let s = set_cookie(&c, "t");
        assert!(s.starts_with("__Host-latchkey_session=") && s.contains("; Secure"));
    }
}
