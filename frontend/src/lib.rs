//! The browser entry point: takes over the server-rendered page (hydration).

// A release build (no `erase_components` cfg, which cargo-leptos sets for debug builds only)
// keeps every view's full nested type; hydrating the whole app overflows rustc's default
// query depth of 128 without this.
#![recursion_limit = "256"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
