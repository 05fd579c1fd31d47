//! One module per route-level page.

mod login;
mod not_found;
mod overview;
mod profile;
mod signup;
mod verify;

pub use login::LoginPage;
pub use not_found::NotFoundPage;
pub use overview::OverviewPage;
pub use profile::ProfilePage;
pub use signup::SignupPage;
pub use verify::VerifyPage;
