//! The browser entry point. Leptos runs in islands mode: only the components marked
//! `#[island]` in `app` (the forms) are compiled in, each exported as a function the page's
//! loader script calls on its `<leptos-island>` element (`app::hydration_script`). This
//! function only prepares the reactive runtime they run in.

// Nothing here names `app`, so without this line rustc would not load the crate at all, and
// the islands' exported functions would be missing from the module.
extern crate app;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
