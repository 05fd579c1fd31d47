//! Latchkey: the console's components, pages and server functions, shared by server and browser.
#![recursion_limit = "512"]

pub mod api;
mod assets;
pub mod components;
pub mod domain;
pub mod pages;
mod routes;
#[cfg(feature = "ssr")]
pub mod server;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};

/// The HTML document the server renders around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    page_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <assets::AssetTags options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// Every page's Content-Security-Policy allows only the scripts that carry this render's nonce
/// (leptos puts it on the hydration and resource scripts) and files from our own origin.
#[cfg(feature = "ssr")]
fn page_security_policy() {
    use leptos::nonce::use_nonce;
    if let (Some(nonce), Some(res)) = (use_nonce(), use_context::<leptos_axum::ResponseOptions>()) {
        if let Ok(v) = http::HeaderValue::from_str(&server::config::page_csp(&nonce)) {
            res.insert_header(http::header::CONTENT_SECURITY_POLICY, v);
        }
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    components::mark_hydrated();
    view! {
        <Title formatter=|text| format!("{text} · Latchkey")/>
        <routes::AppRouter/>
    }
}
