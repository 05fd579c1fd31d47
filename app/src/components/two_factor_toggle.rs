//! The one 2FA switch of the console (Settings & Security, Users, Profile).

use leptos::prelude::*;

/// A real switch for assistive technology: `role="switch"` with `aria-checked`, named by its
/// visible label. When `disabled`, `note` says why.
#[component]
pub fn TwoFactorToggle(
    #[prop(into)] label: String,
    /// Distinguishes several switches on one page (e.g. one per user row).
    #[prop(into)]
    id: String,
    #[prop(into)] checked: Signal<bool>,
    #[prop(into, optional)] disabled: Signal<bool>,
    #[prop(into, optional)] note: Signal<Option<String>>,
    on_toggle: Callback<bool>,
) -> impl IntoView {
    let label_id = format!("{id}-label");
    let note_id = format!("{id}-note");
    let described = note_id.clone();
    view! {
        <div class="switch-row">
            <button
                type="button"
                role="switch"
                class="switch"
                id=id
                aria-checked=move || if checked.get() { "true" } else { "false" }
                aria-labelledby=label_id.clone()
                aria-describedby=move || note.with(Option::is_some).then(|| described.clone())
                disabled=move || disabled.get()
                on:click=move |_| on_toggle.run(!checked.get_untracked())
            >
                <span class="knob"></span>
            </button>
            <span class="switch-label" id=label_id>{label}</span>
            <span class="switch-state">{move || if checked.get() { "On" } else { "Off" }}</span>
        </div>
        <Show when=move || note.with(Option::is_some)>
            <p class="note" id=note_id.clone()>{move || note.get()}</p>
        </Show>
    }
}
