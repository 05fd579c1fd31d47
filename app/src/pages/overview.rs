//! `/`: who you are, your account, your role and your 2FA state.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::SignedIn;
use crate::domain::Me;

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
        <Show when=move || low>
            <p class="notice" role="status">
                {format!("You have {left} unused recovery codes left. Regenerate them in your Profile.")}
            </p>
        </Show>
    }
}
