//! Setting up an authenticator, wherever it happens: QR code and setup key, a confirming code,
//! then the recovery codes, shown once. Without JavaScript, **Verify** posts natively and the
//! page it returns to shows the codes ([`super::PlainFormResult`]).

use leptos::prelude::*;

use super::{action_error, CodeField, ReturnHere, SavedCodesButton};
use crate::api::owner::start_requirement_enrollment;
use crate::api::two_factor::{start_enrollment, ConfirmEnrollment};

/// Why an authenticator is being set up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EnrollmentPurpose {
    /// The user's own 2FA (Profile, or sign-in when it is required).
    #[default]
    OwnTwoFactor,
    /// The owner saving "Require two-factor authentication at login" without an authenticator:
    /// the requirement takes effect when this enrollment is confirmed.
    AccountRequirement,
}

#[component]
pub fn EnrollmentPanel(
    /// Runs after "I have saved my recovery codes".
    on_done: Callback<()>,
    #[prop(optional)] purpose: EnrollmentPurpose,
) -> impl IntoView {
    let start = Resource::new(
        || (),
        move |_| async move {
            match purpose {
                EnrollmentPurpose::OwnTwoFactor => start_enrollment().await,
                EnrollmentPurpose::AccountRequirement => start_requirement_enrollment().await,
            }
        },
    );
    let confirm = ServerAction::<ConfirmEnrollment>::new();
    let confirm_error = action_error(confirm.value());
    let codes = move || confirm.value().get().and_then(Result::ok);

    view! {
        <section class="panel enrollment" aria-labelledby="enroll-heading">
            <Show
                when=move || codes().is_some()
                fallback=move || view! {
                    <h2 id="enroll-heading">"Set up your authenticator app"</h2>
                    <Suspense fallback=|| view! { <p class="loading">"Preparing…"</p> }>
                        {move || Suspend::new(async move {
                            match start.await {
                                Ok(s) => view! {
                                    <ol class="steps">
                                        <li>"Scan this QR code with your authenticator app (Google Authenticator, Authy, 1Password, …)."</li>
                                    </ol>
                                    <img class="qr" width="200" height="200"
                                        src=format!("/two-factor/qr.svg?v={}", s.qr_version)
                                        alt="QR code for your authenticator app"/>
                                    <dl class="setup-key">
                                        <dt>"Setup key"</dt>
                                        <dd><code data-testid="setup-key">{s.setup_key.clone()}</code></dd>
                                    </dl>
                                    <p class="hint">"Can't scan? Type the setup key into the app instead."</p>
                                }.into_any(),
                                Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                            }
                        })}
                    </Suspense>
                    <ActionForm action=confirm>
                        <ReturnHere/>
                        <CodeField error=confirm_error/>
                        <button type="submit" disabled=move || confirm.pending().get()>"Verify"</button>
                    </ActionForm>
                }
            >
                <RecoveryCodes codes=codes().unwrap_or_default()/>
                <SavedCodesButton on_done/>
            </Show>
        </section>
    }
}

/// The codes, once, with copy and download.
#[component]
pub fn RecoveryCodes(codes: Vec<String>) -> impl IntoView {
    let text = codes.join("\n");
    let href = format!(
        "data:text/plain;charset=utf-8,{}",
        text.replace('\n', "%0A")
    );
    let copy_text = text.clone();
    view! {
        <h2 id="recovery-heading">"Recovery codes"</h2>
        <p>"Each code signs you in once if you lose your phone. Keep them somewhere safe: they are shown only now."</p>
        <ul class="recovery-codes" aria-labelledby="recovery-heading">
            {codes.into_iter().map(|c| view! { <li><code>{c}</code></li> }).collect_view()}
        </ul>
        <div class="actions">
            // Copying needs the wasm: the button appears once it runs.
            <button type="button" class="secondary js-only" on:click=move |_| copy_to_clipboard(&copy_text)>"Copy"</button>
            <a class="button secondary" href=href download="latchkey-recovery-codes.txt">"Download"</a>
        </div>
    }
}

fn copy_to_clipboard(_text: &str) {
    #[cfg(feature = "hydrate")]
    {
        let _ = window().navigator().clipboard().write_text(_text);
    }
}
