//! The one error type of every server function: a sentence for the user, a status for HTTP.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// Input that breaks a rule; `field` names the form field it belongs to.
    #[error("{message}")]
    Invalid { field: String, message: String },
    /// Sign-in failed; deliberately says nothing about which part was wrong.
    #[error("Incorrect email or password.")]
    BadCredentials,
    #[error("Please sign in to continue.")]
    Unauthorized,
    #[error("You do not have permission to do that.")]
    Forbidden,
    #[error("Not found.")]
    NotFound,
    #[error("Too many attempts. Try again in {}.", seconds(.retry_after_secs))]
    TooManyRequests { retry_after_secs: u64 },
    /// The server is at capacity for this kind of work (the password-hashing queue is full).
    #[error("The server is busy. Try again in {}.", seconds(.retry_after_secs))]
    Busy { retry_after_secs: u64 },
    /// Refused for a reason the user can act on (said in the message).
    #[error("{0}")]
    Refused(String),
    /// Details went to the server log, never to the browser.
    #[error("Something went wrong on our side. Please try again.")]
    Internal,
    /// The request could not be decoded or sent (malformed body, network failure).
    #[error("The request could not be processed: {0}")]
    Request(String),
}

impl AppError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AppError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// The message for one form field, if this error belongs to it.
    pub fn for_field(&self, name: &str) -> Option<String> {
        match self {
            AppError::Invalid { field, message } if field == name => Some(message.clone()),
            _ => None,
        }
    }

    /// Seconds to wait before trying again, for the `Retry-After` header.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            AppError::TooManyRequests { retry_after_secs }
            | AppError::Busy { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// True when the error belongs to no single field and is shown for the whole form.
    pub fn is_form_level(&self) -> bool {
        !matches!(self, AppError::Invalid { .. })
    }

    pub fn status_code(&self) -> u16 {
        match self {
            AppError::Invalid { .. } | AppError::Request(_) => 400,
            AppError::BadCredentials | AppError::Unauthorized => 401,
            AppError::Forbidden | AppError::Refused(_) => 403,
            AppError::NotFound => 404,
            AppError::TooManyRequests { .. } => 429,
            AppError::Internal => 500,
            AppError::Busy { .. } => 503,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(msg) | ServerFnErrorErr::Deserialization(msg) => {
                AppError::Request(format!("malformed input ({msg})"))
            }
            ServerFnErrorErr::Request(msg) => AppError::Request(msg),
            other => AppError::Request(other.to_string()),
        }
    }
}

/// "1 second", "30 seconds".
fn seconds(n: &u64) -> String {
    format!("{n} second{}", if *n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::AppError;

    #[test]
    fn waits_are_said_in_words() {
        let wait = |n| {
            AppError::TooManyRequests {
                retry_after_secs: n,
            }
            .to_string()
        };
        assert_eq!(wait(1), "Too many attempts. Try again in 1 second.");
        assert_eq!(wait(30), "Too many attempts. Try again in 30 seconds.");
        let busy = AppError::Busy {
            retry_after_secs: 1,
        }
        .to_string();
        assert_eq!(busy, "The server is busy. Try again in 1 second.");
    }
}
