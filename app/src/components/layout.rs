//! Page frames: the card of the signed-out pages and the header of the signed-in ones.

#[cfg(not(feature = "ssr"))]
use std::sync::Arc;

use leptos::prelude::*;
use leptos_router::{components::Redirect, hooks::use_location};

use super::{flash_resource, has_flash, PlainFormResult, ReturnHere};
#[cfg(not(feature = "ssr"))]
use crate::api::auth::current_user;
use crate::api::auth::SignOut;
use crate::domain::{AppError, Me};

#[component]
pub fn AuthCard(title: &'static str, children: Children) -> impl IntoView {
    view! {
        <main class="auth" id="main">
            <div class="brand">"Latchkey"</div>
            <section class="card">
                <h1>{title}</h1>
                {children()}
            </section>
        </main>
    }
}

/// Renders `page` for the signed-in user under the console header; without a session it sends
/// the browser to the sign-in page.
///
/// Where the user is already known, the page renders at once: on the server (the session
/// middleware read them with the session, for this request) and in the browser while it
/// hydrates that server-rendered page (the server wrote them into the page's `data-me`). Only a
/// page the browser renders itself, after a client-side navigation, loads them (`current_user`)
/// behind a `Suspense`. A resource and its `Suspense` on every server render cost about a third
/// of a signed-in page's instructions (callgrind, BENCHMARKS.md), and the hydrating browser
/// needs the same view structure as the server's, so both sides take the direct path.
#[component]
pub fn SignedIn<F, V>(page: F) -> impl IntoView
where
    F: Fn(Me) -> V + Send + Sync + 'static,
    V: IntoView + 'static,
{
    // The server always knows: the user comes with this request's session.
    #[cfg(feature = "ssr")]
    {
        signed_in_view(crate::server::context::signed_in_user(), &page)
    }
    #[cfg(not(feature = "ssr"))]
    {
        if let Some(known) = hydrating_user() {
            return signed_in_view(Ok(known), &page);
        }
        let me = Resource::new(|| (), |_| current_user());
        let page = Arc::new(page);
        view! {
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {
                    let page = page.clone();
                    move || {
                        let page = page.clone();
                        Suspend::new(async move { signed_in_view(me.await, &*page) })
                    }
                }
            </Suspense>
        }
        .into_any()
    }
}

/// The header and the page for `me`, or where a visitor without a session belongs.
fn signed_in_view<F, V>(me: Result<Me, AppError>, page: &F) -> AnyView
where
    F: Fn(Me) -> V,
    V: IntoView + 'static,
{
    match me {
        Ok(me) => {
            #[cfg(feature = "ssr")]
            let data_me = serde_json::to_string(&me).ok();
            #[cfg(not(feature = "ssr"))]
            let data_me: Option<String> = None;
            super::focus_heading_after_navigation();
            // After a plain form post, what it did ([`crate::domain::Flash`]) comes first.
            let result = has_flash().then(|| view! { <PlainFormResult flash=flash_resource()/> });
            let owed = RwSignal::new(me.two_factor.enroll_by);
            provide_context(OwedBy(owed));
            let banner = move || owed.get().map(|by| view! { <DeadlineBanner by/> });
            view! {
                <Header me=me.clone()/>
                <main class="page" id="main" tabindex="-1" data-me=data_me>{banner}{result}{page(me)}</main>
            }
            .into_any()
        }
        Err(AppError::Unauthorized) => view! { <Redirect path="/login"/> }.into_any(),
        Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
    }
}

/// The deadline by which the signed-in user still has to set up 2FA, while they do: what the
/// page was drawn with, until a step on the page (setting up in Profile) reads it anew.
#[derive(Clone, Copy)]
pub struct OwedBy(pub RwSignal<Option<i64>>);

/// On every page of a user who still has to set up 2FA before the account's deadline `by`:
/// the date, and **Set up now**, which opens the enrollment in Profile (a plain form, so it works
/// without JavaScript too).
#[component]
fn DeadlineBanner(by: i64) -> impl IntoView {
    view! {
        <div class="notice deadline" role="region" aria-label="Two-factor authentication deadline" data-testid="deadline-banner">
            <p>{format!("Set up two-factor authentication by {}.", crate::domain::format_date(by - 1))}
                " After that day you cannot sign in without it."</p>
            <form method="get" action="/profile" class="step-form">
                <input type="hidden" name="setup" value="now"/>
                <button type="submit">"Set up now"</button>
            </form>
        </div>
    }
}

/// In the browser, from the server-rendered page being hydrated: its `data-me` is read once and
/// removed, so a page rendered later in the browser loads the user afresh.
#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
fn hydrating_user() -> Option<Me> {
    let main = document().query_selector("main[data-me]").ok()??;
    let json = main.get_attribute("data-me")?;
    let _ = main.remove_attribute("data-me");
    serde_json::from_str::<Me>(&json).ok()
}

/// Built for neither side (a plain `cargo check`): always load the user.
#[cfg(not(any(feature = "ssr", feature = "hydrate")))]
fn hydrating_user() -> Option<Me> {
    None
}

#[component]
fn Header(me: Me) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    // On a phone the links fold behind a Menu button once the wasm runs; before (or without)
    // it they stay open, so every page can be reached without JavaScript.
    let open = RwSignal::new(false);
    view! {
        <a class="skip-link" href="#main" on:click=|ev| { ev.prevent_default(); super::focus_id("main"); }>"Skip to content"</a>
        <header class="topbar">
            <NavLink href="/" class="brand">"Latchkey"</NavLink>
            <button type="button" class="menu-button secondary" aria-controls="main-menu"
                aria-expanded=move || if open.get() { "true" } else { "false" }
                on:click=move |_| open.update(|o| *o = !*o)>"Menu"</button>
            <div class="menu-body" id="main-menu" class:open=move || open.get()>
            // A followed link closes the menu.
            <nav aria-label="Main" on:click=move |_| open.set(false)>
                <NavLink href="/">"Overview"</NavLink>
                <NavLink href="/profile">"Profile"</NavLink>
                {(me.role == crate::domain::Role::Owner).then(|| view! {
                    <NavLink href="/users">"Users"</NavLink>
                    <NavLink href="/settings/security">"Settings & Security"</NavLink>
                    <NavLink href="/audit">"Audit log"</NavLink>
                })}
            </nav>
            <div class="who">
                <span class="account">{me.account_name}</span>
                <span class="email">{me.email}</span>
                <ActionForm action=sign_out>
                    <ReturnHere/>
                    <button type="submit" class="secondary">"Sign out"</button>
                </ActionForm>
            </div>
            </div>
        </header>
    }
}

/// A header link: a plain anchor, marked `aria-current="page"` on its own page. The router
/// takes its clicks as it does any same-origin link's. leptos' `<A>` resolves its path against
/// the route and builds a memo per link on every render: 8.6 % of the Overview's server CPU
/// went to the header (`perf`), for five fixed, absolute paths.
#[component]
fn NavLink(
    href: &'static str,
    #[prop(optional)] class: Option<&'static str>,
    children: Children,
) -> impl IntoView {
    let pathname = use_location().pathname;
    let current = move || {
        pathname
            .with(|p| p == href || p.strip_suffix('/') == Some(href))
            .then_some("page")
    };
    view! { <a href=href class=class aria-current=current>{children()}</a> }
}

/// Renders `children` for the account owner; everyone else is told the page is not theirs.
#[component]
pub fn OwnerOnly(me: Me, children: ChildrenFn) -> impl IntoView {
    if me.role == crate::domain::Role::Owner {
        children().into_any()
    } else {
        view! { <p class="form-error" role="alert">"Only the account owner can see this page."</p> }
            .into_any()
    }
}
