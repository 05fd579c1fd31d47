//! The one 2FA switch of the console (Settings & Security, Users, Profile, Add user).

use leptos::prelude::*;

/// What the switch does when pressed.
#[derive(Clone, Copy)]
pub enum SwitchAction {
    /// Submits the form it sits in: with the wasm or without, that form says what changes (a
    /// server function's form, or a GET form that opens the page's next step).
    Submit,
    /// With the wasm, runs the callback with the new state instead of submitting; without it,
    /// the button still submits its form.
    Enhanced(Callback<bool>),
    /// A checkbox named `name` in a form that is sent later (Add user): its state is the field.
    Field(&'static str),
}

/// A real switch for assistive technology, named by its visible label, or for a switch that
/// belongs to someone (one per user row) by the label and their name: "Two-factor
/// authentication for Ada Admin". It is a button with `role="switch"` and `aria-checked`, or
/// for [`SwitchAction::Field`] a checkbox with `role="switch"`. When `disabled`, `note` says why.
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
    /// Where the note leads, when it names a page ("Change yours in Profile.").
    #[prop(optional)]
    note_href: Option<&'static str>,
    action: SwitchAction,
) -> impl IntoView {
    let label_id = format!("{id}-label");
    let note_id = format!("{id}-note");
    let described = note_id.clone();
    let aria_label = whose.as_ref().map(|name| format!("{label} for {name}"));
    let labelled_by = aria_label.is_none().then(|| label_id.clone());
    let described_by = move || note.with(Option::is_some).then(|| described.clone());
    let control = match action {
        SwitchAction::Field(name) => view! {
            <input type="checkbox" role="switch" class="switch" id=id name=name value="true"
                checked=move || checked.get()
                aria-label=aria_label aria-labelledby=labelled_by aria-describedby=described_by
                disabled=move || disabled.get()/>
            <span class="switch-label" id=label_id>{label}</span>
            // Shown by CSS from the checkbox's own state, so it is right without JavaScript.
            <span class="switch-state"><span class="when-on">"On"</span><span class="when-off">"Off"</span></span>
        }
        .into_any(),
        SwitchAction::Submit | SwitchAction::Enhanced(_) => view! {
            <button type="submit" role="switch" class="switch" id=id
                aria-checked=move || if checked.get() { "true" } else { "false" }
                aria-label=aria_label aria-labelledby=labelled_by aria-describedby=described_by
                disabled=move || disabled.get()
                on:click=move |ev| {
                    if let SwitchAction::Enhanced(on_toggle) = action {
                        ev.prevent_default();
                        on_toggle.run(!checked.get_untracked());
                    }
                }
            >
                <span class="knob"></span>
            </button>
            <span class="switch-label" id=label_id>{label}</span>
            <span class="switch-state">{move || if checked.get() { "On" } else { "Off" }}</span>
        }
        .into_any(),
    };
    view! {
        <div class="switch-row">{control}</div>
        <Show when=move || note.with(Option::is_some)>
            <p class="note" id=note_id.clone()>{move || match note_href {
                Some(href) => view! { <a href=href>{note.get()}</a> }.into_any(),
                None => note.get().into_any(),
            }}</p>
        </Show>
    }
}
