//! What makes every flow work without JavaScript: the steps of a page in its query string, and
//! the result of a plain form post shown by the page it returns to.
//!
//! With the wasm, a page moves between its steps (a confirmation, a form opened) in signals and
//! gets each server function's result in the answer. Without it (or before it has loaded):
//!
//! - a button that opens a step submits a [`StepForm`], a GET form that loads the page with the
//!   step in its query (`/users?confirm=remove&user=7`); the page starts in the step its query
//!   names, so the server renders it, and the wasm, once loaded, goes on from there;
//! - a server function's form posts natively; the server sends the browser back to the page
//!   with `?done` ([`FLASH_PARAM`]) and keeps what it must show ([`Flash`]: recovery codes, a
//!   link, "Saved.") for that page, which [`PlainFormResult`] takes and shows once.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::{action_error, FormError, HandOver, RecoveryCodes, ReturnHere};
use crate::api::two_factor::{take_flash, FinishEnrollment};
use crate::domain::{Flash, FLASH_PARAM};

/// A GET form that opens a step of its page: `params` become its query. Its buttons are
/// `type="submit"`; with the wasm their click handlers call `prevent_default` and change the
/// page's signals instead.
#[component]
pub fn StepForm(params: Vec<(&'static str, String)>, children: Children) -> impl IntoView {
    view! {
        <form method="get" class="step-form">
            {params.into_iter().map(|(name, value)| view! { <input type="hidden" name=name value=value/> }).collect_view()}
            {children()}
        </form>
    }
}

/// The value of `name` in the page's query when it was loaded: the step a page starts in.
pub fn step_param(name: &str) -> Option<String> {
    use_query_map().with_untracked(|q| q.get(name))
}

/// Whether a plain form post sent the browser to this page with a result to show.
pub fn has_flash() -> bool {
    step_param(FLASH_PARAM).is_some()
}

/// **I have saved my recovery codes**: during sign-in it opens the session (and leaves for the
/// Overview); signed in, it closes the codes.
#[component]
pub fn SavedCodesButton(
    #[prop(optional)] on_done: Option<Callback<()>>,
    #[prop(default = "I have saved my recovery codes")] label: &'static str,
    /// Not yet: the codes were not downloaded, copied or printed (see `RecoveryCodes`).
    #[prop(optional, into)]
    waiting: Signal<bool>,
) -> impl IntoView {
    let finish = ServerAction::<FinishEnrollment>::new();
    let error = action_error(finish.value());
    Effect::new(move |_| {
        if let (Some(Ok(())), Some(on_done)) = (finish.value().get(), on_done) {
            on_done.run(());
        }
    });
    view! {
        <ActionForm action=finish>
            <ReturnHere/>
            <FormError error/>
            <button type="submit" disabled=move || finish.pending().get() || waiting.get()
                aria-describedby=move || waiting.get().then_some("save-codes-hint")>{label}</button>
        </ActionForm>
    }
}

/// What the last plain form post left for this page. Taking it takes it away, so a page makes
/// this once, outside any part of it that may render more than once (a `Suspend`). Only a page
/// loaded with `?done` asks the server.
pub fn flash_resource() -> Resource<Option<Flash>> {
    let asked = has_flash();
    Resource::new(
        || (),
        move |_| async move {
            if asked {
                take_flash().await.ok().flatten()
            } else {
                None
            }
        },
    )
}

/// Shows what [`flash_resource`] took; `otherwise` when nothing was left.
#[component]
pub fn PlainFormResult(
    flash: Resource<Option<Flash>>,
    #[prop(optional, into)] otherwise: Option<ViewFn>,
) -> impl IntoView {
    view! {
        <Suspense>
            {move || {
                let otherwise = otherwise.clone();
                Suspend::new(async move {
                    match flash.await {
                        Some(f) => view! { <FlashView flash=f/> }.into_any(),
                        None => otherwise.map(|v| v.run()).into_any(),
                    }
                })
            }}
        </Suspense>
    }
}

#[component]
fn FlashView(flash: Flash) -> impl IntoView {
    match flash {
        Flash::RecoveryCodes(codes) => view! {
            <section class="panel" aria-labelledby="recovery-heading">
                <RecoveryCodes codes/>
            </section>
        }
        .into_any(),
        Flash::Link(handed) => view! { <HandOver handed/> }.into_any(),
        Flash::Done(sentence) => view! { <p class="saved" role="status">{sentence}</p> }.into_any(),
    }
}
