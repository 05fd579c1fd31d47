//! A link the owner hands over to a user (an invitation, a setup link after a reset).

use leptos::prelude::*;

use super::{action_error, CopyButton, FormError, ReturnHere};
use crate::api::owner::EmailLink;
use crate::domain::HandedLink;

/// The link in a panel of its own at the top of the page: what it is for, the link named by its
/// label, **Copy link** with its "Copied" status, and **Done** where the page can close it.
/// With the wasm, focus moves to the panel when it appears. Where the server sends mail,
/// **Send invitation by email** (or **Send setup link by email**) mails it to the user.
#[component]
pub fn HandOver(
    handed: HandedLink,
    #[prop(optional)] on_done: Option<Callback<()>>,
) -> impl IntoView {
    let kind = handed.kind;
    let sentence_id = format!("{}-for", kind.test_id());
    let labelled_by = sentence_id.clone();
    let label_id = format!("{}-label", kind.test_id());
    let code_labelled_by = label_id.clone();
    let panel = NodeRef::<leptos::html::Section>::new();
    Effect::new(move |_| {
        if let Some(panel) = panel.get() {
            let _ = panel.focus();
        }
    });
    let link = handed.link.clone();
    let mail = handed.mailable.then(|| {
        let link = handed.link.clone();
        view! { <EmailLinkForm link label=kind.email_label()/> }
    });
    view! {
        <section class="panel hand-over" aria-labelledby=labelled_by tabindex="-1" node_ref=panel>
            <p id=sentence_id>{kind.sentence(&handed.name, handed.renewed)}</p>
            <p class="link-box"><span class="label" id=label_id>{kind.label()}</span>
                <code aria-labelledby=code_labelled_by data-testid=kind.test_id()>{handed.link}</code></p>
            <div class="actions">
                <CopyButton text=link label="Copy link"/>
                {on_done.map(|done| view! { <button type="button" on:click=move |_| done.run(())>"Done"</button> })}
            </div>
            {mail}
        </section>
    }
}

/// The link sent to its user by email; the answer ("Sent to …") is announced where the button
/// was. Without JavaScript the page it returns to shows it.
#[component]
fn EmailLinkForm(link: String, label: &'static str) -> impl IntoView {
    let send = ServerAction::<EmailLink>::new();
    let error = action_error(send.value());
    let sent = move || send.value().get().and_then(Result::ok);
    view! {
        <ActionForm action=send attr:class="email-link">
            <ReturnHere/>
            <input type="hidden" name="link" value=link/>
            <FormError error/>
            <button type="submit" disabled=move || send.pending().get()>{label}</button>
            // Only once sent: the panel's one status until then is Copy link's.
            {move || sent().map(|sentence| view! { <p role="status" class="saved">{sentence}</p> })}
        </ActionForm>
    }
}
