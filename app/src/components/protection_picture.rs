//! The owner's picture of protection (Overview, Settings & Security).

use leptos::prelude::*;

use crate::domain::PolicyImpact;

/// Protected, still to set up and off (or exempt) users as one bar, drawn on the server: the
/// numbers are its text alternative and its legend.
#[component]
pub fn ProtectionPicture(policy: PolicyImpact) -> impl IntoView {
    const WIDTH: i64 = 300;
    let total = policy.users_total.max(1);
    let parts = [
        (policy.protected, "protected", "protected"),
        (policy.to_set_up, "still to set up", "to-set-up"),
        (policy.off, policy.off_label(), "off"),
    ];
    let summary = parts
        .iter()
        .map(|(n, what, _)| format!("{n} {what}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut x = 0;
    let bars = parts
        .iter()
        .map(|&(n, _, class)| {
            let width = n * WIDTH / total;
            let bar = view! { <rect class=format!("bar-{class}") x=x.to_string() y="0" width=width.to_string() height="20"/> };
            x += width;
            bar
        })
        .collect_view();
    view! {
        <figure class="protection" data-testid="protection-picture">
            <svg role="img" aria-label=format!("Users: {summary}") viewBox=format!("0 0 {WIDTH} 20") width="100%" height="20" preserveAspectRatio="none">
                <rect class="bar-track" x="0" y="0" width=WIDTH.to_string() height="20"/>
                {bars}
            </svg>
            <figcaption>
                <ul class="legend">
                    {parts.iter().map(|&(n, what, class)| view! {
                        <li><span class=format!("swatch bar-{class}") aria-hidden="true"></span>{format!("{n} {what}")}</li>
                    }).collect_view()}
                </ul>
            </figcaption>
        </figure>
    }
}
