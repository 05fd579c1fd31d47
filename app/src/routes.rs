//! The router: one line per page.

use leptos::prelude::*;
use leptos_router::{
    components::{Route, Router, Routes},
    path,
};

use crate::pages::{LoginPage, NotFoundPage, OverviewPage, ProfilePage, SignupPage, VerifyPage};

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
            </Routes>
        </Router>
    }
}
