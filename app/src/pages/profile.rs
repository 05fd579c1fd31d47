//! `/profile`: your own two-factor authentication and recovery codes.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::two_factor::{my_two_factor, DisableTwoFactor, RegenerateRecoveryCodes};
use crate::components::{
    action_error, CodeField, EnrollmentPanel, RecoveryCodes, ReturnHere, SignedIn, TwoFactorToggle,
};
use crate::domain::{count_of, policy, Me, Role};

#[component]
pub fn ProfilePage() -> impl IntoView {
    view! {
        <Title text="Profile"/>
        <SignedIn page=|me: Me| view! { <Profile me/> }/>
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Idle,
    Enrolling,
    Disabling,
    Regenerating,
}

#[component]
fn Profile(me: Me) -> impl IntoView {
    let role = me.role;
    let status = RwSignal::new(me.two_factor.clone());
    let mode = RwSignal::new(Mode::Idle);
    let refresh = Action::new(move |_: &()| async move {
        if let Ok(s) = my_two_factor().await {
            status.set(s);
        }
        mode.set(Mode::Idle);
    });
    let refusal = Signal::derive(move || {
        status.with(|s| policy::own_switch(role, s.account_required, s.setting).err())
    });
    let on_toggle =
        Callback::new(move |on: bool| mode.set(if on { Mode::Enrolling } else { Mode::Disabling }));

    view! {
        <h1>"Profile"</h1>
        <section class="panel" aria-labelledby="id-heading">
            <h2 id="id-heading">"You"</h2>
            <dl class="facts">
                <dt>"Name"</dt><dd>{me.name.clone()}</dd>
                <dt>"Email"</dt><dd>{me.email.clone()}</dd>
                <dt>"Role"</dt><dd>{me.role.label()}</dd>
            </dl>
        </section>
        <section class="panel" aria-labelledby="tfa-heading">
            <h2 id="tfa-heading">"Two-factor authentication"</h2>
            <p class="hint-block">"Sign in with your password and a 6-digit code from an authenticator app on your phone."</p>
            <TwoFactorToggle
                label="Two-factor authentication"
                id="own-2fa"
                checked=Signal::derive(move || status.with(|s| s.setting.on))
                disabled=Signal::derive(move || refusal.get().is_some() || mode.get() != Mode::Idle)
                note=Signal::derive(move || refusal.get().map(|r| r.message().to_string()))
                on_toggle
            />
            <Show when=move || status.with(|s| s.low_on_recovery_codes())>
                <p class="notice" role="status">
                    {move || format!("You have {} left. Regenerate them so you are not locked out.", count_of(status.with(|s| s.recovery_codes_left), "unused recovery code", "unused recovery codes"))}
                </p>
            </Show>
            {move || match mode.get() {
                Mode::Enrolling => view! {
                    <EnrollmentPanel on_done=Callback::new(move |_| { refresh.dispatch(()); })/>
                    <button type="button" class="secondary" on:click=move |_| mode.set(Mode::Idle)>"Cancel"</button>
                }.into_any(),
                Mode::Disabling => view! { <DisableForm on_done=Callback::new(move |_| { refresh.dispatch(()); }) on_cancel=Callback::new(move |_| mode.set(Mode::Idle))/> }.into_any(),
                Mode::Regenerating => view! { <RegenerateForm on_done=Callback::new(move |_| { refresh.dispatch(()); })/> }.into_any(),
                Mode::Idle => view! {
                    <Show when=move || status.with(|s| s.has_authenticator)>
                        <button type="button" class="secondary" on:click=move |_| mode.set(Mode::Regenerating)>"Regenerate recovery codes"</button>
                    </Show>
                }.into_any(),
            }}
        </section>
        {(role == Role::Owner).then(|| view! { <p class="hint-block">"As the account owner you can require two-factor authentication for everyone in Settings & Security."</p> })}
    }
}

#[component]
fn DisableForm(on_done: Callback<()>, on_cancel: Callback<()>) -> impl IntoView {
    let action = ServerAction::<DisableTwoFactor>::new();
    let error = action_error(action.value());
    Effect::new(move |_| {
        if let Some(Ok(())) = action.value().get() {
            on_done.run(());
        }
    });
    view! {
        <div class="panel inset">
            <p>"To turn off two-factor authentication, confirm with a current code from your authenticator app."</p>
            <ActionForm action>
                <ReturnHere/>
                <CodeField error=error/>
                <button type="submit" class="danger">"Turn off"</button>
                " "
                <button type="button" class="secondary" on:click=move |_| on_cancel.run(())>"Cancel"</button>
            </ActionForm>
        </div>
    }
}

#[component]
fn RegenerateForm(on_done: Callback<()>) -> impl IntoView {
    let action = ServerAction::<RegenerateRecoveryCodes>::new();
    let error = action_error(action.value());
    let codes = move || action.value().get().and_then(Result::ok);
    view! {
        <div class="panel inset">
            <Show
                when=move || codes().is_some()
                fallback=move || view! {
                    <p>"New codes replace all your old ones. Confirm with a current code from your authenticator app."</p>
                    <ActionForm action>
                        <ReturnHere/>
                        <CodeField error=error/>
                        <button type="submit">"Regenerate recovery codes"</button>
                    </ActionForm>
                }
            >
                <RecoveryCodes codes=codes().unwrap_or_default()/>
                <button type="button" on:click=move |_| on_done.run(())>"I have saved my recovery codes"</button>
            </Show>
        </div>
    }
}
