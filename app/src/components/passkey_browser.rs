//! The browser's side of a passkey ceremony: the server's options (JSON) go to
//! `navigator.credentials`, and the credential comes back as JSON, through the browser's own
//! `PublicKeyCredential.parse…OptionsFromJSON` and `toJSON`.

/// Creates a passkey with the server's creation options; returns the browser's answer.
pub async fn create(options: String) -> Result<String, String> {
    ceremony(options, true).await
}

/// Proves a passkey with the server's request options; returns the browser's answer.
pub async fn get(options: String) -> Result<String, String> {
    ceremony(options, false).await
}

#[cfg(feature = "hydrate")]
async fn ceremony(options: String, create: bool) -> Result<String, String> {
    use js_sys::{Function, Object, Reflect, JSON};
    use leptos::wasm_bindgen::{JsCast, JsValue};
    const UNSUPPORTED: &str = "This browser cannot use passkeys.";
    let said = |e: JsValue| -> String {
        let name = Reflect::get(&e, &"name".into())
            .ok()
            .and_then(|n| n.as_string());
        match name.as_deref() {
            Some("NotAllowedError") => "The passkey prompt was closed or timed out.".into(),
            Some("InvalidStateError") => "This passkey is registered already.".into(),
            _ => "The passkey did not work. Try again.".into(),
        }
    };
    let window = leptos::prelude::window();
    let class = Reflect::get(&window, &"PublicKeyCredential".into()).map_err(said)?;
    let parser = if create {
        "parseCreationOptionsFromJSON"
    } else {
        "parseRequestOptionsFromJSON"
    };
    let parse: Function = Reflect::get(&class, &parser.into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| UNSUPPORTED.to_string())?;
    let all = JSON::parse(&options).map_err(said)?;
    let public_key = Reflect::get(&all, &"publicKey".into()).map_err(said)?;
    let parsed = parse.call1(&class, &public_key).map_err(said)?;
    let init = Object::new();
    Reflect::set(&init, &"publicKey".into(), &parsed).map_err(said)?;
    let credentials = window.navigator().credentials();
    let promise = if create {
        credentials.create_with_options(init.unchecked_ref())
    } else {
        credentials.get_with_options(init.unchecked_ref())
    }
    .map_err(said)?;
    let credential = wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map_err(said)?;
    let to_json: Function = Reflect::get(&credential, &"toJSON".into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| UNSUPPORTED.to_string())?;
    let answer = to_json.call0(&credential).map_err(said)?;
    JSON::stringify(&answer).map(String::from).map_err(said)
}

#[cfg(not(feature = "hydrate"))]
async fn ceremony(_options: String, _create: bool) -> Result<String, String> {
    Err("Passkeys need JavaScript.".into())
}
