//! `/signup`: create an account and its owner.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::api::auth::SignUp;
use crate::components::{action_error, field_error, AuthCard, FormError, ReturnHere, TextField};
use crate::domain::{MAX_NAME_LEN, MAX_PASSWORD_LEN};

#[component]
pub fn SignupPage() -> impl IntoView {
    let action = ServerAction::<SignUp>::new();
    let error = action_error(action.value());
    view! {
        <Title text="Sign up"/>
        <AuthCard title="Create your account">
            <ActionForm action=action>
                <ReturnHere/>
                <TextField label="Account name" name="account_name" autocomplete="organization"
                    maxlength=MAX_NAME_LEN error=field_error(error, "account_name")/>
                <TextField label="Your name" name="name" autocomplete="name"
                    maxlength=MAX_NAME_LEN error=field_error(error, "name")/>
                <TextField label="Email" name="email" kind="email" autocomplete="email"
                    error=field_error(error, "email")/>
                <TextField label="Password" name="password" kind="password" autocomplete="new-password"
                    maxlength=MAX_PASSWORD_LEN error=field_error(error, "password")/>
                <p class="hint">"At least 12 characters."</p>
                <FormError error/>
                <button type="submit" disabled=move || action.pending().get()>"Create account"</button>
            </ActionForm>
            <p class="alt">"Already have an account? " <A href="/login">"Sign in"</A></p>
        </AuthCard>
    }
}
