//! The quick model check panel: a small VLM (SmolVLM + an optional LoRA adapter) answers benchmark
//! questions in the model worker (WebGPU, or the CPU backend without it), token by token; the
//! answers become a results file that is scored and charted like any dropped file.
//!
//! The model worker (`crates/model-worker`) is started only when the panel is opened, so its
//! wasm is not part of the page's first load.

use crate::dom::{files_of, input_files};
use crate::model_worker_client::{DEFAULT_VLM_URL, MODEL_WORKER_SCRIPT};
use leptos::prelude::*;
use leptos::task::spawn_local;
use medhall_core::export::redact_url;
use medhall_core::protocol::{Reply, Request};
use medhall_core::sample::Split;
use medhall_core::session::QuestionItem;
use medhall_model_check::image_files::ImageIndex;
use medhall_model_check::model_protocol::{
    AnswerTimings, MODEL_PROTOCOL_VERSION, ModelEvent, ModelRequest, ModelSource,
    preselected_weights, question_text,
};
use medhall_model_check::zip::{self, DirectoryLookup, ZipEntry};
use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{File, MessageEvent, Worker, WorkerOptions};

type MakeRequest = Box<dyn FnOnce(u32) -> Request>;
type OnReply = Box<dyn FnOnce(Reply)>;
type Listener = Rc<RefCell<Option<Box<dyn FnMut(ModelEvent)>>>>;

/// What the page needs from the rest of the app.
#[derive(Clone, Copy)]
pub struct Host {
    /// Asks the scoring worker.
    pub ask: fn(MakeRequest, OnReply),
    /// Loads a results file as a run.
    pub add_run: Callback<web_sys::File>,
    /// The image base URL the user set, if any.
    pub image_base: Signal<Option<String>>,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Answered {
    item: Option<QuestionItem>,
    answer: String,
    ttft_ms: f64,
    tokens_per_s: Option<f64>,
    /// Images the vision encoder saw (tiles and the global image, or 1).
    image_tiles: u32,
    /// Where the time went (none from a worker that predates it).
    timings: Option<AnswerTimings>,
}

#[derive(Clone, Copy)]
struct Panel {
    backend: RwSignal<Option<String>>,
    status: RwSignal<String>,
    error: RwSignal<Option<String>>,
    loaded: RwSignal<Option<String>>,
    streaming: RwSignal<String>,
    answers: RwSignal<Vec<Answered>>,
    running: RwSignal<bool>,
    /// The question being answered, so that "Stop" can cancel it.
    current_job: RwSignal<Option<u32>>,
    stop: RwSignal<bool>,
    /// Weight bytes by quantization of the model at the URL, and the job that asked.
    sizes: RwSignal<Option<Vec<(String, u64)>>>,
    sizes_job: RwSignal<Option<u32>>,
    sizes_url: RwSignal<Option<String>>,
    /// The worker died (a panic traps its wasm): it must be restarted before the next load.
    crashed: RwSignal<bool>,
    /// The weights to load: preselected for the backend once the worker says which it has
    /// (with the reason shown beside them), until the user picks.
    quantization: RwSignal<String>,
    weights_why: RwSignal<Option<String>>,
    weights_picked: RwSignal<bool>,
}

struct Client {
    worker: Worker,
    /// Requests made before the worker said `Started` (they would be lost).
    queue: RefCell<Option<Vec<JsValue>>>,
    /// The handler of the event stream, replaced per step of a run.
    listener: Listener,
    /// The worker's last error without a job: a panic's message arrives this way just before
    /// the worker's `error` event.
    last_error: RefCell<Option<String>>,
}

thread_local! {
    static CLIENT: RefCell<Option<Rc<Client>>> = const { RefCell::new(None) };
    static NEXT: RefCell<u32> = const { RefCell::new(1) };
}

fn next_job() -> u32 {
    NEXT.with(|n| {
        let mut n = n.borrow_mut();
        *n += 1;
        *n
    })
}

fn message(request: &ModelRequest, bytes: Option<&[u8]>, files: &[js_sys::Uint8Array]) -> JsValue {
    let object = js_sys::Object::new();
    let text = serde_json::to_string(request).unwrap_or_default();
    let _ = js_sys::Reflect::set(&object, &"msg".into(), &JsValue::from_str(&text));
    if let Some(bytes) = bytes {
        let _ = js_sys::Reflect::set(&object, &"bytes".into(), &js_sys::Uint8Array::from(bytes));
    }
    if !files.is_empty() {
        let array: js_sys::Array = files.iter().collect();
        let _ = js_sys::Reflect::set(&object, &"files".into(), &array);
    }
    object.into()
}

fn client() -> Option<Rc<Client>> {
    CLIENT.with(|c| c.borrow().clone())
}

fn send(request: &ModelRequest, bytes: Option<&[u8]>) -> Result<(), String> {
    send_with_files(request, bytes, &[])
}

/// Sends a request; an error says the worker is not running (it stopped, or never started),
/// so that nothing waits for an answer that cannot come.
fn send_with_files(
    request: &ModelRequest,
    bytes: Option<&[u8]>,
    files: &[js_sys::Uint8Array],
) -> Result<(), String> {
    let client = client().ok_or("the model worker is not running: restart it")?;
    let message = message(request, bytes, files);
    if let Some(queue) = client.queue.borrow_mut().as_mut() {
        queue.push(message);
        return Ok(());
    }
    client
        .worker
        .post_message(&message)
        .map_err(|e| format!("the model worker cannot take the request: {e:?}"))
}

/// The worker died: it is ended, the loaded model is gone, the pending step of a run or load
/// fails with the worker's message, a running question loop stops, and the panel offers a
/// restart.
fn crashed(panel: Panel, event_message: String) {
    let Some(client) = CLIENT.with(|c| c.borrow_mut().take()) else {
        return;
    };
    client.worker.terminate();
    let detail = client
        .last_error
        .borrow()
        .clone()
        .filter(|m| m.contains("crashed"))
        .unwrap_or(if event_message.is_empty() {
            "no message".to_owned()
        } else {
            event_message
        });
    let reason = format!(
        "The model worker stopped ({detail}). The loaded model is gone: restart the worker, then load a model again."
    );
    panel.backend.set(None);
    panel.loaded.set(None);
    panel.stop.set(true);
    panel.crashed.set(true);
    panel.error.set(Some(reason.clone()));
    let listener = client.listener.borrow_mut().take();
    if let Some(mut listener) = listener {
        listener(ModelEvent::Error {
            job: panel.current_job.get_untracked(),
            message: reason,
        });
    }
}

/// Starts the model worker (once) and routes its events to `panel` and the current listener.
fn start(panel: Panel) -> Result<(), String> {
    if client().is_some() {
        return Ok(());
    }
    let options = WorkerOptions::new();
    options.set_name("medhall-model");
    let worker = Worker::new_with_options(MODEL_WORKER_SCRIPT, &options)
        .map_err(|e| format!("cannot start the model worker: {e:?}"))?;
    let listener: Listener = Rc::new(RefCell::new(None));
    let routed = listener.clone();
    let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let Some(text) = event.data().as_string() else {
            return;
        };
        let event = match serde_json::from_str::<ModelEvent>(&text) {
            Ok(event) => event,
            Err(e) => ModelEvent::Error {
                job: None,
                message: format!("unreadable model-worker message: {e}"),
            },
        };
        match &event {
            ModelEvent::Error { job: None, message } => {
                if let Some(client) = client() {
                    *client.last_error.borrow_mut() = Some(message.clone());
                }
            }
            ModelEvent::Started { .. } => {
                if let Some(client) = client() {
                    let queued = client.queue.borrow_mut().take().unwrap_or_default();
                    for message in queued {
                        let _ = client.worker.post_message(&message);
                    }
                }
            }
            ModelEvent::Ready {
                version,
                backend,
                adapter_info,
                fallback_reason,
            } => {
                if *version != MODEL_PROTOCOL_VERSION {
                    panel.error.set(Some(format!(
                        "the model worker speaks protocol {version}, this page {MODEL_PROTOCOL_VERSION}: reload the page"
                    )));
                }
                let mut text = match adapter_info {
                    Some(info) => format!("{backend}: {info}"),
                    None => backend.clone(),
                };
                if let Some(reason) = fallback_reason {
                    text.push_str(&format!(" (CPU fallback: {reason})"));
                }
                panel.backend.set(Some(text));
                if !panel.weights_picked.get_untracked() {
                    let (weights, why) = preselected_weights(backend, device_memory_gb());
                    panel.quantization.set(weights.to_owned());
                    panel.weights_why.set(Some(why));
                }
            }
            ModelEvent::Progress {
                file,
                loaded,
                total,
                cached,
                ..
            } => {
                let of = total.map_or(String::new(), |t| format!(" of {:.1} MB", t as f64 / 1e6));
                let from = if *cached { "cache" } else { "network" };
                panel.status.set(format!(
                    "{file}: {:.1} MB{of} (from the {from})",
                    *loaded as f64 / 1e6
                ));
            }
            ModelEvent::Token { text, .. } => panel.streaming.update(|s| s.push_str(text)),
            ModelEvent::Sizes { job, bytes } if panel.sizes_job.get_untracked() == Some(*job) => {
                panel.sizes.set(Some(bytes.clone()));
            }
            ModelEvent::Error {
                job: Some(job),
                message,
            } if panel.sizes_job.get_untracked() == Some(*job) => {
                // Asked by a click: say why the sizes did not come (and let a new click retry).
                panel.sizes_url.set(None);
                panel.error.set(Some(format!("Sizes: {message}")));
            }
            ModelEvent::CacheCleared { files } => panel
                .status
                .set(format!("Deleted {files} cached model files.")),
            _ => {}
        }
        if let Some(listener) = routed.borrow_mut().as_mut() {
            listener(event);
        }
    });
    worker.set_onmessage(Some(handler.as_ref().unchecked_ref()));
    handler.forget();
    // An uncaught error in the worker (a panic traps its wasm) ends it: without this the run
    // would wait on "Answering…" forever.
    let on_error = Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(move |e: web_sys::ErrorEvent| {
        crashed(panel, e.message());
    });
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    on_error.forget();
    CLIENT.with(|c| {
        *c.borrow_mut() = Some(Rc::new(Client {
            worker,
            queue: RefCell::new(Some(Vec::new())),
            listener,
            last_error: RefCell::new(None),
        }))
    });
    panel.crashed.set(false);
    send(&ModelRequest::Init { prefer_gpu: true }, None)
}

fn listen(f: impl FnMut(ModelEvent) + 'static) {
    if let Some(client) = client() {
        *client.listener.borrow_mut() = Some(Box::new(f));
    }
}

async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|e| format!("{url}: the request failed ({e:?})"))?
        .dyn_into::<web_sys::Response>()
        .map_err(|_| format!("{url}: not a response"))?;
    if !response.ok() {
        return Err(format!("{url}: HTTP {}", response.status()));
    }
    let buffer = JsFuture::from(
        response
            .array_buffer()
            .map_err(|e| format!("{url}: {e:?}"))?,
    )
    .await
    .map_err(|e| format!("{url}: {e:?}"))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// The questions' images the user gave instead of an image base URL: a picked or dropped folder,
/// or a zip archive whose entries are read one at a time (only its central directory and the
/// entries asked for are read, never the whole archive).
enum GivenImages {
    Files {
        label: String,
        index: ImageIndex<File>,
    },
    Zip {
        archive: File,
        index: ImageIndex<ZipEntry>,
    },
}

impl GivenImages {
    fn describe(&self) -> String {
        match self {
            GivenImages::Files { label, index } => format!("{} files from {label}", index.len()),
            GivenImages::Zip { archive, index } => {
                format!("{} files in {}", index.len(), archive.name())
            }
        }
    }

    async fn read(&self, image: &str) -> Result<Vec<u8>, String> {
        match self {
            GivenImages::Files { index, .. } => {
                let file = index.find(image).map_err(|e| e.to_string())?;
                read_blob(file, None).await.map(|a| a.to_vec())
            }
            GivenImages::Zip { archive, index } => {
                let name = archive.name();
                let entry = index.find(image).map_err(|e| format!("{name}: {e}"))?;
                let in_zip = |e: zip::ZipError| format!("{name}: {}: {e}", entry.name);
                let header = read_blob(archive, Some(entry.header_range())).await?;
                let data_range = entry.data_range(&header.to_vec()).map_err(in_zip)?;
                let data = read_blob(archive, Some(data_range)).await?;
                entry.extract(&data.to_vec()).map_err(in_zip)
            }
        }
    }
}

/// A file's bytes, or a byte range of them (`Blob.slice`: only that part is read).
async fn read_blob(
    blob: &web_sys::Blob,
    range: Option<Range<u64>>,
) -> Result<js_sys::Uint8Array, String> {
    let name = blob
        .dyn_ref::<File>()
        .map_or_else(|| "a file".to_owned(), File::name);
    let part = match range {
        Some(r) => blob
            .slice_with_f64_and_f64(r.start as f64, r.end as f64)
            .map_err(|e| format!("{name}: cannot read bytes {}..{}: {e:?}", r.start, r.end))?,
        None => blob.clone().unchecked_into(),
    };
    let buffer = JsFuture::from(part.array_buffer())
        .await
        .map_err(|e| format!("{name}: cannot be read ({e:?})"))?;
    Ok(js_sys::Uint8Array::new(&buffer))
}

/// Reads a zip's central directory (its tail, then the directory itself).
async fn open_zip(archive: File) -> Result<GivenImages, String> {
    let name = archive.name();
    let in_zip = |e: zip::ZipError| format!("{name}: {e}");
    let len = archive.size() as u64;
    let tail_range = zip::tail_range(len);
    let tail = read_blob(&archive, Some(tail_range.clone()))
        .await?
        .to_vec();
    let directory = match zip::find_directory(&tail, tail_range.start).map_err(in_zip)? {
        DirectoryLookup::Found(directory) => directory,
        DirectoryLookup::NeedZip64Record(range) => {
            let record = read_blob(&archive, Some(range)).await?.to_vec();
            zip::parse_zip64_record(&record).map_err(in_zip)?
        }
    };
    let end = directory
        .offset
        .checked_add(directory.size)
        .ok_or_else(|| format!("{name}: the central directory's size overflows"))?;
    let bytes = read_blob(&archive, Some(directory.offset..end))
        .await?
        .to_vec();
    let entries = zip::parse_directory(&bytes, &directory).map_err(in_zip)?;
    let index = ImageIndex::new(
        entries
            .into_iter()
            .filter(|e| !e.is_dir())
            .map(|e| (e.name.clone(), e)),
    );
    if index.is_empty() {
        return Err(format!("{name}: the archive holds no files"));
    }
    Ok(GivenImages::Zip { archive, index })
}

/// A picked file's path inside the picked folder (`webkitRelativePath`), else its name.
fn relative_path(file: &File) -> String {
    js_sys::Reflect::get(file, &"webkitRelativePath".into())
        .ok()
        .and_then(|v| v.as_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| file.name())
}

fn is_zip(file: &File) -> bool {
    file.name().to_ascii_lowercase().ends_with(".zip")
}

/// What the user gave as images: one zip, or any number of files (a folder's).
async fn given_images(files: Vec<(String, File)>, label: String) -> Result<GivenImages, String> {
    match files.as_slice() {
        [] => Err("no files were given".to_owned()),
        [(_, file)] if is_zip(file) => open_zip(file.clone()).await,
        _ => {
            let index = ImageIndex::new(files);
            if index.is_empty() {
                return Err(format!("{label} holds no image files"));
            }
            Ok(GivenImages::Files { label, index })
        }
    }
}

/// A callback-style browser API as a future: `start` gets the resolve and reject functions.
async fn callback_future(
    start: impl FnOnce(&js_sys::Function, &js_sys::Function),
) -> Result<JsValue, JsValue> {
    let mut start = Some(start);
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        if let Some(start) = start.take() {
            start(&resolve, &reject);
        }
    });
    JsFuture::from(promise).await
}

fn call_method(target: &JsValue, name: &str, args: &[&JsValue]) -> Result<JsValue, JsValue> {
    let method: js_sys::Function = js_sys::Reflect::get(target, &name.into())?.dyn_into()?;
    let args: js_sys::Array = args.iter().copied().collect();
    method.apply(target, &args)
}

fn flag(target: &JsValue, name: &str) -> bool {
    js_sys::Reflect::get(target, &name.into()).is_ok_and(|v| v.is_truthy())
}

/// The files of a drop, with their paths; dropped folders are walked with the File System
/// Entries API (`webkitGetAsEntry`), which must be asked during the drop event itself: `entries`
/// are those, taken then.
async fn walk_entries(entries: Vec<JsValue>) -> Result<Vec<(String, File)>, String> {
    let mut stack = entries;
    let mut files = Vec::new();
    let failed = |e: JsValue| format!("the dropped files cannot be read ({e:?})");
    while let Some(entry) = stack.pop() {
        if flag(&entry, "isFile") {
            let file = callback_future(|resolve, reject| {
                let _ = call_method(&entry, "file", &[resolve, reject]);
            })
            .await
            .map_err(failed)?;
            let path = js_sys::Reflect::get(&entry, &"fullPath".into())
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_default();
            if let Ok(file) = file.dyn_into::<File>() {
                let path = path.trim_start_matches('/').to_owned();
                files.push((if path.is_empty() { file.name() } else { path }, file));
            }
        } else if flag(&entry, "isDirectory") {
            let reader = call_method(&entry, "createReader", &[]).map_err(failed)?;
            // readEntries answers in batches; an empty batch ends the folder.
            loop {
                let batch = callback_future(|resolve, reject| {
                    let _ = call_method(&reader, "readEntries", &[resolve, reject]);
                })
                .await
                .map_err(failed)?;
                let batch = js_sys::Array::from(&batch);
                if batch.length() == 0 {
                    break;
                }
                stack.extend(batch.iter());
            }
        }
    }
    Ok(files)
}

/// The entries of a drop (folders included), read during the drop event.
fn drop_entries(ev: &leptos::ev::DragEvent) -> Vec<JsValue> {
    let Some(transfer) = ev.data_transfer() else {
        return Vec::new();
    };
    let Ok(items) = js_sys::Reflect::get(&transfer, &"items".into()) else {
        return Vec::new();
    };
    let length = js_sys::Reflect::get(&items, &"length".into())
        .ok()
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0) as u32;
    (0..length)
        .filter_map(|i| js_sys::Reflect::get_u32(&items, i).ok())
        .filter_map(|item| call_method(&item, "webkitGetAsEntry", &[]).ok())
        .filter(|entry| !entry.is_null() && !entry.is_undefined())
        .collect()
}

/// The browser's `navigator.deviceMemory` in GB, where it has one (Chromium; a rough figure).
fn device_memory_gb() -> Option<f64> {
    let navigator = web_sys::window()?.navigator();
    js_sys::Reflect::get(&navigator, &JsValue::from_str("deviceMemory"))
        .ok()?
        .as_f64()
}

/// Asks the worker for the weight size of the model at `url` in each quantization (once per
/// URL). Only on a click (Show sizes, Load): it requests the folder's config.json, and the page
/// requests nothing from another host before the user asks.
fn ask_sizes(panel: Panel, url: String) {
    if panel.sizes_url.get_untracked().as_deref() == Some(url.as_str()) {
        return;
    }
    panel.sizes_url.set(Some(url.clone()));
    let job = next_job();
    panel.sizes.set(None);
    panel.sizes_job.set(Some(job));
    if let Err(e) = send(
        &ModelRequest::Sizes {
            job,
            model: ModelSource::Url { base_url: url },
        },
        None,
    ) {
        panel.error.set(Some(e));
    }
}

/// A quantization choice with the model's weight size in it, once known.
fn size_label(panel: Panel, quantization: &str, text: &str) -> String {
    let bytes = panel.sizes.with(|sizes| {
        sizes
            .as_ref()
            .and_then(|s| s.iter().find(|(q, _)| q == quantization).map(|(_, b)| *b))
    });
    match bytes {
        // Computed from config.json before anything large downloads (nominal: WebGPU's packed
        // layout); the size after Load is measured from the tensors held.
        Some(b) if b < 100_000_000 => {
            format!("{text}: weights {:.1} MB (nominal)", b as f64 / 1e6)
        }
        Some(b) => format!("{text}: weights {:.0} MB (nominal)", b as f64 / 1e6),
        None => text.to_owned(),
    }
}

/// The official prediction format, one object a line, with the split and the check's settings.
fn predictions_jsonl(answers: &[Answered], settings: &serde_json::Value) -> String {
    answers
        .iter()
        .filter_map(|a| {
            let item = a.item.as_ref()?;
            let line = serde_json::json!({
                "question_id": item.key.question_id,
                "split": item.key.split.as_str(),
                "image": item.image,
                "question": item.question,
                "answer": a.answer,
                "model_check": settings,
            });
            Some(format!("{line}\n"))
        })
        .collect()
}

#[component]
pub fn ModelPanel(host: Host) -> impl IntoView {
    let panel = Panel {
        backend: RwSignal::new(None),
        status: RwSignal::new(String::new()),
        error: RwSignal::new(None),
        loaded: RwSignal::new(None),
        streaming: RwSignal::new(String::new()),
        answers: RwSignal::new(Vec::new()),
        running: RwSignal::new(false),
        current_job: RwSignal::new(None),
        stop: RwSignal::new(false),
        sizes: RwSignal::new(None),
        sizes_job: RwSignal::new(None),
        sizes_url: RwSignal::new(None),
        crashed: RwSignal::new(false),
        // "q8_0": int8 weights and activations in blocks of 32 along the input (medhall-model's
        // q8; runs before issue 13 recorded "q8" for a different scheme).
        quantization: RwSignal::new("q8_0".to_owned()),
        weights_why: RwSignal::new(None),
        weights_picked: RwSignal::new(false),
    };
    let model_url = RwSignal::new(DEFAULT_VLM_URL.to_owned());
    let adapter_url = RwSignal::new(String::new());
    let adapter_files: RwSignal<Vec<File>, LocalStorage> = RwSignal::new_local(Vec::new());
    let images: RwSignal<Option<Rc<GivenImages>>, LocalStorage> = RwSignal::new_local(None);
    let quantization = panel.quantization;
    let count = RwSignal::new(20usize);
    let seed = RwSignal::new(1u64);
    let max_tokens = RwSignal::new(64u32);
    let adapter_on = RwSignal::new(true);
    // Off: images are cut as the model's processor config says (SmolVLM's: tiles plus a global
    // image, as its model card does); on: one tile, far fewer image tokens and encoder passes.
    let one_tile = RwSignal::new(false);
    let split = RwSignal::new(String::new());
    let type_filter = RwSignal::new(String::new());
    let last_jsonl = RwSignal::new(String::new());

    let on_toggle = move |ev: leptos::ev::Event| {
        let open = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlDetailsElement>().ok())
            .is_some_and(|d| d.open());
        // Starting the worker requests only this page's own files; nothing leaves the origin
        // until the user clicks Show sizes or Load.
        if open && let Err(e) = start(panel) {
            panel.error.set(Some(e));
        }
    };

    let load = move |_| {
        panel.error.set(None);
        panel.loaded.set(None);
        ask_sizes(panel, model_url.get_untracked());
        let job = next_job();
        let url = adapter_url.get_untracked().trim().to_owned();
        let files = adapter_files.get_untracked();
        if !url.is_empty() && !files.is_empty() {
            panel.error.set(Some(
                "Give the adapter as a URL or as files, not both: clear one of them.".to_owned(),
            ));
            return;
        }
        let adapter = if !files.is_empty() {
            Some(ModelSource::Files {
                names: files.iter().map(relative_path).collect(),
            })
        } else {
            (!url.is_empty()).then_some(ModelSource::Url { base_url: url })
        };
        let request = ModelRequest::Load {
            job,
            model: ModelSource::Url {
                base_url: model_url.get_untracked(),
            },
            adapter,
            quantization: quantization.get_untracked(),
            merge: false,
        };
        listen(move |event| match event {
            ModelEvent::Loaded {
                job: j,
                weight_bytes,
                load_ms,
                network_files,
                cached_files,
                cache_error,
            } if j == job => {
                panel.loaded.set(Some(format!(
                    "Loaded: {:.1} MB of weights (measured) in {:.1} s ({network_files} files downloaded, {cached_files} from the cache).",
                    weight_bytes as f64 / 1e6,
                    load_ms / 1000.0
                )));
                panel.status.set(String::new());
                if let Some(e) = cache_error {
                    panel.error.set(Some(e));
                }
            }
            ModelEvent::Error { message, .. } => panel.error.set(Some(message)),
            _ => {}
        });
        spawn_local(async move {
            let mut bytes = Vec::new();
            for file in &files {
                match read_blob(file, None).await {
                    Ok(b) => bytes.push(b),
                    Err(e) => return panel.error.set(Some(format!("adapter: {e}"))),
                }
            }
            if let Err(e) = send_with_files(&request, None, &bytes) {
                panel.error.set(Some(e));
            }
        });
    };

    let take_images = move |files: Vec<(String, File)>, label: String| {
        panel.error.set(None);
        spawn_local(async move {
            match given_images(files, label).await {
                Ok(given) => images.set(Some(Rc::new(given))),
                Err(e) => panel.error.set(Some(format!("Images: {e}"))),
            }
        });
    };
    let on_images_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        let entries = drop_entries(&ev);
        // Without entries (a browser or drag source that offers none) the dropped files
        // themselves are used: a zip, or loose images.
        let loose: Vec<(String, File)> = files_of(ev.data_transfer().and_then(|d| d.files()))
            .into_iter()
            .map(|f| (f.name(), f))
            .collect();
        spawn_local(async move {
            if entries.is_empty() {
                return take_images(loose, "the dropped files".to_owned());
            }
            match walk_entries(entries).await {
                Ok(files) => take_images(files, "the dropped files".to_owned()),
                Err(e) => panel.error.set(Some(format!("Images: {e}"))),
            }
        });
    };

    let run = move |_| {
        panel.error.set(None);
        let source = match (images.get_untracked(), host.image_base.get_untracked()) {
            (Some(given), _) => ImageSource::Given(given),
            (None, Some(base)) => ImageSource::Url(base),
            (None, None) => {
                panel.error.set(Some(
                    "Give the questions' images: drop a folder or a zip of them here, or set an image base URL (sample table)."
                        .to_owned(),
                ));
                return;
            }
        };
        let images_used = source.describe();
        let split = match split.get_untracked().as_str() {
            "positive" => Some(Split::Positive),
            "negative" => Some(Split::Negative),
            _ => None,
        };
        let (n, s) = (count.get_untracked(), seed.get_untracked());
        let type_value =
            Some(type_filter.get_untracked().trim().to_owned()).filter(|t| !t.is_empty());
        let type_asked = type_value.clone();
        panel.running.set(true);
        panel.stop.set(false);
        panel.answers.set(Vec::new());
        (host.ask)(
            Box::new(move |id| Request::Questions {
                id,
                count: n,
                seed: s,
                split,
                type_value,
            }),
            Box::new(move |reply| {
                let Reply::Questions { questions } = reply else {
                    panel.running.set(false);
                    return;
                };
                if questions.is_empty() {
                    panel.error.set(Some(
                        "No loaded reference question with an image matches the split and type: load reference shards first, or change the filter."
                            .to_owned(),
                    ));
                    panel.running.set(false);
                    return;
                }
                spawn_local(run_questions(
                    panel,
                    questions,
                    source,
                    max_tokens.get_untracked(),
                    adapter_on.get_untracked(),
                    one_tile.get_untracked(),
                    move |answers| {
                        let adapter = adapter_files.with_untracked(|files| {
                            if files.is_empty() {
                                redact_url(&adapter_url.get_untracked())
                            } else {
                                format!(
                                    "given files: {}",
                                    files
                                        .iter()
                                        .map(relative_path)
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )
                            }
                        });
                        let settings = serde_json::json!({
                            // Written into every line of a file that may be shared: no
                            // query, fragment or credentials (a token in a URL would leak).
                            "model": redact_url(&model_url.get_untracked()),
                            "adapter": adapter,
                            "images": images_used.clone(),
                            "adapter_enabled": adapter_on.get_untracked(),
                            // true: one tile a question; false: as the processor config
                            // says (tiles plus a global image when it splits images).
                            "one_tile": one_tile.get_untracked(),
                            "quantization": quantization.get_untracked(),
                            "backend": panel.backend.get_untracked(),
                            "seed": s,
                            "split": split.map(|s| s.as_str()),
                            "type": type_asked.clone(),
                            "max_new_tokens": max_tokens.get_untracked(),
                        });
                        let jsonl = predictions_jsonl(answers, &settings);
                        last_jsonl.set(jsonl.clone());
                        let name = format!(
                            "model-check {} n{} seed{}.jsonl",
                            quantization.get_untracked(),
                            answers.len(),
                            s
                        );
                        let parts = js_sys::Array::of1(&JsValue::from_str(&jsonl));
                        match web_sys::File::new_with_str_sequence(&parts, &name) {
                            Ok(file) => host.add_run.run(file),
                            Err(e) => panel.error.set(Some(format!("{e:?}"))),
                        }
                    },
                ));
            }),
        );
    };

    view! {
        <section id="model-check">
            <h2>"Quick model check"</h2>
            <details on:toggle=on_toggle>
                <summary>"Run a small VLM (SmolVLM + LoRA) on benchmark questions in this browser"</summary>
                <p class="note">"The model runs on your GPU through WebGPU (or on the CPU, slowly, without it). "
                    "Model files are downloaded once from the URLs below and kept in this browser's cache."</p>
                <p class="note model-backend">{move || match panel.backend.get() {
                    Some(b) => format!("Backend: {b}"),
                    None if panel.crashed.get() => "The model worker stopped.".to_owned(),
                    None => "Starting the model worker…".to_owned(),
                }}</p>
                <label>"Model folder URL " <input type="url" class="model-url" prop:value=model_url on:change=move |ev| {
                    model_url.set(event_target_value(&ev));
                    panel.sizes.set(None);
                    panel.sizes_url.set(None);
                }/></label>
                <label>"LoRA adapter folder URL (optional) " <input type="url" class="adapter-url" prop:value=adapter_url on:change=move |ev| adapter_url.set(event_target_value(&ev))/></label>
                <label>" or its files (adapter_config.json and adapter_model.safetensors; pick or drop them) "
                    <input type="file" class="adapter-files" multiple accept=".json,.safetensors"
                        on:change=move |ev| adapter_files.set(input_files(&ev))/>
                </label>
                <label>"Weights "
                    <select class="quantization" on:change=move |ev| {
                        quantization.set(event_target_value(&ev));
                        panel.weights_picked.set(true);
                        panel.weights_why.set(None);
                    }>
                        <option value="q8_0" selected=move || quantization.get() == "q8_0">{move || size_label(panel, "q8_0", "q8_0 (8-bit blocks)")}</option>
                        <option value="q4" selected=move || quantization.get() == "q4">{move || size_label(panel, "q4", "q4 (4-bit blocks)")}</option>
                        <option value="none" selected=move || quantization.get() == "none">{move || size_label(panel, "none", "f32 (not quantized)")}</option>
                    </select>
                </label>
                {move || panel.weights_why.get().map(|why| view! { <span class="note model-weights-why">{why}</span> })}
                <button class="model-sizes" disabled=move || panel.backend.get().is_none()
                    title=move || format!("Reads config.json from {}", medhall_core::url_policy::destination_label(&crate::dom::page_url(), &model_url.get()))
                    on:click=move |_| ask_sizes(panel, model_url.get_untracked())>"Show sizes"</button>
                <button class="model-load" disabled=move || panel.backend.get().is_none() on:click=load>"Load model"</button>
                <span class="note model-host">{move || format!("Show sizes and Load request files from {}.", medhall_core::url_policy::destination_label(&crate::dom::page_url(), &model_url.get()))}</span>
                {move || panel.crashed.get().then(|| view! {
                    <button class="model-restart" on:click=move |_| {
                        panel.error.set(None);
                        if let Err(e) = start(panel) {
                            panel.error.set(Some(e));
                        }
                    }>"Restart the model worker"</button>
                })}
                <button class="model-clear-cache" on:click=move |_| {
                    if let Err(e) = send(&ModelRequest::ClearCache, None) {
                        panel.error.set(Some(e));
                    }
                }>"Delete cached models"</button>
                <p class="note model-status">{move || panel.status.get()}</p>
                <p class="note model-loaded">{move || panel.loaded.get()}</p>
                <div class="drop model-images" on:dragover=move |ev: leptos::ev::DragEvent| ev.prevent_default() on:drop=on_images_drop>
                    <p>"Images: drop a folder of the questions' images or a zip of them here (files are matched by name; a zip is read one image at a time), or pick one: "
                        <label>"folder " <input type="file" class="model-images-folder" multiple prop:webkitdirectory=true
                            on:change=move |ev| take_images(input_files(&ev).into_iter().map(|f| (relative_path(&f), f)).collect(), "the picked folder".to_owned())/></label>
                        <label>" zip " <input type="file" class="model-images-zip" accept=".zip,application/zip"
                            on:change=move |ev| take_images(input_files(&ev).into_iter().map(|f| (relative_path(&f), f)).collect(), "the picked zip".to_owned())/></label>
                    </p>
                    <p class="note model-images-source">{move || match images.get() {
                        Some(given) => format!("Images: {}.", given.describe()),
                        None => host.image_base.get().map_or_else(
                            || "No images given yet (and no image base URL is set).".to_owned(),
                            |base| format!("Images: from the image base URL {base}"),
                        ),
                    }}</p>
                    <button class="model-images-clear" on:click=move |_| images.set(None)>"Forget the given images"</button>
                </div>
                <div class="model-run">
                    <label>"Questions " <input type="number" class="model-count" min="1" prop:value=move || count.get().to_string() on:change=move |ev| count.set(event_target_value(&ev).parse().unwrap_or(20))/></label>
                    <label>"Seed " <input type="number" class="model-seed" prop:value=move || seed.get().to_string() on:change=move |ev| seed.set(event_target_value(&ev).parse().unwrap_or(1))/></label>
                    <label>"Split "
                        <select class="model-split" on:change=move |ev| split.set(event_target_value(&ev))>
                            <option value="">"both"</option>
                            <option value="positive">"positive"</option>
                            <option value="negative">"negative"</option>
                        </select>
                    </label>
                    <label>"Type " <input type="text" class="model-type" placeholder="any" prop:value=type_filter on:change=move |ev| type_filter.set(event_target_value(&ev))/></label>
                    <label>"Max tokens " <input type="number" class="model-max-tokens" min="1" prop:value=move || max_tokens.get().to_string() on:change=move |ev| max_tokens.set(event_target_value(&ev).parse().unwrap_or(64))/></label>
                    <label><input type="checkbox" prop:checked=adapter_on on:change=move |ev| adapter_on.set(event_target_checked(&ev))/>" adapter on"</label>
                    <label title="SmolVLM's processor cuts a large image into 512-pixel tiles plus a global view (up to 17 encoder passes and about 1,100 image tokens); one tile squashes the whole image into one (64 tokens): faster, but not what the model card does">
                        <input type="checkbox" class="model-one-tile" prop:checked=one_tile on:change=move |ev| one_tile.set(event_target_checked(&ev))/>" one tile (faster)"</label>
                    <button class="model-run-button" disabled=move || panel.running.get() || panel.loaded.get().is_none() on:click=run>"Run"</button>
                    <button class="model-stop" disabled=move || !panel.running.get() on:click=move |_| {
                        panel.stop.set(true);
                        if let Some(job) = panel.current_job.get_untracked()
                            && let Err(e) = send(&ModelRequest::Cancel { job }, None)
                        {
                            panel.error.set(Some(e));
                        }
                    }>"Stop"</button>
                    <button on:click=move |_| {
                        let jsonl = last_jsonl.get_untracked();
                        if !jsonl.is_empty() {
                            let _ = crate::download::download_text("model-check.predictions.jsonl", "application/x-ndjson", &jsonl);
                        }
                    }>"Download predictions (official format)"</button>
                </div>
                {move || panel.error.get().map(|e| view! { <p class="error model-error">{e}</p> })}
                <p class="model-streaming">{move || panel.streaming.get()}</p>
                <ol class="model-answers">
                    {move || panel.answers.get().into_iter().map(|a| {
                        let question = a.item.as_ref().map(|i| question_text(&i.question)).unwrap_or_default();
                        let rate = a.tokens_per_s.map_or("–".to_owned(), |r| format!("{r:.1}"));
                        view! {
                            <li>
                                <p class="q">{question}</p>
                                <p class="a">{a.answer.clone()}</p>
                                <p class="note">{format!("{} image tile{}, time to first token {:.0} ms, {rate} tokens/s", a.image_tiles, if a.image_tiles == 1 { "" } else { "s" }, a.ttft_ms)}</p>
                                {a.timings.as_ref().map(|t| view! { <p class="note model-timings">{format!("Where the time went: {}.", t.summary())}</p> })}
                            </li>
                        }
                    }).collect_view()}
                </ol>
            </details>
        </section>
    }
}

/// Where a run reads the questions' images.
enum ImageSource {
    Url(String),
    Given(Rc<GivenImages>),
}

impl ImageSource {
    fn describe(&self) -> String {
        match self {
            ImageSource::Url(base) => format!("image base URL {}", redact_url(base)),
            ImageSource::Given(given) => given.describe(),
        }
    }

    async fn read(&self, image: &str) -> Result<Vec<u8>, String> {
        match self {
            ImageSource::Url(base) => fetch_bytes(&format!("{base}{image}")).await,
            ImageSource::Given(given) => given.read(image).await,
        }
    }
}

/// Answers `questions` one by one, then hands the answers on. "Stop" ends the run after the
/// current answer, which is dropped (it may be cut short); the answers before it are kept.
async fn run_questions(
    panel: Panel,
    questions: Vec<QuestionItem>,
    images: ImageSource,
    max_new_tokens: u32,
    adapter_enabled: bool,
    one_tile: bool,
    done: impl Fn(&[Answered]) + 'static,
) {
    let mut answers = Vec::new();
    let mut failed = 0;
    for item in questions {
        if panel.stop.get_untracked() {
            break;
        }
        panel.streaming.set(String::new());
        panel.status.set(format!(
            "Answering {} {} ({} of the run)…",
            item.key.split.as_str(),
            item.key.question_id,
            answers.len() + 1
        ));
        let image = match images.read(&item.image).await {
            Ok(bytes) => bytes,
            Err(e) => {
                failed += 1;
                panel.error.set(Some(e));
                continue;
            }
        };
        let job = next_job();
        let (sender, receiver) = futures_channel();
        let sender = RefCell::new(Some(sender));
        listen(move |event| {
            let finished = match event {
                ModelEvent::Answer {
                    job: j,
                    answer,
                    time_to_first_token_ms,
                    tokens_per_s,
                    cancelled,
                    image_tiles,
                    timings,
                    ..
                } if j == job => Some(Ok(Finished {
                    answer,
                    ttft_ms: time_to_first_token_ms,
                    tokens_per_s,
                    cancelled,
                    image_tiles,
                    timings,
                })),
                ModelEvent::Error {
                    job: Some(j),
                    message,
                } if j == job => Some(Err(message)),
                _ => None,
            };
            // Only a finishing event takes the sender (a token must not consume it).
            if let Some(result) = finished
                && let Some(sender) = sender.borrow_mut().take()
            {
                sender(result);
            }
        });
        panel.current_job.set(Some(job));
        if let Err(e) = send(
            &ModelRequest::Generate {
                job,
                question: question_text(&item.question),
                image_name: item.image.clone(),
                max_new_tokens,
                adapter_enabled,
                one_tile,
            },
            Some(&image),
        ) {
            panel.current_job.set(None);
            failed += 1;
            panel.error.set(Some(e));
            break;
        }
        let result = receiver.await;
        panel.current_job.set(None);
        match result {
            Ok(Finished {
                cancelled: true, ..
            }) => break,
            Ok(_) if panel.stop.get_untracked() => break,
            Ok(Finished {
                answer,
                ttft_ms,
                tokens_per_s,
                image_tiles,
                timings,
                ..
            }) => {
                let answered = Answered {
                    item: Some(item),
                    answer,
                    ttft_ms,
                    tokens_per_s,
                    image_tiles,
                    timings,
                };
                panel.answers.update(|a| a.push(answered.clone()));
                answers.push(answered);
            }
            Err(message) => {
                failed += 1;
                panel.error.set(Some(message));
            }
        }
    }
    let mut status = format!("Answered {} questions", answers.len());
    if failed > 0 {
        status.push_str(&format!(
            "; {failed} could not be answered (the last error is shown)"
        ));
    }
    if panel.stop.get_untracked() {
        status.push_str("; stopped (the interrupted answer is not kept)");
    }
    panel.status.set(format!("{status}."));
    panel.running.set(false);
    if !answers.is_empty() {
        done(&answers);
    }
}

/// A finished `Generate`: the answer, its timings, whether `Cancel` cut it short, and the
/// number of images the vision encoder saw.
struct Finished {
    answer: String,
    ttft_ms: f64,
    tokens_per_s: Option<f64>,
    cancelled: bool,
    image_tiles: u32,
    timings: Option<AnswerTimings>,
}

type AnswerResult = Result<Finished, String>;

/// A one-shot channel on a JS promise: the sender resolves it.
fn futures_channel() -> (
    Box<dyn FnOnce(AnswerResult)>,
    impl std::future::Future<Output = AnswerResult>,
) {
    let slot: Rc<RefCell<Option<AnswerResult>>> = Rc::new(RefCell::new(None));
    let resolve_slot: Rc<RefCell<Option<js_sys::Function>>> = Rc::new(RefCell::new(None));
    let promise = {
        let resolve_slot = resolve_slot.clone();
        js_sys::Promise::new(&mut |resolve, _| *resolve_slot.borrow_mut() = Some(resolve))
    };
    let writer = slot.clone();
    let sender: Box<dyn FnOnce(AnswerResult)> = Box::new(move |result| {
        *writer.borrow_mut() = Some(result);
        if let Some(resolve) = resolve_slot.borrow_mut().take() {
            let _ = resolve.call0(&JsValue::NULL);
        }
    });
    let future = async move {
        let _ = JsFuture::from(promise).await;
        slot.borrow_mut()
            .take()
            .unwrap_or_else(|| Err("the model worker stopped".to_owned()))
    };
    (sender, future)
}
