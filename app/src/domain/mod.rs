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
    pub recovery_codes_left: i64,
}

impl TwoFactorStatus {
    /// Fewer than this many unused recovery codes earns a warning.
    pub const LOW_RECOVERY_CODES: i64 = 3;

    pub fn low_on_recovery_codes(&self) -> bool {
        self.has_authenticator && self.recovery_codes_left < Self::LOW_RECOVERY_CODES
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignInStage {
    /// Has an authenticator: asks for a code.
    Code,
    /// 2FA is on but no authenticator yet: enrollment first.
    Enroll,
}
