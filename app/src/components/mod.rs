//! Shared pieces of the UI.

mod copy;
mod enrollment_panel;
mod field;
mod hand_over;
mod layout;
mod plain_forms;
mod protection_picture;
mod two_factor_toggle;

pub use copy::CopyButton;
pub use enrollment_panel::{EnrollmentPanel, EnrollmentPurpose, RecoveryCodes};
pub use field::{
    action_error, field_error, CodeField, FormError, ReturnHere, TextField, RETURN_FIELD,
};
pub use hand_over::HandOver;
pub use layout::{AuthCard, OwnerOnly, SignedIn};
pub use plain_forms::{
    flash_resource, has_flash, step_param, PlainFormResult, SavedCodesButton, StepForm,
};
pub use protection_picture::ProtectionPicture;
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
