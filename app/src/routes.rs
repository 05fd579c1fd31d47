//! The router: one line per page. Pages stream in order, so what a page loads is in the
//! HTML itself and every page reads (and its forms work) before the wasm has loaded.

use leptos::prelude::*;
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
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
                <Route path=path!("/") view=OverviewPage ssr=SsrMode::InOrder/>
                <Route path=path!("/login") view=LoginPage ssr=SsrMode::InOrder/>
                <Route path=path!("/signup") view=SignupPage ssr=SsrMode::InOrder/>
                <Route path=path!("/login/verify") view=VerifyPage ssr=SsrMode::InOrder/>
                <Route path=path!("/profile") view=ProfilePage ssr=SsrMode::InOrder/>
                <Route path=path!("/users") view=UsersPage ssr=SsrMode::InOrder/>
                <Route path=path!("/settings/security") view=SettingsSecurityPage ssr=SsrMode::InOrder/>
                <Route path=path!("/audit") view=AuditPage ssr=SsrMode::InOrder/>
                <Route path=path!("/invite/:token") view=InvitePage ssr=SsrMode::InOrder/>
                <Route path=path!("/setup/:token") view=SetupPage ssr=SsrMode::InOrder/>
            </Routes>
        </Router>
    }
}
