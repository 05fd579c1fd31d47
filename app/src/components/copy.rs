//! Copying to the clipboard, with a status that says it happened.

use leptos::prelude::*;

/// A button that copies `text`, and a status beside it that says "Copied" (or why not) to
/// everyone, screen readers included. It needs the wasm: it appears once the page is hydrated.
#[component]
pub fn CopyButton(
    #[prop(into)] text: Signal<String>,
    /// The button's name: "Copy", "Copy link", "Copy setup key".
    label: &'static str,
    /// Runs once the text is on the clipboard.
    #[prop(optional)]
    on_copied: Option<Callback<()>>,
) -> impl IntoView {
    let status = RwSignal::new(None::<&'static str>);
    view! {
        <button type="button" class="secondary js-only"
            on:click=move |_| copy(text.get_untracked(), status, on_copied)>{label}</button>
        <span class="copy-status" role="status">{move || status.get()}</span>
    }
}

fn copy(_text: String, _status: RwSignal<Option<&'static str>>, _on_copied: Option<Callback<()>>) {
    #[cfg(feature = "hydrate")]
    {
        let promise = window().navigator().clipboard().write_text(&_text);
        leptos::task::spawn_local(async move {
            match wasm_bindgen_futures::JsFuture::from(promise).await {
                Ok(_) => {
                    _status.set(Some("Copied"));
                    if let Some(done) = _on_copied {
                        done.run(());
                    }
                }
                Err(_) => _status.set(Some("Could not copy: select the text and copy it.")),
            }
        });
    }
}
