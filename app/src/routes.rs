//! The router: one line per page. Pages stream in order, so what a page loads is in the
//! HTML itself and every page reads (and its forms work) before the wasm has loaded.
//!
//! Only the sign-in page ships in the main wasm (a first visit lands there); every other page is
//! a lazy route, split into its own file by `cargo leptos build --split` and fetched when first
//! shown (on a page load, together with the main wasm).
//!
//! No page nests in another, so `<FlatRoutes>` does the matching: against the nested `<Routes>`
//! it took the main wasm from 605,153 to 594,088 bytes (brotli 189.4 → 186.1 KB) and 1–3 % of
//! the instructions of a server-rendered page (callgrind).

use leptos::prelude::*;
use leptos_router::{
    components::{FlatRoutes, Route, Router},
    lazy_route, path, Lazy, LazyRoute, SsrMode,
};

use crate::pages::{
    AuditPage, ForgotPasswordPage, InvitePage, LoginPage, NotFoundPage, OverviewPage, ProfilePage,
    ResetPasswordPage, SettingsSecurityPage, SetupPage, SignupPage, UsersPage, VerifyPage,
};

/// A page behind sign-in (or behind a link) whose code loads on first use.
macro_rules! lazy_page {
    ($route:ident, $page:ident) => {
        #[derive(Clone, Copy, Debug)]
        pub struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(this: Self) -> AnyView {
                let _ = this;
                #[cfg(feature = "ssr")]
                crate::assets::preload_route(stringify!($route));
                view! { <$page/> }.into_any()
            }
        }
    };
}

lazy_page!(SignupRoute, SignupPage);
lazy_page!(VerifyRoute, VerifyPage);
lazy_page!(OverviewRoute, OverviewPage);
lazy_page!(ProfileRoute, ProfilePage);
lazy_page!(UsersRoute, UsersPage);
lazy_page!(SettingsSecurityRoute, SettingsSecurityPage);
lazy_page!(AuditRoute, AuditPage);
lazy_page!(InviteRoute, InvitePage);
lazy_page!(SetupRoute, SetupPage);
lazy_page!(ForgotPasswordRoute, ForgotPasswordPage);
lazy_page!(ResetPasswordRoute, ResetPasswordPage);

#[component]
pub fn AppRouter() -> impl IntoView {
    view! {
        <Router>
            <FlatRoutes fallback=NotFoundPage>
                <Route path=path!("/") view={Lazy::<OverviewRoute>::new()} ssr=SsrMode::InOrder/>
                <Route path=path!("/login") view=LoginPage ssr=SsrMode::InOrder/>
                <Route path=path!("/signup") view={Lazy::<SignupRoute>::new()} ssr=SsrMode::InOrder/>
                <Route path=path!("/login/verify") view={Lazy::<VerifyRoute>::new()} ssr=SsrMode::InOrder/>
                <Route path=path!("/profile") view={Lazy::<ProfileRoute>::new()} ssr=SsrMode::InOrder/>
                <Route path=path!("/users") view={Lazy::<UsersRoute>::new()} ssr=SsrMode::InOrder/>
                <Route path=path!("/settings/security") view={Lazy::<SettingsSecurityRoute>::new()} ssr=SsrMode::InOrder/>
                <Route path=path!("/audit") view={Lazy::<AuditRoute>::new()} ssr=SsrMode::InOrder/>
                <Route path=path!("/invite/:token") view={Lazy::<InviteRoute>::new()} ssr=SsrMode::InOrder/>
                <Route path=path!("/setup/:token") view={Lazy::<SetupRoute>::new()} ssr=SsrMode::InOrder/>
                <Route path=path!("/password/forgot") view={Lazy::<ForgotPasswordRoute>::new()} ssr=SsrMode::InOrder/>
                <Route path=path!("/password/reset/:token") view={Lazy::<ResetPasswordRoute>::new()} ssr=SsrMode::InOrder/>
            </FlatRoutes>
        </Router>
    }
}
