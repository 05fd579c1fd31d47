//! Profile's **Sessions**: every browser where the user is signed in, with **Sign out** for each
//! other one and **Sign out of all other sessions**. Plain forms: without JavaScript a sign-out
//! comes back to Profile with what it did.

use leptos::prelude::*;

use super::{action_error, focus_id, FormError, ReturnHere};
use crate::api::sessions::{ended_sentence, my_sessions, SignOutOtherSessions, SignOutSession};
use crate::domain::{format_time, SessionInfo};

#[component]
pub fn SessionsSection() -> impl IntoView {
    let version = RwSignal::new(0u32);
    let list = Resource::new(move || version.get(), |_| my_sessions());
    let said = RwSignal::new(None::<String>);
    // The page's, not a line's: the list re-renders when it reloads.
    let one = ServerAction::<SignOutSession>::new();
    let others = ServerAction::<SignOutOtherSessions>::new();
    let one_error = action_error(one.value());
    let others_error = action_error(others.value());
    let done = move |sentence: String| {
        said.set(Some(sentence));
        version.update(|v| *v += 1);
        focus_id("sessions-status");
    };
    Effect::new(move |_| {
        if let Some(Ok(browser)) = one.value().get() {
            done(format!("Signed out of {browser}."));
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(n)) = others.value().get() {
            done(ended_sentence(n));
        }
    });
    view! {
        <section class="panel" aria-labelledby="sessions-heading">
            <h2 id="sessions-heading">"Sessions"</h2>
            <p class="hint-block">"Where you are signed in now. Sign out of any browser you do not recognise."</p>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(items) => view! { <SessionList items one others/> }.into_any(),
                        Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
            <FormError error=one_error/>
            <FormError error=others_error/>
            <Show when=move || said.with(Option::is_some)>
                <p class="saved" role="status" id="sessions-status">{move || said.get()}</p>
            </Show>
        </section>
    }
}

#[component]
fn SessionList(
    items: Vec<SessionInfo>,
    one: ServerAction<SignOutSession>,
    others: ServerAction<SignOutOtherSessions>,
) -> impl IntoView {
    let any_other = items.iter().any(|s| !s.current);
    view! {
        <ul class="sessions">
            {items.into_iter().enumerate().map(|(i, s)| view! { <SessionLine session=s number=i + 1 one/> }).collect_view()}
        </ul>
        {any_other.then(|| view! {
            <ActionForm action=others>
                <ReturnHere/>
                <button type="submit" class="secondary" disabled=move || others.pending().get()>"Sign out of all other sessions"</button>
            </ActionForm>
        })}
    }
}

#[component]
fn SessionLine(
    session: SessionInfo,
    /// Its place in the list: two sessions of one browser, opened in one minute, still get
    /// buttons of their own names.
    number: usize,
    one: ServerAction<SignOutSession>,
) -> impl IntoView {
    let started = format_time(session.started_at);
    let facts = format!(
        " — {}, signed in {started}, last active {}",
        session.address,
        format_time(session.last_active_at)
    );
    let sign_out = (!session.current).then(|| {
        let label = format!(
            "Sign out session {number}: {}, signed in {started}",
            session.browser
        );
        view! {
            <ActionForm action=one attr:class="step-form">
                <ReturnHere/>
                <input type="hidden" name="handle" value=session.handle.clone()/>
                <button type="submit" class="secondary" aria-label=label
                    disabled=move || one.pending().get()>"Sign out"</button>
            </ActionForm>
        }
    });
    view! {
        <li>
            <span class="session-browser">{session.browser.clone()}</span>
            {session.current.then(|| view! { " " <strong class="tag">"This browser"</strong> })}
            <span class="session-when">{facts}</span>
            {sign_out}
        </li>
    }
}
