//! One module per route-level page.

mod login;
mod not_found;
mod overview;
mod signup;

pub use login::LoginPage;
pub use not_found::NotFoundPage;
pub use overview::OverviewPage;
pub use signup::SignupPage;
