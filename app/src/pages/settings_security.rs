//! `/settings/security` (owner): require two-factor authentication for everyone.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::owner::{account_policy, SetAccountRequirement};
use crate::components::{
    action_error, focus_id, step_param, CodeField, EnrollmentPanel, EnrollmentPurpose, OwnerOnly,
    ProtectionPicture, ReturnHere, SignedIn, StepForm, SwitchAction, TwoFactorToggle,
};
use crate::domain::{Me, PolicyImpact};

#[component]
pub fn SettingsSecurityPage() -> impl IntoView {
    view! {
        <Title text="Settings & Security"/>
        <SignedIn page=|me: Me| view! { <OwnerOnly me=me.clone()><Settings me=me.clone()/></OwnerOnly> }/>
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Editing,
    /// Saving ON or OFF with a current code.
    Confirming,
    /// Saving ON for an owner without an authenticator.
    Enrolling,
    Saved,
}

#[component]
fn Settings(me: Me) -> impl IntoView {
    let version = RwSignal::new(0u32);
    let policy = Resource::new(move || version.get(), |_| account_policy());
    let has_authenticator = me.two_factor.has_authenticator;
    // Outside the form: the form is rebuilt from the saved policy after each save.
    let saved_note = RwSignal::new(false);
    let on_saved = Callback::new(move |_| {
        saved_note.set(true);
        version.update(|v| *v += 1);
        focus_id("settings-saved");
    });
    view! {
        <h1>"Settings & Security"</h1>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match policy.await {
                    Ok(p) => view! { <RequirementForm policy=p has_authenticator on_saved saved_note/> }.into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
        <Show when=move || saved_note.get()>
            <p class="saved" role="status" id="settings-saved">"Saved."</p>
        </Show>
    }
}

/// The query parameters of the page's steps (see [`crate::components::StepForm`]).
const PAGE: &str = "/settings/security";
const REQUIRE: &str = "require";
const STEP: &str = "step";
const CONFIRM: &str = "confirm";

fn on_off(on: bool) -> String {
    if on { "on" } else { "off" }.to_string()
}

#[component]
fn RequirementForm(
    policy: PolicyImpact,
    has_authenticator: bool,
    on_saved: Callback<()>,
    saved_note: RwSignal<bool>,
) -> impl IntoView {
    let saved = policy.required;
    // Without the wasm the switch and Save load the page with the draft and the step in its
    // query (`?require=on&step=confirm`); the page starts where its query says.
    let asked = match step_param(REQUIRE).as_deref() {
        Some("on") => true,
        Some("off") => false,
        _ => saved,
    };
    let draft = RwSignal::new(asked);
    let step = RwSignal::new(
        match step_param(STEP).as_deref() == Some(CONFIRM) && asked != saved {
            false => Step::Editing,
            true if asked && !has_authenticator => Step::Enrolling,
            true => Step::Confirming,
        },
    );
    let confirm = ServerAction::<SetAccountRequirement>::new();
    let error = action_error(confirm.value());
    Effect::new(move |_| {
        if let Some(Ok(())) = confirm.value().get() {
            step.set(Step::Saved);
            on_saved.run(());
        }
    });
    let asking = move || matches!(step.get(), Step::Confirming | Step::Enrolling);
    Effect::new(move |_| {
        if step.get() == Step::Confirming {
            focus_id("field-code");
        }
    });
    let pending = policy.pending_setup.clone();
    let pending_total = policy.pending_total;
    let more = policy.more_pending();
    let total = policy.users_total;
    let on_save = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        if draft.get_untracked() == saved {
            return;
        }
        step.set(if draft.get_untracked() && !has_authenticator {
            Step::Enrolling
        } else {
            Step::Confirming
        });
    };
    view! {
        <section class="panel" aria-labelledby="req-heading">
            <h2 id="req-heading">"Two-factor authentication"</h2>
            <StepForm params=vec![(REQUIRE, on_off(!asked))]>
                <TwoFactorToggle
                    label="Require two-factor authentication at login"
                    id="require-2fa"
                    // While a change waits for its code, the switch shows what is in effect.
                    checked=Signal::derive(move || if asking() { saved } else { draft.get() })
                    disabled=Signal::derive(asking)
                    action=SwitchAction::Enhanced(Callback::new(move |on| { draft.set(on); step.set(Step::Editing); saved_note.set(false); }))
                />
            </StepForm>
            <p class="hint-block" data-testid="requirement">{policy.requirement_sentence()}</p>
            {policy.follow_up().map(|follow| {
                let pending = policy.pending_total > 0;
                view! {
                    <p class="impact" data-testid="follow-up">{follow}" "
                        {pending.then(|| view! { <a href="/users">"See who on Users"</a> })}</p>
                }
            })}
            <p class="hint-block">{policy.protected_sentence()}</p>
            <ProtectionPicture policy=policy.clone()/>
            <Show when=move || draft.get() && !saved>
                <div class="impact" role="status">
                    <p>{format!("When you save, {} will be asked for an authentication code at login.", if total == 1 { "you".to_string() } else { format!("all {total} users") })}</p>
                    {
                        let (pending, more) = (pending.clone(), more.clone());
                        (!pending.is_empty()).then(move || view! {
                            <p>{format!("{pending_total} still {} to set up an authenticator app at their next sign-in:", if pending_total == 1 { "has" } else { "have" })}</p>
                            <ul class="pending-users">
                                {pending.into_iter().map(|u| view! { <li>{u.name}" ("{u.email}")"</li> }).collect_view()}
                            </ul>
                            {more.map(|m| view! { <p>{m}</p> })}
                        })
                    }
                </div>
            </Show>
            <Show when=move || !draft.get() && saved>
                <p class="impact" role="status">"Turning this off changes nobody's two-factor authentication; users can then turn theirs off in Profile unless you set it for them."</p>
            </Show>
            <Show when=move || step.get() == Step::Editing>
                <StepForm params=vec![(REQUIRE, on_off(asked)), (STEP, CONFIRM.to_string())]>
                    <button type="submit" on:click=on_save disabled=move || draft.get() == saved
                        aria-describedby=move || (draft.get() == saved).then_some("save-hint")>"Save"</button>
                    <Show when=move || draft.get() == saved>
                        <p class="hint-block" id="save-hint">"Nothing to save yet: turn the switch to change the setting."</p>
                    </Show>
                </StepForm>
            </Show>
            <Show when=move || step.get() == Step::Confirming>
                <div class="panel inset">
                    <p>"Confirm with a current code from your authenticator app."</p>
                    <ActionForm action=confirm>
                        <ReturnHere/>
                        <input type="hidden" name="on" value=move || draft.get().to_string()/>
                        <CodeField error=error/>
                        <button type="submit">{move || if draft.get() { "Confirm" } else { "Stop requiring two-factor authentication" }}</button>
                        " "
                        <a class="button secondary" href=PAGE on:click=move |_| { draft.set(saved); step.set(Step::Editing); }>"Cancel"</a>
                    </ActionForm>
                </div>
            </Show>
            <Show when=move || step.get() == Step::Enrolling>
                <p>"To complete the setup, scan the QR code with your authenticator app and enter a code. The requirement takes effect when the code verifies."</p>
                <EnrollmentPanel purpose=EnrollmentPurpose::AccountRequirement
                    on_done=Callback::new(move |_| { step.set(Step::Saved); on_saved.run(()); })
                    cancel=(PAGE, Callback::new(move |_| { draft.set(saved); step.set(Step::Editing); }))/>
            </Show>
        </section>
    }
}
