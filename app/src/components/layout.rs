//! Page frames: the card of the signed-out pages and the header of the signed-in ones.

use std::sync::Arc;

use leptos::prelude::*;
use leptos_router::{components::Redirect, hooks::use_location};

use super::ReturnHere;
use crate::api::auth::{current_user, SignOut};
use crate::domain::{AppError, Me};

#[component]
pub fn AuthCard(title: &'static str, children: Children) -> impl IntoView {
    view! {
        <main class="auth">
            <div class="brand">"Latchkey"</div>
            <section class="card">
                <h1>{title}</h1>
                {children()}
            </section>
        </main>
    }
}

/// Loads the signed-in user and renders `page` with them under the console header;
/// without a session it sends the browser to the sign-in page.
#[component]
pub fn SignedIn<F, V>(page: F) -> impl IntoView
where
    F: Fn(Me) -> V + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let me = Resource::new(|| (), |_| current_user());
    let page = Arc::new(page);
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {
                let page = page.clone();
                move || {
                    let page = page.clone();
                    Suspend::new(async move {
                        match me.await {
                            Ok(me) => {
                                view! {
                                    <Header me=me.clone()/>
                                    <main class="page">{page(me)}</main>
                                }
                                    .into_any()
                            }
                            Err(AppError::Unauthorized) => view! { <Redirect path="/login"/> }.into_any(),
                            Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                        }
                    })
                }
            }
        </Suspense>
    }
}

#[component]
fn Header(me: Me) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    view! {
        <header class="topbar">
            <NavLink href="/" class="brand">"Latchkey"</NavLink>
            <nav aria-label="Main">
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
