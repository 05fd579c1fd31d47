//! `/users` (owner): everyone in the account, their 2FA and where it comes from.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::owner::{list_users, AddUser, RemoveUser, ResetUserTwoFactor, SetUserTwoFactor};
use crate::components::{
    action_error, field_error, FormError, OwnerOnly, ReturnHere, SignedIn, TextField,
    TwoFactorToggle,
};
use crate::domain::{format_time, AppError, Me, Role, UserRow};

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
    view! {
        <h1>"Users"</h1>
        <div class="toolbar">
            <button type="button" on:click=move |_| adding.set(true) disabled=move || adding.get()>"Add user"</button>
        </div>
        <Show when=move || adding.get()>
            <AddUserForm required on_added=reload on_close=Callback::new(move |_| adding.set(false))/>
        </Show>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match users.await {
                    Ok(list) => view! { <UserTable users=list reload/> }.into_any(),
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

#[component]
fn UserTable(users: Vec<UserRow>, reload: Callback<()>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="users">
                <thead><tr>
                    <th scope="col">"Name"</th><th scope="col">"Role"</th><th scope="col">"Two-factor authentication"</th>
                    <th scope="col">"Set by"</th><th scope="col">"Authenticator"</th><th scope="col">"Actions"</th>
                </tr></thead>
                <tbody>
                    {users.into_iter().map(|u| view! { <UserLine user=u reload/> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn UserLine(user: UserRow, reload: Callback<()>) -> impl IntoView {
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
    let auth_state = if user.invitation_pending {
        "Invitation pending"
    } else if user.reset_pending {
        "Reset, waiting for setup"
    } else if user.has_authenticator {
        "Set up"
    } else if user.setting.on {
        "Pending: sets up at next sign-in"
    } else {
        "Not set up"
    };
    let note = if is_owner {
        Some("Change yours in Profile.".to_string())
    } else {
        None
    };
    view! {
        <tr data-testid=format!("user-{}", user.email)>
            <td><div class="name">{user.name.clone()}</div><div class="email">{user.email.clone()}</div></td>
            <td>{user.role.label()}</td>
            <td>
                <TwoFactorToggle label="Two-factor authentication" id=format!("user-{id}-2fa") checked=on
                    disabled=Signal::derive(move || is_owner || toggle.pending().get())
                    note=Signal::derive(move || note.clone())
                    on_toggle=Callback::new(move |v| { on.set(v); toggle.dispatch(SetUserTwoFactor { user_id: id, on: v }); })/>
                <div class="source">"From: "{source}</div>
            </td>
            <td>{set_by}</td>
            <td>{auth_state}</td>
            <td class="row-actions">
                {(!is_owner).then(|| view! {
                    <button type="button" class="secondary" on:click=move |_| { reset.dispatch(ResetUserTwoFactor { user_id: id }); }>
                        "Reset two-factor authentication"</button>
                    <button type="button" class="danger" on:click=move |_| { remove.dispatch(RemoveUser { user_id: id }); }>
                        "Remove user"</button>
                })}
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
