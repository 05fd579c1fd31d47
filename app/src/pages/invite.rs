//! `/invite/<token>` and `/setup/<token>`: the links an owner hands over.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::links::{invitation_details, AcceptInvitation, ContinueSetup};
use crate::components::{action_error, field_error, AuthCard, FormError, ReturnHere, TextField};
use crate::domain::MAX_PASSWORD_LEN;

fn token() -> Signal<String> {
    let params = use_params_map();
    Signal::derive(move || params.with(|p| p.get("token").unwrap_or_default()))
}

#[component]
pub fn InvitePage() -> impl IntoView {
    let action = ServerAction::<AcceptInvitation>::new();
    let error = action_error(action.value());
    let token = token();
    let details = Resource::new(move || token.get(), invitation_details);
    view! {
        <Title text="Join your team"/>
        <AuthCard title="Set your password">
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match details.await {
                        Ok((account, email)) => view! {
                            <p data-testid="invitation-for">{format!("You were invited to {account} on Latchkey. You will sign in as {email}.")}</p>
                            <p>"Choose a password to finish."</p>
                        }.into_any(),
                        Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
            <ActionForm action>
                <ReturnHere/>
                <input type="hidden" name="token" value=token/>
                <TextField label="Password" name="password" kind="password" autocomplete="new-password"
                    maxlength=MAX_PASSWORD_LEN error=field_error(error, "password")/>
                <p class="hint">"At least 12 characters."</p>
                <FormError error/>
                <button type="submit">"Set password"</button>
            </ActionForm>
        </AuthCard>
    }
}

#[component]
pub fn SetupPage() -> impl IntoView {
    let action = ServerAction::<ContinueSetup>::new();
    let error = action_error(action.value());
    let token = token();
    view! {
        <Title text="Set up two-factor authentication"/>
        <AuthCard title="Set up two-factor authentication again">
            <p>"Your account owner reset your two-factor authentication. Enter your password, then set up your authenticator app."</p>
            <ActionForm action>
                <ReturnHere/>
                <input type="hidden" name="token" value=token/>
                <TextField label="Password" name="password" kind="password" autocomplete="current-password"
                    error=field_error(error, "password")/>
                <FormError error/>
                <button type="submit">"Continue"</button>
            </ActionForm>
        </AuthCard>
    }
}
