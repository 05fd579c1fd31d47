//! `/login/verify`: the second proof — a code, a passkey, a recovery code, or enrollment when
//! 2FA is on but nothing is set up yet.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

use crate::api::auth::SignOut;
use crate::api::two_factor::{get_sign_in_stage, VerifySignIn, VerifySignInRecovery};
use crate::components::{
    action_error, field_error, flash_resource, AddPasskey, AuthCard, CodeField, EnrollmentPanel,
    FormError, PasskeySignIn, PlainFormResult, ReturnHere, SavedCodesButton, TextField,
};
use crate::domain::{PasskeyAdded, SignInStage};

#[component]
pub fn VerifyPage() -> impl IntoView {
    // Asked again when a code proves the user but a passkey is still owed: the server sends the
    // browser to `?passkey=owed`.
    let query = use_query_map();
    let stage = Resource::new(
        move || query.with(|q| q.get("passkey")),
        |_| get_sign_in_stage(),
    );
    let flash = flash_resource();
    view! {
        <Title text="Two-factor authentication"/>
        <AuthCard title="Two-factor authentication">
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match stage.await {
                        Ok(SignInStage::Code { app, passkey }) => view! { <CodeForms app passkey/> }.into_any(),
                        // Confirmed by a plain form post: its recovery codes, once; a reload
                        // after that can only go on.
                        Ok(SignInStage::Enrolled) => view! {
                            <PlainFormResult flash otherwise=|| view! {
                                <p>"Your second factor is set up. Its recovery codes were shown once: if you did not save them, make new ones in Profile."</p>
                                <SavedCodesButton label="Continue"/>
                            }/>
                        }.into_any(),
                        Ok(SignInStage::AddPasskey) => view! { <OwedPasskey/> }.into_any(),
                        Ok(stage) => view! {
                            <p data-testid="enroll-message">{stage.enroll_message()}</p>
                            <EnrollmentPanel on_done=Callback::new(|_| ())/>
                        }.into_any(),
                        Err(_) => view! {
                            <p class="form-error" role="alert">"Your sign-in has expired. Please sign in again."</p>
                            <p><A href="/login">"Sign in"</A></p>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </AuthCard>
    }
}

/// The ways to give the second factor: a code of the app (`app`), a passkey (`passkey`), a
/// recovery code.
#[component]
fn CodeForms(app: bool, passkey: bool) -> impl IntoView {
    let query = use_query_map();
    let recovery = move || query.with(|q| q.get("recovery").is_some());
    let code = ServerAction::<VerifySignIn>::new();
    let rec = ServerAction::<VerifySignInRecovery>::new();
    let code_error = action_error(code.value());
    let rec_error = action_error(rec.value());
    view! {
        <Show
            when=recovery
            fallback=move || view! {
                {app.then(|| view! {
                    <p>"Enter the 6-digit code from your authenticator app."</p>
                    <ActionForm action=code>
                        <ReturnHere/>
                        <CodeField error=code_error autofocus=true/>
                        <button type="submit" disabled=move || code.pending().get()>"Verify"</button>
                    </ActionForm>
                })}
                {(!app).then(|| view! {
                    <p>"Confirm it is you with your passkey or security key."</p>
                    <p class="hint-block no-js-only">"Passkeys need JavaScript: turn it on, or use a recovery code."</p>
                })}
                {passkey.then(|| view! { <PasskeySignIn/> })}
                <p class="alt"><A href="/login/verify?recovery=1">"Use a recovery code"</A></p>
                <NotYou/>
            }
        >
            <p>"Enter one of the recovery codes you saved when you set up two-factor authentication."</p>
            <ActionForm action=rec>
                <ReturnHere/>
                <TextField label="Recovery code" name="recovery_code" autocomplete="off"
                    maxlength=20usize error=field_error(rec_error, "recovery_code")/>
                <FormError error=rec_error/>
                <button type="submit" disabled=move || rec.pending().get()>"Verify"</button>
            </ActionForm>
            <p class="alt"><A href="/login/verify">{if app { "Use your authenticator app" } else { "Use your passkey" }}</A></p>
            <NotYou/>
        </Show>
    }
}

/// The account requires passkeys and the user proved it is them another way: a new passkey
/// opens the session.
#[component]
fn OwedPasskey() -> impl IntoView {
    let done = Callback::new(|_: PasskeyAdded| {
        #[cfg(feature = "hydrate")]
        {
            let _ = window().location().set_href("/");
        }
    });
    view! {
        <p role="status" data-testid="passkey-owed">"Your account requires a passkey or security key. Add one to finish signing in: it uses your device's screen lock or the key itself."</p>
        <p class="hint-block no-js-only">"Passkeys need JavaScript: turn it on to go on."</p>
        <AddPasskey done/>
        <NotYou/>
    }
}

/// Someone else's half sign-in on this browser (a shared computer): ends it, back to sign-in.
#[component]
fn NotYou() -> impl IntoView {
    let action = ServerAction::<SignOut>::new();
    view! {
        <ActionForm action attr:class="alt">
            <ReturnHere/>
            "Not you? "
            <button type="submit" class="link">"Sign in as someone else"</button>
        </ActionForm>
    }
}
