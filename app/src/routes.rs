//! The router: one line per page.

use leptos::prelude::*;
use leptos_router::{
    components::{Route, Router, Routes},
    path,
};

use crate::pages::{
    AuditPage, InvitePage, LoginPage, NotFoundPage, OverviewPage, ProfilePage,
    SettingsSecurityPage, SetupPage, SignupPage, UsersPage, VerifyPage,
};

#[component]
pub fn AppRouter() -> impl IntoView {
    view! {
        <Router>
            <Routes fallback=NotFoundPage>
                <Route path=path!("/") view=OverviewPage/>
                <Route path=path!("/login") view=LoginPage/>
                <Route path=path!("/signup") view=SignupPage/>
                <Route path=path!("/login/verify") view=VerifyPage/>
                <Route path=path!("/profile") view=ProfilePage/>
                <Route path=path!("/users") view=UsersPage/>
                <Route path=path!("/settings/security") view=SettingsSecurityPage/>
                <Route path=path!("/audit") view=AuditPage/>
                <Route path=path!("/invite/:token") view=InvitePage/>
                <Route path=path!("/setup/:token") view=SetupPage/>
            </Routes>
        </Router>
    }
}
