//! The one 2FA switch of the console (Settings & Security, Users, Profile).

use leptos::prelude::*;

/// A real switch for assistive technology: `role="switch"` with `aria-checked`, named by its
/// visible label, or for a switch that belongs to someone (one per user row) by the label and
/// their name: "Two-factor authentication for Ada Admin". When `disabled`, `note` says why.
#[component]
pub fn TwoFactorToggle(
    #[prop(into)] label: String,
    /// Distinguishes several switches on one page (e.g. one per user row).
    #[prop(into)]
    id: String,
    /// Whose setting this is, when several switches share the page.
    #[prop(into, optional)]
    whose: Option<String>,
    #[prop(into)] checked: Signal<bool>,
    #[prop(into, optional)] disabled: Signal<bool>,
    #[prop(into, optional)] note: Signal<Option<String>>,
    /// Called with the new state on a click; `None` when the switch submits the form it sits
    /// in, which then says what changes (and works without JavaScript).
    #[prop(optional)]
    on_toggle: Option<Callback<bool>>,
) -> impl IntoView {
    let label_id = format!("{id}-label");
    let note_id = format!("{id}-note");
    let described = note_id.clone();
    let aria_label = whose.as_ref().map(|name| format!("{label} for {name}"));
    let labelled_by = aria_label.is_none().then(|| label_id.clone());
    view! {
        <div class="switch-row">
            <button
                type=if on_toggle.is_some() { "button" } else { "submit" }
                role="switch"
                class="switch"
                id=id
                aria-checked=move || if checked.get() { "true" } else { "false" }
                aria-label=aria_label
                aria-labelledby=labelled_by
                aria-describedby=move || note.with(Option::is_some).then(|| described.clone())
                disabled=move || disabled.get()
                on:click=move |_| {
                    if let Some(on_toggle) = on_toggle {
                        on_toggle.run(!checked.get_untracked());
                    }
                }
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
