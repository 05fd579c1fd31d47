//! Page frames: the card of the signed-out pages and the header of the signed-in ones.

use std::sync::Arc;

use leptos::prelude::*;
use leptos_router::components::{Redirect, A};

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
            <A href="/" attr:class="brand">"Latchkey"</A>
            <nav aria-label="Main">
                <A href="/">"Overview"</A>
                <A href="/profile">"Profile"</A>
                {(me.role == crate::domain::Role::Owner).then(|| view! {
                    <A href="/users">"Users"</A>
                    <A href="/settings/security">"Settings & Security"</A>
                    <A href="/audit">"Audit log"</A>
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
