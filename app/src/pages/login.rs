//! `/login`: the first proof, email and password.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

use crate::api::auth::SignIn;
use crate::components::{action_error, field_error, AuthCard, FormError, ReturnHere, TextField};

#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let error = action_error(action.value());
    // Back from a password link: the new password is set, and nobody is signed in yet.
    let changed =
        use_query_map().with_untracked(|q| q.get("password").as_deref() == Some("changed"));
    view! {
        <Title text="Sign in"/>
        <AuthCard title="Sign in to Latchkey">
            {changed.then(|| view! { <p class="saved" role="status">"Your password was changed. Sign in with your new password."</p> })}
            <ActionForm action=action>
                <ReturnHere/>
                <TextField label="Email" name="email" kind="email" autocomplete="username"
                    error=field_error(error, "email")/>
                <TextField label="Password" name="password" kind="password" autocomplete="current-password"
                    error=field_error(error, "password")/>
                <FormError error/>
                <button type="submit" disabled=move || action.pending().get()>"Sign in"</button>
            </ActionForm>
            <p class="alt"><A href="/password/forgot">"Forgot password?"</A></p>
            <p class="alt">"New to Latchkey? " <A href="/signup">"Create an account"</A></p>
        </AuthCard>
    }
}
