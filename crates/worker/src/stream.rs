//! Byte streams from a dropped `File` or a fetched URL, read chunk by chunk.

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, File, ReadableStreamDefaultReader, RequestInit, Response, WorkerGlobalScope,
};

/// An open stream and what is known of its length.
pub struct ByteStream {
    reader: ReadableStreamDefaultReader,
    pub total_bytes: Option<u64>,
}

fn describe(error: &JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| format!("{error:?}"))
}

impl ByteStream {
    pub fn from_file(file: &File) -> Result<Self, String> {
        let reader = file
            .stream()
            .get_reader()
            .dyn_into::<ReadableStreamDefaultReader>()
            .map_err(|_| format!("{}: the browser gave no stream reader", file.name()))?;
        Ok(Self {
            reader,
            total_bytes: Some(file.size() as u64),
        })
    }

    /// Fetches `url` (abortable through `abort`). HTTP errors and refused requests become
    /// messages a researcher can act on.
    pub async fn from_url(
        scope: &WorkerGlobalScope,
        url: &str,
        abort: &AbortController,
    ) -> Result<Self, String> {
        let init = RequestInit::new();
        init.set_signal(Some(&abort.signal()));
        let request = url;
        // Messages name the URL without its query or credentials (a token must not be shown
        // or kept); the request itself uses it whole.
        let url = medhall_core::export::redact_url(url);
        let response = JsFuture::from(scope.fetch_with_str_and_init(request, &init))
            .await
            .map_err(|error| {
                format!(
                    "{url}: the request failed ({}). The network may be down, or the server does \
                     not allow cross-origin (CORS) requests from this page.",
                    describe(&error)
                )
            })?;
        let response: Response = response
            .dyn_into()
            .map_err(|_| format!("{url}: not an HTTP response"))?;
        if !response.ok() {
            return Err(format!(
                "{url}: HTTP {} {}",
                response.status(),
                response.status_text()
            ));
        }
        let total_bytes = response
            .headers()
            .get("content-length")
            .ok()
            .flatten()
            .and_then(|v| v.parse().ok());
        let body = response
            .body()
            .ok_or_else(|| format!("{url}: the response has no body"))?;
        let reader = body
            .get_reader()
            .dyn_into::<ReadableStreamDefaultReader>()
            .map_err(|_| format!("{url}: the browser gave no stream reader"))?;
        Ok(Self {
            reader,
            total_bytes,
        })
    }

    /// The next chunk, or `None` at the end.
    pub async fn next(&self) -> Result<Option<Vec<u8>>, String> {
        let result = JsFuture::from(self.reader.read())
            .await
            .map_err(|e| format!("reading failed: {}", describe(&e)))?;
        let done = Reflect::get(&result, &JsValue::from_str("done"))
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(true);
        if done {
            return Ok(None);
        }
        let value = Reflect::get(&result, &JsValue::from_str("value"))
            .map_err(|e| format!("reading failed: {}", describe(&e)))?;
        let bytes = value
            .dyn_into::<Uint8Array>()
            .map_err(|_| "reading failed: a chunk was not bytes".to_owned())?;
        Ok(Some(bytes.to_vec()))
    }

    /// Stops reading (on cancel); the browser stops the download or file read.
    pub fn cancel(&self) {
        let _ = self.reader.cancel();
    }
}
