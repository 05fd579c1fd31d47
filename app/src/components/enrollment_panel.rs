//! Setting up an authenticator, wherever it happens: QR code and setup key, a confirming code,
//! then the recovery codes, shown once. Without JavaScript, **Verify** posts natively and the
//! page it returns to shows the codes ([`super::PlainFormResult`]).

use leptos::prelude::*;

use super::{
    action_error, focus_id, focus_on_mount, CodeField, CopyButton, ReturnHere, SavedCodesButton,
};
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
    /// Where Cancel leads and what it does with the wasm; shown until the code is confirmed
    /// (the authenticator is set up then, and only saving the codes is left).
    #[prop(optional)]
    cancel: Option<(&'static str, Callback<()>)>,
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
    // Focus follows the steps: the panel's heading when it opens, the codes once confirmed.
    focus_on_mount("enroll-heading");
    Effect::new(move |_| {
        if codes().is_some() {
            focus_id("recovery-heading");
        }
    });

    view! {
        <section class="panel enrollment" aria-labelledby="enroll-heading">
            <h2 id="enroll-heading">"Set up your authenticator app"</h2>
            <Show
                when=move || codes().is_some()
                fallback=move || view! {
                    <ol class="steps">
                        <li>
                            <p>"Scan this QR code with your authenticator app (Google Authenticator, Authy, 1Password, …), or type the setup key into it."</p>
                            <Suspense fallback=|| view! { <p class="loading">"Preparing…"</p> }>
                                {move || Suspend::new(async move {
                                    match start.await {
                                        Ok(s) => view! {
                                            <img class="qr" width="200" height="200"
                                                src=format!("/two-factor/qr.svg?v={}", s.qr_version)
                                                alt="QR code for your authenticator app"/>
                                            <dl class="setup-key">
                                                <dt>"Setup key"</dt>
                                                <dd><code data-testid="setup-key">{s.setup_key.clone()}</code></dd>
                                            </dl>
                                            <CopyButton text=s.setup_key.replace(' ', "") label="Copy setup key"/>
                                        }.into_any(),
                                        Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                                    }
                                })}
                            </Suspense>
                        </li>
                        <li>
                            <p>"Enter the 6-digit code the app shows."</p>
                            <ActionForm action=confirm>
                                <ReturnHere/>
                                <CodeField error=confirm_error/>
                                <button type="submit" disabled=move || confirm.pending().get()>"Verify"</button>
                                {cancel.map(|(href, run)| view! {
                                    " "
                                    <a class="button secondary" href=href on:click=move |_| run.run(())>"Cancel"</a>
                                })}
                            </ActionForm>
                        </li>
                        <li><p>"Save your recovery codes: they are shown next, once."</p></li>
                    </ol>
                }
            >
                <p class="step-done" role="status">"Your authenticator app is set up. Last step: save your recovery codes."</p>
                <RecoveryCodes codes=codes().unwrap_or_default() on_done/>
            </Show>
        </section>
    }
}

/// The codes, once, with Copy, Download and Print, then **I have saved my recovery codes**.
/// With the wasm that button waits until the codes were downloaded, copied or printed;
/// without it (nothing can tell), it is ready at once.
#[component]
pub fn RecoveryCodes(
    codes: Vec<String>,
    /// Runs once the server took "I have saved my recovery codes".
    #[prop(optional)]
    on_done: Option<Callback<()>>,
) -> impl IntoView {
    let text = codes.join("\n");
    let href = format!(
        "data:text/plain;charset=utf-8,{}",
        text.replace('\n', "%0A")
    );
    let kept = RwSignal::new(false);
    let scripted = RwSignal::new(false);
    Effect::new(move |_| scripted.set(true));
    let waiting = Signal::derive(move || scripted.get() && !kept.get());
    view! {
        <h2 id="recovery-heading">"Recovery codes"</h2>
        <p>"Each code signs you in once if you lose your phone. Keep them somewhere safe: they are shown only now."</p>
        <ul class="recovery-codes" aria-labelledby="recovery-heading">
            {codes.into_iter().map(|c| view! { <li><code>{c}</code></li> }).collect_view()}
        </ul>
        <div class="actions">
            <a class="button secondary" href=href download="latchkey-recovery-codes.txt"
                on:click=move |_| kept.set(true)>"Download"</a>
            <button type="button" class="secondary js-only" on:click=move |_| { print(); kept.set(true); }>"Print"</button>
            <CopyButton text=text label="Copy" on_copied=Callback::new(move |_| kept.set(true))/>
        </div>
        <Show when=move || waiting.get()>
            <p class="hint-block" id="save-codes-hint">"Download, copy or print them first."</p>
        </Show>
        <SavedCodesButton on_done=on_done.unwrap_or(Callback::new(|_| ())) waiting/>
    }
}

fn print() {
    #[cfg(feature = "hydrate")]
    {
        let _ = window().print();
    }
}
