//! Wasm-safe types shared by the server and the browser: views without secrets, errors, input rules.

mod error;
mod validate;

pub use error::AppError;
pub use validate::{
    normalize_email, validate_email, validate_name, validate_password, MAX_NAME_LEN,
    MAX_PASSWORD_LEN, MIN_PASSWORD_LEN,
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
    pub two_factor_on: bool,
}
