//! Setting up a second factor, wherever it happens: a choice between an authenticator app and a
//! passkey (where this console can use passkeys), then for the app its QR code and setup key and
//! a confirming code, and with the first factor the recovery codes, shown once. Without
//! JavaScript the choice is the app's (a plain form opens it), **Verify** posts natively and the
//! page it returns to shows the codes ([`super::PlainFormResult`]).

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::{
    action_error, focus_id, focus_on_mount, AddPasskey, CodeField, CopyButton, ReturnHere,
    SavedCodesButton,
};
use crate::api::owner::start_requirement_enrollment;
use crate::api::passkeys::get_passkey_offer;
use crate::api::two_factor::{start_enrollment, ConfirmEnrollment};
use crate::domain::{PasskeyAdded, PasskeyOffer};

/// Why a second factor is being set up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EnrollmentPurpose {
    /// The user's own 2FA (Profile, or sign-in when it is required).
    #[default]
    OwnTwoFactor,
    /// The owner saving "Require two-factor authentication at login" without a second factor:
    /// the requirement takes effect when this enrollment is confirmed.
    AccountRequirement,
}

/// The query parameter that opens the app's steps (`?method=app`), kept with the page's others.
const METHOD: &str = "method";

#[component]
pub fn EnrollmentPanel(
    /// Runs after "I have saved my recovery codes" (or, with no new codes, "Done").
    on_done: Callback<()>,
    #[prop(optional)] purpose: EnrollmentPurpose,
    /// Where Cancel leads and what it does with the wasm; shown until the factor is set up
    /// (only saving the codes is left then).
    #[prop(optional)]
    cancel: Option<(&'static str, Callback<()>)>,
    /// Straight to the app's steps: the user has a passkey and adds an app beside it.
    #[prop(optional)]
    app_only: bool,
    /// The step-up such an app needs: the browser's answer to a passkey confirmation.
    #[prop(optional, into)]
    proof: Option<String>,
) -> impl IntoView {
    let offer = Resource::new(|| (), |_| get_passkey_offer());
    let proof = StoredValue::new(proof);
    let chose_app = RwSignal::new(
        app_only || use_query_map().with_untracked(|q| q.get(METHOD).as_deref() == Some("app")),
    );
    // The recovery codes, once the factor is set up (empty: a further factor, the codes stay).
    let codes = RwSignal::new(None::<Vec<String>>);
    // Focus follows the steps: the panel's heading when it opens, the codes once confirmed.
    focus_on_mount("enroll-heading");
    Effect::new(move |_| {
        if codes.with(Option::is_some) {
            focus_id("recovery-heading");
        }
    });
    let by_passkey =
        Callback::new(move |added: PasskeyAdded| codes.set(Some(added.recovery_codes)));
    let choose_app = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        chose_app.set(true);
        focus_id("enroll-heading");
    };
    // The choice as a plain form: the page's query, and the app's steps asked for.
    let app_params = move || {
        use_query_map().with_untracked(|q| {
            q.into_iter()
                .filter(|(k, _)| *k != METHOD && *k != crate::domain::FLASH_PARAM)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .chain([(METHOD.to_string(), "app".to_string())])
                .collect::<Vec<_>>()
        })
    };
    let cancel_link = move || {
        cancel.map(|(href, run)| {
            view! {
                " "
                <a class="button secondary" href=href on:click=move |_| run.run(())>"Cancel"</a>
            }
        })
    };

    view! {
        <section class="panel enrollment" aria-labelledby="enroll-heading">
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let offer = offer.await.unwrap_or(PasskeyOffer { available: false, required: false });
                    let passkeys = offer.available;
                    // Where the account requires passkeys, the app is no choice (a passkey is owed after it).
                    let only_passkey = passkeys && offer.required && !app_only;
                    let app = move || !only_passkey && (chose_app.get() || !passkeys);
                    view! {
                        <h2 id="enroll-heading" tabindex="-1">{move || if app() { "Set up your authenticator app" } else { "Set up two-factor authentication" }}</h2>
                        {move || match codes.get() {
                            Some(list) if list.is_empty() => view! {
                                <p class="step-done" role="status">"Your authenticator app is set up. Your recovery codes stay as they were."</p>
                                <button type="button" on:click=move |_| on_done.run(())>"Done"</button>
                            }.into_any(),
                            Some(list) => view! {
                                <p class="step-done" role="status">"Your second factor is set up. Last step: save your recovery codes."</p>
                                <RecoveryCodes codes=list on_done/>
                            }.into_any(),
                            None if app() => view! { <AppSteps purpose codes cancel proof=proof.get_value()/> }.into_any(),
                            None if only_passkey => view! {
                                <p>"Your account requires a passkey or security key: add one. It uses your device's screen lock or the key itself."</p>
                                <p class="hint-block no-js-only">"Passkeys need JavaScript: turn it on to go on."</p>
                                <AddPasskey done=by_passkey for_requirement=purpose == EnrollmentPurpose::AccountRequirement/>
                                {cancel_link()}
                            }.into_any(),
                            None => view! {
                                <p>"Choose how you will confirm it is you when you sign in. You can add the other later in Profile."</p>
                                <div class="choice">
                                    <form method="get" class="step-form">
                                        {app_params().into_iter().map(|(name, value)| view! { <input type="hidden" name=name value=value/> }).collect_view()}
                                        <button type="submit" on:click=choose_app>"Set up an authenticator app"</button>
                                    </form>
                                    <AddPasskey done=by_passkey for_requirement=purpose == EnrollmentPurpose::AccountRequirement/>
                                </div>
                                <p class="hint-block">"An authenticator app (Google Authenticator, Authy, 1Password, …) shows a 6-digit code; a passkey uses your device's screen lock or a security key."</p>
                                {cancel_link()}
                            }.into_any(),
                        }}
                    }
                })}
            </Suspense>
        </section>
    }
}

/// The app's steps: QR code and setup key, then a confirming code. `codes` gets the recovery
/// codes once the code verifies.
#[component]
fn AppSteps(
    purpose: EnrollmentPurpose,
    codes: RwSignal<Option<Vec<String>>>,
    cancel: Option<(&'static str, Callback<()>)>,
    proof: Option<String>,
) -> impl IntoView {
    let start = Resource::new(
        || (),
        move |_| {
            let proof = proof.clone();
            async move {
                match purpose {
                    EnrollmentPurpose::OwnTwoFactor => start_enrollment(proof).await,
                    EnrollmentPurpose::AccountRequirement => start_requirement_enrollment().await,
                }
            }
        },
    );
    let confirm = ServerAction::<ConfirmEnrollment>::new();
    let confirm_error = action_error(confirm.value());
    Effect::new(move |_| {
        if let Some(Ok(list)) = confirm.value().get() {
            codes.set(Some(list));
        }
    });
    view! {
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
