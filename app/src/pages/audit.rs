//! `/audit` (owner): every security event of the account, newest first, filterable.

use leptos::prelude::*;
use leptos_meta::Title;

use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::owner::{audit_log, list_users};
use crate::components::{OwnerOnly, SignedIn};
use crate::domain::{format_time, Me};

/// The event types the filter offers, with their labels.
pub const EVENT_TYPES: &[(&str, &str)] = &[
    ("sign_in.success", "Sign-in success"),
    ("sign_in.failure", "Sign-in failure"),
    ("code.failure", "Token failure"),
    ("code.lockout", "Lockout"),
    ("code.replay_refused", "Replayed code refused"),
    ("two_factor.enrolled", "Enrollment"),
    ("two_factor.disabled", "2FA turned off"),
    ("two_factor.reset", "2FA reset"),
    ("recovery_code.used", "Recovery code used"),
    ("recovery_codes.regenerated", "Recovery codes regenerated"),
    ("policy.changed", "Policy change"),
    ("user.two_factor_changed", "Per-user 2FA change"),
    ("user.added", "User added"),
    ("user.removed", "User removed"),
    ("invitation.accepted", "Invitation accepted"),
    ("link.renewed", "New link issued"),
    ("passkey.added", "Passkey added"),
    ("passkey.removed", "Passkey removed"),
    ("passkey.used", "Passkey used"),
    ("link.emailed", "Link sent by email"),
    ("password.link_issued", "Password link issued"),
    ("password.reset", "Password reset"),
    ("mail.sent", "Security email sent"),
    ("mail.given_up", "Security email given up"),
    ("users.exported", "Users exported"),
    ("session.ended", "Session ended"),
    ("account.created", "Account created"),
];

/// An event's name in the filter's words; its key where there is none.
fn event_label(key: &str) -> String {
    EVENT_TYPES
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, label)| label.to_string())
        .unwrap_or_else(|| key.to_string())
}

#[component]
pub fn AuditPage() -> impl IntoView {
    view! {
        <Title text="Audit log"/>
        <SignedIn page=|me: Me| view! { <OwnerOnly me=me.clone()><Audit/></OwnerOnly> }/>
    }
}

/// The page for a filter and a position: its query says all (`?event=…&user=…&before=…`), so a
/// filtered page can be linked, reloaded and used without JavaScript.
fn audit_path(event: &str, user: i64, before: i64) -> String {
    let mut q = Vec::new();
    if !event.is_empty() {
        q.push(format!("event={event}"));
    }
    if user > 0 {
        q.push(format!("user={user}"));
    }
    if before > 0 {
        q.push(format!("before={before}"));
    }
    if q.is_empty() {
        "/audit".to_string()
    } else {
        format!("/audit?{}", q.join("&"))
    }
}

#[component]
fn Audit() -> impl IntoView {
    let query = use_query_map();
    let number = move |name: &str| {
        query.with(|q| q.get(name).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0))
    };
    let event = Memo::new(move |_| query.with(|q| q.get("event").unwrap_or_default()));
    let user = Memo::new(move |_| number("user"));
    let before = Memo::new(move |_| number("before"));
    let page = Resource::new(
        move || (event.get(), user.get(), before.get()),
        |(e, u, b)| audit_log(e, u, b),
    );
    let users = Resource::new(|| (), |_| list_users());
    // With the wasm a filter applies as it changes; without, the form's button sends it.
    let navigate = use_navigate();
    let go =
        move |event: String, user: i64| navigate(&audit_path(&event, user, 0), Default::default());
    let go_user = go.clone();
    view! {
        <h1>"Audit log"</h1>
        <form method="get" action="/audit" class="toolbar">
            <label for="event-filter">"Event type"</label>
            <select id="event-filter" name="event" on:change=move |ev| go(event_target_value(&ev), user.get_untracked())>
                <option value="">"All events"</option>
                {EVENT_TYPES.iter().map(|(v, l)| view! { <option value=*v selected=move || event.get() == *v>{*l}</option> }).collect_view()}
            </select>
            <Suspense>
                {move || {
                    let go_user = go_user.clone();
                    Suspend::new(async move {
                        let list = users.await.unwrap_or_default();
                        view! {
                            <label for="user-filter">"User"</label>
                            <select id="user-filter" name="user" on:change=move |ev| go_user(event.get_untracked(), event_target_value(&ev).parse().unwrap_or(0))>
                                <option value="0">"All users"</option>
                                {list.into_iter().map(|u| {
                                    let id = u.id;
                                    view! { <option value=id.to_string() selected=move || user.get() == id>{u.name}" ("{u.email}")"</option> }
                                }).collect_view()}
                            </select>
                        }
                    })
                }}
            </Suspense>
            <button type="submit" class="secondary no-js-only">"Filter"</button>
        </form>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(p) => {
                        let next = p.next_before;
                        let empty = p.entries.is_empty();
                        view! {
                            <div class="table-wrap" tabindex="0" role="region" aria-label="Audit events">
                                <table class="audit cards">
                                    <thead><tr>
                                        <th scope="col">"Time"</th><th scope="col">"Event"</th><th scope="col">"Actor"</th>
                                        <th scope="col">"Target"</th><th scope="col">"Detail"</th><th scope="col">"Client address"</th>
                                    </tr></thead>
                                    <tbody>
                                        {empty.then(|| view! { <tr><td colspan="6">"No events match these filters."</td></tr> })}
                                        {p.entries.into_iter().map(|e| view! {
                                            <tr>
                                                <td data-label="Time">{format_time(e.at)}</td>
                                                <td data-label="Event"><span title=e.event.clone()>{event_label(&e.event)}</span></td>
                                                <td data-label="Actor">{e.actor.unwrap_or_else(|| "—".into())}</td>
                                                <td data-label="Target">{e.target.unwrap_or_else(|| "—".into())}</td>
                                                <td data-label="Detail">{e.detail}</td>
                                                <td data-label="Client address">{e.client_addr}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            {next.map(|n| view! { <a class="button secondary" href=audit_path(&event.get_untracked(), user.get_untracked(), n)>"Older events"</a> })}
                        }.into_any()
                    }
                    Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}
