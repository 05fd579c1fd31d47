//! `/settings/security` (owner): require two-factor authentication for everyone, and on top of
//! it passkeys or security keys.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::owner::{
    account_policy, set_account_requirement, set_enrollment_deadline, set_passkey_requirement,
    SetAccountRequirement, SetEnrollmentDeadline, SetPasskeyRequirement,
};
use crate::components::{
    action_error, field_error, focus_id, into_action, step_param, CodeField, ConfirmWithPasskey,
    EnrollmentPanel, EnrollmentPurpose, FormError, OwnerOnly, ProtectionPicture, ReturnHere,
    SignedIn, StepForm, SwitchAction, TextField, TwoFactorToggle,
};
use crate::domain::{count_of, format_date, format_iso_date, Me, PolicyImpact};

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
    /// Saving ON for an owner without a second factor.
    Enrolling,
    Saved,
}

#[component]
fn Settings(me: Me) -> impl IntoView {
    let version = RwSignal::new(0u32);
    let policy = Resource::new(move || version.get(), |_| account_policy());
    let set_up = me.two_factor.set_up();
    let passkeys = me.two_factor.passkeys > 0;
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
                    Ok(p) => view! {
                        <RequirementForm policy=p.clone() set_up passkeys on_saved saved_note/>
                        {p.required.then(|| view! { <DeadlineForm policy=p.clone() passkeys on_saved/> })}
                        <MailNote mail_from=p.mail_from.clone()/>
                        <PasskeyRequirementForm policy=p passkeys on_saved saved_note/>
                    }.into_any(),
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
    /// The owner has a second factor set up (else saving ON enrolls them first).
    set_up: bool,
    /// ... and a passkey, which can confirm the change in place of a code.
    passkeys: bool,
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
            true if asked && !set_up => Step::Enrolling,
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
        step.set(if draft.get_untracked() && !set_up {
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
                    <p>{if passkeys { "Confirm with a current code from your authenticator app, or with a passkey." } else { "Confirm with a current code from your authenticator app." }}</p>
                    <ActionForm action=confirm>
                        <ReturnHere/>
                        <input type="hidden" name="on" value=move || draft.get().to_string()/>
                        <CodeField error=error/>
                        <button type="submit">{move || if draft.get() { "Confirm" } else { "Stop requiring two-factor authentication" }}</button>
                        " "
                        <a class="button secondary" href=PAGE on:click=move |_| { draft.set(saved); step.set(Step::Editing); }>"Cancel"</a>
                    </ActionForm>
                    {passkeys.then(|| view! {
                        <ConfirmWithPasskey done=into_action(confirm.value())
                            send=move |answer| set_account_requirement(draft.get_untracked(), String::new(), Some(answer))/>
                    })}
                </div>
            </Show>
            <Show when=move || step.get() == Step::Enrolling>
                <p>"First set up your own second factor: the requirement takes effect when it is set up."</p>
                <EnrollmentPanel purpose=EnrollmentPurpose::AccountRequirement
                    on_done=Callback::new(move |_| { step.set(Step::Saved); on_saved.run(()); })
                    cancel=(PAGE, Callback::new(move |_| { draft.set(saved); step.set(Step::Editing); }))/>
            </Show>
        </section>
    }
}

const PASSKEYS: &str = "passkeys";
const CONFIRM_PASSKEYS: &str = "confirm-passkeys";

/// **Require passkeys or security keys**: on top of the 2FA requirement, only a passkey finishes
/// a sign-in; a user with only an authenticator app proves it is them with a code once and then
/// adds a passkey. Saving needs the owner's current second factor, and to turn it on a passkey
/// of their own.
#[component]
fn PasskeyRequirementForm(
    policy: PolicyImpact,
    /// The owner has a passkey.
    passkeys: bool,
    on_saved: Callback<()>,
    saved_note: RwSignal<bool>,
) -> impl IntoView {
    let saved = policy.passkeys_required;
    let available = policy.required;
    let asked = match step_param(PASSKEYS).as_deref() {
        Some("on") if available => true,
        Some("off") => false,
        _ => saved,
    };
    let draft = RwSignal::new(asked);
    let confirming =
        RwSignal::new(step_param(STEP).as_deref() == Some(CONFIRM_PASSKEYS) && asked != saved);
    let confirm = ServerAction::<SetPasskeyRequirement>::new();
    let error = action_error(confirm.value());
    Effect::new(move |_| {
        if let Some(Ok(())) = confirm.value().get() {
            confirming.set(false);
            on_saved.run(());
        }
    });
    Effect::new(move |_| {
        if confirming.get() {
            focus_id("field-code");
        }
    });
    let app_only = policy.app_only;
    let note =
        (!available).then(|| "Available while two-factor authentication is required.".to_string());
    // To turn it on the owner needs a passkey: their own next sign-in asks for one.
    let blocked = move || draft.get() && !saved && !passkeys;
    let on_save = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        if draft.get_untracked() != saved {
            confirming.set(true);
        }
    };
    view! {
        <section class="panel" aria-labelledby="passkeys-req-heading">
            <h2 id="passkeys-req-heading">"Phishing-resistant sign-in"</h2>
            <StepForm params=vec![(PASSKEYS, on_off(!asked))]>
                <TwoFactorToggle
                    label="Require passkeys or security keys"
                    id="require-passkeys"
                    checked=Signal::derive(move || if confirming.get() { saved } else { draft.get() })
                    disabled=Signal::derive(move || !available || confirming.get())
                    note=note
                    action=SwitchAction::Enhanced(Callback::new(move |on| { draft.set(on); confirming.set(false); saved_note.set(false); }))
                />
            </StepForm>
            <p class="hint-block">"Codes from an authenticator app can be phished by a fake sign-in page; a passkey or security key cannot."</p>
            <Show when=move || draft.get() && !saved>
                <p class="impact" role="status">{format!(
                    "When you save, {} only an authenticator app and will be asked to add a passkey at their next sign-in (their sessions end now); users with a passkey must use it.",
                    if app_only == 1 { "1 user has".to_string() } else { format!("{app_only} users have") }
                )}</p>
            </Show>
            <Show when=move || !draft.get() && saved>
                <p class="impact" role="status">"Users can then finish signing in with an authenticator app code again."</p>
            </Show>
            <Show when=blocked>
                <p class="notice">"Add a passkey for yourself in "<a href="/profile">"Profile"</a>" first, so that you can still sign in."</p>
            </Show>
            <Show when=move || !confirming.get() && available>
                <StepForm params=vec![(PASSKEYS, on_off(asked)), (STEP, CONFIRM_PASSKEYS.to_string())]>
                    <button type="submit" on:click=on_save
                        disabled=move || draft.get() == saved || blocked()>"Apply passkey requirement"</button>
                </StepForm>
            </Show>
            <Show when=move || confirming.get()>
                <div class="panel inset">
                    <p>{if passkeys { "Confirm with a current code from your authenticator app, or with a passkey." } else { "Confirm with a current code from your authenticator app." }}</p>
                    <ActionForm action=confirm>
                        <ReturnHere/>
                        <input type="hidden" name="on" value=move || draft.get().to_string()/>
                        <CodeField error=error/>
                        <button type="submit">{move || if draft.get() { "Require passkeys" } else { "Stop requiring passkeys" }}</button>
                        " "
                        <a class="button secondary" href=PAGE on:click=move |_| { draft.set(saved); confirming.set(false); }>"Cancel"</a>
                    </ActionForm>
                    {passkeys.then(|| view! {
                        <ConfirmWithPasskey done=into_action(confirm.value())
                            send=move |answer| set_passkey_requirement(draft.get_untracked(), String::new(), Some(answer))/>
                    })}
                </div>
            </Show>
        </section>
    }
}

/// **Enroll by** and **Days for new users to set up**, while the account requires 2FA: until a
/// user's deadline (the later of the two) they sign in with the password and are asked to set up
/// on every page; after it, at sign-in. Changing the dates moves everyone's deadline at once.
#[component]
fn DeadlineForm(policy: PolicyImpact, passkeys: bool, on_saved: Callback<()>) -> impl IntoView {
    let save = ServerAction::<SetEnrollmentDeadline>::new();
    let error = action_error(save.value());
    Effect::new(move |_| {
        if let Some(Ok(())) = save.value().get() {
            on_saved.run(());
        }
    });
    let days = policy.new_user_days;
    let now_rule = match (policy.enroll_by, days) {
        (None, 0) => "No deadline: users without a second factor set it up at their next sign-in."
            .to_string(),
        (by, days) => {
            let mut parts = Vec::new();
            if let Some(by) = by {
                parts.push(format!("by {}", format_date(by - 1)));
            }
            if days > 0 {
                parts.push(format!(
                    "{} after they are added",
                    count_of(days, "day", "days")
                ));
            }
            format!(
                "Users without a second factor set it up {} (whichever is later); until then they sign in with their password. {} now.",
                parts.join(" or "),
                count_of(policy.due, "user is due", "users are due")
            )
        }
    };
    view! {
        <section class="panel" aria-labelledby="deadline-heading">
            <h2 id="deadline-heading">"Deadline to set up"</h2>
            <p class="hint-block" data-testid="deadline-rule">{now_rule}</p>
            <ActionForm action=save>
                <ReturnHere/>
                <TextField label="Enroll by" name="enroll_by" kind="date"
                    value=policy.enroll_by.map(|by| format_iso_date(by - 1)).unwrap_or_default()
                    error=field_error(error, "enroll_by")/>
                <TextField label="Days for new users to set up" name="new_user_days" kind="number"
                    inputmode="numeric" value=days.to_string()
                    error=field_error(error, "new_user_days")/>
                <p class="hint-block">"Leave the date empty and the days at 0 to ask everyone at their next sign-in."</p>
                <p>{if passkeys { "Confirm with a current code from your authenticator app, or with a passkey." } else { "Confirm with a current code from your authenticator app." }}</p>
                // Its own id and name: the requirement's confirmation above has a code field too.
                <TextField label="Code to confirm" name="code" id="field-deadline-code"
                    autocomplete="one-time-code" inputmode="numeric" maxlength=7usize
                    error=field_error(error, "code")/>
                <FormError error/>
                <button type="submit" disabled=move || save.pending().get()>"Save deadline"</button>
            </ActionForm>
            {passkeys.then(|| view! {
                <ConfirmWithPasskey done=into_action(save.value())
                    send=move |answer| async move {
                        let (by, days) = deadline_fields();
                        set_enrollment_deadline(by, days, String::new(), Some(answer)).await
                    }/>
            })}
        </section>
    }
}

/// What the deadline form's fields hold now (for a passkey's confirmation, which sends them
/// itself).
fn deadline_fields() -> (String, String) {
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::JsCast;
        let value = |id: &str| {
            document()
                .get_element_by_id(id)
                .and_then(|e| e.dyn_into::<leptos::web_sys::HtmlInputElement>().ok())
                .map(|input| input.value())
                .unwrap_or_default()
        };
        (value("field-enroll_by"), value("field-new_user_days"))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        (String::new(), String::new())
    }
}

/// Whether the server sends security email, and what it tells whom.
#[component]
fn MailNote(mail_from: Option<String>) -> impl IntoView {
    view! {
        <section class="panel" aria-labelledby="mail-heading">
            <h2 id="mail-heading">"Security email"</h2>
            {match mail_from {
                Some(from) => view! {
                    <p data-testid="mail-status">{format!("Security email is sent from {from}.")}</p>
                    <p>"Users hear when their two-factor authentication is turned on, off or reset, when a recovery code is used or new ones are made, when they sign in from a new browser, and when their password is used without their second factor. You hear when the requirement is turned off, when a user is exempted, and when a user is locked out by wrong codes. Invitation and setup links can be sent by email from Users."</p>
                }.into_any(),
                None => view! {
                    <p data-testid="mail-status">"Email is not configured on this server: nobody is told by email when their two-factor authentication changes, and links are handed over by copying them."</p>
                    <p>"The server operator sets it up with --smtp-url and --mail-from (see the README)."</p>
                }.into_any(),
            }}
        </section>
    }
}
