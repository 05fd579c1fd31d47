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

/// Whether `href` (a console path) is the page at `path` or a page under it.
fn is_current(path: &str, href: &str) -> bool {
    path == href
        || (href != "/"
            && path
                .strip_prefix(href)
                .is_some_and(|rest| rest.starts_with('/')))
}

/// The console header. Its links are plain anchors (the router takes their clicks) that read
/// the location once between them: leptos' `<A>` resolves each link's path and builds its own
/// memo and closures per render, which was most of this header's cost on every signed-in page.
#[component]
fn Header(me: Me) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    let path = use_location().pathname;
    let link = move |href: &'static str, label: &'static str| {
        view! {
            <a href=href aria-current=move || path.with(|p| is_current(p, href)).then_some("page")>
                {label}
            </a>
        }
    };
    view! {
        <header class="topbar">
            <a href="/" class="brand">"Latchkey"</a>
            <nav aria-label="Main">
                {link("/", "Overview")}
                {link("/profile", "Profile")}
                {(me.role == crate::domain::Role::Owner).then(|| view! {
                    {link("/users", "Users")}
                    {link("/settings/security", "Settings & Security")}
                    {link("/audit", "Audit log")}
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

#[cfg(test)]
mod tests {
    use super::is_current;

    #[test]
    fn a_header_link_is_current_on_its_page_and_the_pages_under_it() {
        assert!(is_current("/", "/"));
        assert!(!is_current("/profile", "/"));
        assert!(is_current("/profile", "/profile"));
        assert!(!is_current("/", "/profile"));
        assert!(is_current("/settings/security", "/settings/security"));
        assert!(is_current("/users/7", "/users"));
        assert!(!is_current("/usersx", "/users"));
        assert!(!is_current("/audit", "/users"));
    }
}
