//! `/profile`: your own two-factor authentication, recovery codes, passkeys and sessions.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::two_factor::{
    disable_two_factor, my_two_factor, regenerate_recovery_codes, DisableTwoFactor,
    RegenerateRecoveryCodes,
};
use crate::components::{
    action_error, focus_id, focus_on_mount, into_action, step_param, CodeField, ConfirmWithPasskey,
    EnrollmentPanel, PasskeysSection, RecoveryCodes, ReturnHere, SessionsSection, SignedIn,
    StepForm, SwitchAction, TwoFactorToggle,
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
    /// An authenticator app beside the user's passkeys.
    AddingApp,
    Disabling,
    Regenerating,
}

/// The query parameters of the page's steps (see [`crate::components::StepForm`]).
const SWITCH: &str = "two_factor";
const REGENERATE: &str = "regenerate";
const SETUP: &str = "setup";

impl Mode {
    /// The step the page's query asks for, where the user's state allows it.
    fn asked(status: &crate::domain::TwoFactorStatus, may_switch: bool) -> Mode {
        // The deadline banner's **Set up now**: 2FA is on, nothing is set up yet.
        if step_param(SETUP).is_some() && status.setting.on && !status.set_up() {
            return Mode::Enrolling;
        }
        match (step_param(SWITCH).as_deref(), step_param(REGENERATE)) {
            (Some("on"), _) if may_switch && !status.setting.on => Mode::Enrolling,
            (Some("off"), _) if may_switch && status.setting.on => Mode::Disabling,
            (None, Some(_)) if status.set_up() => Mode::Regenerating,
            (Some("app"), _) if status.setting.on && !status.has_authenticator => Mode::AddingApp,
            _ => Mode::Idle,
        }
    }
}

#[component]
fn Profile(me: Me) -> impl IntoView {
    let role = me.role;
    let may_switch =
        policy::own_switch(role, me.two_factor.account_required, me.two_factor.setting).is_ok();
    let status = RwSignal::new(me.two_factor.clone());
    let mode = RwSignal::new(Mode::asked(&me.two_factor, may_switch));
    // What the last step did, said and focused when it ends.
    let done = RwSignal::new(None::<&'static str>);
    // The deadline banner goes once the user has set up.
    let owed = use_context::<crate::components::OwedBy>();
    let refresh = Action::new(move |said: &&'static str| {
        let said = *said;
        async move {
            if let Ok(s) = my_two_factor().await {
                if let Some(crate::components::OwedBy(by)) = owed {
                    by.set(s.enroll_by);
                }
                status.set(s);
            }
            mode.set(Mode::Idle);
            done.set(Some(said));
            focus_id("profile-done");
        }
    });
    let finished = move |said: &'static str| {
        Callback::new(move |_| {
            refresh.dispatch(said);
        })
    };
    let refusal = Signal::derive(move || {
        status.with(|s| policy::own_switch(role, s.account_required, s.setting).err())
    });
    let passkeys = Signal::derive(move || status.with(|s| s.passkeys > 0));
    let on_toggle = Callback::new(move |on: bool| {
        done.set(None);
        mode.set(if on { Mode::Enrolling } else { Mode::Disabling });
    });

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
            <p class="hint-block">"Sign in with your password and a second factor: a 6-digit code from an authenticator app on your phone, or a passkey."</p>
            <StepForm params=vec![(SWITCH, if me.two_factor.setting.on { "off" } else { "on" }.to_string())]>
                <TwoFactorToggle
                    label="Two-factor authentication"
                    id="own-2fa"
                    checked=Signal::derive(move || status.with(|s| s.setting.on))
                    disabled=Signal::derive(move || refusal.get().is_some() || mode.get() != Mode::Idle)
                    note=Signal::derive(move || status.with(|s| policy::own_note(role, s.account_required, s.setting).map(str::to_string)))
                    action=SwitchAction::Enhanced(on_toggle)
                />
            </StepForm>
            <Show when=move || status.with(|s| s.low_on_recovery_codes())>
                <p class="notice" role="status">
                    {move || format!("You have {} left. Regenerate them so you are not locked out.", count_of(status.with(|s| s.recovery_codes_left), "unused recovery code", "unused recovery codes"))}
                </p>
            </Show>
            <Show when=move || done.get().is_some()>
                <p class="saved" role="status" id="profile-done">{move || done.get()}</p>
            </Show>
            {move || match mode.get() {
                Mode::Enrolling => view! {
                    <EnrollmentPanel on_done=finished("Two-factor authentication is on.")
                        cancel=("/profile", Callback::new(move |_| mode.set(Mode::Idle)))/>
                }.into_any(),
                Mode::AddingApp => view! { <AddApp on_done=finished("Your authenticator app is set up.") mode/> }.into_any(),
                Mode::Disabling => view! { <DisableForm on_done=finished("Two-factor authentication is off.") mode passkeys/> }.into_any(),
                Mode::Regenerating => view! { <RegenerateForm on_done=finished("Your new recovery codes are saved; the old ones no longer work.") mode passkeys/> }.into_any(),
                Mode::Idle => view! {
                    <Show when=move || status.with(|s| s.set_up())>
                        <StepForm params=vec![(REGENERATE, "1".to_string())]>
                            <button type="submit" class="secondary"
                                on:click=move |ev| { ev.prevent_default(); done.set(None); mode.set(Mode::Regenerating); }>"Regenerate recovery codes"</button>
                        </StepForm>
                    </Show>
                    <Show when=move || status.with(|s| s.setting.on && s.set_up() && !s.has_authenticator)>
                        <StepForm params=vec![(SWITCH, "app".to_string())]>
                            <button type="submit" class="secondary"
                                on:click=move |ev| { ev.prevent_default(); done.set(None); mode.set(Mode::AddingApp); }>"Set up an authenticator app"</button>
                        </StepForm>
                    </Show>
                }.into_any(),
            }}
        </section>
        <Show when=move || status.with(|s| s.set_up())>
            <PasskeysSection step_up=status.with_untracked(|s| s.in_use()) app=status.with_untracked(|s| s.has_authenticator)/>
        </Show>
        <SessionsSection/>
        {(role == Role::Owner).then(|| view! { <p class="hint-block">"As the account owner you can require two-factor authentication for everyone in "<a href="/settings/security">"Settings & Security"</a>"."</p> })}
    }
}

/// An authenticator app beside the user's passkeys: they confirm it is them with a passkey
/// first (a stolen session alone must not add a factor), then the app's steps.
#[component]
fn AddApp(on_done: Callback<()>, mode: RwSignal<Mode>) -> impl IntoView {
    let proof = RwSignal::new(None::<String>);
    focus_on_mount("add-app-heading");
    view! {
        {move || match proof.get() {
            Some(answer) => view! {
                <EnrollmentPanel app_only=true proof=answer on_done
                    cancel=("/profile", Callback::new(move |_| mode.set(Mode::Idle)))/>
            }.into_any(),
            None => view! {
                <div class="panel inset">
                    <h3 id="add-app-heading" tabindex="-1">"Set up an authenticator app"</h3>
                    <p>"First confirm it is you with one of your passkeys."</p>
                    <ConfirmWithPasskey done=Callback::new(move |answer| proof.set(Some(answer)))
                        send=|answer| async move { Ok::<_, crate::domain::AppError>(answer) }/>
                    <CancelLink mode/>
                </div>
            }.into_any(),
        }}
    }
}

/// Back to the page without its step: a link, so it works without the wasm too.
#[component]
fn CancelLink(mode: RwSignal<Mode>) -> impl IntoView {
    view! { <a class="button secondary" href="/profile" on:click=move |_| mode.set(Mode::Idle)>"Cancel"</a> }
}

/// What a step-up form asks for: a code, and a passkey when the user has one.
fn step_up_prompt(passkeys: bool) -> &'static str {
    if passkeys {
        "confirm with a current code from your authenticator app, or with a passkey."
    } else {
        "confirm with a current code from your authenticator app."
    }
}

#[component]
fn DisableForm(
    on_done: Callback<()>,
    mode: RwSignal<Mode>,
    passkeys: Signal<bool>,
) -> impl IntoView {
    focus_on_mount("field-code");
    let action = ServerAction::<DisableTwoFactor>::new();
    let error = action_error(action.value());
    Effect::new(move |_| {
        if let Some(Ok(())) = action.value().get() {
            on_done.run(());
        }
    });
    view! {
        <div class="panel inset">
            <p>{move || format!("To turn off two-factor authentication, {}", step_up_prompt(passkeys.get()))}</p>
            <ActionForm action>
                <ReturnHere/>
                <CodeField error=error/>
                <button type="submit" class="danger">"Turn off"</button>
                " "
                <CancelLink mode/>
            </ActionForm>
            <Show when=move || passkeys.get()>
                <ConfirmWithPasskey done=into_action(action.value())
                    send=|answer| disable_two_factor(String::new(), Some(answer))/>
            </Show>
        </div>
    }
}

#[component]
fn RegenerateForm(
    on_done: Callback<()>,
    mode: RwSignal<Mode>,
    passkeys: Signal<bool>,
) -> impl IntoView {
    focus_on_mount("field-code");
    let action = ServerAction::<RegenerateRecoveryCodes>::new();
    let error = action_error(action.value());
    let codes = move || action.value().get().and_then(Result::ok);
    view! {
        <div class="panel inset">
            <Show
                when=move || codes().is_some()
                fallback=move || view! {
                    <p>{move || format!("New codes replace all your old ones. To make them, {}", step_up_prompt(passkeys.get()))}</p>
                    <ActionForm action>
                        <ReturnHere/>
                        <CodeField error=error/>
                        <button type="submit">"Regenerate recovery codes"</button>
                        " "
                        <CancelLink mode/>
                    </ActionForm>
                    <Show when=move || passkeys.get()>
                        <ConfirmWithPasskey done=into_action(action.value())
                            send=|answer| regenerate_recovery_codes(String::new(), Some(answer))/>
                    </Show>
                }
            >
                <RecoveryCodes codes=codes().unwrap_or_default() on_done/>
            </Show>
        </div>
    }
}
