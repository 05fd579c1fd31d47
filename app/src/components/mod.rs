//! Shared pieces of the UI.

mod field;
mod layout;

pub use field::{action_error, field_error, FormError, TextField};
pub use layout::{AuthCard, SignedIn};

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
