//! Passkeys in the console: the Profile section that lists, adds and removes them, and the
//! sign-in button that proves one. Adding and proving need the browser's WebAuthn, so those
//! buttons appear once the wasm runs; the list and removal work without it.

use leptos::prelude::*;

use super::{
    action_error, focus_id, passkey_browser, step_param, CodeField, RecoveryCodes, ReturnHere,
    StepForm,
};
use crate::api::passkeys::{
    finish_passkey_registration, finish_passkey_sign_in, my_passkeys, remove_passkey,
    start_passkey_confirmation, start_passkey_registration, start_passkey_sign_in, RemovePasskey,
};
use crate::domain::{format_time, AppError, PasskeyAdded, PasskeyInfo};

/// The query parameter of the removal step (`/profile?remove_passkey=3`).
const REMOVE: &str = "remove_passkey";

#[component]
pub fn PasskeysSection(
    /// The user's 2FA is in use: adding a passkey needs a step-up first.
    step_up: bool,
    /// ... and they have an authenticator app, whose code can be that step-up.
    app: bool,
) -> impl IntoView {
    let version = RwSignal::new(0u32);
    let list = Resource::new(move || version.get(), |_| my_passkeys());
    let removing = RwSignal::new(step_param(REMOVE).and_then(|v| v.parse::<i64>().ok()));
    let said = RwSignal::new(None::<String>);
    // The recovery codes a first second factor came with (see `PasskeyAdded`).
    let codes = RwSignal::new(None::<Vec<String>>);
    let done = Callback::new(move |sentence: String| {
        said.set(Some(sentence));
        removing.set(None);
        version.update(|v| *v += 1);
        focus_id("passkeys-status");
    });
    let added = Callback::new(move |added: PasskeyAdded| {
        if !added.recovery_codes.is_empty() {
            codes.set(Some(added.recovery_codes));
        }
        done.run(format!("Passkey \"{}\" added.", added.passkey.name));
    });
    view! {
        <section class="panel" aria-labelledby="passkeys-heading">
            <h2 id="passkeys-heading">"Passkeys and security keys"</h2>
            <p class="hint-block">"Confirm it is you with your device's screen lock or a security key instead of typing a code."</p>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(p) if !p.enabled => view! {
                            <p class="hint-block">"Passkeys need the console on a domain name (its public URL), not an IP address."</p>
                        }.into_any(),
                        Ok(p) => view! {
                            <PasskeyList items=p.items removing done/>
                            <AddPasskey done=added step_up app/>
                        }.into_any(),
                        Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
            <Show when=move || said.with(Option::is_some)>
                <p class="saved" role="status" id="passkeys-status">{move || said.get()}</p>
            </Show>
            {move || codes.get().map(|list| view! {
                <RecoveryCodes codes=list on_done=Callback::new(move |_| codes.set(None))/>
            })}
        </section>
    }
}

#[component]
fn PasskeyList(
    items: Vec<PasskeyInfo>,
    removing: RwSignal<Option<i64>>,
    done: Callback<String>,
) -> impl IntoView {
    if items.is_empty() {
        return view! { <p>"No passkeys yet."</p> }.into_any();
    }
    view! {
        <ul class="passkeys">
            {items.into_iter().map(|p| view! { <PasskeyLine passkey=p removing done/> }).collect_view()}
        </ul>
    }
    .into_any()
}

#[component]
fn PasskeyLine(
    passkey: PasskeyInfo,
    removing: RwSignal<Option<i64>>,
    done: Callback<String>,
) -> impl IntoView {
    let id = passkey.id;
    let name = passkey.name.clone();
    let action = ServerAction::<RemovePasskey>::new();
    let error = action_error(action.value());
    let removed = name.clone();
    Effect::new(move |_| {
        if let Some(Ok(())) = action.value().get() {
            done.run(format!("Passkey \"{removed}\" removed."));
        }
    });
    let used = passkey
        .last_used_at
        .map(|t| format!("last used {}", format_time(t)))
        .unwrap_or_else(|| "not used yet".to_string());
    let asking = move || removing.get() == Some(id);
    Effect::new(move |_| {
        if asking() {
            focus_id("field-code");
        }
    });
    let confirm_name = format!("Remove {name}");
    let remove_label = format!("Remove passkey {name}");
    let ask = move || {
        let label = remove_label.clone();
        (!asking()).then(|| {
            view! {
                <StepForm params=vec![(REMOVE, id.to_string())]>
                    <button type="submit" class="secondary" aria-label=label
                        on:click=move |ev| { ev.prevent_default(); removing.set(Some(id)); }>"Remove passkey"</button>
                </StepForm>
            }
        })
    };
    let confirm = move || {
        let button = confirm_name.clone();
        asking().then(|| {
            view! {
                <div class="panel inset">
                    <p>"To remove it, confirm with a current code from your authenticator app, or with a passkey."</p>
                    <ActionForm action>
                        <ReturnHere/>
                        <input type="hidden" name="id" value=id.to_string()/>
                        <CodeField error/>
                        <button type="submit" class="danger">{button}</button>
                        " "
                        <a class="button secondary" href="/profile" on:click=move |_| removing.set(None)>"Cancel"</a>
                    </ActionForm>
                    <ConfirmWithPasskey done=into_action(action.value())
                        send=move |answer| remove_passkey(id, String::new(), Some(answer))/>
                </div>
            }
        })
    };
    view! {
        <li>
            <span class="passkey-name">{name}</span>
            <span class="passkey-when">{format!(" — added {}, {used}", format_time(passkey.created_at))}</span>
            {ask}
            {confirm}
        </li>
    }
}

/// **Confirm with a passkey**, in place of a code before a sensitive change: proves one of the
/// user's passkeys and sends the browser's answer with `send` (the change's server function);
/// what it answers goes to `done` (for a code form, its action's value, so the page goes on as
/// after a code). Needs the wasm: without it the button is hidden.
#[component]
pub fn ConfirmWithPasskey<R, F, Fut>(send: F, done: Callback<R>) -> impl IntoView
where
    R: Send + Sync + 'static,
    F: Fn(String) -> Fut + Copy + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<R, AppError>> + 'static,
{
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let go = move |_| {
        let steps = async move {
            let answer = prove_a_passkey().await?;
            send(answer).await.map_err(|e| e.to_string())
        };
        run_ceremony(busy, error, steps, move |result| done.run(result));
    };
    view! {
        <p class="alt">
            <button type="button" class="secondary js-only" on:click=go disabled=move || busy.get()>"Confirm with a passkey"</button>
        </p>
        <Show when=move || error.with(Option::is_some)>
            <p class="form-error" role="alert">{move || error.get()}</p>
        </Show>
    }
}

/// The browser's answer to a new confirmation challenge: one of the user's passkeys, proved.
async fn prove_a_passkey() -> Result<String, String> {
    let options = start_passkey_confirmation()
        .await
        .map_err(|e| e.to_string())?;
    passkey_browser::get(options).await
}

/// A code action's value, set as if the code form had answered `result`.
pub fn into_action<R: Send + Sync + 'static>(
    value: leptos::reactive::signal::MappedSignal<Option<Result<R, AppError>>>,
) -> Callback<R> {
    Callback::new(move |result| value.set(Some(Ok(result))))
}

/// **Add a passkey**: a name, then the browser's own prompt; `done` gets what was added (with
/// the recovery codes of a first second factor). `for_requirement`: the owner's step to
/// require 2FA for the account, which switches on with it. `step_up`: the user's 2FA is in use,
/// so they confirm it is them first: with a code of their app (`app`: a field for it) or, left
/// empty, with one of their passkeys.
#[component]
pub fn AddPasskey(
    done: Callback<PasskeyAdded>,
    #[prop(optional)] for_requirement: bool,
    #[prop(optional)] step_up: bool,
    #[prop(optional)] app: bool,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let name = RwSignal::new(String::new());
    let code = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    // A refused name or prompt sends the user back to the name.
    Effect::new(move |_| {
        if error.with(Option::is_some) {
            focus_id("field-passkey-name");
        }
    });
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let wanted = name.get_untracked();
        let typed = code.get_untracked();
        let steps = async move {
            let (code, credential) = match (step_up, typed.trim().is_empty()) {
                (false, _) => (String::new(), None),
                (true, false) => (typed, None),
                (true, true) => (String::new(), Some(prove_a_passkey().await?)),
            };
            let options = start_passkey_registration(wanted, for_requirement, code, credential)
                .await
                .map_err(|e| e.to_string())?;
            let answer = passkey_browser::create(options).await?;
            finish_passkey_registration(answer, for_requirement)
                .await
                .map_err(|e| e.to_string())
        };
        run_ceremony(busy, error, steps, move |added| {
            open.set(false);
            name.set(String::new());
            code.set(String::new());
            done.run(added);
        });
    };
    view! {
        <Show
            when=move || open.get()
            fallback=move || view! {
                <button type="button" class="js-only"
                    on:click=move |_| { open.set(true); focus_id("field-passkey-name"); }>"Add a passkey"</button>
            }
        >
            <form on:submit=add>
                <div class="field" class:invalid=move || error.with(Option::is_some)>
                    <label for="field-passkey-name">"Passkey name"</label>
                    <input id="field-passkey-name" name="name" type="text" maxlength="60" autocomplete="off"
                        placeholder="e.g. Work laptop"
                        prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))
                        aria-invalid=move || if error.with(Option::is_some) { "true" } else { "false" }
                        aria-describedby=move || error.with(Option::is_some).then_some("passkey-error")/>
                    <Show when=move || error.with(Option::is_some)>
                        <p class="field-error" id="passkey-error">{move || error.get()}</p>
                    </Show>
                </div>
                {(step_up && app).then(|| view! {
                    <div class="field">
                        <label for="field-passkey-code">"Authentication code"</label>
                        <input id="field-passkey-code" name="code" type="text" inputmode="numeric"
                            autocomplete="one-time-code" maxlength="6"
                            aria-describedby="passkey-code-hint"
                            prop:value=move || code.get()
                            on:input=move |ev| code.set(event_target_value(&ev))/>
                        <p class="hint-block" id="passkey-code-hint">"To confirm it is you: a current code from your authenticator app, or leave it empty to confirm with one of your passkeys."</p>
                    </div>
                })}
                <button type="submit" disabled=move || busy.get()>"Continue"</button>
                " "
                <button type="button" class="secondary" on:click=move |_| { open.set(false); error.set(None); }>"Cancel"</button>
            </form>
        </Show>
    }
}

/// **Use a passkey** on the code page, for a user who has one.
#[component]
pub fn PasskeySignIn() -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let go = move |_| {
        let steps = async {
            let options = start_passkey_sign_in().await.map_err(|e| e.to_string())?;
            let answer = passkey_browser::get(options).await?;
            finish_passkey_sign_in(answer)
                .await
                .map_err(|e| e.to_string())
        };
        run_ceremony(busy, error, steps, |()| {
            #[cfg(feature = "hydrate")]
            {
                let _ = window().location().set_href("/");
            }
        });
    };
    view! {
        <p class="alt">
            <button type="button" class="secondary js-only" on:click=go disabled=move || busy.get()>"Use a passkey"</button>
        </p>
        <Show when=move || error.with(Option::is_some)>
            <p class="form-error" role="alert">{move || error.get()}</p>
        </Show>
    }
}

/// Runs a passkey ceremony a button started: `busy` while it runs, its refusal (in words) in
/// `error`, then `then` with what the server answered.
fn run_ceremony<T: 'static>(
    busy: RwSignal<bool>,
    error: RwSignal<Option<String>>,
    steps: impl std::future::Future<Output = Result<T, String>> + 'static,
    then: impl FnOnce(T) + 'static,
) {
    busy.set(true);
    error.set(None);
    leptos::task::spawn_local(async move {
        let result = steps.await;
        busy.set(false);
        match result {
            Ok(answer) => then(answer),
            Err(message) => error.set(Some(message)),
        }
    });
}
