//! Wasm-safe types shared by the server and the browser: views without secrets, errors, input rules.

mod error;
pub mod policy;
mod validate;

pub use error::AppError;
pub use validate::{
    normalize_email, parse_code, parse_recovery_code, validate_email, validate_name,
    validate_password, MAX_NAME_LEN, MAX_PASSWORD_LEN, MIN_PASSWORD_LEN,
};

use serde::{Deserialize, Serialize};

/// A user's place in their account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    Owner,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Admin => "Admin",
        }
    }
}

/// The signed-in user as the console shows them: no hashes, no secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub user_id: i64,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub account_id: i64,
    pub account_name: String,
    pub two_factor: TwoFactorStatus,
}

/// A user's own view of their second factor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwoFactorStatus {
    pub setting: policy::Setting,
    pub account_required: bool,
    pub has_authenticator: bool,
    /// Passkeys and security keys the user has.
    pub passkeys: i64,
    /// The account requires passkeys or security keys (phishing-resistant methods).
    pub passkeys_required: bool,
    pub recovery_codes_left: i64,
    /// Still to set up a second factor, by this deadline (Unix seconds), before which the
    /// password alone lets them in (the account's enrollment deadline).
    pub enroll_by: Option<i64>,
}

impl TwoFactorStatus {
    /// Fewer than this many unused recovery codes earns a warning.
    pub const LOW_RECOVERY_CODES: i64 = 3;

    /// Set up for two-factor authentication: an authenticator app or at least one passkey.
    pub fn set_up(&self) -> bool {
        self.has_authenticator || self.passkeys > 0
    }

    /// 2FA is on and set up: a further factor, or a sensitive change, needs a step-up.
    pub fn in_use(&self) -> bool {
        self.setting.on && self.set_up()
    }

    pub fn low_on_recovery_codes(&self) -> bool {
        self.set_up() && self.recovery_codes_left < Self::LOW_RECOVERY_CODES
    }
}

/// What the browser gets to set up an authenticator: the key to type in (the QR code comes
/// from its own endpoint). Only while the enrollment is pending.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentStart {
    pub setup_key: String,
    /// Changes with each enrollment so the browser never shows a stale QR image.
    pub qr_version: i64,
}

/// Where a half-signed-in user stands between password and session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignInStage {
    /// Set up: asks for a code of the authenticator app (`app`), a passkey (`passkey`: the
    /// user has one and this console can use them) or a recovery code.
    Code { app: bool, passkey: bool },
    /// 2FA is on but nothing is set up yet: enrollment first (an authenticator app or a passkey).
    Enroll,
    /// Came through a setup link after a reset of their 2FA: enrollment again. `by` is the
    /// owner who reset it (`None`: the server's operator), `at` when.
    Reenroll { by: Option<String>, at: i64 },
    /// The first second factor is in place: the recovery codes were shown, and
    /// **I have saved my recovery codes** opens the session.
    Enrolled,
    /// The account requires passkeys: the user proved it is them with a code or a recovery code
    /// and adds a passkey to finish signing in.
    AddPasskey,
}

impl SignInStage {
    /// What the sign-in page says above the enrollment.
    pub fn enroll_message(&self) -> String {
        match self {
            SignInStage::Reenroll { by, at } => format!(
                "Your two-factor authentication was reset by {} on {}. Set it up again, with an authenticator app or a passkey, to finish signing in.",
                by.as_deref().unwrap_or("the server's operator"),
                format_time(*at)
            ),
            _ => "Your account requires two-factor authentication. Set up an authenticator app or add a passkey to finish signing in.".to_string(),
        }
    }
}

/// One of the user's sessions, as their Profile lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Names the session in a sign-out request.
    pub handle: String,
    /// "Chrome on Linux", from the browser's `User-Agent`.
    pub browser: String,
    pub address: String,
    pub started_at: i64,
    pub last_active_at: i64,
    /// The session of the browser asking.
    pub current: bool,
}

/// A passkey or security key of the user, as their Profile lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyInfo {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A passkey just added, and with the user's first second factor their new recovery codes
/// (shown once; empty when they had a second factor already).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyAdded {
    pub passkey: PasskeyInfo,
    pub recovery_codes: Vec<String>,
}

/// What the enrollment offers: passkeys where this console can use them (`available`), and only
/// them where the user's account requires them (`required`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyOffer {
    pub available: bool,
    pub required: bool,
}

/// The user's passkeys, and whether this console can use passkeys at all (it needs a public
/// URL on a domain name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Passkeys {
    pub enabled: bool,
    pub items: Vec<PasskeyInfo>,
}

/// A single-use link the owner hands over to a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkKind {
    /// Sets the new user's password (7 days).
    Invitation,
    /// Sets up an authenticator again after a reset of the user's 2FA (24 hours).
    Setup,
    /// Sets a new password (24 hours from the owner; 1 hour when the user asked by email).
    Password,
}

impl LinkKind {
    /// The link's visible label, which names it for assistive technology and tests.
    pub fn label(self) -> &'static str {
        match self {
            LinkKind::Invitation => "Invitation link",
            LinkKind::Setup => "Setup link",
            LinkKind::Password => "Password link",
        }
    }

    pub fn test_id(self) -> &'static str {
        match self {
            LinkKind::Invitation => "invitation-link",
            LinkKind::Setup => "setup-link",
            LinkKind::Password => "password-link",
        }
    }

    /// What the owner is told above the link for `name`; `renewed` when it replaces one.
    pub fn sentence(self, name: &str, renewed: bool) -> String {
        match (self, renewed) {
            (LinkKind::Invitation, false) => format!(
                "{name} was added. Send them this single-use link (valid 7 days) to set their password:"
            ),
            (LinkKind::Setup, false) => format!(
                "{name}'s two-factor authentication was reset. Send them this single-use setup link (valid 24 hours):"
            ),
            (LinkKind::Password, false) => format!(
                "{name} can set a new password with this single-use link (valid 24 hours); their current password works until then. Signing in afterwards still asks for their second factor:"
            ),
            (kind, true) => format!(
                "A new {} for {name}; the one sent before no longer works:",
                kind.label().to_lowercase()
            ),
        }
    }

    /// The button that sends the link to its user by email.
    pub fn email_label(self) -> &'static str {
        match self {
            LinkKind::Invitation => "Send invitation by email",
            LinkKind::Setup => "Send setup link by email",
            LinkKind::Password => "Send password link by email",
        }
    }

    /// The link's path for `token`.
    pub fn path(self, token: &str) -> String {
        match self {
            LinkKind::Invitation => format!("/invite/{token}"),
            LinkKind::Setup => format!("/setup/{token}"),
            LinkKind::Password => format!("/password/reset/{token}"),
        }
    }

    /// The action that issues a new one in place of the one sent before, for `name`.
    /// The kind's name in the `user_links` table.
    pub fn stored(self) -> &'static str {
        match self {
            LinkKind::Invitation => "invite",
            LinkKind::Setup => "setup",
            LinkKind::Password => "password",
        }
    }

    /// The kind whose links have this path prefix (`/invite/`, `/setup/`, `/password/reset/`).
    pub const ALL: [LinkKind; 3] = [LinkKind::Invitation, LinkKind::Setup, LinkKind::Password];

    pub fn renew_label(self, name: &str) -> String {
        format!("New {} for {name}", self.label().to_lowercase())
    }
}

/// A link handed over to a user, with whom it is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandedLink {
    pub kind: LinkKind,
    pub name: String,
    /// It replaces one sent before.
    pub renewed: bool,
    /// The absolute link.
    pub link: String,
    /// The server sends mail: the link can go to its user by email.
    #[serde(default)]
    pub mailable: bool,
}

/// What a plain form post (one sent without JavaScript) produced that the page it returns to
/// must show: the server holds it for that page only, for the session that posted it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Flash {
    /// New recovery codes, shown once.
    RecoveryCodes(Vec<String>),
    /// A link to hand over.
    Link(HandedLink),
    /// What was done, in a sentence ("Saved.").
    Done(String),
}

/// The query parameter a page is given after a plain form post succeeded: it has a [`Flash`]
/// to show if the server holds one.
pub const FLASH_PARAM: &str = "done";

/// A user as the owner sees them on the Users page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub setting: policy::Setting,
    /// Name of who last set the 2FA state.
    pub set_by: Option<String>,
    /// When (Unix seconds).
    pub set_at: Option<i64>,
    pub has_authenticator: bool,
    /// Added but has not set a password yet.
    pub invitation_pending: bool,
    /// 2FA was reset; waiting for the user to use their setup link.
    pub reset_pending: bool,
    /// Passkeys and security keys the user has.
    pub passkeys: i64,
    /// Where they stand with the account's enrollment deadline, while they still have to set
    /// up: "Due in 3 days", "Due today", "Overdue".
    pub due: Option<String>,
    /// That deadline (the moment it passes).
    pub due_by: Option<i64>,
}

/// How a deadline `deadline` stands at `now`, in words, by UTC calendar days: "Due in 3 days",
/// "Due in 1 day", "Due today" (its last day is today), "Overdue".
pub fn due_label(deadline: i64, now: i64) -> String {
    if deadline <= now {
        return "Overdue".into();
    }
    let days = (deadline - 1).div_euclid(86_400) - now.div_euclid(86_400);
    if days <= 0 {
        "Due today".into()
    } else {
        format!("Due in {}", count_of(days, "day", "days"))
    }
}

impl UserRow {
    /// The second factors the user can give: "App, 2 passkeys", "1 passkey", "—".
    pub fn methods(&self) -> String {
        let mut out = Vec::new();
        if self.has_authenticator {
            out.push("App".to_string());
        }
        if self.passkeys > 0 {
            out.push(count_of(self.passkeys, "passkey", "passkeys"));
        }
        if out.is_empty() {
            "—".to_string()
        } else {
            out.join(", ")
        }
    }

    /// Where the user's authenticator stands, in the words of the Users page and its export.
    pub fn authenticator_state(&self) -> &'static str {
        if self.invitation_pending {
            "Invitation pending"
        } else if self.reset_pending {
            "Reset, waiting for setup"
        } else if self.has_authenticator || self.passkeys > 0 {
            "Set up"
        } else if self.setting.on {
            "Pending: sets up at next sign-in"
        } else {
            "Not set up"
        }
    }
}

/// Where the owner downloads the Users page as CSV (a plain link on that page).
pub const EXPORT_USERS_PATH: &str = "/users/export.csv";

/// `n` and the noun, singular for one: "1 user", "3 users", "0 users".
pub fn count_of(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserBrief {
    pub id: i64,
    pub name: String,
    pub email: String,
}

/// What requiring 2FA means for the account right now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyImpact {
    pub required: bool,
    pub users_total: i64,
    /// Users whose 2FA is on and set up.
    pub protected: i64,
    /// Users who will have to set up an authenticator at their next sign-in (the first
    /// `PENDING_SHOWN` of them; `pending_total` counts them all).
    pub pending_setup: Vec<UserBrief>,
    pub pending_total: i64,
    /// Users whose 2FA is on but who have no authenticator yet (they set up at next sign-in).
    pub to_set_up: i64,
    /// Users whose 2FA is off (exempt, while the account requires it).
    pub off: i64,
    /// While the account requires 2FA: the users the owner exempted (the first
    /// `PENDING_SHOWN`; `off` counts them all).
    pub exempt: Vec<UserBrief>,
    /// When the requirement took effect, while it is on.
    pub required_since: Option<i64>,
    /// Passkeys or security keys are required at sign-in (only while 2FA is).
    pub passkeys_required: bool,
    /// Users whose second factor is an authenticator app without a passkey: with passkeys
    /// required, they add one at their next sign-in.
    pub app_only: i64,
    /// Users still to set up a second factor before their deadline (they sign in with the
    /// password until then).
    pub due: i64,
    /// The account's Enroll by (the moment it passes), while 2FA is required.
    pub enroll_by: Option<i64>,
    /// Days a new user has to set up, from the day they were added.
    pub new_user_days: i64,
    /// The sender of security mail, when the server sends it (SMTP configured).
    #[serde(default)]
    pub mail_from: Option<String>,
}

/// What "Send reset link" answers, whether or not the email belongs to anyone.
pub const RESET_ASKED_SENTENCE: &str = "If an account uses that email, a link to set a new \
     password is on its way. It works once, for 1 hour. No mail? Check the address, or ask your \
     account owner.";

/// How many of the users still to set up an authenticator the console names.
pub const PENDING_SHOWN: i64 = 50;

impl PolicyImpact {
    /// "2 of 3 users are protected …", "1 of 1 user is protected …", and how many are due to
    /// set up before their deadline.
    pub fn protected_sentence(&self) -> String {
        let verb = if self.users_total == 1 { "is" } else { "are" };
        let mut out = format!(
            "{} of {} {verb} protected by two-factor authentication.",
            self.protected,
            count_of(self.users_total, "user", "users")
        );
        if self.due > 0 {
            let verb = if self.due == 1 { "is" } else { "are" };
            out.push_str(&format!(
                " {} {verb} due to set it up before the deadline.",
                count_of(self.due, "user", "users")
            ));
        }
        out
    }

    /// The account's requirement in a sentence, naming who is exempt from it.
    pub fn requirement_sentence(&self) -> String {
        if !self.required {
            return "Two-factor authentication is not required for everyone.".to_string();
        }
        let names: Vec<&str> = self.exempt.iter().map(|u| u.name.as_str()).collect();
        match (self.off, names.as_slice()) {
            (0, _) => "Two-factor authentication is required for everyone at login.".to_string(),
            (1, [one]) => format!(
                "Two-factor authentication is required for everyone except {one}, who signs in with only a password."
            ),
            (2, [a, b]) => format!(
                "Two-factor authentication is required for everyone except {a} and {b}, who sign in with only a password."
            ),
            (n, _) => format!(
                "Two-factor authentication is required for everyone except {}, who sign in with only a password (see Users).",
                count_of(n, "exempt user", "exempt users")
            ),
        }
    }

    /// What follows from the requirement, once saved: since when, and who still has to set up.
    pub fn follow_up(&self) -> Option<String> {
        let since = self.required_since?;
        let mut out = format!("Required since {}.", format_time(since));
        if self.pending_total > 0 {
            let verb = if self.pending_total == 1 {
                "has"
            } else {
                "have"
            };
            let overdue = self.pending_total - self.due;
            if self.due == 0 {
                out.push_str(&format!(
                    " {} still {verb} to set up a second factor at their next sign-in.",
                    count_of(self.pending_total, "user", "users")
                ));
            } else {
                out.push_str(&format!(
                    " {} still {verb} to set up a second factor: {} before their deadline, {overdue} at their next sign-in.",
                    count_of(self.pending_total, "user", "users"),
                    self.due
                ));
            }
        }
        Some(out)
    }

    /// The word for users with 2FA off: exempt while the account requires it.
    pub fn off_label(&self) -> &'static str {
        if self.required {
            "exempt"
        } else {
            "with two-factor authentication off"
        }
    }

    /// "… and N more" under a shortened list, or nothing.
    pub fn more_pending(&self) -> Option<String> {
        let more = self.pending_total - self.pending_setup.len() as i64;
        (more > 0).then(|| format!("… and {more} more (see Users)."))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub event: String,
    pub detail: String,
    pub client_addr: String,
    pub at: i64,
    pub actor: Option<String>,
    pub target: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page.
    pub next_before: Option<i64>,
}

/// "2026-11-27 23:01 UTC" from Unix seconds, without a date library in the wasm.
pub fn format_time(secs: i64) -> String {
    let (y, m, d) = civil(secs);
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// The UTC day of `secs` in words: "12 March 2027".
pub fn format_date(secs: i64) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let (y, m, d) = civil(secs);
    format!("{d} {} {y}", MONTHS[(m - 1) as usize])
}

/// The UTC day of `secs` as `YYYY-MM-DD` (a date field's value).
pub fn format_iso_date(secs: i64) -> String {
    let (y, m, d) = civil(secs);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Year, month (1–12) and day of the UTC day that `secs` falls in.
fn civil(secs: i64) -> (i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::{format_time, PolicyImpact};

    #[test]
    fn counts_read_as_english() {
        let impact = |protected, users_total| PolicyImpact {
            required: false,
            users_total,
            protected,
            pending_setup: Vec::new(),
            pending_total: 0,
            to_set_up: 0,
            off: 0,
            exempt: Vec::new(),
            required_since: None,
            passkeys_required: false,
            app_only: 0,
            due: 0,
            enroll_by: None,
            new_user_days: 0,
            mail_from: None,
        };
        assert_eq!(
            impact(1, 1).protected_sentence(),
            "1 of 1 user is protected by two-factor authentication."
        );
        assert_eq!(
            impact(0, 1).protected_sentence(),
            "0 of 1 user is protected by two-factor authentication."
        );
        assert_eq!(
            impact(2, 3).protected_sentence(),
            "2 of 3 users are protected by two-factor authentication."
        );
        let brief = |name: &str| super::UserBrief {
            id: 1,
            name: name.into(),
            email: "x@example.com".into(),
        };
        let mut p = impact(1, 3);
        assert!(p.requirement_sentence().contains("not required"));
        p.required = true;
        assert_eq!(
            p.requirement_sentence(),
            "Two-factor authentication is required for everyone at login."
        );
        p.off = 1;
        p.exempt = vec![brief("Ben Admin")];
        assert_eq!(
            p.requirement_sentence(),
            "Two-factor authentication is required for everyone except Ben Admin, who signs in with only a password."
        );
        p.off = 2;
        p.exempt.push(brief("Cy"));
        assert!(p
            .requirement_sentence()
            .contains("except Ben Admin and Cy, who sign in"));
        p.off = 3;
        p.exempt.push(brief("Di"));
        assert!(p.requirement_sentence().contains("except 3 exempt users"));
        // Saved: since when, and who still has to set up.
        assert_eq!(p.follow_up(), None);
        p.required_since = Some(951_782_400);
        assert_eq!(
            p.follow_up().unwrap(),
            "Required since 2000-02-29 00:00 UTC."
        );
        p.pending_total = 1;
        assert_eq!(
            p.follow_up().unwrap(),
            "Required since 2000-02-29 00:00 UTC. 1 user still has to set up a second factor at their next sign-in."
        );
        assert_eq!(super::count_of(1, "code", "codes"), "1 code");
        assert_eq!(super::count_of(0, "code", "codes"), "0 codes");
    }

    #[test]
    fn formats_utc_times() {
        assert_eq!(format_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(format_time(1_795_824_060), "2026-11-28 00:01 UTC");
    }
}
