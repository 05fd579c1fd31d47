//! `/`: who you are, your account, your role and your 2FA state.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::owner::account_policy;
use crate::components::{ProtectionPicture, SignedIn};
use crate::domain::{count_of, Me, Role};

#[component]
pub fn OverviewPage() -> impl IntoView {
    view! {
        <Title text="Overview"/>
        <SignedIn page=|me: Me| view! { <Overview me/> }/>
    }
}

#[component]
fn Overview(me: Me) -> impl IntoView {
    let low = me.two_factor.low_on_recovery_codes();
    let is_owner = me.role == Role::Owner;
    let left = me.two_factor.recovery_codes_left;
    view! {
        <h1>"Overview"</h1>
        <section class="panel" aria-labelledby="you-heading">
            <h2 id="you-heading">"You"</h2>
            <dl class="facts">
                <dt>"Name"</dt><dd>{me.name}</dd>
                <dt>"Email"</dt><dd>{me.email}</dd>
                <dt>"Account"</dt><dd data-testid="account-name">{me.account_name}</dd>
                <dt>"Role"</dt><dd data-testid="role">{me.role.label()}</dd>
                <dt>"Two-factor authentication"</dt>
                <dd data-testid="two-factor-state">{if me.two_factor.setting.on { "On" } else { "Off" }}</dd>
            </dl>
        </section>
        {is_owner.then(|| view! { <AccountProtection/> })}
        {low.then(|| view! {
            <p class="notice" role="status">
                {format!("You have {} left. Regenerate them in your Profile.", count_of(left, "unused recovery code", "unused recovery codes"))}
            </p>
        })}
    }
}

/// For the owner: how many users are protected and who still has to set up.
#[component]
fn AccountProtection() -> impl IntoView {
    let policy = Resource::new(|| (), |_| account_policy());
    view! {
        <section class="panel" aria-labelledby="account-heading">
            <h2 id="account-heading">"Your account"</h2>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    policy.await.map(|p| {
                        let more = p.more_pending();
                        view! {
                        <p data-testid="protected-count">{p.protected_sentence()}</p>
                        <ProtectionPicture policy=p.clone()/>
                        <p data-testid="requirement">{p.requirement_sentence()}</p>
                        {(!p.pending_setup.is_empty()).then(|| view! {
                            <p>"Still to set up an authenticator:"</p>
                            <ul class="pending-users">
                                {p.pending_setup.into_iter().map(|u| view! { <li>{u.name}" ("{u.email}")"</li> }).collect_view()}
                            </ul>
                            {more.map(|m| view! { <p>{m}</p> })}
                            <p><a href="/users">"Manage users"</a></p>
                        })}
                    }}).ok()
                })}
            </Suspense>
        </section>
    }
}
