//! The browser entry point: hydrates the server-rendered page.
#![recursion_limit = "512"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    // Readable panics in the browser console while developing; release builds (panic=abort)
    // leave the formatting code out of the first-load wasm.
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    // Lazy routes (app/src/routes.rs) may need their wasm file before the page can hydrate.
    leptos::mount::hydrate_lazy(app::App);
}
