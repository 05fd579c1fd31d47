//! Server functions: thin — check the session, call the server code, map errors.

pub mod auth;
pub mod links;
pub mod owner;
pub mod passkeys;
pub mod password;
pub mod sessions;
pub mod two_factor;
