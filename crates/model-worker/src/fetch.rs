//! Model files from URLs through the Cache API: a second visit reads them from the cache, not
//! the network. Bodies are read chunk by chunk so progress can be reported.

use crate::capacity;
use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, ReadableStreamDefaultReader, Response, WorkerGlobalScope};

/// The cache every model file goes into ("delete cached models" deletes it).
pub const CACHE_NAME: &str = "medhall-models-v1";

pub fn describe(error: &JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| format!("{}: {}", e.name(), e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| format!("{error:?}"))
}

/// Why a downloaded file was not cached; a full storage quota is said plainly, with what to do.
fn not_cached(url: &str, error: &JsValue, size: usize) -> String {
    let quota = js_sys::Reflect::get(error, &"name".into())
        .ok()
        .and_then(|n| n.as_string())
        .is_some_and(|n| n == "QuotaExceededError");
    if quota {
        let size = if size < 1_000_000 {
            format!("{:.0} kB", size as f64 / 1e3)
        } else {
            format!("{:.1} MB", size as f64 / 1e6)
        };
        format!(
            "{url} ({size}) was not cached: this site's storage quota is full, so it will download again next time. Free space with \"Delete cached models\" or the browser's site data settings."
        )
    } else {
        format!("{url} was not cached: {}", describe(error))
    }
}

fn scope() -> WorkerGlobalScope {
    js_sys::global().unchecked_into()
}

pub async fn open_cache() -> Result<Cache, String> {
    let caches = scope()
        .caches()
        .map_err(|e| format!("the Cache API is not available: {}", describe(&e)))?;
    JsFuture::from(caches.open(CACHE_NAME))
        .await
        .map_err(|e| format!("cannot open the model cache: {}", describe(&e)))?
        .dyn_into::<Cache>()
        .map_err(|_| "the model cache is not a Cache".to_owned())
}

/// Deletes the model cache; returns how many files it held.
pub async fn clear_cache() -> Result<u32, String> {
    let cache = open_cache().await?;
    let keys = JsFuture::from(cache.keys())
        .await
        .map_err(|e| describe(&e))?;
    let count = js_sys::Array::from(&keys).length();
    let caches = scope().caches().map_err(|e| describe(&e))?;
    JsFuture::from(caches.delete(CACHE_NAME))
        .await
        .map_err(|e| format!("cannot delete the model cache: {}", describe(&e)))?;
    Ok(count)
}

/// A fetched file.
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub cached: bool,
    /// Why it could not be put in the cache, if it was downloaded and that failed.
    pub cache_error: Option<String>,
}

/// Reads `url` from the cache, or downloads and caches it. `Ok(None)`: an optional file the
/// server does not have (404). `progress(loaded, total, cached)` is called per chunk.
pub async fn fetch_cached(
    cache: Option<&Cache>,
    url: &str,
    optional: bool,
    progress: &mut dyn FnMut(u64, Option<u64>, bool),
) -> Result<Option<Fetched>, String> {
    if let Some(cache) = cache {
        let hit = JsFuture::from(cache.match_with_str(url))
            .await
            .map_err(|e| describe(&e))?;
        if let Ok(response) = hit.dyn_into::<Response>() {
            let bytes = read_body(url, &response, &mut |l, t| progress(l, t, true)).await?;
            return Ok(Some(Fetched {
                bytes,
                cached: true,
                cache_error: None,
            }));
        }
    }
    let response = JsFuture::from(scope().fetch_with_str(url))
        .await
        .map_err(|e| {
            format!(
                "{url}: the request failed ({}). The network may be down, or the server does not \
                 allow cross-origin (CORS) requests from this page.",
                describe(&e)
            )
        })?
        .dyn_into::<Response>()
        .map_err(|_| format!("{url}: not an HTTP response"))?;
    if optional && response.status() == 404 {
        return Ok(None);
    }
    if !response.ok() {
        return Err(format!(
            "{url}: HTTP {} {}",
            response.status(),
            response.status_text()
        ));
    }
    let mut bytes = read_body(url, &response, &mut |l, t| progress(l, t, false)).await?;
    let mut cache_error = None;
    if let Some(cache) = cache {
        match Response::new_with_opt_u8_array(Some(&mut bytes)) {
            Ok(copy) => {
                if let Err(e) = JsFuture::from(cache.put_with_str(url, &copy)).await {
                    cache_error = Some(not_cached(url, &e, bytes.len()));
                }
            }
            Err(e) => cache_error = Some(format!("{url} was not cached: {}", describe(&e))),
        }
    }
    Ok(Some(Fetched {
        bytes,
        cached: false,
        cache_error,
    }))
}

async fn read_body(
    url: &str,
    response: &Response,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<Vec<u8>, String> {
    let total: Option<u64> = response
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
    // Content-Length only sizes the first reservation, up to a cap (see `capacity`).
    let mut bytes = Vec::with_capacity(capacity::initial(total));
    loop {
        let result = JsFuture::from(reader.read())
            .await
            .map_err(|e| format!("{url}: reading failed: {}", describe(&e)))?;
        let done = Reflect::get(&result, &JsValue::from_str("done"))
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(true);
        if done {
            break;
        }
        let chunk = Reflect::get(&result, &JsValue::from_str("value"))
            .ok()
            .and_then(|v| v.dyn_into::<Uint8Array>().ok())
            .ok_or_else(|| format!("{url}: a chunk was not bytes"))?;
        let start = bytes.len();
        let size = chunk.length() as usize;
        let grown = capacity::next(start, bytes.capacity(), size, total);
        bytes.reserve_exact(grown - start);
        bytes.resize(start + size, 0);
        chunk.copy_to(&mut bytes[start..]);
        progress(bytes.len() as u64, total);
    }
    Ok(bytes)
}
