//! Labelled form fields whose errors are shown in words right under them.

use leptos::prelude::*;

use crate::domain::AppError;

/// The error of an action's last result, if it failed.
pub fn action_error<T, V>(value: V) -> Signal<Option<AppError>>
where
    V: Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
{
    Signal::derive(move || value.get().and_then(Result::err))
}

/// The message for `field`, if the error belongs to it.
pub fn field_error(error: Signal<Option<AppError>>, field: &'static str) -> Signal<Option<String>> {
    Signal::derive(move || error.with(|e| e.as_ref().and_then(|e| e.for_field(field))))
}

#[component]
pub fn TextField(
    /// The visible label, which is also the accessible name.
    label: &'static str,
    /// The form field name, matching the server function's argument.
    name: &'static str,
    #[prop(default = "text")] kind: &'static str,
    #[prop(optional)] autocomplete: Option<&'static str>,
    #[prop(optional)] maxlength: Option<usize>,
    #[prop(optional)] inputmode: Option<&'static str>,
    #[prop(into)] error: Signal<Option<String>>,
    /// Focused when the page loads (the one field a page is for).
    #[prop(optional)]
    autofocus: bool,
    /// What the field holds when the page loads (a saved setting).
    #[prop(optional, into)]
    value: Option<String>,
    /// The element id, where a page has two fields of one name (default `field-{name}`).
    #[prop(optional)]
    id: Option<&'static str>,
) -> impl IntoView {
    let id = id.map_or_else(|| format!("field-{name}"), str::to_string);
    // A field whose input was refused takes focus, so its error (the field's description) is
    // read out and the person can correct it at once.
    let focus = id.clone();
    Effect::new(move |had: Option<bool>| {
        let has = error.with(Option::is_some);
        if has && had != Some(true) {
            super::focus_id(focus.clone());
        }
        has
    });
    let error_id = format!("{id}-error");
    let described = error_id.clone();
    view! {
        <div class="field" class:invalid=move || error.with(Option::is_some)>
            <label for=id.clone()>{label}</label>
            <input
                id=id
                name=name
                type=kind
                autocomplete=autocomplete
                maxlength=maxlength
                inputmode=inputmode
                autofocus=autofocus
                value=value
                aria-invalid=move || if error.with(Option::is_some) { "true" } else { "false" }
                aria-describedby=move || error.with(Option::is_some).then(|| described.clone())
            />
            <Show when=move || error.with(Option::is_some)>
                <p class="field-error" id=error_id.clone()>{move || error.get()}</p>
            </Show>
        </div>
    }
}

/// An error that belongs to the whole form rather than one field.
#[component]
pub fn FormError(error: Signal<Option<AppError>>) -> impl IntoView {
    let message = move || {
        error.with(|e| match e {
            Some(e) if e.is_form_level() => Some(e.to_string()),
            _ => None,
        })
    };
    view! {
        <Show when=move || message().is_some()>
            <p class="form-error" role="alert">{message}</p>
        </Show>
    }
}

/// Name of the hidden field that tells the server which page a plain form post came from.
pub const RETURN_FIELD: &str = "__return";

/// Goes inside every form: without wasm, a failed post is sent back to this page as it was (its
/// step in the query, e.g. `?require=on`) with its error, and one that succeeded to the page
/// itself with what it did ([`crate::domain::Flash`]). Browsers send no `Referer` (the console
/// sets `Referrer-Policy: no-referrer`), so the page names itself; the server accepts only a
/// path on its own origin, with a query of plain words.
#[component]
pub fn ReturnHere() -> impl IntoView {
    let location = leptos_router::hooks::use_location();
    let here = move || {
        let path = location.pathname.get();
        let step: Vec<String> = location.query.with(|q| {
            q.into_iter()
                .filter(|(k, v)| {
                    let word = |w: &str| {
                        w.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                    };
                    !k.starts_with("__")
                        && k.as_ref() != crate::domain::FLASH_PARAM
                        && word(k)
                        && word(v)
                })
                .map(|(k, v)| format!("{k}={v}"))
                .collect()
        });
        if step.is_empty() {
            path
        } else {
            format!("{path}?{}", step.join("&"))
        }
    };
    view! { <input type="hidden" name=RETURN_FIELD value=here/> }
}

/// The 6-digit code input every second-factor form shares, with the form's own error under it.
#[component]
pub fn CodeField(
    error: Signal<Option<AppError>>,
    #[prop(optional)] autofocus: bool,
) -> impl IntoView {
    view! {
        <TextField label="Authentication code" name="code" autocomplete="one-time-code"
            inputmode="numeric" maxlength=7usize error=field_error(error, "code") autofocus/>
        <FormError error/>
    }
}
