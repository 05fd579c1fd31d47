//! Server-side sessions: the browser holds a random id, the database only its SHA-256.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{
    config::Config,
    internal, now,
    read::{self, Arg},
    AppState,
};
use crate::domain::{AppError, Me};

/// Who a valid session belongs to; put into request extensions by the session middleware.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub session_hash: Vec<u8>,
    /// The user as of this request, read in the same query as the session: every signed-in
    /// page shows it, so it costs no second round trip. `auth.user_id`, `auth.account_id` and
    /// `auth.role` read through to it.
    pub me: Me,
}

impl std::ops::Deref for AuthUser {
    type Target = Me;
    fn deref(&self) -> &Me {
        &self.me
    }
}

/// A user who passed the password check and owes a second factor. Gives access to nothing but
/// the code check and enrollment.
#[derive(Clone, Debug)]
pub struct PendingLogin {
    pub user_id: i64,
    pub account_id: i64,
    pub id_hash: Vec<u8>,
    /// Enrollment confirmed; waiting for "I have saved my recovery codes".
    pub enrolled: bool,
    /// Came through the owner's setup link after a reset: may enroll.
    pub via_setup_link: bool,
    /// The user's code check (lock, sealed secret, failures) as of this request, read in the
    /// same query: the code that ends the half sign-in needs no read of its own.
    pub code: super::two_factor::CodeState,
}

/// Password passed, code pending: this long to finish.
pub const PENDING_TTL_SECS: i64 = 10 * 60;

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
        .filter(|v| {
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn cookie(config: &Config, name: &str, value: &str, max_age: i64) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if config.secure_cookies {
            "; Secure"
        } else {
            ""
        }
    )
}

pub fn set_cookie(config: &Config, token: &str) -> String {
    cookie(
        config,
        config.session_cookie_name(),
        token,
        config.session_absolute_secs,
    )
}

pub fn clear_cookie(config: &Config) -> String {
    cookie(config, config.session_cookie_name(), "", 0)
}

pub fn set_pending_cookie(config: &Config, token: &str) -> String {
    cookie(
        config,
        config.pending_cookie_name(),
        token,
        PENDING_TTL_SECS,
    )
}

pub fn clear_pending_cookie(config: &Config) -> String {
    cookie(config, config.pending_cookie_name(), "", 0)
}

/// A new session: id hash `$1`, user `$2`, opened at `$3`, expiring at `$4`, from address `$5`,
/// `$6` 1 when a second factor was given.
pub(crate) const INSERT_SESSION: &str = "INSERT INTO sessions \
     (id_hash, user_id, created_at, last_seen_at, expires_at, client_addr, second_factor) \
     VALUES ($1, $2, $3, $3, $4, $5, $6)";

/// Opens a session for `user_id` and returns the token for the cookie. `second_factor` records
/// whether a code (or recovery code) was given at sign-in.
pub async fn create<'c, E>(
    executor: E,
    config: &Config,
    user_id: i64,
    client_addr: &str,
    second_factor: bool,
) -> Result<String, AppError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let token = new_token();
    let t = now();
    sqlx::query(INSERT_SESSION)
        .bind(hash_token(&token))
        .bind(user_id)
        .bind(t)
        .bind(t + config.session_absolute_secs)
        .bind(client_addr.to_string())
        .bind(i64::from(second_factor))
        .execute(executor)
        .await
        .map_err(internal("create session"))?;
    Ok(token)
}

/// The user behind a session cookie, if the session exists and has not expired.
pub async fn resolve(state: &AppState, token: &str) -> Result<Option<AuthUser>, AppError> {
    let hash = hash_token(token);
    let t = now();
    static QUERY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT s.last_seen_at, {} FROM sessions s \
             JOIN users u ON u.id = s.user_id JOIN accounts a ON a.id = u.account_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3 \
               AND (u.tfa_on = 0 OR s.second_factor = 1)",
            super::users::ME_COLUMNS.as_str()
        )
    });
    let found = read::fetch_optional(
        state,
        &QUERY,
        &[
            Arg::Blob(&hash),
            Arg::Int(t),
            Arg::Int(t - state.config.session_idle_secs),
        ],
        |row| Ok((row.int("last_seen_at")?, super::users::me_from_row(row)?)),
    )
    .await?;
    let Some((last_seen, me)) = found else {
        return Ok(None);
    };
    if t - last_seen >= TOUCH_EVERY_SECS {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(t)
            .bind(hash.clone())
            .execute(&state.pool)
            .await
            .map_err(internal("touch session"))?;
    }
    Ok(Some(AuthUser {
        session_hash: hash,
        me,
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

/// Ends `$1`'s half sign-in and every one expired at `$2`. Both sides of the OR are indexed
/// (`pending_logins_user`, `pending_logins_expires`); without the second, every password
/// sign-in read the whole table.
pub const CLEAR_PENDING: &str = "DELETE FROM pending_logins WHERE user_id = $1 OR expires_at <= $2";

const INSERT_PENDING: &str = "INSERT INTO pending_logins \
    (id_hash, user_id, created_at, expires_at, via_setup_link) VALUES ($1, $2, $3, $4, $5)";

/// Records that `user_id` passed the password check; returns the token for the pending cookie.
pub async fn create_pending(
    state: &AppState,
    user_id: i64,
    via_setup_link: bool,
) -> Result<String, AppError> {
    let token = new_token();
    let t = now();
    let id_hash = hash_token(&token);
    let via = i64::from(via_setup_link);
    // One pending sign-in per user at a time: the user's older half-finished one and every
    // expired one end in the same commit as the new one starts.
    super::sqlite_write::execute_all(
        state,
        "create pending",
        &[
            (CLEAR_PENDING, &[Arg::Int(user_id), Arg::Int(t)]),
            (
                INSERT_PENDING,
                &[
                    Arg::Blob(&id_hash),
                    Arg::Int(user_id),
                    Arg::Int(t),
                    Arg::Int(t + PENDING_TTL_SECS),
                    Arg::Int(via),
                ],
            ),
        ],
    )
    .await?;
    Ok(token)
}

pub async fn resolve_pending(
    state: &AppState,
    token: &str,
) -> Result<Option<PendingLogin>, AppError> {
    use super::two_factor::{code_state_from_row, CODE_STATE_COLUMNS};
    static QUERY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT p.user_id, p.enrolled, p.via_setup_link, u.account_id, {CODE_STATE_COLUMNS} \
             FROM pending_logins p JOIN users u ON u.id = p.user_id \
             LEFT JOIN authenticators a ON a.user_id = u.id \
             WHERE p.id_hash = $1 AND p.expires_at > $2"
        )
    });
    let hash = hash_token(token);
    read::fetch_optional(
        state,
        QUERY.as_str(),
        &[Arg::Blob(&hash), Arg::Int(now())],
        |row| {
            Ok(PendingLogin {
                user_id: row.int("user_id")?,
                account_id: row.int("account_id")?,
                id_hash: hash.clone(),
                enrolled: row.int("enrolled")? != 0,
                via_setup_link: row.int("via_setup_link")? != 0,
                code: code_state_from_row(row)?,
            })
        },
    )
    .await
}

pub async fn mark_pending_enrolled(state: &AppState, id_hash: &[u8]) -> Result<(), AppError> {
    sqlx::query("UPDATE pending_logins SET enrolled = 1 WHERE id_hash = $1")
        .bind(id_hash.to_vec())
        .execute(&state.pool)
        .await
        .map_err(internal("mark enrolled"))?;
    Ok(())
}

/// Ends the half sign-in with id hash `$1`.
pub(crate) const TAKE_PENDING: &str = "DELETE FROM pending_logins WHERE id_hash = $1";

/// Ends a pending sign-in; true when this call ended it (so two racing finishes open one session).
pub async fn take_pending<'c, E>(executor: E, id_hash: &[u8]) -> Result<bool, AppError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let n = sqlx::query(TAKE_PENDING)
        .bind(id_hash.to_vec())
        .execute(executor)
        .await
        .map_err(internal("take pending"))?
        .rows_affected();
    Ok(n == 1)
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
        for forged in [
            "short",
            "x".repeat(44).as_str(),
            &format!("{}!", &good[..42]),
        ] {
            let mut h = http::HeaderMap::new();
            h.insert(
                http::header::COOKIE,
                format!("latchkey_session={forged}").parse().unwrap(),
            );
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
