//! `/users` (owner): everyone in the account, their 2FA and where it comes from.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::owner::{
    list_users, AddUser, RemoveUser, RenewLink, ResetUserPassword, ResetUserTwoFactor,
    SetUserTwoFactor,
};
use crate::api::sessions::SignOutUserEverywhere;
use crate::components::{
    action_error, field_error, focus_on_mount, step_param, FormError, HandOver, OwnerOnly,
    ReturnHere, SignedIn, StepForm, SwitchAction, TextField, TwoFactorToggle,
};
use crate::domain::{
    format_time, AppError, HandedLink, LinkKind, Me, Role, UserRow, EXPORT_USERS_PATH,
};

#[component]
pub fn UsersPage() -> impl IntoView {
    view! {
        <Title text="Users"/>
        <SignedIn page=|me: Me| view! { <OwnerOnly me=me.clone()><Users required=me.two_factor.account_required/></OwnerOnly> }/>
    }
}

#[component]
fn Users(required: bool) -> impl IntoView {
    let version = RwSignal::new(0u32);
    let users = Resource::new(move || version.get(), |_| list_users());
    let reload = Callback::new(move |_: ()| version.update(|v| *v += 1));
    // Without the wasm, "Add user", "Reset" and "Remove" load the page with the step in its
    // query (`?add=1`, `?confirm=remove&user=7`), and the page starts in it.
    let adding = RwSignal::new(step_param(ADD).is_some());
    // At most one confirmation is open on the page (its buttons' names stay unique), and it
    // stays open while the list reloads after another change.
    let confirming = RwSignal::new(Destructive::asked());
    // The link just issued (an invitation, a setup link), at the top of the page until Done;
    // the list reloads at once to show where the user now stands.
    let handed = RwSignal::new(None::<HandedLink>);
    let hand = Callback::new(move |link: HandedLink| {
        handed.set(Some(link));
        version.update(|v| *v += 1);
    });
    // The rows' resets, removals and new links belong to the page, not to a row: the list
    // re-renders its rows when it reloads (after a switch, say), and what a row's action
    // answers (a link to hand over, the reload after a removal) must not go with it.
    let actions = RowActions {
        reset: ServerAction::new(),
        password: ServerAction::new(),
        remove: ServerAction::new(),
        renew: ServerAction::new(),
        sign_out: ServerAction::new(),
    };
    let signed_out = move || actions.sign_out.value().get().and_then(Result::ok);
    Effect::new(move |_| {
        if let Some(Ok(())) = actions.remove.value().get() {
            version.update(|v| *v += 1);
        }
    });
    Effect::new(move |_| {
        for done in [
            actions.reset.value().get(),
            actions.password.value().get(),
            actions.renew.value().get(),
        ] {
            if let Some(Ok(link)) = done {
                hand.run(link);
            }
        }
    });
    let refused = move || {
        [
            actions.reset.value().get().and_then(Result::err),
            actions.password.value().get().and_then(Result::err),
            actions.remove.value().get().and_then(Result::err),
            actions.renew.value().get().and_then(Result::err),
            actions.sign_out.value().get().and_then(Result::err),
        ]
        .into_iter()
        .flatten()
        .next()
        .map(|e: AppError| e.to_string())
    };
    view! {
        <h1>"Users"</h1>
        <div class="toolbar">
            <StepForm params=vec![(ADD, "1".to_string())]>
                <button type="submit" on:click=move |ev| { ev.prevent_default(); adding.set(true); }
                    disabled=move || adding.get()>"Add user"</button>
            </StepForm>
            <a class="button secondary" href=EXPORT_USERS_PATH download>"Export CSV"</a>
        </div>
        {move || handed.get().map(|link| view! { <HandOver handed=link on_done=Callback::new(move |_| handed.set(None))/> })}
        {move || refused().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
        {move || signed_out().map(|said| view! { <p class="saved" role="status" id="users-status">{said}</p> })}
        <Show when=move || adding.get()>
            <AddUserForm required
                on_added=Callback::new(move |link| { adding.set(false); hand.run(link); })
                on_close=Callback::new(move |_| adding.set(false))/>
        </Show>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match users.await {
                    Ok(list) => view! { <UserTable users=list required reload actions confirming/> }.into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn AddUserForm(
    required: bool,
    on_added: Callback<HandedLink>,
    on_close: Callback<()>,
) -> impl IntoView {
    focus_on_mount("field-name");
    let action = ServerAction::<AddUser>::new();
    let error = action_error(action.value());
    Effect::new(move |_| {
        if let Some(Ok(link)) = action.value().get() {
            on_added.run(link);
        }
    });
    view! {
        <section class="panel" aria-labelledby="add-heading">
            <h2 id="add-heading">"Add user"</h2>
            <ActionForm action>
                <ReturnHere/>
                <TextField label="Name" name="name" autocomplete="off" maxlength=100usize error=field_error(error, "name")/>
                <TextField label="Email" name="email" kind="email" autocomplete="off" error=field_error(error, "email")/>
                // Seed rule 5: the switch starts ON exactly when the account requires 2FA.
                <TwoFactorToggle label="Two-factor authentication" id="new-user-2fa"
                    checked=required action=SwitchAction::Field("two_factor")/>
                <FormError error/>
                <button type="submit" disabled=move || action.pending().get()>"Create user"</button>
                " "
                <a class="button secondary" href=PAGE on:click=move |_| on_close.run(())>"Cancel"</a>
            </ActionForm>
        </section>
    }
}

/// The actions of the rows whose answers outlive a reload of the list.
#[derive(Clone, Copy)]
struct RowActions {
    reset: ServerAction<ResetUserTwoFactor>,
    password: ServerAction<ResetUserPassword>,
    remove: ServerAction<RemoveUser>,
    renew: ServerAction<RenewLink>,
    sign_out: ServerAction<SignOutUserEverywhere>,
}

/// A destructive action of a user row that waits for its confirmation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Destructive {
    Reset,
    /// A password link for the user (their current password works until it is used).
    Password,
    Remove,
    /// Turning a user's 2FA off while the account requires it.
    Exempt,
    /// Ending every session of the user.
    SignOut,
}

/// The query parameters of the page's steps (see [`crate::components::StepForm`]).
const PAGE: &str = "/users";
const ADD: &str = "add";
const CONFIRM: &str = "confirm";
const USER: &str = "user";

impl Destructive {
    fn param(self) -> &'static str {
        match self {
            Destructive::Reset => "reset",
            Destructive::Password => "password",
            Destructive::Remove => "remove",
            Destructive::Exempt => "exempt",
            Destructive::SignOut => "sign_out",
        }
    }

    /// The confirmation the page's query opens (`?confirm=remove&user=7`).
    fn asked() -> Option<(i64, Destructive)> {
        let what = match step_param(CONFIRM).as_deref() {
            Some("reset") => Destructive::Reset,
            Some("password") => Destructive::Password,
            Some("remove") => Destructive::Remove,
            Some("exempt") => Destructive::Exempt,
            Some("sign_out") => Destructive::SignOut,
            _ => return None,
        };
        Some((step_param(USER)?.parse().ok()?, what))
    }

    /// The question and the confirming button, naming the person.
    fn words(self, name: &str) -> (String, String) {
        match self {
            Destructive::Reset => (
                format!(
                    "Reset {name}'s two-factor authentication? Their authenticator and recovery \
                     codes stop working and they set up again with a setup link."
                ),
                format!("Reset {name}'s two-factor authentication"),
            ),
            Destructive::Password => (
                format!(
                    "Reset {name}'s password? You get a single-use password link (24 hours) to \
                     hand them; their current password works until they use it, and signing in \
                     afterwards still asks for their second factor."
                ),
                format!("Reset {name}'s password"),
            ),
            Destructive::Remove => (
                format!("Remove {name}? They lose access to the account at once."),
                format!("Remove {name}"),
            ),
            Destructive::Exempt => (
                format!(
                    "Exempt {name} from the account's requirement? {name} will sign in with \
                     only a password until you turn two-factor authentication on again."
                ),
                format!("Exempt {name}"),
            ),
            Destructive::SignOut => (
                format!(
                    "Sign {name} out everywhere? Every browser where they are signed in, or \
                     half-way through signing in, is signed out. They can sign in again."
                ),
                format!("Sign out {name} everywhere"),
            ),
        }
    }
}

#[component]
fn UserTable(
    users: Vec<UserRow>,
    /// Whether the account requires 2FA.
    required: bool,
    reload: Callback<()>,
    actions: RowActions,
    confirming: RwSignal<Option<(i64, Destructive)>>,
) -> impl IntoView {
    view! {
        <div class="table-wrap" tabindex="0" role="region" aria-label="Users of the account">
            <table class="users cards">
                <thead><tr>
                    <th scope="col">"Name"</th><th scope="col">"Role"</th><th scope="col">"Two-factor authentication"</th>
                    <th scope="col">"Set by"</th><th scope="col">"Authenticator"</th><th scope="col">"Actions"</th>
                </tr></thead>
                <tbody>
                    {users.into_iter().map(|u| view! { <UserLine user=u required reload actions confirming/> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn UserLine(
    user: UserRow,
    required: bool,
    reload: Callback<()>,
    actions: RowActions,
    confirming: RwSignal<Option<(i64, Destructive)>>,
) -> impl IntoView {
    let toggle = ServerAction::<SetUserTwoFactor>::new();
    let RowActions {
        reset,
        password,
        remove,
        renew,
        sign_out,
    } = actions;
    let id = user.id;
    let is_owner = user.role == Role::Owner;
    let on = RwSignal::new(user.setting.on);
    Effect::new(move |_| {
        if matches!(toggle.value().get(), Some(Ok(()))) {
            reload.run(());
        }
    });
    // The switch shows the state asked for at once, and goes back if the change is refused.
    Effect::new(move |_| {
        if let Some(asked) = toggle.input().get() {
            on.set(asked.on);
        }
    });
    Effect::new(move |_| {
        if let Some(Err(_)) = toggle.value().get() {
            on.set(!on.get_untracked());
        }
    });
    let error = Signal::derive(move || {
        toggle
            .value()
            .get()
            .and_then(Result::err)
            .map(|e: AppError| e.to_string())
    });
    let source = if user.setting.is_exempt(required) {
        "Exempt: signs in with only a password".to_string()
    } else {
        format!(
            "From: {}",
            user.setting.source.map(|s| s.label()).unwrap_or("—")
        )
    };
    let set_by = match (&user.set_by, user.set_at) {
        (Some(who), Some(at)) => format!("{who}, {}", format_time(at)),
        _ => "—".to_string(),
    };
    let auth_state = user.authenticator_state();
    let note = if is_owner {
        Some("Change yours in Profile.".to_string())
    } else {
        None
    };
    let name = user.name.clone();
    let asking = move || {
        confirming
            .get()
            .filter(|(row, _)| *row == id)
            .map(|(_, what)| what)
    };
    // Focus moves to the confirming button when the question opens, and back to the button
    // that asked when it is cancelled, so a keyboard user never loses their place.
    let reset_ref = NodeRef::<leptos::html::Button>::new();
    let password_ref = NodeRef::<leptos::html::Button>::new();
    let remove_ref = NodeRef::<leptos::html::Button>::new();
    let sign_out_ref = NodeRef::<leptos::html::Button>::new();
    let confirm_ref = NodeRef::<leptos::html::Button>::new();
    let return_to = StoredValue::new(None::<Destructive>);
    Effect::new(move |_| match asking() {
        Some(_) => {
            if let Some(button) = confirm_ref.get() {
                let _ = button.focus();
            }
        }
        None => {
            let asked = return_to.get_value();
            let button = match asked {
                Some(Destructive::Reset) => reset_ref.get(),
                Some(Destructive::Password) => password_ref.get(),
                Some(Destructive::Remove) => remove_ref.get(),
                Some(Destructive::SignOut) => sign_out_ref.get(),
                Some(Destructive::Exempt) | None => None,
            };
            if let Some(button) = button {
                let _ = button.focus();
                return_to.set_value(None);
            }
        }
    });
    // A confirmed action closes its question as it goes.
    Effect::new(move |_| {
        if (reset.pending().get()
            || password.pending().get()
            || remove.pending().get()
            || sign_out.pending().get()
            || toggle.pending().get())
            && confirming.get_untracked().is_some_and(|(row, _)| row == id)
        {
            confirming.set(None);
        }
    });
    let confirm = {
        let name = name.clone();
        move || {
            asking().map(|what| {
                let (question, button) = what.words(&name);
                let cancel = move |_| {
                    return_to.set_value(Some(what));
                    confirming.set(None);
                };
                let submit = view! {
                    <ReturnHere/>
                    <input type="hidden" name="user_id" value=id.to_string()/>
                    <button type="submit" class="danger" node_ref=confirm_ref>{button}</button>
                };
                let form = match what {
                    Destructive::Reset => {
                        view! { <ActionForm action=reset>{submit}</ActionForm> }.into_any()
                    }
                    Destructive::Password => {
                        view! { <ActionForm action=password>{submit}</ActionForm> }.into_any()
                    }
                    Destructive::Remove => {
                        view! { <ActionForm action=remove>{submit}</ActionForm> }.into_any()
                    }
                    Destructive::SignOut => {
                        view! { <ActionForm action=sign_out>{submit}</ActionForm> }.into_any()
                    }
                    Destructive::Exempt => view! {
                        <ActionForm action=toggle>
                            <input type="hidden" name="on" value="false"/>
                            {submit}
                        </ActionForm>
                    }
                    .into_any(),
                };
                view! {
                    <div class="confirm" role="group" aria-labelledby=format!("confirm-{id}")>
                        <p id=format!("confirm-{id}")>{question}</p>
                        {form}
                        <a class="button secondary" href=PAGE on:click=cancel>"Cancel"</a>
                    </div>
                }
            })
        }
    };
    let toggle_view = {
        let name = name.clone();
        move |action: SwitchAction| {
            let note = note.clone();
            view! {
                <TwoFactorToggle label="Two-factor authentication" whose=name.clone() id=format!("user-{id}-2fa") checked=on
                    disabled=Signal::derive(move || is_owner || toggle.pending().get())
                    note=Signal::derive(move || note.clone()) note_href="/profile" action/>
            }
        }
    };
    // Turning someone's 2FA off while the account requires it exempts them: asked first.
    // Every other change is a form of its own that the switch submits, with JavaScript or
    // without.
    let switch = if required && user.setting.on && !is_owner {
        let ask = Callback::new(move |_| confirming.set(Some((id, Destructive::Exempt))));
        view! {
            <StepForm params=vec![(CONFIRM, Destructive::Exempt.param().to_string()), (USER, id.to_string())]>
                {toggle_view(SwitchAction::Enhanced(ask))}
            </StepForm>
        }
        .into_any()
    } else {
        view! {
            <ActionForm action=toggle>
                <ReturnHere/>
                <input type="hidden" name="user_id" value=id.to_string()/>
                <input type="hidden" name="on" value=move || (!on.get()).to_string()/>
                {toggle_view(SwitchAction::Submit)}
            </ActionForm>
        }
        .into_any()
    };
    // While the invitation or the reset waits, a new link can replace the one sent before.
    let waiting = match (user.invitation_pending, user.reset_pending) {
        (true, _) => Some(LinkKind::Invitation),
        (false, true) => Some(LinkKind::Setup),
        (false, false) => None,
    };
    let renew_form = waiting.filter(|_| !is_owner).map(|kind| {
        let label = kind.renew_label(&name);
        let text = label.split(" for ").next().unwrap_or_default().to_string();
        view! {
            <ActionForm action=renew attr:class="step-form">
                <ReturnHere/>
                <input type="hidden" name="user_id" value=id.to_string()/>
                <button type="submit" class="secondary" aria-label=label
                    hidden=move || asking().is_some()
                    disabled=move || renew.pending().get()>{text}</button>
            </ActionForm>
        }
    });
    let actions = (!is_owner).then(|| {
        let reset_name = format!("Reset two-factor authentication for {name}");
        let password_name = format!("Reset password for {name}");
        let remove_name = format!("Remove user {name}");
        let sign_out_name = format!("Sign out everywhere for {name}");
        let ask = move |what: Destructive| {
            move |ev: leptos::ev::MouseEvent| {
                ev.prevent_default();
                confirming.set(Some((id, what)));
            }
        };
        let params = move |what: Destructive| {
            vec![(CONFIRM, what.param().to_string()), (USER, id.to_string())]
        };
        view! {
            <StepForm params=params(Destructive::Reset)>
                <button type="submit" class="secondary" aria-label=reset_name node_ref=reset_ref
                    hidden=move || asking().is_some()
                    on:click=ask(Destructive::Reset)>"Reset two-factor authentication"</button>
            </StepForm>
            <StepForm params=params(Destructive::Password)>
                <button type="submit" class="secondary" aria-label=password_name node_ref=password_ref
                    hidden=move || asking().is_some()
                    on:click=ask(Destructive::Password)>"Reset password"</button>
            </StepForm>
            <StepForm params=params(Destructive::SignOut)>
                <button type="submit" class="secondary" aria-label=sign_out_name node_ref=sign_out_ref
                    hidden=move || asking().is_some()
                    on:click=ask(Destructive::SignOut)>"Sign out everywhere"</button>
            </StepForm>
            <StepForm params=params(Destructive::Remove)>
                <button type="submit" class="danger" aria-label=remove_name node_ref=remove_ref
                    hidden=move || asking().is_some()
                    on:click=ask(Destructive::Remove)>"Remove user"</button>
            </StepForm>
        }
    });
    view! {
        <tr data-testid=format!("user-{}", user.email)>
            <td><div class="name">{user.name.clone()}</div><div class="email">{user.email.clone()}</div></td>
            <td data-label="Role">{user.role.label()}</td>
            <td data-label="Two-factor authentication">
                {switch}
                <div class="source">{source}</div>
            </td>
            <td data-label="Set by">{set_by}</td>
            <td data-label="Authenticator">{auth_state}<div class="source">{format!("Methods: {}", user.methods())}</div>
                {user.due.clone().map(|due| {
                    let overdue = due == "Overdue";
                    view! { <div class="due" class:overdue=overdue>{due}</div> }
                })}</td>
            <td class="row-actions">
                {actions}
                {confirm}
                {renew_form}
                <Show when=move || error.get().is_some()>
                    <p class="form-error" role="alert">{move || error.get()}</p>
                </Show>
            </td>
        </tr>
    }
}
