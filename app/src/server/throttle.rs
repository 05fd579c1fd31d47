//! Password sign-in throttling, kept in the database so every instance sees the same counts.
//!
//! Three kinds of subject count attempts since their last success:
//! - the account, by normalized email (also for emails nobody registered, so a refusal says
//!   nothing about who has an account): 5 free attempts, then a delay that doubles from 1 s up
//!   to 15 min, and after 100 consecutive failures no more password checks at all
//!   (NIST SP 800-63B §5.2.2);
//! - the client address: 20 free attempts (offices share addresses), then the same delays;
//! - a remembered device: a browser that completed a sign-in of this user before carries a
//!   signed cookie, and its attempts count against the device instead of the account. A
//!   stranger who exhausts the account's attempts therefore never locks the real user out of
//!   the browsers they already use.
//!
//! An attempt is counted *before* the password is checked, by a conditional UPDATE, so a burst
//! of parallel guesses cannot overshoot a limit; a success clears the counts.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;
use sqlx::Row;

use super::{config::Config, internal, rows::col, AppState};
use crate::domain::AppError;

pub const FREE_ATTEMPTS_ACCOUNT: i64 = 5;
pub const FREE_ATTEMPTS_ADDR: i64 = 20;
/// Sign-ups one client address makes before each next one waits (doubling from 1 s).
pub const FREE_SIGN_UPS: i64 = 50;
/// Passkey ceremonies one user starts before each next one waits (doubling from 1 s): a user
/// cannot turn step-ups into thousands of audit rows.
pub const FREE_PASSKEY_CEREMONIES: i64 = 30;
/// Password links one email may ask for in an hour before each next one waits (doubling from
/// 1 s): nobody can make the console mail someone again and again.
pub const FREE_RESETS: i64 = 3;
/// An address (or its sign-ups, or a user's passkey ceremonies) quiet this long starts counting
/// afresh.
pub const ADDR_QUIET_SECS: i64 = 3600;
pub const MAX_DELAY_SECS: i64 = 15 * 60;
/// Consecutive failed password checks one account (or one remembered device) may have.
pub const ATTEMPT_LIMIT: i64 = 100;
/// A remembered device stays remembered this long after its last sign-in.
pub const DEVICE_MAX_AGE_SECS: i64 = 90 * 24 * 3600;

pub const LOCKED_MESSAGE: &str = "Sign-in is locked for this account after too many failed \
     attempts. Sign in from a browser you have signed in with before, or ask the server \
     operator to unlock it.";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Account,
    Addr,
    Device,
    /// Sign-ups from one client address (each costs a password hash and an account).
    SignUp,
    /// Attempts with one invitation or setup link, by the link's hash.
    Link,
    /// Passkey ceremonies one user starts (each may end in an audit row): by the user's id.
    Passkey,
    /// Password links asked for by email ("Forgot password?"), by the normalized email.
    Reset,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Account => "account",
            Scope::Addr => "addr",
            Scope::Device => "device",
            Scope::SignUp => "sign_up",
            Scope::Link => "link",
            Scope::Passkey => "passkey",
            Scope::Reset => "reset",
        }
    }

    fn free_attempts(self, config: &super::config::Config) -> i64 {
        match self {
            Scope::Addr => FREE_ATTEMPTS_ADDR,
            Scope::SignUp => config.free_sign_ups,
            Scope::Passkey => FREE_PASSKEY_CEREMONIES,
            Scope::Reset => FREE_RESETS,
            Scope::Account | Scope::Device | Scope::Link => FREE_ATTEMPTS_ACCOUNT,
        }
    }

    /// Quiet this long, the subject's count starts over. Accounts and devices never do: their
    /// count is of consecutive failures, which only a success ends.
    fn starts_over_after(self) -> Option<i64> {
        match self {
            Scope::Addr | Scope::SignUp | Scope::Passkey | Scope::Reset => Some(ADDR_QUIET_SECS),
            Scope::Account | Scope::Device | Scope::Link => None,
        }
    }

    /// The `$6` of [`COUNT_ATTEMPT`] at `t`.
    fn quiet_since(self, t: i64) -> i64 {
        self.starts_over_after().map_or(i64::MIN, |secs| t - secs)
    }

    fn limit(self) -> i64 {
        match self {
            Scope::Addr | Scope::SignUp | Scope::Passkey | Scope::Reset => i64::MAX,
            Scope::Account | Scope::Device | Scope::Link => ATTEMPT_LIMIT,
        }
    }
}

/// Seconds the subject must wait after its `attempts`-th unproven attempt.
pub fn delay_after(attempts: i64, free: i64) -> i64 {
    if attempts <= free {
        0
    } else {
        let doublings = (attempts - free - 1).min(20) as u32;
        (1i64 << doublings).min(MAX_DELAY_SECS)
    }
}

/// The subject's state, for [`verdict`].
const STATE: &str =
    "SELECT attempts, blocked_until FROM sign_in_throttle WHERE scope = $1 AND subject = $2";
/// Counts an attempt unless the subject must wait or is at its limit: one statement, so that a
/// parallel success cannot delete the row between a check and the count. An attempt past the
/// `$5` free ones blocks the subject at once (for a second; [`START_DELAY`] then sets the whole
/// delay), so parallel attempts cannot slip in before the delay is written. A subject quiet
/// since `$6` starts over (addresses and sign-ups: see [`Scope::starts_over_after`]). Returns the
/// count.
const COUNT_ATTEMPT: &str =
    "INSERT INTO sign_in_throttle (scope, subject, attempts, blocked_until, updated_at) \
     VALUES ($1, $2, 1, 0, $3) \
     ON CONFLICT (scope, subject) DO UPDATE SET \
       attempts = CASE WHEN sign_in_throttle.updated_at < $6 THEN 1 \
                  ELSE sign_in_throttle.attempts + 1 END, \
       updated_at = $3, \
       blocked_until = CASE WHEN sign_in_throttle.updated_at >= $6 \
                            AND sign_in_throttle.attempts + 1 > $5 THEN $3 + 1 \
                       ELSE sign_in_throttle.blocked_until END \
     WHERE sign_in_throttle.blocked_until <= $3 AND sign_in_throttle.attempts < $4 \
     RETURNING attempts";
const START_DELAY: &str = "UPDATE sign_in_throttle SET blocked_until = $3 \
     WHERE scope = $1 AND subject = $2 AND blocked_until < $3";

/// Counts one attempt for every subject, or refuses without counting when one must wait or
/// has used up its attempts. Call before checking the password.
///
/// One transaction: a refused count rolls the whole of it back, so it counts against nobody,
/// and only then is the subject's state read to say why.
pub async fn claim(state: &AppState, subjects: &[(Scope, &str)], t: i64) -> Result<(), AppError> {
    let mut tx = super::begin(state).await?;
    for (scope, subject) in in_lock_order(subjects) {
        let row = sqlx::query(COUNT_ATTEMPT)
            .bind(scope.as_str())
            .bind(subject)
            .bind(t)
            .bind(scope.limit())
            .bind(scope.free_attempts(&state.config))
            .bind(scope.quiet_since(t))
            .fetch_optional(&mut *tx)
            .await
            .map_err(internal("throttle claim"))?;
        let Some(row) = row else {
            tx.rollback().await.map_err(internal("throttle rollback"))?;
            // A parallel attempt got there first and started a delay, or reached the limit.
            refuse_if_blocked(state, scope, subject, t).await?;
            return Err(refused_by_parallel_attempt(scope));
        };
        let attempts: i64 = row.try_get(0).map_err(internal("throttle row"))?;
        let delay = delay_after(attempts, scope.free_attempts(&state.config));
        if delay > 0 {
            sqlx::query(START_DELAY)
                .bind(scope.as_str())
                .bind(subject)
                .bind(t + delay)
                .execute(&mut *tx)
                .await
                .map_err(internal("throttle delay"))?;
        }
    }
    tx.commit().await.map_err(internal("throttle commit"))
}

/// `subjects` in the one order every throttle transaction writes their rows in (by scope, then
/// subject), so that two of them (a sign-in's count and another's success, say) never wait for
/// each other's rows in opposite orders: a deadlock on PostgreSQL, which kills one of them.
fn in_lock_order<'a>(subjects: &[(Scope, &'a str)]) -> Vec<(Scope, &'a str)> {
    let mut ordered = subjects.to_vec();
    ordered.sort_by_key(|&(scope, subject)| (scope.as_str(), subject));
    ordered
}

/// The count was refused: a parallel attempt started a delay or reached the limit in between.
fn refused_by_parallel_attempt(scope: Scope) -> AppError {
    super::telemetry::throttled(scope.as_str());
    AppError::TooManyRequests {
        retry_after_secs: 1,
    }
}

async fn refuse_if_blocked(
    state: &AppState,
    scope: Scope,
    subject: &str,
    t: i64,
) -> Result<(), AppError> {
    let row = sqlx::query(STATE)
        .bind(scope.as_str())
        .bind(subject)
        .fetch_optional(&state.pool)
        .await
        .map_err(internal("throttle state"))?
        .map(|row| Ok::<_, AppError>((col(&row, "attempts")?, col(&row, "blocked_until")?)))
        .transpose()?;
    match row {
        Some((attempts, blocked_until)) => verdict(scope, attempts, blocked_until, t),
        None => Ok(()),
    }
}

/// Whether a subject with `attempts` since its last success, waiting until `blocked_until`,
/// may try now.
fn verdict(scope: Scope, attempts: i64, blocked_until: i64, t: i64) -> Result<(), AppError> {
    if attempts >= scope.limit() {
        super::telemetry::throttled(scope.as_str());
        return Err(AppError::Refused(LOCKED_MESSAGE.into()));
    }
    if blocked_until > t {
        super::telemetry::throttled(scope.as_str());
        return Err(AppError::TooManyRequests {
            retry_after_secs: (blocked_until - t) as u64,
        });
    }
    Ok(())
}

/// The password was right: the account (or device) starts over. A client address does not: its
/// attempt is given back, so one who signs in to their own account now and then keeps the count
/// of the guesses they spray at others from that address, and an office's successful sign-ins
/// cost it nothing.
pub async fn succeed(state: &AppState, subjects: &[(Scope, &str)]) -> Result<(), AppError> {
    let mut tx = super::begin(state).await?;
    for (scope, subject) in in_lock_order(subjects) {
        let statement = if scope == Scope::Addr {
            sqlx::query(REFUND_ADDR).bind(subject)
        } else {
            sqlx::query(RESET).bind(scope.as_str()).bind(subject)
        };
        statement
            .execute(&mut *tx)
            .await
            .map_err(internal("throttle reset"))?;
    }
    tx.commit().await.map_err(internal("throttle reset commit"))
}

/// Clears subject `$2` of scope `$1`: it starts over.
const RESET: &str = "DELETE FROM sign_in_throttle WHERE scope = $1 AND subject = $2";

/// Gives address `$1` back the attempt a correct password made.
const REFUND_ADDR: &str = "UPDATE sign_in_throttle SET attempts = attempts - 1 \
     WHERE scope = 'addr' AND subject = $1 AND attempts > 0";

/// Operator unlock: clears the account's count (the `unlock-sign-in` command).
pub async fn unlock_account(state: &AppState, email: &str) -> Result<bool, AppError> {
    let done = sqlx::query("DELETE FROM sign_in_throttle WHERE scope = 'account' AND subject = $1")
        .bind(email)
        .execute(&state.pool)
        .await
        .map_err(internal("throttle unlock"))?;
    Ok(done.rows_affected() > 0)
}

pub fn device_cookie_name(config: &Config) -> &'static str {
    if config.secure_cookies {
        "__Host-latchkey_device"
    } else {
        "latchkey_device"
    }
}

/// Remembered devices one user holds: a token older than the newest this many no longer counts,
/// so nobody can mint an unbounded supply of fresh attempt counts.
pub const MAX_DEVICES: i64 = 20;

/// What a remembered-device token is bound to: the user as created (so a token can never count
/// for another user, whatever happens to ids), their device epoch, which a 2FA reset bumps to
/// forget every device of theirs, and how many tokens they were issued.
#[derive(Clone, Copy, Debug)]
pub struct DeviceUser {
    pub user_id: i64,
    pub created_at: i64,
    pub epoch: i64,
    /// Tokens issued so far; the newest is number `issued`.
    pub issued: i64,
}

impl DeviceUser {
    /// User `user_id`'s device as numbered by an `UPDATE users SET devices_issued = devices_issued
    /// + 1 … RETURNING created_at, device_epoch, devices_issued`.
    pub(crate) fn issued(row: &sqlx::any::AnyRow, user_id: i64) -> Result<DeviceUser, AppError> {
        Ok(DeviceUser {
            user_id,
            created_at: row.try_get(0).map_err(internal("device row"))?,
            epoch: row.try_get(1).map_err(internal("device row"))?,
            issued: row.try_get(2).map_err(internal("device row"))?,
        })
    }
}

fn device_mac_input(user: DeviceUser, issued_at: &[u8], id: &[u8]) -> Vec<u8> {
    // `issued` is not covered: the token carries its own number, covered as part of `id`.
    let mut data = b"latchkey-device:".to_vec();
    for n in [user.user_id, user.created_at, user.epoch] {
        data.extend_from_slice(&n.to_be_bytes());
    }
    data.extend_from_slice(issued_at);
    data.extend_from_slice(id);
    data
}

/// The remembered-device token number `number` for `user`, issued at `t`: the time (4 bytes),
/// the number (4 bytes), 8 random bytes and 16 bytes of their HMAC; 43 characters like a
/// session id.
pub fn new_device_token(state: &AppState, user: DeviceUser, number: i64, t: i64) -> String {
    let issued_at = (t.clamp(0, u32::MAX as i64) as u32).to_be_bytes();
    let mut id = [0u8; 12];
    id[..4].copy_from_slice(&(number.clamp(0, u32::MAX as i64) as u32).to_be_bytes());
    rand::rngs::OsRng.fill_bytes(&mut id[4..]);
    let tag = state.keys.mac(&device_mac_input(user, &issued_at, &id));
    let mut bytes = issued_at.to_vec();
    bytes.extend_from_slice(&id);
    bytes.extend_from_slice(&tag[..16]);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The device id behind `token` if the server issued it to `user` less than
/// [`DEVICE_MAX_AGE_SECS`] before `t`, as one of their newest [`MAX_DEVICES`].
pub fn device_of(state: &AppState, token: &str, user: DeviceUser, t: i64) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    if bytes.len() != 32 {
        return None;
    }
    let (issued_at, rest) = bytes.split_at(4);
    let (id, tag) = rest.split_at(12);
    let issued = i64::from(u32::from_be_bytes(issued_at.try_into().ok()?));
    let number = i64::from(u32::from_be_bytes(id[..4].try_into().ok()?));
    if t - issued >= DEVICE_MAX_AGE_SECS || number <= user.issued - MAX_DEVICES {
        return None;
    }
    state
        .keys
        .mac_starts_with(&device_mac_input(user, issued_at, id), tag)
        .then(|| URL_SAFE_NO_PAD.encode(&bytes[..16]))
}

pub fn set_device_cookie(config: &Config, token: &str) -> String {
    format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={DEVICE_MAX_AGE_SECS}{}",
        device_cookie_name(config),
        if config.secure_cookies {
            "; Secure"
        } else {
            ""
        }
    )
}

/// Numbers a new remembered device of user `user_id`, in `tx` (with the sign-in that earns it);
/// `None` when the user is gone.
pub async fn issue_device(
    tx: &mut super::Tx,
    user_id: i64,
) -> Result<Option<DeviceUser>, AppError> {
    let row = sqlx::query(
        "UPDATE users SET devices_issued = devices_issued + 1 WHERE id = $1 \
         RETURNING created_at, device_epoch, devices_issued",
    )
    .bind(user_id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(internal("device user"))?;
    row.map(|row| DeviceUser::issued(&row, user_id)).transpose()
}

/// After a completed sign-in: this browser is now a device the user has signed in with.
pub fn remember_device(state: &AppState, user: DeviceUser) {
    let token = new_device_token(state, user, user.issued, super::now());
    super::context::append_header(
        http::header::SET_COOKIE,
        &set_device_cookie(&state.config, &token),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_attempts_then_doubling_delays_up_to_the_cap() {
        let delays: Vec<i64> = (1..=20).map(|n| delay_after(n, 5)).collect();
        assert_eq!(&delays[..5], &[0, 0, 0, 0, 0]);
        assert_eq!(&delays[5..10], &[1, 2, 4, 8, 16]);
        assert_eq!(delay_after(15, 5), 512);
        assert_eq!(delay_after(16, 5), MAX_DELAY_SECS);
        assert_eq!(delay_after(1_000_000, 5), MAX_DELAY_SECS);
    }

    #[test]
    fn a_stranger_needs_most_of_a_day_to_reach_the_limit() {
        // The lock after 100 failures is the backstop; the delays already bound a stranger
        // to roughly four guesses an hour once the free attempts are spent.
        let waited: i64 = (1..ATTEMPT_LIMIT).map(|n| delay_after(n, 5)).sum();
        assert!(waited > 20 * 3600, "{waited}");
    }

    #[test]
    fn every_transaction_takes_the_subjects_in_one_order() {
        let a = in_lock_order(&[
            (Scope::Addr, "10.0.0.1"),
            (Scope::Account, "ann@example.com"),
        ]);
        let b = in_lock_order(&[
            (Scope::Account, "ann@example.com"),
            (Scope::Addr, "10.0.0.1"),
        ]);
        assert_eq!(a, b);
        assert_eq!(a[0], (Scope::Account, "ann@example.com"));
    }
}
