//! `/users` (owner): everyone in the account, their 2FA and where it comes from.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::owner::{list_users, AddUser, RemoveUser, ResetUserTwoFactor, SetUserTwoFactor};
use crate::components::{
    action_error, field_error, FormError, OwnerOnly, ReturnHere, SignedIn, TextField,
    TwoFactorToggle,
};
use crate::domain::{format_time, AppError, Me, Role, UserRow, EXPORT_USERS_PATH};

#[component]
pub fn UsersPage() -> impl IntoView {
    view! {
        <Title text="Users"/>
        <SignedIn page=|me: Me| view! { <OwnerOnly me=me.clone()><Users required=me.two_factor.account_required/></OwnerOnly> }/>
    }
}

/// Makes a link path absolute for handing over.
fn full_link(path: &str) -> String {
    #[cfg(feature = "hydrate")]
    {
        if let Ok(origin) = window().location().origin() {
            return format!("{origin}{path}");
        }
    }
    path.to_string()
}

#[component]
fn Users(required: bool) -> impl IntoView {
    let version = RwSignal::new(0u32);
    let users = Resource::new(move || version.get(), |_| list_users());
    let reload = Callback::new(move |_: ()| version.update(|v| *v += 1));
    let adding = RwSignal::new(false);
    // At most one confirmation is open on the page (its buttons' names stay unique), and it
    // stays open while the list reloads after another change.
    let confirming = RwSignal::new(None::<(i64, Destructive)>);
    view! {
        <h1>"Users"</h1>
        <div class="toolbar">
            <button type="button" on:click=move |_| adding.set(true) disabled=move || adding.get()>"Add user"</button>
            <a class="button secondary" href=EXPORT_USERS_PATH download>"Export CSV"</a>
        </div>
        <Show when=move || adding.get()>
            <AddUserForm required on_added=reload on_close=Callback::new(move |_| adding.set(false))/>
        </Show>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match users.await {
                    Ok(list) => view! { <UserTable users=list reload confirming/> }.into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn AddUserForm(required: bool, on_added: Callback<()>, on_close: Callback<()>) -> impl IntoView {
    let action = ServerAction::<AddUser>::new();
    let error = action_error(action.value());
    // Seed rule 5: the switch starts ON exactly when the account requires 2FA.
    let two_factor = RwSignal::new(required);
    Effect::new(move |_| {
        if let Some(Ok(_)) = action.value().get() {
            on_added.run(());
        }
    });
    let link = move || {
        action
            .value()
            .get()
            .and_then(Result::ok)
            .map(|p| full_link(&p))
    };
    view! {
        <section class="panel" aria-labelledby="add-heading">
            <h2 id="add-heading">"Add user"</h2>
            <Show
                when=move || link().is_some()
                fallback=move || view! {
                    <ActionForm action>
                        <ReturnHere/>
                        <TextField label="Name" name="name" autocomplete="off" maxlength=100usize error=field_error(error, "name")/>
                        <TextField label="Email" name="email" kind="email" autocomplete="off" error=field_error(error, "email")/>
                        <input type="hidden" name="two_factor" value=move || two_factor.get().to_string()/>
                        <TwoFactorToggle label="Two-factor authentication" id="new-user-2fa" checked=two_factor
                            on_toggle=Callback::new(move |on| two_factor.set(on))/>
                        <FormError error/>
                        <button type="submit" disabled=move || action.pending().get()>"Create user"</button>
                        " "
                        <button type="button" class="secondary" on:click=move |_| on_close.run(())>"Cancel"</button>
                    </ActionForm>
                }
            >
                <p>"User added. Send them this single-use link (valid 7 days) to set their password:"</p>
                <p class="link-box"><span class="label" id="invite-label">"Invitation link"</span>
                    <code aria-labelledby="invite-label" data-testid="invitation-link">{link}</code></p>
                <button type="button" on:click=move |_| on_close.run(())>"Done"</button>
            </Show>
        </section>
    }
}

/// A destructive action of a user row that waits for its confirmation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Destructive {
    Reset,
    Remove,
}

impl Destructive {
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
            Destructive::Remove => (
                format!("Remove {name}? They lose access to the account at once."),
                format!("Remove {name}"),
            ),
        }
    }
}

#[component]
fn UserTable(
    users: Vec<UserRow>,
    reload: Callback<()>,
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
                    {users.into_iter().map(|u| view! { <UserLine user=u reload confirming/> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn UserLine(
    user: UserRow,
    reload: Callback<()>,
    confirming: RwSignal<Option<(i64, Destructive)>>,
) -> impl IntoView {
    let toggle = ServerAction::<SetUserTwoFactor>::new();
    let reset = ServerAction::<ResetUserTwoFactor>::new();
    let remove = ServerAction::<RemoveUser>::new();
    let id = user.id;
    let is_owner = user.role == Role::Owner;
    let on = RwSignal::new(user.setting.on);
    Effect::new(move |_| {
        if matches!(toggle.value().get(), Some(Ok(())))
            || matches!(remove.value().get(), Some(Ok(())))
        {
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
        [
            toggle.value().get().and_then(Result::err),
            reset.value().get().and_then(Result::err),
            remove.value().get().and_then(Result::err),
        ]
        .into_iter()
        .flatten()
        .next()
        .map(|e: AppError| e.to_string())
    });
    let setup_link = move || {
        reset
            .value()
            .get()
            .and_then(Result::ok)
            .map(|p| full_link(&p))
    };
    let source = user.setting.source.map(|s| s.label()).unwrap_or("—");
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
    let remove_ref = NodeRef::<leptos::html::Button>::new();
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
                Some(Destructive::Remove) => remove_ref.get(),
                None => None,
            };
            if let Some(button) = button {
                let _ = button.focus();
                return_to.set_value(None);
            }
        }
    });
    let confirm = {
        let name = name.clone();
        move || {
            asking().map(|what| {
                let (question, button) = what.words(&name);
                let go = move |_| {
                    confirming.set(None);
                    match what {
                        Destructive::Reset => {
                            reset.dispatch(ResetUserTwoFactor { user_id: id });
                        }
                        Destructive::Remove => {
                            remove.dispatch(RemoveUser { user_id: id });
                        }
                    }
                };
                let cancel = move |_| {
                    return_to.set_value(Some(what));
                    confirming.set(None);
                };
                view! {
                    <div class="confirm" role="group" aria-labelledby=format!("confirm-{id}")>
                        <p id=format!("confirm-{id}")>{question}</p>
                        <button type="button" class="danger" node_ref=confirm_ref on:click=go>{button}</button>
                        " "
                        <button type="button" class="secondary" on:click=cancel>"Cancel"</button>
                    </div>
                }
            })
        }
    };
    let actions = (!is_owner).then(|| {
        let reset_name = format!("Reset two-factor authentication for {name}");
        let remove_name = format!("Remove user {name}");
        view! {
            <button type="button" class="secondary" aria-label=reset_name node_ref=reset_ref
                hidden=move || asking().is_some()
                on:click=move |_| confirming.set(Some((id, Destructive::Reset)))>"Reset two-factor authentication"</button>
            <button type="button" class="danger" aria-label=remove_name node_ref=remove_ref
                hidden=move || asking().is_some()
                on:click=move |_| confirming.set(Some((id, Destructive::Remove)))>"Remove user"</button>
        }
    });
    view! {
        <tr data-testid=format!("user-{}", user.email)>
            <td><div class="name">{user.name.clone()}</div><div class="email">{user.email.clone()}</div></td>
            <td data-label="Role">{user.role.label()}</td>
            <td data-label="Two-factor authentication">
                // A form of its own: the switch submits it, with JavaScript or without.
                <ActionForm action=toggle>
                    <ReturnHere/>
                    <input type="hidden" name="user_id" value=id.to_string()/>
                    <input type="hidden" name="on" value=move || (!on.get()).to_string()/>
                    <TwoFactorToggle label="Two-factor authentication" whose=name.clone() id=format!("user-{id}-2fa") checked=on
                        disabled=Signal::derive(move || is_owner || toggle.pending().get())
                        note=Signal::derive(move || note.clone())/>
                </ActionForm>
                <div class="source">"From: "{source}</div>
            </td>
            <td data-label="Set by">{set_by}</td>
            <td data-label="Authenticator">{auth_state}</td>
            <td class="row-actions">
                {actions}
                {confirm}
                <Show when=move || setup_link().is_some()>
                    <p class="link-box"><span class="label" id=format!("setup-label-{id}")>"Setup link"</span>
                        <code aria-labelledby=format!("setup-label-{id}") data-testid="setup-link">{setup_link}</code></p>
                </Show>
                <Show when=move || error.get().is_some()>
                    <p class="form-error" role="alert">{move || error.get()}</p>
                </Show>
            </td>
        </tr>
    }
}
