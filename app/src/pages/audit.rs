//! `/audit` (owner): every security event of the account, newest first, filterable.

use leptos::prelude::*;
use leptos_meta::Title;

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
    ("users.exported", "Users exported"),
    ("session.ended", "Session ended"),
    ("account.created", "Account created"),
];

#[component]
pub fn AuditPage() -> impl IntoView {
    view! {
        <Title text="Audit log"/>
        <SignedIn page=|me: Me| view! { <OwnerOnly me=me.clone()><Audit/></OwnerOnly> }/>
    }
}

#[component]
fn Audit() -> impl IntoView {
    let event = RwSignal::new(String::new());
    let user = RwSignal::new(0i64);
    let before = RwSignal::new(0i64);
    let page = Resource::new(
        move || (event.get(), user.get(), before.get()),
        |(e, u, b)| audit_log(e, u, b),
    );
    let users = Resource::new(|| (), |_| list_users());
    view! {
        <h1>"Audit log"</h1>
        <div class="toolbar">
            <label for="event-filter">"Event type"</label>
            <select id="event-filter" on:change=move |ev| { before.set(0); event.set(event_target_value(&ev)); }>
                <option value="">"All events"</option>
                {EVENT_TYPES.iter().map(|(v, l)| view! { <option value=*v>{*l}</option> }).collect_view()}
            </select>
            <Suspense>
                {move || Suspend::new(async move {
                    let list = users.await.unwrap_or_default();
                    view! {
                        <label for="user-filter">"User"</label>
                        <select id="user-filter" on:change=move |ev| { before.set(0); user.set(event_target_value(&ev).parse().unwrap_or(0)); }>
                            <option value="0">"All users"</option>
                            {list.into_iter().map(|u| view! { <option value=u.id.to_string()>{u.name}" ("{u.email}")"</option> }).collect_view()}
                        </select>
                    }
                })}
            </Suspense>
        </div>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(p) => {
                        let next = p.next_before;
                        view! {
                            <div class="table-wrap" tabindex="0" role="region" aria-label="Audit events">
                                <table class="audit cards">
                                    <thead><tr>
                                        <th scope="col">"Time"</th><th scope="col">"Event"</th><th scope="col">"Actor"</th>
                                        <th scope="col">"Target"</th><th scope="col">"Detail"</th><th scope="col">"Client address"</th>
                                    </tr></thead>
                                    <tbody>
                                        {p.entries.into_iter().map(|e| view! {
                                            <tr>
                                                <td data-label="Time">{format_time(e.at)}</td>
                                                <td data-label="Event"><code>{e.event}</code></td>
                                                <td data-label="Actor">{e.actor.unwrap_or_else(|| "—".into())}</td>
                                                <td data-label="Target">{e.target.unwrap_or_else(|| "—".into())}</td>
                                                <td data-label="Detail">{e.detail}</td>
                                                <td data-label="Client address">{e.client_addr}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            {next.map(|n| view! { <button type="button" class="secondary" on:click=move |_| before.set(n)>"Older events"</button> })}
                        }.into_any()
                    }
                    Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}
