//! Server-side sessions: the browser holds a random id, the database only its SHA-256.

pub use super::tokens::{hash_token, new_token};

use super::throttle::DeviceUser;
use super::{
    config::Config,
    internal, now,
    rows::{col, me_from_row},
    AppState,
};
use crate::domain::{AppError, Me, SessionInfo};

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
    /// Proved with a code or a recovery code while the account requires passkeys: a new
    /// passkey opens the session.
    pub owes_passkey: bool,
    /// The user's sealed authenticator secret as of this request, read in the same query: the
    /// code that ends the half sign-in needs no read of its own.
    pub sealed: Option<Vec<u8>>,
}

/// Password passed, code pending: this long to finish.
pub const PENDING_TTL_SECS: i64 = 10 * 60;

/// Last-seen is written at most this often, so reads do not turn every page view into a write.
const TOUCH_EVERY_SECS: i64 = 60;

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
/// `$6` 1 when a second factor was given, from browser `$7`.
pub(crate) const INSERT_SESSION: &str = "INSERT INTO sessions \
     (id_hash, user_id, created_at, last_seen_at, expires_at, client_addr, second_factor, user_agent) \
     VALUES ($1, $2, $3, $3, $4, $5, $6, $7)";

/// A `User-Agent` is kept up to this many bytes.
pub const MAX_AGENT_BYTES: usize = 256;

/// Opens a session for `user_id` from `client` (its address and `User-Agent`) and returns the
/// token for the cookie. `second_factor` records whether a second factor was given at sign-in.
pub async fn create<'c, E>(
    executor: E,
    config: &Config,
    user_id: i64,
    client: (&str, &str),
    second_factor: bool,
) -> Result<String, AppError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let (client_addr, agent) = client;
    let token = new_token();
    let t = now();
    sqlx::query(INSERT_SESSION)
        .bind(hash_token(&token))
        .bind(user_id)
        .bind(t)
        .bind(t + config.session_absolute_secs)
        .bind(client_addr.to_string())
        .bind(i64::from(second_factor))
        .bind(agent.to_string())
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
               AND (u.tfa_on = 0 OR s.second_factor = 1 OR {})",
            super::rows::ME_COLUMNS.as_str(),
            // A password-only session of a user still to set up lasts until their deadline:
            // checked here, on every request, so it ends the moment the deadline passes.
            super::rows::in_grace("$2")
        )
    });
    let row = sqlx::query(&QUERY)
        .bind(hash.clone())
        .bind(t)
        .bind(t - state.config.session_idle_secs)
        .fetch_optional(&state.pool)
        .await
        .map_err(internal("resolve session"))?;
    let found = match row {
        Some(row) => Some((col::<i64>(&row, "last_seen_at")?, me_from_row(&row)?)),
        None => None,
    };
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

pub async fn delete<'c, E>(executor: E, session_hash: &[u8]) -> Result<bool, AppError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let ended = sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(session_hash.to_vec())
        .execute(executor)
        .await
        .map_err(internal("delete session"))?
        .rows_affected();
    Ok(ended == 1)
}

/// Half sign-ins expired at `$1` (each new one clears them; the periodic purge does too).
pub const CLEAR_EXPIRED_PENDING: &str = "DELETE FROM pending_logins WHERE expires_at <= $1";

/// Where a sign-in comes from: the client address, whether the user hears of it (a sign-in with
/// a password they had, not the first one of an invitation or a setup link), and whether the
/// browser was not a remembered device of the user (their "new sign-in" mail).
#[derive(Clone, Copy)]
pub struct Arrival<'a> {
    pub addr: &'a str,
    pub reported: bool,
    pub new_browser: bool,
}

impl Arrival<'_> {
    fn reports_new_browser(&self) -> bool {
        self.reported && self.new_browser
    }
}

/// The user row a password was just checked against. A session or half sign-in opens only while
/// that row is unchanged (same id, account and password hash), checked in the statement that
/// opens it: a user removed (or whose password changed) while the hash ran gets nothing.
#[derive(Clone, Copy, Debug)]
pub struct Checked<'a> {
    pub user_id: i64,
    pub account_id: i64,
    pub password_hash: &'a str,
}

const INSERT_PENDING: &str = "INSERT INTO pending_logins \
    (id_hash, user_id, created_at, expires_at, via_setup_link, new_browser) \
    VALUES ($1, $2, $3, $4, $5, $6)";

/// Locks the user row `user` names, in `tx`, if it is unchanged. What opens next in `tx`
/// waits for a concurrent change of that row (a removal, a reset) and sees it.
async fn lock_checked(tx: &mut super::Tx, user: Checked<'_>) -> Result<bool, AppError> {
    Ok(sqlx::query(
        "UPDATE users SET code_failures = code_failures \
         WHERE id = $1 AND account_id = $2 AND password_hash = $3",
    )
    .bind(user.user_id)
    .bind(user.account_id)
    .bind(user.password_hash.to_string())
    .execute(&mut **tx)
    .await
    .map_err(internal("lock checked user"))?
    .rows_affected()
        == 1)
}

/// Records that the user passed the password check; returns the token for the pending cookie,
/// or `None` when the user row changed meanwhile. Each half sign-in is its own: a new one ends
/// none of the user's others, only expired ones.
pub async fn create_pending(
    state: &AppState,
    user: Checked<'_>,
    via_setup_link: bool,
    from: Arrival<'_>,
) -> Result<Option<String>, AppError> {
    let token = new_token();
    let t = now();
    let mut tx = super::begin(state).await?;
    if !lock_checked(&mut tx, user).await? {
        return Ok(None);
    }
    sqlx::query(CLEAR_EXPIRED_PENDING)
        .bind(t)
        .execute(&mut *tx)
        .await
        .map_err(internal("clear expired pending"))?;
    let id_hash = hash_token(&token);
    sqlx::query(INSERT_PENDING)
        .bind(id_hash.clone())
        .bind(user.user_id)
        .bind(t)
        .bind(t + PENDING_TTL_SECS)
        .bind(i64::from(via_setup_link))
        .bind(i64::from(from.reports_new_browser()))
        .execute(&mut *tx)
        .await
        .map_err(internal("create pending"))?;
    if from.reported {
        super::mail::password_passed(
            &mut tx,
            state,
            user.account_id,
            user.user_id,
            &id_hash,
            from.addr,
            t,
        )
        .await?;
    }
    tx.commit().await.map_err(internal("commit pending"))?;
    Ok(Some(token))
}

/// A session from a password alone, for the user checked as `user`: opened only while that row
/// is unchanged and the user's 2FA is off or they are still before their deadline to set it up
/// (checked in the statement that locks the row and numbers the browser's remembered device),
/// with its sign-in audit row. `None` otherwise.
pub async fn create_password_only(
    state: &AppState,
    user: Checked<'_>,
    client: (&str, &str),
    from: Arrival<'_>,
) -> Result<Option<(String, DeviceUser)>, AppError> {
    static QUERY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "UPDATE users SET devices_issued = devices_issued + 1 \
             WHERE id = $1 AND account_id = $2 AND password_hash = $3 AND (tfa_on = 0 OR id IN \
               (SELECT u.id FROM users u JOIN accounts a ON a.id = u.account_id \
                WHERE u.id = $1 AND {})) \
             RETURNING created_at, device_epoch, devices_issued",
            super::rows::in_grace("$4")
        )
    });
    let mut tx = super::begin(state).await?;
    let row = sqlx::query(QUERY.as_str())
        .bind(user.user_id)
        .bind(user.account_id)
        .bind(user.password_hash.to_string())
        .bind(now())
        .fetch_optional(&mut *tx)
        .await
        .map_err(internal("lock checked user"))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let device = DeviceUser::issued(&row, user.user_id)?;
    let token = create(&mut *tx, &state.config, user.user_id, client, false).await?;
    // The session and its audit row commit together.
    let entry = super::audit::Entry {
        event: super::audit::Event::SignInSuccess,
        account_id: Some(user.account_id),
        actor_user_id: Some(user.user_id),
        target_user_id: Some(user.user_id),
        detail: "password",
        client_addr: client.0,
    };
    super::audit::record(&mut *tx, entry).await?;
    if from.reports_new_browser() {
        let agent = client.1;
        super::mail::new_browser(
            &mut tx,
            state,
            user.account_id,
            user.user_id,
            from.addr,
            agent,
        )
        .await?;
    }
    tx.commit().await.map_err(internal("commit session"))?;
    Ok(Some((token, device)))
}

pub async fn resolve_pending(
    state: &AppState,
    token: &str,
) -> Result<Option<PendingLogin>, AppError> {
    const QUERY: &str =
        "SELECT p.user_id, p.enrolled, p.via_setup_link, p.owes_passkey, u.account_id, a.secret_enc \
         FROM pending_logins p JOIN users u ON u.id = p.user_id \
         LEFT JOIN authenticators a ON a.user_id = u.id \
         WHERE p.id_hash = $1 AND p.expires_at > $2";
    let hash = hash_token(token);
    let Some(row) = sqlx::query(QUERY)
        .bind(hash.clone())
        .bind(now())
        .fetch_optional(&state.pool)
        .await
        .map_err(internal("resolve half sign-in"))?
    else {
        return Ok(None);
    };
    Ok(Some(PendingLogin {
        user_id: col(&row, "user_id")?,
        account_id: col(&row, "account_id")?,
        id_hash: hash,
        enrolled: col::<i64>(&row, "enrolled")? != 0,
        via_setup_link: col::<i64>(&row, "via_setup_link")? != 0,
        owes_passkey: col::<i64>(&row, "owes_passkey")? != 0,
        sealed: col(&row, "secret_enc")?,
    }))
}

/// Ends the live half sign-in `id_hash` of `user_id` at `t`; true when this call ended it (so
/// two racing finishes open one session).
pub async fn take_pending<'c, E>(
    executor: E,
    id_hash: &[u8],
    user_id: i64,
    t: i64,
) -> Result<Option<Taken>, AppError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let row = sqlx::query(
        "DELETE FROM pending_logins WHERE id_hash = $1 AND user_id = $2 AND expires_at > $3 \
         RETURNING new_browser",
    )
    .bind(id_hash.to_vec())
    .bind(user_id)
    .bind(t)
    .fetch_optional(executor)
    .await
    .map_err(internal("take pending"))?;
    row.map(|row| {
        Ok(Taken {
            new_browser: super::rows::col::<i64>(&row, "new_browser")? != 0,
        })
    })
    .transpose()
}

/// A half sign-in that was taken (ended).
pub struct Taken {
    /// It came from a browser that was not a remembered device of its user.
    pub new_browser: bool,
}

/// Sessions a Profile lists at most (the newest first); older ones still end with "Sign out of
/// all other sessions".
pub const LISTED: i64 = 50;

/// The live sessions of the user signed in with `current` (a session hash), newest first: this
/// browser's is marked.
pub async fn list(
    state: &AppState,
    user_id: i64,
    current: &[u8],
) -> Result<Vec<SessionInfo>, AppError> {
    let t = now();
    sqlx::query(
        "SELECT id_hash, user_agent, client_addr, created_at, last_seen_at FROM sessions \
         WHERE user_id = $1 AND expires_at > $2 AND last_seen_at > $3 \
         ORDER BY created_at DESC LIMIT $4",
    )
    .bind(user_id)
    .bind(t)
    .bind(t - state.config.session_idle_secs)
    .bind(LISTED)
    .fetch_all(&state.pool)
    .await
    .map_err(internal("list sessions"))?
    .iter()
    .map(|row| {
        let hash: Vec<u8> = col(row, "id_hash")?;
        Ok(SessionInfo {
            handle: session_handle(&hash),
            browser: describe_agent(&col::<String>(row, "user_agent")?),
            address: col(row, "client_addr")?,
            started_at: col(row, "created_at")?,
            last_active_at: col(row, "last_seen_at")?,
            current: hash == current,
        })
    })
    .collect()
}

/// How a session is named to its user: its id's hash, base64url (the hash of a secret, never the
/// secret; and only its own user sees it).
pub fn session_handle(hash: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash)
}

fn parse_handle(handle: &str) -> Result<Vec<u8>, AppError> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(handle.trim())
        .ok()
        .filter(|h| h.len() == 32)
        .ok_or_else(|| AppError::invalid("session", "That is not a session of yours."))
}

/// "Chrome on Linux": the browser and system a `User-Agent` names, in words, from the tokens
/// browsers have sent for years, tried in the order that tells them apart (Edge and Opera also
/// say Chrome, Chrome also says Safari, Android also says Linux, an iPhone also says Mac OS X).
/// A UA-parsing crate (`woothee`) did this too, but linked the `regex` engine into the server:
/// 0.5 MB more of a binary that is resident in full (BENCHMARKS.md).
pub fn describe_agent(agent: &str) -> String {
    const BROWSERS: &[(&str, &str)] = &[
        ("Edg/", "Edge"),
        ("EdgA/", "Edge"),
        ("EdgiOS/", "Edge"),
        ("OPR/", "Opera"),
        ("SamsungBrowser/", "Samsung Internet"),
        ("Firefox/", "Firefox"),
        ("FxiOS/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ];
    const SYSTEMS: &[(&str, &str)] = &[
        ("Windows", "Windows"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Android", "Android"),
        ("CrOS", "ChromeOS"),
        ("Mac OS X", "macOS"),
        ("Macintosh", "macOS"),
        ("Linux", "Linux"),
    ];
    let first = |table: &[(&'static str, &'static str)]| {
        table
            .iter()
            .find(|(token, _)| agent.contains(token))
            .map(|(_, name)| *name)
    };
    match (first(BROWSERS), first(SYSTEMS)) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_string(),
        (None, Some(system)) => format!("A browser on {system}"),
        (None, None) => "Unknown browser".into(),
    }
}

/// Ends the user's other session `handle` (not the one `current` names); returns how it was
/// described. `NotFound` when it is not a live session of theirs.
pub async fn end_other(
    tx: &mut super::Tx,
    user_id: i64,
    current: &[u8],
    handle: &str,
) -> Result<String, AppError> {
    let hash = parse_handle(handle)?;
    if hash == current {
        return Err(AppError::invalid(
            "session",
            "This is the browser you are using: sign out with Sign out.",
        ));
    }
    let agent: String = sqlx::query_scalar(
        "DELETE FROM sessions WHERE id_hash = $1 AND user_id = $2 RETURNING user_agent",
    )
    .bind(hash)
    .bind(user_id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(internal("end session"))?
    .ok_or(AppError::NotFound)?;
    Ok(describe_agent(&agent))
}

/// Ends every session of `user_id` but `keep` (none when `None`), and their half sign-ins when
/// `keep` is `None`; returns how each ended one was described.
pub async fn end_all(
    tx: &mut super::Tx,
    user_id: i64,
    keep: Option<&[u8]>,
) -> Result<Vec<String>, AppError> {
    let agents: Vec<String> = sqlx::query_scalar(
        "DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2 RETURNING user_agent",
    )
    .bind(user_id)
    .bind(keep.unwrap_or_default().to_vec())
    .fetch_all(&mut **tx)
    .await
    .map_err(internal("end sessions"))?;
    if keep.is_none() {
        sqlx::query("DELETE FROM pending_logins WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut **tx)
            .await
            .map_err(internal("end half sign-ins"))?;
    }
    Ok(agents.iter().map(|a| describe_agent(a)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_are_named_in_words() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                      Chrome/131.0.0.0 Safari/537.36";
        assert_eq!(describe_agent(chrome), "Chrome on Linux");
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like \
                    Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0";
        assert_eq!(describe_agent(edge), "Edge on Windows");
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 \
                      (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        assert_eq!(describe_agent(iphone), "Safari on iOS");
        let android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like \
                       Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";
        assert_eq!(describe_agent(android), "Chrome on Android");
        let mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:133.0) Gecko/20100101 \
                   Firefox/133.0";
        assert_eq!(describe_agent(mac), "Firefox on macOS");
        assert_eq!(describe_agent(""), "Unknown browser");
        assert_eq!(describe_agent("curl/8.0"), "curl");
        assert_eq!(
            describe_agent("<script>alert(1)</script>"),
            "Unknown browser"
        );
        let handle = session_handle(&hash_token("t"));
        assert_eq!(parse_handle(&handle).unwrap(), hash_token("t"));
        assert!(parse_handle("not a handle").is_err());
        assert!(parse_handle(&session_handle(b"short")).is_err());
    }

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
