//! Shared pieces of the UI.

mod copy;
mod enrollment_panel;
mod field;
mod hand_over;
mod layout;
pub mod passkey_browser;
mod passkeys_section;
mod plain_forms;
mod protection_picture;
mod sessions_section;
mod two_factor_toggle;

pub use copy::CopyButton;
pub use enrollment_panel::{EnrollmentPanel, EnrollmentPurpose, RecoveryCodes};
pub use field::{
    action_error, field_error, CodeField, FormError, ReturnHere, TextField, RETURN_FIELD,
};
pub use hand_over::HandOver;
pub use layout::{AuthCard, OwedBy, OwnerOnly, SignedIn};
pub use passkeys_section::{
    into_action, AddPasskey, ConfirmWithPasskey, PasskeySignIn, PasskeysSection,
};
pub use plain_forms::{
    flash_resource, has_flash, step_param, PlainFormResult, SavedCodesButton, StepForm,
};
pub use protection_picture::ProtectionPicture;
pub use sessions_section::SessionsSection;
pub use two_factor_toggle::{SwitchAction, TwoFactorToggle};

use leptos::prelude::*;

/// Sets `data-hydrated` on `<html>` once the wasm has taken over the page. Effects run only in
/// the browser, so browser tests can wait for it before they click.
pub fn mark_hydrated() {
    Effect::new(move |_| {
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-hydrated", "true");
        }
    });
}

/// Moves focus to the element with `id` once it is in the page: the heading of a panel that
/// just opened, the first field of a form, a status that says what was done. An element that
/// is not focusable of itself becomes focusable by script only (`tabindex="-1"`). In the
/// browser only; the page may still be rendering, so it looks again for a moment.
pub fn focus_id(id: impl Into<String>) {
    focus_first(format!("#{}", id.into()));
}

/// [`focus_id`] once the component that calls it is in the page (its first field, its heading).
pub fn focus_on_mount(id: &'static str) {
    Effect::new(move |_| focus_id(id));
}

/// As [`focus_id`], for the first element that CSS `selector` matches.
pub fn focus_first(selector: String) {
    #[cfg(feature = "hydrate")]
    focus_when_there(selector, 40);
    #[cfg(not(feature = "hydrate"))]
    let _ = selector;
}

/// On a signed-in page the browser rendered after a navigation inside the console (not the
/// page it loaded first), focus goes to the page's heading, so a screen reader starts reading
/// there and Tab goes on from it.
pub fn focus_heading_after_navigation() {
    #[cfg(feature = "hydrate")]
    {
        use std::sync::atomic::{AtomicBool, Ordering};
        static FIRST_PAGE_SHOWN: AtomicBool = AtomicBool::new(false);
        if FIRST_PAGE_SHOWN.swap(true, Ordering::Relaxed) {
            Effect::new(move |_| focus_first("main h1".to_string()));
        }
    }
}

#[cfg(feature = "hydrate")]
fn focus_when_there(selector: String, tries: u32) {
    use leptos::wasm_bindgen::JsCast;
    let found = document()
        .query_selector(&selector)
        .ok()
        .flatten()
        .and_then(|el| el.dyn_into::<leptos::web_sys::HtmlElement>().ok());
    match found {
        Some(el) => {
            if el.tab_index() < 0 && !el.has_attribute("tabindex") {
                let _ = el.set_attribute("tabindex", "-1");
            }
            let _ = el.focus();
        }
        None if tries > 0 => set_timeout(
            move || focus_when_there(selector, tries - 1),
            std::time::Duration::from_millis(50),
        ),
        None => {}
    }
}
