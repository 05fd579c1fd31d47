//! One module per route-level page.

mod audit;
mod invite;
mod login;
mod not_found;
mod overview;
mod password;
mod profile;
mod settings_security;
mod signup;
mod users;
mod verify;

pub use audit::AuditPage;
pub use invite::{InvitePage, SetupPage};
pub use login::LoginPage;
pub use not_found::NotFoundPage;
pub use overview::OverviewPage;
pub use password::{ForgotPasswordPage, ResetPasswordPage};
pub use profile::ProfilePage;
pub use settings_security::SettingsSecurityPage;
pub use signup::SignupPage;
pub use users::UsersPage;
pub use verify::VerifyPage;
