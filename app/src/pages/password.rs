//! `/password/forgot` and `/password/reset/<token>`: a forgotten password. The link sets a new
//! password and nothing else: signing in with it asks for the second factor as always.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_params_map, use_query_map},
};

use crate::api::password::{password_reset_by_email, ForgotPassword, ResetPassword};
use crate::components::{action_error, field_error, AuthCard, FormError, ReturnHere, TextField};
use crate::domain::MAX_PASSWORD_LEN;

#[component]
pub fn ForgotPasswordPage() -> impl IntoView {
    let action = ServerAction::<ForgotPassword>::new();
    let error = action_error(action.value());
    // "Send reset link" comes back here with `?sent=1` (a navigation with the wasm, a
    // redirect without).
    let query = use_query_map();
    let sent = move || query.with(|q| q.get("sent").is_some());
    let by_email = Resource::new(|| (), |_| password_reset_by_email());
    view! {
        <Title text="Forgot password"/>
        <AuthCard title="Forgot your password?">
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || {
                    let sent = sent();
                    Suspend::new(async move {
                    match by_email.await {
                        Ok(true) if sent => view! {
                            <p role="status" data-testid="reset-sent">{crate::domain::RESET_ASKED_SENTENCE}</p>
                        }.into_any(),
                        Ok(true) => view! {
                            <p>"Enter the email you sign in with. We send a link to set a new password; signing in afterwards still asks for your second factor."</p>
                            <ActionForm action>
                                <ReturnHere/>
                                <TextField label="Email" name="email" kind="email" autocomplete="username"
                                    error=field_error(error, "email")/>
                                <FormError error/>
                                <button type="submit" disabled=move || action.pending().get()>"Send reset link"</button>
                            </ActionForm>
                        }.into_any(),
                        Ok(false) => view! {
                            <p data-testid="reset-by-owner">"This console does not send email. Ask your account owner: on Users, \"Reset password\" gives them a link to hand you."</p>
                        }.into_any(),
                        Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}}
            </Suspense>
            <p class="alt"><A href="/login">"Back to sign in"</A></p>
        </AuthCard>
    }
}

#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let action = ServerAction::<ResetPassword>::new();
    let error = action_error(action.value());
    let params = use_params_map();
    let token = Signal::derive(move || params.with(|p| p.get("token").unwrap_or_default()));
    view! {
        <Title text="Set a new password"/>
        <AuthCard title="Set a new password">
            <p>"Choose a new password. Every session of yours ends; then sign in with the new password (and your second factor, if you use one)."</p>
            <ActionForm action>
                <ReturnHere/>
                <input type="hidden" name="token" value=token/>
                <TextField label="New password" name="password" kind="password" autocomplete="new-password"
                    maxlength=MAX_PASSWORD_LEN error=field_error(error, "password")/>
                <p class="hint">"At least 12 characters."</p>
                <TextField label="Confirm new password" name="confirm_password" kind="password" autocomplete="new-password"
                    maxlength=MAX_PASSWORD_LEN error=field_error(error, "confirm_password")/>
                <FormError error/>
                <button type="submit" disabled=move || action.pending().get()>"Set new password"</button>
            </ActionForm>
        </AuthCard>
    }
}
