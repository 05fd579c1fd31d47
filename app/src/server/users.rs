//! Accounts and users: the rows and the queries over them.

use sqlx::Row;

use super::{audit, internal, now, rows::col, AppState};
use crate::domain::{AppError, Role};

pub struct LoginRow {
    pub user_id: i64,
    pub account_id: i64,
    pub password_hash: Option<String>,
    pub two_factor_on: bool,
    pub created_at: i64,
    pub device_epoch: i64,
    pub devices_issued: i64,
}

impl LoginRow {
    /// What this user's remembered-device tokens are bound to.
    pub fn device_user(&self) -> super::throttle::DeviceUser {
        super::throttle::DeviceUser {
            user_id: self.user_id,
            created_at: self.created_at,
            epoch: self.device_epoch,
            issued: self.devices_issued,
        }
    }
}

pub async fn any_user_exists(state: &AppState) -> Result<bool, AppError> {
    let row = sqlx::query("SELECT 1 AS one FROM users LIMIT 1")
        .fetch_optional(&state.pool)
        .await
        .map_err(internal("count users"))?;
    Ok(row.is_some())
}

pub async fn email_taken(state: &AppState, email: &str) -> Result<bool, AppError> {
    let row = sqlx::query("SELECT 1 AS one FROM users WHERE email = $1")
        .bind(email.to_string())
        .fetch_optional(&state.pool)
        .await
        .map_err(internal("look up email"))?;
    Ok(row.is_some())
}

pub struct NewOwner<'a> {
    pub account_name: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    pub password_hash: String,
    pub client_addr: &'a str,
}

/// Creates the account and its owner in one transaction; a taken email changes nothing.
pub async fn create_account(state: &AppState, new: NewOwner<'_>) -> Result<(i64, i64), AppError> {
    let t = now();
    let mut tx = super::begin(state).await?;
    let account_id: i64 =
        sqlx::query("INSERT INTO accounts (name, created_at) VALUES ($1, $2) RETURNING id")
            .bind(new.account_name.to_string())
            .bind(t)
            .fetch_one(&mut *tx)
            .await
            .map_err(internal("insert account"))?
            .try_get("id")
            .map_err(internal("account id"))?;
    let inserted = sqlx::query(
        "INSERT INTO users (account_id, name, email, role, password_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(account_id)
    .bind(new.name.to_string())
    .bind(new.email.to_string())
    .bind(Role::Owner.as_str())
    .bind(new.password_hash)
    .bind(t)
    .fetch_one(&mut *tx)
    .await;
    let user_id: i64 = match inserted {
        Ok(row) => row.try_get("id").map_err(internal("user id"))?,
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(email_taken_error());
        }
        Err(e) => return Err(internal("insert owner")(e)),
    };
    audit::record(
        &mut *tx,
        audit::Entry {
            event: audit::Event::AccountCreated,
            account_id: Some(account_id),
            actor_user_id: Some(user_id),
            target_user_id: Some(user_id),
            detail: new.account_name,
            client_addr: new.client_addr,
        },
    )
    .await?;
    tx.commit().await.map_err(internal("commit account"))?;
    Ok((account_id, user_id))
}

pub fn email_taken_error() -> AppError {
    AppError::invalid(
        "email",
        "This email is already registered. Sign in instead.",
    )
}

pub async fn find_login(state: &AppState, email: &str) -> Result<Option<LoginRow>, AppError> {
    let Some(row) = sqlx::query(
        "SELECT id, account_id, password_hash, tfa_on, created_at, device_epoch, devices_issued \
         FROM users WHERE email = $1",
    )
    .bind(email)
    .fetch_optional(&state.pool)
    .await
    .map_err(internal("find login"))?
    else {
        return Ok(None);
    };
    Ok(Some(LoginRow {
        user_id: col(&row, "id")?,
        account_id: col(&row, "account_id")?,
        password_hash: col(&row, "password_hash")?,
        two_factor_on: col::<i64>(&row, "tfa_on")? != 0,
        created_at: col(&row, "created_at")?,
        device_epoch: col(&row, "device_epoch")?,
        devices_issued: col(&row, "devices_issued")?,
    }))
}

/// Stores `anew`, user `user_id`'s password hashed with the current parameters
/// ([`super::password::params`]), in place of `old`, the hash of an older setting it was just
/// checked against; unless the password changed meanwhile. After a sign-in has opened: a failure
/// here is logged and left, the old hash still verifies and the next sign-in tries again.
pub async fn store_rehash(state: &AppState, user_id: i64, old: &str, anew: &str) {
    let stored =
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3")
            .bind(anew.to_string())
            .bind(user_id)
            .bind(old.to_string())
            .execute(&state.pool)
            .await;
    if let Err(e) = stored {
        tracing::warn!(user_id, error = %e, "could not store the password's new hash");
    }
}

pub const RESET_MESSAGE: &str =
    "Your two-factor authentication was reset. Use the setup link from your account owner to set it up again.";

/// The owner reset this user's 2FA and the setup link has not been used yet (false for a user
/// who is gone).
pub async fn reset_pending(state: &AppState, user_id: i64) -> Result<bool, AppError> {
    let row = sqlx::query("SELECT tfa_reset_pending FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&state.pool)
        .await
        .map_err(internal("reset pending"))?;
    // A user removed meanwhile has nothing pending; what opens next checks the row anyway.
    Ok(match row {
        Some(row) => col::<i64>(&row, "tfa_reset_pending")? != 0,
        None => false,
    })
}

pub async fn email_of(state: &AppState, user_id: i64) -> Result<String, AppError> {
    sqlx::query("SELECT email FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&state.pool)
        .await
        .map_err(internal("email of"))?
        .ok_or(AppError::NotFound)?
        .try_get(0)
        .map_err(internal("email row"))
}

/// Whether user `user_id` may still sign in with a password alone although their 2FA is on:
/// before their deadline to set it up ([`super::rows::in_grace`]).
pub async fn in_grace(state: &AppState, user_id: i64) -> Result<bool, AppError> {
    static QUERY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT 1 AS one FROM users u JOIN accounts a ON a.id = u.account_id \
             WHERE u.id = $1 AND {}",
            super::rows::in_grace("$2")
        )
    });
    Ok(sqlx::query(QUERY.as_str())
        .bind(user_id)
        .bind(super::now())
        .fetch_optional(&state.pool)
        .await
        .map_err(internal("in grace"))?
        .is_some())
}
