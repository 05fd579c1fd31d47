//! Passkeys and security keys (WebAuthn, `webauthn-rs`) as a second factor.
//!
//! The relying party is the host of the console's public URL (`--public-url`); browsers refuse
//! WebAuthn on an IP address, so with no public URL, or one on an IP address, passkeys are off
//! (the console says so, and everything else works).
//!
//! A ceremony (adding a passkey, or proving one at sign-in) is kept in `webauthn_ceremonies`,
//! sealed with the server key, for the session or half sign-in that started it (the SHA-256 of
//! its id), for [`CEREMONY_TTL_SECS`]; finishing takes it with one conditional DELETE, so a
//! challenge is answered once, on any instance. Credentials are stored per user
//! (`webauthn-rs`'s `Passkey`, with its counter and backup state, updated after each use); a
//! credential id belongs to one user only.

use sqlx::Row;
use webauthn_rs::prelude::{
    CreationChallengeResponse, CredentialID, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, Url, Uuid,
    Webauthn, WebauthnBuilder,
};

use super::{
    audit::{self, Event},
    config::Config,
    internal, now, rows,
    two_factor::Who,
    AppState, Tx,
};
use crate::domain::{AppError, PasskeyInfo};

/// How long a ceremony waits for the browser.
pub const CEREMONY_TTL_SECS: i64 = 5 * 60;
/// Passkeys one user may hold.
pub const MAX_PER_USER: i64 = 20;
/// A passkey's name, in characters.
pub const MAX_NAME_LEN: usize = 60;

/// The relying party of `config`: `None` when the public URL cannot be one.
pub fn relying_party(config: &Config) -> Option<Webauthn> {
    let origin = Url::parse(config.public_origin.as_deref()?).ok()?;
    let host = origin.host_str()?.to_string();
    if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
        return None;
    }
    WebauthnBuilder::new(&host, &origin)
        .ok()?
        .rp_name("Latchkey")
        .build()
        .ok()
}

pub(crate) fn webauthn(state: &AppState) -> Result<Webauthn, AppError> {
    relying_party(&state.config).ok_or_else(|| {
        AppError::Refused(
            "Passkeys need the console on a domain name (its public URL), not an IP address."
                .into(),
        )
    })
}

fn refused(message: &str) -> AppError {
    AppError::invalid("passkey", message)
}

/// A ceremony `webauthn-rs` refused: why goes to the log, the person reads one sentence.
fn ceremony_failed(
    what: &'static str,
) -> impl FnOnce(webauthn_rs::prelude::WebauthnError) -> AppError {
    move |e| {
        tracing::warn!(error = %e, "{what}");
        refused("The passkey could not be used. Try again.")
    }
}

fn too_many() -> AppError {
    refused(&format!(
        "You have {MAX_PER_USER} passkeys already. Remove one first."
    ))
}

/// The audit row of something `who` did with their passkey `name`.
fn entry<'a>(who: Who<'a>, event: Event, name: &'a str) -> audit::Entry<'a> {
    audit::Entry {
        event,
        account_id: Some(who.account_id),
        actor_user_id: Some(who.user_id),
        target_user_id: Some(who.user_id),
        detail: name,
        client_addr: who.client_addr,
    }
}

/// The WebAuthn user handle of `user_id`: derived with the server key, so nothing is stored
/// and no two users share one.
fn user_handle(state: &AppState, user_id: i64) -> Uuid {
    let tag = state
        .keys
        .mac(format!("latchkey-webauthn-user:{user_id}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&tag[..16]);
    Uuid::from_bytes(bytes)
}

fn seal_context(user_id: i64, kind: &str) -> String {
    format!("webauthn-{kind}:{user_id}")
}

/// Counts a ceremony `who` starts ([`super::throttle::Scope::Passkey`]): past the free ones,
/// each waits, so no user writes audit rows without bound.
async fn count_ceremony(state: &AppState, who: Who<'_>) -> Result<(), AppError> {
    use super::throttle::{claim, Scope};
    claim(state, &[(Scope::Passkey, &who.user_id.to_string())], now()).await
}

/// Keeps a ceremony's state for `who` (replacing one of the same kind).
async fn keep(
    state: &AppState,
    who: Who<'_>,
    kind: &str,
    value: &impl serde::Serialize,
    name: Option<&str>,
) -> Result<(), AppError> {
    let plain = serde_json::to_vec(value).map_err(internal("encode ceremony"))?;
    let sealed = state.keys.seal(&seal_context(who.user_id, kind), &plain);
    sqlx::query(
        "INSERT INTO webauthn_ceremonies (holder_hash, kind, user_id, state, name, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (holder_hash, kind) DO UPDATE SET user_id = excluded.user_id, \
           state = excluded.state, name = excluded.name, expires_at = excluded.expires_at",
    )
    .bind(who.holder.to_vec())
    .bind(kind.to_string())
    .bind(who.user_id)
    .bind(sealed)
    .bind(name.map(str::to_string))
    .bind(now() + CEREMONY_TTL_SECS)
    .execute(&state.pool)
    .await
    .map_err(internal("keep ceremony"))?;
    Ok(())
}

/// Takes `who`'s live ceremony of `kind`, once: a twin request or a replay finds none.
async fn take<T: serde::de::DeserializeOwned>(
    state: &AppState,
    who: Who<'_>,
    kind: &str,
) -> Result<(T, Option<String>), AppError> {
    let row = sqlx::query(
        "DELETE FROM webauthn_ceremonies WHERE holder_hash = $1 AND kind = $2 AND user_id = $3 \
         AND expires_at > $4 RETURNING state, name",
    )
    .bind(who.holder.to_vec())
    .bind(kind.to_string())
    .bind(who.user_id)
    .bind(now())
    .fetch_optional(&state.pool)
    .await
    .map_err(internal("take ceremony"))?
    .ok_or_else(|| refused("This request has expired or was already used. Try again."))?;
    let sealed: Vec<u8> = row.try_get(0).map_err(internal("ceremony row"))?;
    let name: Option<String> = row.try_get(1).map_err(internal("ceremony row"))?;
    let plain = state
        .keys
        .open(&seal_context(who.user_id, kind), &sealed)
        .ok_or_else(|| refused("This request has expired or was already used. Try again."))?;
    let value = serde_json::from_slice(&plain).map_err(internal("decode ceremony"))?;
    Ok((value, name))
}

/// The user's passkeys, as stored.
async fn stored(state: &AppState, user_id: i64) -> Result<Vec<(i64, Passkey)>, AppError> {
    sqlx::query("SELECT id, passkey FROM passkeys WHERE user_id = $1 ORDER BY id")
        .bind(user_id)
        .fetch_all(&state.pool)
        .await
        .map_err(internal("load passkeys"))?
        .iter()
        .map(|row| {
            let id: i64 = row.try_get(0).map_err(internal("passkey row"))?;
            let json: String = row.try_get(1).map_err(internal("passkey row"))?;
            let key = serde_json::from_str(&json).map_err(internal("passkey json"))?;
            Ok((id, key))
        })
        .collect()
}

/// The user's passkeys, for their Profile.
pub async fn list(state: &AppState, user_id: i64) -> Result<Vec<PasskeyInfo>, AppError> {
    sqlx::query(
        "SELECT id, name, created_at, last_used_at FROM passkeys WHERE user_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(&state.pool)
    .await
    .map_err(internal("list passkeys"))?
    .iter()
    .map(|row| {
        Ok(PasskeyInfo {
            id: rows::col(row, "id")?,
            name: rows::col(row, "name")?,
            created_at: rows::col(row, "created_at")?,
            last_used_at: rows::col(row, "last_used_at")?,
        })
    })
    .collect()
}

/// How many passkeys the user has.
pub async fn count(state: &AppState, user_id: i64) -> Result<i64, AppError> {
    sqlx::query_scalar("SELECT COUNT(*) FROM passkeys WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(&state.pool)
        .await
        .map_err(internal("count passkeys"))
}

/// What a new passkey is added for: each has its own ceremony, so a registration started for
/// one cannot be finished as the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adding {
    /// The user's own second factor (Profile, or enrollment at sign-in).
    Own,
    /// The owner's step to require 2FA for the account: the requirement switches on with it.
    ForRequirement,
}

impl Adding {
    fn kind(self) -> &'static str {
        match self {
            Adding::Own => "register",
            Adding::ForRequirement => "register_require",
        }
    }
}

/// Starts adding a passkey named `name` for `who`; returns the browser's options (JSON).
/// `proven`: the user gave a current second factor for it (a step-up), which a user whose 2FA
/// is in use owes before adding another; kept with the ceremony and checked when it finishes.
pub async fn start_registration(
    state: &AppState,
    who: Who<'_>,
    adding: Adding,
    proven: bool,
    email: &str,
    display_name: &str,
    name: &str,
) -> Result<CreationChallengeResponse, AppError> {
    let webauthn = webauthn(state)?;
    count_ceremony(state, who).await?;
    let existing = stored(state, who.user_id).await?;
    if existing.len() as i64 >= MAX_PER_USER {
        return Err(too_many());
    }
    let exclude: Vec<CredentialID> = existing.iter().map(|(_, k)| k.cred_id().clone()).collect();
    let (options, registration) = webauthn
        .start_passkey_registration(
            user_handle(state, who.user_id),
            email,
            display_name,
            Some(exclude),
        )
        .map_err(ceremony_failed("start passkey registration"))?;
    keep(
        state,
        who,
        adding.kind(),
        &(registration, proven),
        Some(name),
    )
    .await?;
    Ok(options)
}

/// A passkey the browser created, checked against `who`'s registration ceremony, not stored yet.
pub struct Created {
    passkey: Passkey,
    name: String,
    /// Its ceremony started after a step-up (see [`start_registration`]).
    pub proven: bool,
}

/// Checks the browser's answer (JSON) to `who`'s registration for `adding`, taking the
/// ceremony once.
pub async fn finish_registration(
    state: &AppState,
    who: Who<'_>,
    adding: Adding,
    answer: &str,
) -> Result<Created, AppError> {
    let webauthn = webauthn(state)?;
    let answer: RegisterPublicKeyCredential = serde_json::from_str(answer)
        .map_err(|_| refused("The browser's answer could not be read. Try again."))?;
    let ((registration, proven), name) =
        take::<(PasskeyRegistration, bool)>(state, who, adding.kind()).await?;
    let passkey = webauthn
        .finish_passkey_registration(&answer, &registration)
        .map_err(ceremony_failed("finish passkey registration"))?;
    Ok(Created {
        passkey,
        name: name.unwrap_or_else(|| "Passkey".into()),
        proven,
    })
}

/// Stores `created` for `who` in `tx` (which has the user's row locked), within the limit of
/// [`MAX_PER_USER`], with its audit row; returns it.
pub async fn insert_in(
    tx: &mut Tx,
    who: Who<'_>,
    created: Created,
    t: i64,
) -> Result<PasskeyInfo, AppError> {
    let Created { passkey, name, .. } = created;
    let json = serde_json::to_string(&passkey).map_err(internal("encode passkey"))?;
    let inserted = sqlx::query(
        "INSERT INTO passkeys (user_id, credential_id, name, passkey, created_at) \
         SELECT $1, $2, $3, $4, $5 \
         WHERE (SELECT COUNT(*) FROM passkeys WHERE user_id = $1) < $6 RETURNING id",
    )
    .bind(who.user_id)
    .bind(passkey.cred_id().as_ref().to_vec())
    .bind(name.clone())
    .bind(json)
    .bind(t)
    .bind(MAX_PER_USER)
    .fetch_optional(&mut **tx)
    .await;
    let id: i64 = match inserted {
        Ok(Some(row)) => row.try_get(0).map_err(internal("passkey id"))?,
        Ok(None) => return Err(too_many()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(refused("This passkey is registered already."))
        }
        Err(e) => return Err(internal("insert passkey")(e)),
    };
    audit::record(&mut **tx, entry(who, Event::PasskeyAdded, &name)).await?;
    Ok(PasskeyInfo {
        id,
        name,
        created_at: t,
        last_used_at: None,
    })
}

/// What proving a passkey is for: each has its own ceremony, so a challenge started for one
/// cannot be answered for the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proof {
    /// The second step of a sign-in (a half sign-in holds it).
    SignIn,
    /// A signed-in user confirming it is them before a sensitive change (removing a passkey).
    Confirm,
}

impl Proof {
    fn kind(self) -> &'static str {
        match self {
            Proof::SignIn => "authenticate",
            Proof::Confirm => "confirm",
        }
    }
}

/// Starts proving a passkey of `who` for `proof`; returns the browser's options (JSON).
pub async fn start_authentication(
    state: &AppState,
    who: Who<'_>,
    proof: Proof,
) -> Result<RequestChallengeResponse, AppError> {
    let webauthn = webauthn(state)?;
    count_ceremony(state, who).await?;
    let keys: Vec<Passkey> = stored(state, who.user_id)
        .await?
        .into_iter()
        .map(|(_, k)| k)
        .collect();
    if keys.is_empty() {
        return Err(refused(
            "You have no passkey. Use another way to confirm it is you.",
        ));
    }
    let (options, authentication) = webauthn
        .start_passkey_authentication(&keys)
        .map_err(ceremony_failed("start passkey authentication"))?;
    keep(state, who, proof.kind(), &authentication, None).await?;
    Ok(options)
}

/// Checks the browser's answer (JSON) to `who`'s authentication for `proof`; in `tx`, after
/// locking the user's row, the passkey's counter and last use are updated. The caller adds what
/// the passkey unlocks and commits (dropping `tx` undoes the use).
pub async fn finish_authentication(
    state: &AppState,
    who: Who<'_>,
    proof: Proof,
    answer: &str,
) -> Result<Tx, AppError> {
    let webauthn = webauthn(state)?;
    let answer: PublicKeyCredential = serde_json::from_str(answer)
        .map_err(|_| refused("The browser's answer could not be read. Try again."))?;
    let (authentication, _) = take::<PasskeyAuthentication>(state, who, proof.kind()).await?;
    let result = webauthn
        .finish_passkey_authentication(&answer, &authentication)
        .map_err(ceremony_failed("finish passkey authentication"))?;
    let mut tx = super::begin(state).await?;
    if !rows::lock_user(&mut tx, who.user_id).await? {
        tx.rollback().await.map_err(internal("rollback"))?;
        return Err(AppError::Unauthorized);
    }
    let row = sqlx::query(
        "SELECT id, passkey, name FROM passkeys WHERE user_id = $1 AND credential_id = $2",
    )
    .bind(who.user_id)
    .bind(result.cred_id().as_ref().to_vec())
    .fetch_optional(&mut *tx)
    .await
    .map_err(internal("find passkey"))?
    .ok_or_else(|| refused("This passkey is not one of yours any more."))?;
    let id: i64 = row.try_get(0).map_err(internal("passkey row"))?;
    let json: String = row.try_get(1).map_err(internal("passkey row"))?;
    let name: String = row.try_get(2).map_err(internal("passkey row"))?;
    let mut passkey: Passkey = serde_json::from_str(&json).map_err(internal("passkey json"))?;
    passkey.update_credential(&result);
    let json = serde_json::to_string(&passkey).map_err(internal("encode passkey"))?;
    sqlx::query("UPDATE passkeys SET passkey = $1, last_used_at = $2 WHERE id = $3")
        .bind(json)
        .bind(now())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(internal("update passkey"))?;
    audit::record(&mut *tx, entry(who, Event::PasskeyUsed, &name)).await?;
    Ok(tx)
}

/// Removes passkey `id` of `who` inside `tx` (which proved a current second factor); returns
/// its name. The last second factor of a user whose 2FA is on stays: removing it would leave
/// the next sign-in to enroll whoever has the password.
pub async fn remove_in(tx: &mut Tx, who: Who<'_>, id: i64) -> Result<String, AppError> {
    let name: String =
        sqlx::query_scalar("DELETE FROM passkeys WHERE id = $1 AND user_id = $2 RETURNING name")
            .bind(id)
            .bind(who.user_id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(internal("remove passkey"))?
            .ok_or(AppError::NotFound)?;
    static LAST: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT 1 AS one FROM users u WHERE u.id = $1 AND u.tfa_on = 1 AND NOT {}",
            rows::SET_UP
        )
    });
    let was_last = sqlx::query(LAST.as_str())
        .bind(who.user_id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(internal("last factor"))?
        .is_some();
    let required_and_last = sqlx::query(
        "SELECT 1 AS one FROM users u JOIN accounts a ON a.id = u.account_id \
         WHERE u.id = $1 AND a.require_passkeys = 1 \
         AND NOT EXISTS (SELECT 1 FROM passkeys k WHERE k.user_id = u.id)",
    )
    .bind(who.user_id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(internal("last passkey"))?
    .is_some();
    if required_and_last {
        return Err(AppError::Refused(format!(
            "Your account requires a passkey or security key: add another before you remove \
             \"{name}\"."
        )));
    }
    if was_last {
        return Err(AppError::Refused(format!(
            "\"{name}\" is your only second factor. Set up an authenticator app or add another \
             passkey first, or turn two-factor authentication off."
        )));
    }
    audit::record(&mut **tx, entry(who, Event::PasskeyRemoved, &name)).await?;
    Ok(name)
}

/// A passkey name as typed: trimmed, not empty, not too long, no control characters.
pub fn parse_name(raw: &str) -> Result<String, AppError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(AppError::invalid(
            "name",
            "Give the passkey a name, e.g. \"Work laptop\".",
        ));
    }
    if name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "name",
            format!("Use at most {MAX_NAME_LEN} letters, digits and spaces."),
        ));
    }
    Ok(name.to_string())
}
