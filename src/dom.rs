//! Small browser helpers: the URL, file inputs, the clipboard.

use crate::state::AppState;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use web_sys::{File, FileList, HtmlInputElement};

pub(crate) fn location_search() -> String {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default()
}

pub(crate) fn replace_query(query: &str) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let path = window.location().pathname().unwrap_or_default();
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(
            &wasm_bindgen::JsValue::NULL,
            "",
            Some(&format!("{path}{query}")),
        );
    }
}

pub(crate) fn files_of(list: Option<FileList>) -> Vec<File> {
    let Some(list) = list else {
        return Vec::new();
    };
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

pub(crate) fn input_files(event: &leptos::ev::Event) -> Vec<File> {
    let files = event
        .target()
        .and_then(|t| t.dyn_into::<HtmlInputElement>().ok())
        .and_then(|input| input.files());
    files_of(files)
}

/// Copies text with the asynchronous clipboard API; a refusal is reported, and the snippet stays
/// selectable in its text box.
pub(crate) fn copy_text(state: AppState, text: &str) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let clipboard = js_sys::Reflect::get(&window.navigator(), &"clipboard".into()).ok();
    let write = clipboard.as_ref().and_then(|c| {
        js_sys::Reflect::get(c, &"writeText".into())
            .ok()?
            .dyn_into::<js_sys::Function>()
            .ok()
    });
    let (Some(clipboard), Some(write)) = (clipboard, write) else {
        state.message(
            "This browser gives the page no clipboard: copy the snippet from its box.".to_owned(),
        );
        return;
    };
    match write.call1(&clipboard, &wasm_bindgen::JsValue::from_str(text)) {
        Ok(promise) => {
            let promise: js_sys::Promise = promise.unchecked_into();
            spawn_local(async move {
                if wasm_bindgen_futures::JsFuture::from(promise).await.is_err() {
                    state.message(
                        "The browser refused the clipboard: copy the snippet from its box."
                            .to_owned(),
                    );
                }
            });
        }
        Err(_) => state.message(
            "The browser refused the clipboard: copy the snippet from its box.".to_owned(),
        ),
    }
}

pub(crate) fn page_url() -> String {
    web_sys::window()
        .and_then(|w| {
            let location = w.location();
            Some(format!(
                "{}{}",
                location.origin().ok()?,
                location.pathname().ok()?
            ))
        })
        .unwrap_or_default()
}

/// A picked or dropped file's text, or an error naming the file.
pub(crate) async fn file_text(file: &File) -> Result<String, String> {
    wasm_bindgen_futures::JsFuture::from(file.text())
        .await
        .map_err(|e| format!("{}: cannot be read ({e:?})", file.name()))?
        .as_string()
        .ok_or_else(|| format!("{}: cannot be read as text", file.name()))
}
