//! Security mail. A change worth telling someone about writes a [`Notice`] into the `outbox`
//! table in its own transaction ([`enqueue`]): a change that rolls back sends nothing, one that
//! commits cannot lose its mail. A worker in each instance ([`spawn`]) claims due rows with one
//! conditional UPDATE (several instances never send a row twice at once), sends them over SMTP
//! (`lettre`), retries with growing delays, gives up after a day and audits each outcome. A mail
//! server that is down delays mail, never a sign-in.
//!
//! Mail never holds a code or a secret; the only link that grants anything is an invitation or
//! setup link the owner chose to send, kept sealed with the server key until it is sent.

use std::time::Duration;

use lettre::{
    message::{header::ContentType, Mailbox, MultiPart, SinglePart},
    transport::smtp::authentication::Credentials,
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{
    audit::{self, Event},
    internal, AppState,
};
use crate::domain::AppError;

/// A claimed row is the claimant's for this long: a worker that died while sending leaves it to
/// another instance after that.
const LEASE_SECS: i64 = 120;
/// Rows one worker claims at a time.
const BATCH: i64 = 20;
/// A mail that could not be sent for this long is given up.
pub const GIVE_UP_SECS: i64 = 24 * 3600;
/// How often a worker looks for due mail.
const POLL: Duration = Duration::from_secs(1);
/// "Someone has your password" goes at most this often to one user.
pub const PASSWORD_ALERT_EVERY_SECS: i64 = 3600;
/// A half sign-in not finished this long after its password is reported.
pub const UNFINISHED_AFTER_SECS: i64 = 10 * 60;

/// The SMTP relay and the sender, from `--smtp-url` and `--mail-from`.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// `url`: `smtp://host[:port]` (no TLS: a relay on the same host or network),
    /// `smtps://host[:465]` (TLS) or `smtp+starttls://host[:587]` (STARTTLS, required), each
    /// with optional `user:password@` (percent-encoded). `from`: `Name <address>` or an address.
    pub fn new(url: &str, from: &str) -> Result<Mailer, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("--smtp-url: {e}"))?;
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("--smtp-url needs a host")?;
        let builder = match parsed.scheme() {
            "smtp" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                .port(parsed.port().unwrap_or(25)),
            "smtps" => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .map_err(|e| format!("--smtp-url: {e}"))?
                .port(parsed.port().unwrap_or(465)),
            "smtp+starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|e| format!("--smtp-url: {e}"))?
                .port(parsed.port().unwrap_or(587)),
            other => {
                return Err(format!(
                "--smtp-url: unknown scheme {other:?} (use smtp://, smtps:// or smtp+starttls://)"
            ))
            }
        };
        let builder = if parsed.username().is_empty() {
            builder
        } else {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            builder.credentials(Credentials::new(
                decode(parsed.username()),
                decode(parsed.password().unwrap_or("")),
            ))
        };
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("--mail-from {from:?}: {e}"))?;
        Ok(Mailer {
            transport: builder.timeout(Some(Duration::from_secs(20))).build(),
            from,
        })
    }

    /// The sender, as mail shows it.
    pub fn sender(&self) -> String {
        self.from.to_string()
    }
}

/// Who a mail goes to: a user, or the account's owner (whoever that is when it is sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum To {
    User(i64),
    Owner,
}

/// What a mail tells. Stored as JSON in the outbox; names are read when it is sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// To the user: they set up their first second factor.
    TwoFactorOn,
    /// To the user: their 2FA was turned off, by themselves (`by` None) or by the owner.
    TwoFactorOff { by: Option<String> },
    /// To the user: their 2FA was reset, by the owner (named) or the server operator.
    TwoFactorReset { by: String },
    /// To the user: a recovery code was used; `left` unused ones remain.
    RecoveryCodeUsed { left: i64 },
    /// To the user: new recovery codes replaced the old ones.
    RecoveryCodesRegenerated,
    /// To the user: a sign-in from a browser not remembered for them.
    NewBrowser { addr: String, agent: String },
    /// To the user: their password was right, and no second factor followed within
    /// [`UNFINISHED_AFTER_SECS`].
    UnfinishedSignIn { addr: String },
    /// To the user: their password was right, and a wrong second-factor code followed.
    WrongCodes { addr: String },
    /// To the owner: the account no longer requires 2FA.
    RequirementOff { by: String },
    /// To the owner: a user's 2FA was turned off (an exception to the account's rule).
    UserExempted { user: String, by: String },
    /// To the owner: a user's code check locked after wrong codes.
    UserLockedOut { user: String, wrong: i64 },
    /// To the user: the owner's invitation link.
    Invitation { by: String },
    /// To the user: the owner's setup link after a 2FA reset.
    SetupLink { by: String },
    /// To the user: the owner's password link.
    PasswordLink { by: String },
    /// To the user: the link they asked for on "Forgot password?" (from `addr`).
    PasswordResetAsked { addr: String },
    /// To the user: their password was changed with a password link.
    PasswordChanged { addr: String },
    /// To the user: "Forgot password?" was asked (from `addr`) while their 2FA reset waits, so
    /// no link came: the account owner hands one over.
    PasswordLinkWithheld { addr: String },
}

impl Notice {
    /// The outbox's `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Notice::TwoFactorOn => "two_factor_on",
            Notice::TwoFactorOff { .. } => "two_factor_off",
            Notice::TwoFactorReset { .. } => "two_factor_reset",
            Notice::RecoveryCodeUsed { .. } => "recovery_code_used",
            Notice::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            Notice::NewBrowser { .. } => "new_browser",
            Notice::UnfinishedSignIn { .. } => "unfinished_sign_in",
            Notice::WrongCodes { .. } => "wrong_codes",
            Notice::RequirementOff { .. } => "requirement_off",
            Notice::UserExempted { .. } => "user_exempted",
            Notice::UserLockedOut { .. } => "user_locked_out",
            Notice::Invitation { .. } => "invitation",
            Notice::SetupLink { .. } => "setup_link",
            Notice::PasswordLink { .. } => "password_link",
            Notice::PasswordResetAsked { .. } => "password_reset_asked",
            Notice::PasswordChanged { .. } => "password_changed",
            Notice::PasswordLinkWithheld { .. } => "password_link_withheld",
        }
    }

    /// Someone has the user's password: limited to one mail an hour.
    fn password_alert(&self) -> bool {
        matches!(
            self,
            Notice::UnfinishedSignIn { .. } | Notice::WrongCodes { .. }
        )
    }
}

/// Whether mail can be addressed to `email` (the console's own check is looser than SMTP's).
pub fn deliverable(email: &str) -> bool {
    email.parse::<lettre::Address>().is_ok()
}

/// Whether this instance sends mail (SMTP configured).
pub fn enabled(state: &AppState) -> bool {
    state.mail.is_some()
}

/// One mail, unless its recipient (a user, or the owner of the account: `$2` NULL) has
/// [`MAX_WAITING`] waiting already.
const INSERT: &str = "INSERT INTO outbox (account_id, user_id, kind, params, link_sealed, \
     created_at, due_at, subject) SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
     WHERE (SELECT COUNT(*) FROM outbox WHERE account_id = $1 AND user_id IS NOT DISTINCT FROM $2 \
       AND done_at IS NULL) < $9";

/// Mails one recipient may have waiting: what anyone can make the console queue for one person
/// (by switching their 2FA on and off, say) is bounded; past it, mail is dropped.
pub const MAX_WAITING: i64 = 20;
/// Mails one address receives in an hour at most, whatever account and user rows stand behind
/// it (a stranger can sign up with someone's address): the rest is dropped.
pub const MAX_SENT_PER_HOUR: i64 = 20;

/// Writes `notice` for `to` of account `account_id` into the outbox through `conn` (the
/// transaction of the change it reports), due at `due`. Nothing without SMTP configured.
pub async fn enqueue(
    conn: &mut sqlx::AnyConnection,
    state: &AppState,
    account_id: i64,
    to: To,
    notice: &Notice,
    due: i64,
) -> Result<(), AppError> {
    if !enabled(state) {
        return Ok(());
    }
    insert(conn, account_id, to, notice, None, due, None).await?;
    Ok(())
}

/// A link mail to one user goes at most this often (the owner's button is not a way to flood
/// an inbox).
pub const LINK_MAIL_EVERY_SECS: i64 = 60;

/// `notice` to `who` themselves, in the transaction (`conn`) of what they just did.
pub async fn tell(
    conn: &mut sqlx::AnyConnection,
    state: &AppState,
    who: super::two_factor::Who<'_>,
    notice: &Notice,
    t: i64,
) -> Result<(), AppError> {
    enqueue(
        conn,
        state,
        who.account_id,
        To::User(who.user_id),
        notice,
        t,
    )
    .await
}

/// An invitation, setup or password `link` for user `user_id`, sealed until sent, in `tx` with
/// the user's row locked; false (nothing written) when one went to them within
/// [`LINK_MAIL_EVERY_SECS`] or [`MAX_WAITING`] mails wait for them.
pub async fn enqueue_link(
    tx: &mut super::Tx,
    state: &AppState,
    account_id: i64,
    user_id: i64,
    notice: &Notice,
    link: &str,
) -> Result<bool, AppError> {
    if !enabled(state) {
        return Err(AppError::Refused(NOT_CONFIGURED.into()));
    }
    let t = super::now();
    let subject = format!("link:{user_id}").into_bytes();
    if queued_since(tx, &subject, t - LINK_MAIL_EVERY_SECS).await? {
        return Ok(false);
    }
    let sealed = state.keys.seal(&link_context(user_id), link.as_bytes());
    insert(
        tx,
        account_id,
        To::User(user_id),
        notice,
        Some(sealed),
        t,
        Some(&subject),
    )
    .await
}

/// Whether a mail about `subject` was queued after `since` (sent or not): what keeps a kind of
/// mail to once a minute or an hour.
async fn queued_since(
    conn: &mut sqlx::AnyConnection,
    subject: &[u8],
    since: i64,
) -> Result<bool, AppError> {
    Ok(
        sqlx::query("SELECT 1 FROM outbox WHERE subject = $1 AND created_at > $2")
            .bind(subject.to_vec())
            .bind(since)
            .fetch_optional(conn)
            .await
            .map_err(internal("recent mail"))?
            .is_some(),
    )
}

/// What the console says where mail would be offered without SMTP.
pub const NOT_CONFIGURED: &str =
    "Email is not configured on this server: copy the link and send it yourself.";

fn link_context(user_id: i64) -> String {
    format!("mail-link:{user_id}")
}

async fn insert(
    conn: &mut sqlx::AnyConnection,
    account_id: i64,
    to: To,
    notice: &Notice,
    sealed: Option<Vec<u8>>,
    due: i64,
    subject: Option<&[u8]>,
) -> Result<bool, AppError> {
    let params = serde_json::to_string(notice).map_err(internal("mail params"))?;
    let n = sqlx::query(INSERT)
        .bind(account_id)
        .bind(match to {
            To::User(id) => Some(id),
            To::Owner => None,
        })
        .bind(notice.kind())
        .bind(params)
        .bind(sealed)
        .bind(super::now())
        .bind(due)
        .bind(subject.map(<[u8]>::to_vec))
        .bind(MAX_WAITING)
        .execute(conn)
        .await
        .map_err(internal("enqueue mail"))?
        .rows_affected();
    Ok(n == 1)
}

/// The half sign-in `pending_hash` of `user_id` passed the password: unless it ends in a
/// session within [`UNFINISHED_AFTER_SECS`] ([`sign_in_finished`]), the user hears of it.
pub async fn password_passed(
    conn: &mut sqlx::AnyConnection,
    state: &AppState,
    account_id: i64,
    user_id: i64,
    pending_hash: &[u8],
    addr: &str,
    t: i64,
) -> Result<(), AppError> {
    if !enabled(state) {
        return Ok(());
    }
    let notice = Notice::UnfinishedSignIn {
        addr: addr.to_string(),
    };
    insert(
        conn,
        account_id,
        To::User(user_id),
        &notice,
        None,
        t + UNFINISHED_AFTER_SECS,
        Some(pending_hash),
    )
    .await?;
    Ok(())
}

/// A wrong second factor given to the half sign-in `holder` (a step-up's session matches
/// nothing): its waiting "unfinished sign-in" mail becomes "wrong codes" and goes now.
pub async fn wrong_code_after_password(
    conn: &mut sqlx::AnyConnection,
    state: &AppState,
    holder: &[u8],
    addr: &str,
    t: i64,
) -> Result<(), AppError> {
    if !enabled(state) {
        return Ok(());
    }
    let notice = Notice::WrongCodes {
        addr: addr.to_string(),
    };
    let params = serde_json::to_string(&notice).map_err(internal("mail params"))?;
    sqlx::query(
        "UPDATE outbox SET kind = $1, params = $2, due_at = $3 WHERE subject = $4 \
         AND kind = 'unfinished_sign_in' AND done_at IS NULL AND claimed_until <= $3",
    )
    .bind(notice.kind())
    .bind(params)
    .bind(t)
    .bind(holder.to_vec())
    .execute(conn)
    .await
    .map_err(internal("wrong code mail"))?;
    Ok(())
}

/// The half sign-in `pending_hash` gave its second factor: its "unfinished sign-in" mail (if
/// not turned into "wrong codes" already) has nothing to say.
pub async fn sign_in_finished(
    conn: &mut sqlx::AnyConnection,
    state: &AppState,
    pending_hash: &[u8],
) -> Result<(), AppError> {
    if !enabled(state) {
        return Ok(());
    }
    sqlx::query(
        "DELETE FROM outbox WHERE subject = $1 AND kind = 'unfinished_sign_in' \
         AND done_at IS NULL",
    )
    .bind(pending_hash.to_vec())
    .execute(conn)
    .await
    .map_err(internal("cancel unfinished sign-in mail"))?;
    Ok(())
}

/// A session of `user_id` opened from a browser not remembered for them.
pub async fn new_browser(
    conn: &mut sqlx::AnyConnection,
    state: &AppState,
    account_id: i64,
    user_id: i64,
    addr: &str,
    agent: &str,
) -> Result<(), AppError> {
    let notice = Notice::NewBrowser {
        addr: addr.to_string(),
        agent: agent.chars().take(200).collect(),
    };
    enqueue(
        conn,
        state,
        account_id,
        To::User(user_id),
        &notice,
        super::now(),
    )
    .await
}

/// The owner hears that `who`'s code check locked after `wrong` wrong codes: at most once an
/// hour per user, however long an attack goes on.
pub async fn user_locked_out(
    tx: &mut super::Tx,
    state: &AppState,
    who: super::two_factor::Who<'_>,
    wrong: i64,
    t: i64,
) -> Result<(), AppError> {
    if !enabled(state) {
        return Ok(());
    }
    let subject = format!("locked:{}", who.user_id).into_bytes();
    if queued_since(tx, &subject, t - PASSWORD_ALERT_EVERY_SECS).await? {
        return Ok(());
    }
    let user = name_of(tx, who.user_id).await?;
    let notice = Notice::UserLockedOut { user, wrong };
    insert(
        tx,
        who.account_id,
        To::Owner,
        &notice,
        None,
        t,
        Some(&subject),
    )
    .await?;
    Ok(())
}

/// The name of user `user_id` (for "by whom"), read in `conn`.
pub async fn name_of(conn: &mut sqlx::AnyConnection, user_id: i64) -> Result<String, AppError> {
    sqlx::query("SELECT name FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(conn)
        .await
        .map_err(internal("name for mail"))?
        .map(|r| r.try_get::<String, _>(0))
        .transpose()
        .map_err(internal("name row"))
        .map(|n| n.unwrap_or_default())
}

/// Claims up to [`BATCH`] rows due at `t`, each once however many workers ask at the same time
/// (PostgreSQL re-checks the WHERE on a row another claim has just changed).
const CLAIM: &str = "UPDATE outbox SET claimed_until = $1, claim = $2, attempts = attempts + 1 \
     WHERE id IN (SELECT id FROM outbox WHERE done_at IS NULL AND due_at <= $3 \
       AND claimed_until <= $3 ORDER BY id LIMIT $4) \
     AND done_at IS NULL AND due_at <= $3 AND claimed_until <= $3 \
     RETURNING id, account_id, user_id, params, link_sealed, created_at, attempts";

/// Sends what is due at `t`; returns how many rows this worker claimed.
pub async fn deliver_due(state: &AppState, t: i64) -> Result<usize, AppError> {
    let Some(mailer) = &state.mail else {
        return Ok(0);
    };
    let claim = super::tokens::new_token();
    let rows = sqlx::query(CLAIM)
        .bind(t + LEASE_SECS)
        .bind(claim.clone())
        .bind(t)
        .bind(BATCH)
        .fetch_all(&state.pool)
        .await
        .map_err(internal("claim mail"))?;
    let n = rows.len();
    for row in rows {
        let claimed = Claimed {
            id: super::rows::col(&row, "id")?,
            account_id: super::rows::col(&row, "account_id")?,
            user_id: super::rows::col(&row, "user_id")?,
            params: super::rows::col(&row, "params")?,
            link_sealed: super::rows::col(&row, "link_sealed")?,
            created_at: super::rows::col(&row, "created_at")?,
            attempts: super::rows::col(&row, "attempts")?,
        };
        deliver(state, mailer, &claim, claimed, t).await?;
    }
    Ok(n)
}

struct Claimed {
    id: i64,
    account_id: i64,
    user_id: Option<i64>,
    params: String,
    link_sealed: Option<Vec<u8>>,
    created_at: i64,
    attempts: i64,
}

pub(crate) struct Recipient {
    id: i64,
    email: String,
    name: String,
    account: String,
}

async fn deliver(
    state: &AppState,
    mailer: &Mailer,
    claim: &str,
    row: Claimed,
    t: i64,
) -> Result<(), AppError> {
    let notice: Option<Notice> = serde_json::from_str(&row.params).ok();
    let recipient = recipient(state, row.account_id, row.user_id).await?;
    let (Some(notice), Some(to)) = (notice, recipient) else {
        return drop_claimed(state, &row, claim).await;
    };
    if row.attempts == 1 && !within_hourly_limits(state, &notice, &to, t).await? {
        return drop_claimed(state, &row, claim).await;
    }
    let link = match &row.link_sealed {
        Some(sealed) => match state.keys.open(&link_context(to.id), sealed) {
            Some(plain) => Some(String::from_utf8_lossy(&plain).into_owned()),
            None => return drop_claimed(state, &row, claim).await,
        },
        None => None,
    };
    let done = |outcome| finish(state, &row, claim, t, outcome, notice.kind(), &to);
    let text = render(&notice, &to, link.as_deref(), row.created_at);
    let message = match message(mailer, &to, &text) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, outbox_id = row.id, "mail could not be built");
            return done(Outcome::GivenUp).await;
        }
    };
    match mailer.transport.send(message).await {
        Ok(_) => done(Outcome::Sent).await,
        Err(e) if e.is_permanent() || t - row.created_at >= GIVE_UP_SECS => {
            tracing::warn!(error = %e, outbox_id = row.id, "mail given up");
            done(Outcome::GivenUp).await
        }
        Err(e) => {
            let wait = retry_after(row.attempts);
            tracing::info!(error = %e, outbox_id = row.id, retry_in_secs = wait, "mail not sent yet");
            let mut error = e.to_string();
            error.truncate(500);
            sqlx::query(
                "UPDATE outbox SET due_at = $1, claimed_until = 0, last_error = $2 \
                 WHERE id = $3 AND claim = $4 AND done_at IS NULL",
            )
            .bind(t + wait)
            .bind(error)
            .bind(row.id)
            .bind(claim.to_string())
            .execute(&state.pool)
            .await
            .map_err(internal("retry mail"))?;
            Ok(())
        }
    }
}

/// Seconds before the next try after `attempts` failed ones: 30 s, doubling, at most an hour.
pub fn retry_after(attempts: i64) -> i64 {
    (30i64 << attempts.clamp(1, 8).saturating_sub(1)).min(3600)
}

async fn recipient(
    state: &AppState,
    account_id: i64,
    user_id: Option<i64>,
) -> Result<Option<Recipient>, AppError> {
    let row = sqlx::query(
        "SELECT u.id, u.email, u.name, a.name AS account FROM users u \
         JOIN accounts a ON a.id = u.account_id \
         WHERE u.account_id = $1 AND u.id = COALESCE($2, \
           (SELECT o.id FROM users o WHERE o.account_id = $1 AND o.role = 'owner'))",
    )
    .bind(account_id)
    .bind(user_id)
    .fetch_optional(&state.pool)
    .await
    .map_err(internal("mail recipient"))?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(Recipient {
        id: super::rows::col(&row, "id")?,
        email: super::rows::col(&row, "email")?,
        name: super::rows::col(&row, "name")?,
        account: super::rows::col(&row, "account")?,
    }))
}

/// Whether `notice` may go to `to` at `t` (checked on its first try): at most
/// [`MAX_SENT_PER_HOUR`] mails to one address, and one "someone has your password" mail an
/// hour to one user.
async fn within_hourly_limits(
    state: &AppState,
    notice: &Notice,
    to: &Recipient,
    t: i64,
) -> Result<bool, AppError> {
    let sent: i64 = sqlx::query(
        "SELECT COUNT(*) FROM outbox WHERE sent_to = $1 AND done_at > $2 AND outcome = 'sent'",
    )
    .bind(to.email.clone())
    .bind(t - 3600)
    .fetch_one(&state.pool)
    .await
    .map_err(internal("mail sent this hour"))?
    .try_get(0)
    .map_err(internal("mail sent this hour"))?;
    if sent >= MAX_SENT_PER_HOUR {
        tracing::warn!(
            user_id = to.id,
            "hourly mail limit of an address reached; mail dropped"
        );
        return Ok(false);
    }
    Ok(!notice.password_alert() || take_password_alert(state, to.id, t).await?)
}

/// Takes the user's hourly "someone has your password" mail, if it is free at `t`.
async fn take_password_alert(state: &AppState, user_id: i64, t: i64) -> Result<bool, AppError> {
    let n = sqlx::query(
        "UPDATE users SET password_alert_at = $1 WHERE id = $2 AND password_alert_at <= $3",
    )
    .bind(t)
    .bind(user_id)
    .bind(t - PASSWORD_ALERT_EVERY_SECS)
    .execute(&state.pool)
    .await
    .map_err(internal("password alert limit"))?
    .rows_affected();
    Ok(n == 1)
}

/// How a row that was tried ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Sent,
    /// A day of failures, a permanent refusal, or a mail that cannot be built.
    GivenUp,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::GivenUp => "given_up",
        }
    }

    fn event(self) -> Event {
        match self {
            Outcome::Sent => Event::MailSent,
            Outcome::GivenUp => Event::MailGivenUp,
        }
    }
}

/// Deletes claimed row `row`, which will not go out (an hourly limit, nobody to send it to any
/// more): nothing reads it later, so one who repeats what is suppressed (a password used again
/// and again) leaves no rows behind.
async fn drop_claimed(state: &AppState, row: &Claimed, claim: &str) -> Result<(), AppError> {
    sqlx::query("DELETE FROM outbox WHERE id = $1 AND claim = $2")
        .bind(row.id)
        .bind(claim.to_string())
        .execute(&state.pool)
        .await
        .map_err(internal("drop mail"))?;
    Ok(())
}

/// Ends row `row` (a `kind` mail to `to`) with `outcome`, and audits it, in one transaction:
/// only while this worker's claim holds.
async fn finish(
    state: &AppState,
    row: &Claimed,
    claim: &str,
    t: i64,
    outcome: Outcome,
    kind: &str,
    to: &Recipient,
) -> Result<(), AppError> {
    let mut tx = super::begin(state).await?;
    let done = sqlx::query(
        "UPDATE outbox SET done_at = $1, outcome = $2, link_sealed = NULL, claimed_until = 0, \
         sent_to = $5 WHERE id = $3 AND claim = $4 AND done_at IS NULL",
    )
    .bind(t)
    .bind(outcome.as_str())
    .bind(row.id)
    .bind(claim.to_string())
    .bind(to.email.clone())
    .execute(&mut *tx)
    .await
    .map_err(internal("finish mail"))?
    .rows_affected();
    if done == 1 {
        let detail = format!("{kind} to {}", to.email);
        audit::record(
            &mut *tx,
            audit::Entry {
                event: outcome.event(),
                account_id: Some(row.account_id),
                actor_user_id: None,
                target_user_id: Some(to.id),
                detail: &detail,
                client_addr: "",
            },
        )
        .await?;
    }
    tx.commit().await.map_err(internal("commit mail outcome"))
}

/// Sends due mail every [`POLL`] for as long as the process runs (only with SMTP configured).
pub fn spawn(state: AppState) {
    if !enabled(&state) {
        return;
    }
    tokio::spawn(async move {
        loop {
            match deliver_due(&state, super::now()).await {
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => {}
                Err(_) => tracing::warn!("mail worker: storage failed; trying again"),
            }
            tokio::time::sleep(POLL).await;
        }
    });
}

/// A rendered mail: its subject, its paragraphs, and the one link it carries (the owner's
/// invitation, setup or password link, or the one the user asked for), which alone becomes a
/// clickable link: nothing a user typed (a name that starts with `https://`) ever does.
pub(crate) struct Rendered {
    pub subject: String,
    pub paragraphs: Vec<String>,
    pub link: Option<String>,
}

const NOT_YOU: &str = "If this was not you, tell your account owner at once.";
const PASSWORD_KNOWN: &str = "If this was not you, someone knows your password: your second \
     factor stopped them. Tell your account owner, and do not approve a sign-in you did not start.";

/// What `notice` says to `to`, with `link` where the owner sent one; `t` is when it happened.
pub(crate) fn render(notice: &Notice, to: &Recipient, link: Option<&str>, t: i64) -> Rendered {
    let at = crate::domain::format_time(t);
    let (title, body): (String, Vec<String>) = match notice {
        Notice::TwoFactorOn => (
            "Two-factor authentication is on".into(),
            vec![
                format!("Two-factor authentication was turned on for your account at {at}. Each sign-in now asks for your second factor."),
                NOT_YOU.into(),
            ],
        ),
        Notice::TwoFactorOff { by } => (
            "Two-factor authentication was turned off".into(),
            vec![
                match by {
                    None => format!("You turned off two-factor authentication for your account at {at}. Your password alone now signs you in."),
                    Some(owner) => format!("{owner}, the account owner, turned off two-factor authentication for your account at {at}. Your password alone now signs you in."),
                },
                NOT_YOU.into(),
            ],
        ),
        Notice::TwoFactorReset { by } => (
            "Two-factor authentication was reset".into(),
            vec![
                format!("{by} reset your two-factor authentication at {at}. Your authenticator app, passkeys and recovery codes no longer work, and every session of yours ended."),
                "You set up a new second factor with the setup link you are given.".into(),
                NOT_YOU.into(),
            ],
        ),
        Notice::RecoveryCodeUsed { left } => (
            "A recovery code was used".into(),
            vec![
                format!("A recovery code was used for your account at {at}. Unused recovery codes left: {left}."),
                if *left <= 3 {
                    "Create new recovery codes in your Profile soon.".into()
                } else {
                    "Each recovery code works once.".into()
                },
                NOT_YOU.into(),
            ],
        ),
        Notice::RecoveryCodesRegenerated => (
            "New recovery codes were created".into(),
            vec![
                format!("New recovery codes were created for your account at {at}. The old ones no longer work."),
                NOT_YOU.into(),
            ],
        ),
        Notice::NewBrowser { addr, agent } => (
            "New sign-in to your account".into(),
            vec![
                format!("Your account was signed in to at {at} from a browser it was not signed in from before."),
                format!("From: {addr}. Browser: {}.", if agent.is_empty() { "unknown" } else { agent }),
                NOT_YOU.into(),
            ],
        ),
        Notice::UnfinishedSignIn { addr } => (
            "Your password was used without your second factor".into(),
            vec![
                format!("Your correct password was entered at {at} from {addr}, and no second factor followed within 10 minutes."),
                PASSWORD_KNOWN.into(),
            ],
        ),
        Notice::WrongCodes { addr } => (
            "Your password was used with a wrong code".into(),
            vec![
                format!("Your correct password was entered at {at} from {addr}, followed by a wrong second-factor code."),
                PASSWORD_KNOWN.into(),
            ],
        ),
        Notice::RequirementOff { by } => (
            "Two-factor authentication is no longer required".into(),
            vec![
                format!("{by} turned off the account's two-factor requirement at {at}. Users keep their own setting; passkey requirements and enrollment deadlines ended with it."),
                "If this was not you, someone has your owner session: sign in, turn the requirement on again and review the audit log.".into(),
            ],
        ),
        Notice::UserExempted { user, by } => (
            format!("Two-factor authentication was turned off for {user}"),
            vec![
                format!("{by} turned off two-factor authentication for {user} at {at}: their password alone now signs them in."),
                "Review this on the Users page.".into(),
            ],
        ),
        Notice::UserLockedOut { user, wrong } => (
            format!("{user} is locked out after wrong codes"),
            vec![
                format!("{user}'s code check was locked at {at} after {wrong} wrong codes in a row. It unlocks by itself after a while; each further lock lasts longer."),
                "If they did not type those codes, someone has their password: consider resetting their two-factor authentication from the Users page.".into(),
            ],
        ),
        Notice::Invitation { by } => (
            format!("You are invited to {}", to.account),
            vec![
                format!("{by} added you to {} on Latchkey. Set your password with this single-use link (valid 7 days):", to.account),
                link.unwrap_or_default().into(),
                "If you did not expect this, ignore this mail.".into(),
            ],
        ),
        Notice::SetupLink { by } => (
            "Set up two-factor authentication again".into(),
            vec![
                format!("{by} reset your two-factor authentication. Set up a new second factor with this single-use link (valid 24 hours):"),
                link.unwrap_or_default().into(),
                NOT_YOU.into(),
            ],
        ),
        Notice::PasswordLink { by } => (
            "Set a new password".into(),
            vec![
                format!("{by} sent you a link to set a new password for {}. It works once and for 24 hours; your current password works until you use it:", to.account),
                link.unwrap_or_default().into(),
                "Signing in afterwards still asks for your second factor.".into(),
            ],
        ),
        Notice::PasswordResetAsked { addr } => (
            "Reset your password".into(),
            vec![
                format!("Someone (from {addr}) asked at {at} to reset the password of your account. To set a new one, open this link; it works once and for 1 hour:"),
                link.unwrap_or_default().into(),
                "Signing in afterwards still asks for your second factor. If you did not ask, ignore this mail: your password stays as it is.".into(),
            ],
        ),
        Notice::PasswordChanged { addr } => (
            "Your password was changed".into(),
            vec![
                format!("The password of your account was changed at {at} with a password link, from {addr}. Every session of yours ended, and browsers you were remembered on are forgotten."),
                NOT_YOU.into(),
            ],
        ),
        Notice::PasswordLinkWithheld { addr } => (
            "Ask your account owner for a password link".into(),
            vec![
                format!("Someone (from {addr}) asked at {at} to reset the password of your account. Your two-factor authentication is being reset by your account owner, so no password link comes by email until you have set it up again: ask your account owner for one."),
                NOT_YOU.into(),
            ],
        ),
    };
    let mut paragraphs = vec![format!("Hello {},", to.name)];
    paragraphs.extend(body);
    paragraphs.push(format!("— Latchkey, for {}", to.account));
    Rendered {
        subject: format!("[{}] {title}", to.account),
        paragraphs,
        link: link.map(str::to_string),
    }
}

/// The plain text and HTML parts of `r`. The paragraph that is its link becomes an `<a>`.
pub(crate) fn parts(r: &Rendered) -> (String, String) {
    let text = r.paragraphs.join("\n\n") + "\n";
    let mut html = String::from(
        "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\">",
    );
    for p in &r.paragraphs {
        let e = crate::assets::escape_attr(p);
        if r.link.as_ref() == Some(p) {
            html.push_str(&format!("<p><a href=\"{e}\">{e}</a></p>"));
        } else {
            html.push_str(&format!("<p>{e}</p>"));
        }
    }
    html.push_str("</body></html>");
    (text, html)
}

fn message(mailer: &Mailer, to: &Recipient, r: &Rendered) -> Result<Message, String> {
    let to_box = Mailbox::new(
        Some(to.name.clone()),
        to.email.parse().map_err(|e| format!("recipient: {e}"))?,
    );
    let (text, html) = parts(r);
    Message::builder()
        .from(mailer.from.clone())
        .to(to_box)
        .subject(r.subject.clone())
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(text),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html),
                ),
        )
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Recipient {
        Recipient {
            id: 1,
            email: "alice@example.com".into(),
            name: "Alice <b>".into(),
            account: "Acme".into(),
        }
    }

    #[test]
    fn subjects_name_the_account_and_html_is_escaped() {
        let r = render(&Notice::TwoFactorOn, &alice(), None, 0);
        assert_eq!(r.subject, "[Acme] Two-factor authentication is on");
        let (text, html) = parts(&r);
        assert!(text.starts_with("Hello Alice <b>,"));
        assert!(html.contains("Hello Alice &lt;b&gt;,"));
        assert!(text.contains("1970-01-01 00:00 UTC"));
    }

    #[test]
    fn a_link_is_only_in_the_mails_that_carry_one() {
        let link = "http://localhost:3000/invite/abc";
        let r = render(
            &Notice::Invitation { by: "Olga".into() },
            &alice(),
            Some(link),
            0,
        );
        let (text, html) = parts(&r);
        assert!(text.contains(link));
        assert!(html.contains(&format!("<a href=\"{link}\">")));
        let r = render(&Notice::RecoveryCodesRegenerated, &alice(), Some(link), 0);
        assert!(!parts(&r).0.contains(link));
    }

    #[test]
    fn only_the_carried_link_is_clickable() {
        let owner = "https://evil.example/login#";
        let r = render(
            &Notice::TwoFactorReset { by: owner.into() },
            &alice(),
            None,
            0,
        );
        let (_, html) = parts(&r);
        assert!(!html.contains("<a "), "{html}");
        let link = "http://localhost:3000/setup/abc";
        let r = render(
            &Notice::SetupLink { by: owner.into() },
            &alice(),
            Some(link),
            0,
        );
        let (_, html) = parts(&r);
        assert_eq!(html.matches("<a ").count(), 1, "{html}");
        assert!(html.contains(&format!("<a href=\"{link}\">")));
    }

    /// The outbox's `kind` column is the JSON's tag: the queries that find a kind by name
    /// (`unfinished_sign_in`) read what the worker wrote.
    #[test]
    fn kinds_are_the_json_tags() {
        let s = String::new;
        for n in [
            Notice::TwoFactorOn,
            Notice::TwoFactorOff { by: None },
            Notice::TwoFactorReset { by: s() },
            Notice::RecoveryCodeUsed { left: 1 },
            Notice::RecoveryCodesRegenerated,
            Notice::NewBrowser {
                addr: s(),
                agent: s(),
            },
            Notice::UnfinishedSignIn { addr: s() },
            Notice::WrongCodes { addr: s() },
            Notice::RequirementOff { by: s() },
            Notice::UserExempted { user: s(), by: s() },
            Notice::UserLockedOut {
                user: s(),
                wrong: 5,
            },
            Notice::Invitation { by: s() },
            Notice::SetupLink { by: s() },
            Notice::PasswordLink { by: s() },
            Notice::PasswordResetAsked { addr: s() },
            Notice::PasswordLinkWithheld { addr: s() },
            Notice::PasswordChanged { addr: s() },
        ] {
            assert_eq!(serde_json::to_value(&n).unwrap()["kind"], n.kind());
        }
    }

    #[test]
    fn retries_double_up_to_an_hour() {
        assert_eq!(retry_after(1), 30);
        assert_eq!(retry_after(2), 60);
        assert_eq!(retry_after(5), 480);
        assert_eq!(retry_after(8), 3600);
        assert_eq!(retry_after(100), 3600);
    }

    /// In a runtime: the connection pool starts its task there.
    #[tokio::test]
    async fn smtp_urls() {
        assert!(Mailer::new("smtp://127.0.0.1:2525", "Latchkey <no-reply@example.com>").is_ok());
        assert!(Mailer::new("smtps://u:p%40ss@mail.example.com", "no-reply@example.com").is_ok());
        assert!(Mailer::new("smtp+starttls://mail.example.com:587", "a@example.com").is_ok());
        assert!(Mailer::new("http://mail.example.com", "a@example.com").is_err());
        assert!(Mailer::new("smtp://127.0.0.1", "not an address").is_err());
        assert!(Mailer::new("nonsense", "a@example.com").is_err());
    }
}
