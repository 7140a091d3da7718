//! The "Compute B.Score" panel: BERTScore F1 (the leaderboard's B.Score, as the benchmark's
//! eval.py computes it with bert_score 0.3.13) for the loaded runs, computed in a model worker
//! (`crates/model-worker`, the same `medhall_model::bertscore::BertScorer` as `medhall score
//! --bertscore`) on WebGPU or, without it, on burn's CPU backend.
//!
//! The scoring worker's session plans each run's pairs (`Session::bertscore_plan`: per split,
//! in the run's order, as the CLI scores them). The model worker scores a split one chunk of
//! `batch` pairs at a time and hands each chunk back as soon as it is complete; the chunk is
//! written to IndexedDB and then given to the session (`Session::apply_bertscore`), whose
//! summaries, charts and exports then carry the `bertscore` metric. After a reload, the kept
//! chunks are given to the session again as soon as the runs are back, so nothing is computed
//! twice, and "Compute B.Score" resumes with the chunks still missing.
//!
//! The model's files come through the model worker's Cache API cache (downloaded once) or from
//! a dropped folder.

use crate::dom::files_of;
use crate::state::{AppState, ask, send_request};
use crate::storage::{self, StoredBertScores};
use leptos::prelude::*;
use leptos::task::spawn_local;
use medhall_core::identity::bertscore_chunk_hash;
use medhall_core::protocol::{Reply, Request};
use medhall_core::sample::SampleKey;
use medhall_core::session::{BertScoreChunk, BertScoreItem, BertScorePlan};
use medhall_model_check::model_protocol::{
    BERTSCORE_FILES, MODEL_PROTOCOL_VERSION, ModelEvent, ModelRequest, ModelSource,
    model_name_of_url,
};
use std::cell::{Cell, RefCell};
use std::collections::{HashSet, VecDeque};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{File, IdbDatabase, MessageEvent, Worker, WorkerOptions};

/// Trunk writes this loader next to the page (see index.html's model-worker link).
const MODEL_WORKER_SCRIPT: &str = "./medhall-model-worker_loader.js";
/// roberta-large on the Hugging Face Hub: what bert_score's `lang='en'` loads.
pub const DEFAULT_BERTSCORE_URL: &str =
    "https://huggingface.co/FacebookAI/roberta-large/resolve/main/";
/// bert_score's default batch size.
const DEFAULT_BATCH: u32 = 64;
/// Values reach the scoring worker in batches at most this often (each batch recomputes the
/// run's summary and its bootstrap intervals).
const FLUSH_MS: f64 = 1000.0;

/// The model worker of this panel: its own instance of the model-worker script (the model
/// check's worker keeps its VLM), with the events it posts queued for the computation.
struct Client {
    worker: Worker,
    /// Requests made before the worker said `Started` (they would be lost).
    queue: RefCell<Option<Vec<JsValue>>>,
    events: RefCell<VecDeque<ModelEvent>>,
    wake: RefCell<Option<js_sys::Function>>,
    /// Whether it was started with WebGPU preferred.
    prefer_gpu: bool,
    /// The backend it reported (`Ready`).
    backend: RefCell<Option<String>>,
    /// Set when the worker died: why.
    crashed: RefCell<Option<String>>,
}

impl Client {
    fn push(&self, event: ModelEvent) {
        self.events.borrow_mut().push_back(event);
        let wake = self.wake.borrow_mut().take();
        if let Some(resolve) = wake {
            let _ = resolve.call0(&JsValue::NULL);
        }
    }

    /// The next event the worker posted.
    async fn next_event(&self) -> ModelEvent {
        loop {
            if let Some(event) = self.events.borrow_mut().pop_front() {
                return event;
            }
            let promise = js_sys::Promise::new(&mut |resolve, _| {
                *self.wake.borrow_mut() = Some(resolve);
            });
            let _ = JsFuture::from(promise).await;
        }
    }

    fn send(&self, request: &ModelRequest, files: &[js_sys::Uint8Array]) -> Result<(), String> {
        if let Some(reason) = self.crashed.borrow().clone() {
            return Err(reason);
        }
        let object = js_sys::Object::new();
        let text = serde_json::to_string(request)
            .map_err(|e| format!("a request cannot be encoded: {e}"))?;
        let _ = js_sys::Reflect::set(&object, &"msg".into(), &JsValue::from_str(&text));
        if !files.is_empty() {
            let array: js_sys::Array = files.iter().collect();
            let _ = js_sys::Reflect::set(&object, &"files".into(), &array);
        }
        let message: JsValue = object.into();
        if let Some(queue) = self.queue.borrow_mut().as_mut() {
            queue.push(message);
            return Ok(());
        }
        self.worker
            .post_message(&message)
            .map_err(|e| format!("the model worker cannot take the request: {e:?}"))
    }
}

/// One computation in progress: what "Cancel" needs.
struct Control {
    cancelled: Cell<bool>,
    /// The model worker's job being scored, to cancel.
    job: Cell<Option<u32>>,
}

thread_local! {
    static CLIENT: RefCell<Option<Rc<Client>>> = const { RefCell::new(None) };
    static NEXT_JOB: Cell<u32> = const { Cell::new(1) };
    static CONTROL: RefCell<Option<Rc<Control>>> = const { RefCell::new(None) };
    static DB: RefCell<Option<IdbDatabase>> = const { RefCell::new(None) };
    /// Runs (by id) whose kept values were looked up in this page already.
    static RESTORED: RefCell<HashSet<u32>> = RefCell::new(HashSet::new());
}

fn next_job() -> u32 {
    NEXT_JOB.with(|n| {
        let job = n.get();
        n.set(job.wrapping_add(1));
        job
    })
}

async fn db() -> Result<IdbDatabase, String> {
    if let Some(db) = DB.with(|d| d.borrow().clone()) {
        return Ok(db);
    }
    let db = storage::open_bertscores().await?;
    DB.with(|d| *d.borrow_mut() = Some(db.clone()));
    Ok(db)
}

/// Removes every kept B.Score value (the page's "Clear local data").
pub async fn clear_kept_bertscores() -> Result<(), String> {
    storage::clear_bertscores(&db().await?).await
}

/// The worker, started (with WebGPU preferred or not) if it is not running that way.
fn client(prefer_gpu: bool) -> Result<Rc<Client>, String> {
    if let Some(client) = CLIENT.with(|c| c.borrow().clone()) {
        if client.prefer_gpu == prefer_gpu && client.crashed.borrow().is_none() {
            return Ok(client);
        }
        client.worker.terminate();
        CLIENT.with(|c| *c.borrow_mut() = None);
    }
    let options = WorkerOptions::new();
    options.set_name("medhall-bertscore");
    let worker = Worker::new_with_options(MODEL_WORKER_SCRIPT, &options)
        .map_err(|e| format!("cannot start the model worker: {e:?}"))?;
    let client = Rc::new(Client {
        worker,
        queue: RefCell::new(Some(Vec::new())),
        events: RefCell::new(VecDeque::new()),
        wake: RefCell::new(None),
        prefer_gpu,
        backend: RefCell::new(None),
        crashed: RefCell::new(None),
    });
    let weak = Rc::downgrade(&client);
    let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let Some(client) = weak.upgrade() else { return };
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
        if let ModelEvent::Started { .. } = event {
            let queued = client.queue.borrow_mut().take().unwrap_or_default();
            for message in queued {
                let _ = client.worker.post_message(&message);
            }
            return;
        }
        client.push(event);
    });
    client
        .worker
        .set_onmessage(Some(handler.as_ref().unchecked_ref()));
    handler.forget();
    let weak = Rc::downgrade(&client);
    let on_error = Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(move |e: web_sys::ErrorEvent| {
        let Some(client) = weak.upgrade() else { return };
        let reason = format!(
            "The model worker stopped ({}). Values already computed are kept: press Compute B.Score to go on.",
            e.message()
        );
        client.worker.terminate();
        *client.crashed.borrow_mut() = Some(reason.clone());
        client.push(ModelEvent::Error {
            job: None,
            message: reason,
        });
    });
    client
        .worker
        .set_onerror(Some(on_error.as_ref().unchecked_ref()));
    on_error.forget();
    CLIENT.with(|c| *c.borrow_mut() = Some(client.clone()));
    client.send(&ModelRequest::Init { prefer_gpu }, &[])?;
    Ok(client)
}

/// Asks the scoring worker, as a future.
async fn ask_async(make: impl FnOnce(u32) -> Request + 'static) -> Reply {
    let slot: Rc<RefCell<Option<Reply>>> = Rc::new(RefCell::new(None));
    let filled = slot.clone();
    let make = RefCell::new(Some(make));
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let filled = filled.clone();
        if let Some(make) = make.borrow_mut().take() {
            ask(make, move |reply| {
                *filled.borrow_mut() = Some(reply);
                let _ = resolve.call0(&JsValue::NULL);
            });
        }
    });
    let _ = JsFuture::from(promise).await;
    slot.borrow_mut().take().unwrap_or(Reply::Error {
        message: "the scoring worker did not answer".to_owned(),
    })
}

async fn plan_of(run: u32, signature: &str) -> Result<BertScorePlan, String> {
    let signature = signature.to_owned();
    match ask_async(move |id| Request::BertScorePlan { id, run, signature }).await {
        Reply::BertScorePlan { plan } => Ok(plan),
        Reply::Error { message } => Err(message),
        _ => Err("unexpected reply to a B.Score plan".to_owned()),
    }
}

/// Chunks kept in this browser for a run under `signature`, as the session takes them (it
/// applies each only where the run's pairs are the chunk's).
fn kept_chunks(kept: &[StoredBertScores], signature: &str) -> Vec<BertScoreChunk> {
    kept.iter()
        .filter(|c| c.signature == signature && !c.chunk.is_empty())
        .filter_map(|c| {
            let split = medhall_core::sample::Split::ALL
                .into_iter()
                .find(|s| s.as_str() == c.split)?;
            Some(BertScoreChunk {
                split,
                start: c.start as usize,
                chunk: c.chunk.clone(),
                f1: c.values.iter().map(|(_, _, f1)| *f1).collect(),
            })
        })
        .collect()
}

/// `bertscore_chunk_hash` of plan items.
fn chunk_hash_of(items: &[BertScoreItem]) -> String {
    bertscore_chunk_hash(
        items
            .iter()
            .map(|i| (i.candidate.as_str(), i.reference.as_str())),
    )
}

async fn identity_of(run: u32) -> Result<String, String> {
    match ask_async(move |id| Request::RunIdentity { id, run }).await {
        Reply::RunIdentity { identity } => Ok(identity),
        Reply::Error { message } => Err(message),
        _ => Err("unexpected reply to a run's identity".to_owned()),
    }
}

/// Gives the session what this browser kept for `run` (under the signature it computed with
/// last), so a reload shows B.Score without computing it again. Returns how many values were
/// given. Asks the worker for the run's identity only: a plan carries every pair's texts.
async fn restore_run(run: u32) -> Result<usize, String> {
    let identity = identity_of(run).await?;
    let kept = storage::bertscores_of(&db().await?, &identity).await?;
    let Some(latest) = kept.iter().max_by(|a, b| a.saved_at.total_cmp(&b.saved_at)) else {
        return Ok(0);
    };
    let signature = latest.signature.clone();
    let chunks = kept_chunks(&kept, &signature);
    // Offered, not yet applied: the session applies a chunk only where its pairs are the run's.
    let count = chunks.iter().map(|c| c.f1.len()).sum();
    if count > 0 {
        send_request(&Request::BertScoreChunks {
            run,
            signature,
            chunks,
        })?;
    }
    Ok(count)
}

/// The panel's reactive state.
#[derive(Clone, Copy)]
struct Ui {
    running: RwSignal<bool>,
    status: RwSignal<String>,
    error: RwSignal<Option<String>>,
    backend: RwSignal<Option<String>>,
    signature: RwSignal<Option<String>>,
    progress: RwSignal<Progress>,
    /// Values given back from this browser's storage (no computation).
    restored: RwSignal<usize>,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Progress {
    label: String,
    sentences_done: u32,
    sentences_total: u32,
    /// Sentences per second over this split so far.
    rate: Option<f64>,
    pairs_done: usize,
    pairs_total: usize,
    /// Pairs scored by the model in this page (not restored).
    computed: usize,
}

struct Settings {
    source: ModelSource,
    files: Vec<js_sys::Uint8Array>,
    model_name: String,
    layer: Option<u32>,
    batch: u32,
    prefer_gpu: bool,
}

fn describe_seconds(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn progress_text(p: &Progress) -> String {
    if p.label.is_empty() {
        return String::new();
    }
    let mut text = format!(
        "{}: {}/{} sentences",
        p.label, p.sentences_done, p.sentences_total
    );
    if let Some(rate) = p.rate.filter(|r| *r > 0.0) {
        let left = f64::from(p.sentences_total.saturating_sub(p.sentences_done)) / rate;
        text.push_str(&format!(
            ", {rate:.2} sentences/s, about {} left",
            describe_seconds(left)
        ));
    }
    text.push_str(&format!(
        "; {}/{} pairs of the loaded runs have B.Score ({} computed here).",
        p.pairs_done, p.pairs_total, p.computed
    ));
    text
}

/// Waits for the model worker's answer to `job` (progress is shown on the way).
async fn wait_loaded(client: &Client, job: u32, ui: Ui) -> Result<ModelEvent, String> {
    loop {
        match client.next_event().await {
            ModelEvent::Ready {
                version,
                backend,
                adapter_info,
                fallback_reason,
            } => {
                if version != MODEL_PROTOCOL_VERSION {
                    return Err(format!(
                        "the model worker speaks protocol {version}, this page {MODEL_PROTOCOL_VERSION}: reload the page"
                    ));
                }
                let mut text = match adapter_info {
                    Some(info) => format!("{backend}: {info}"),
                    None => backend.clone(),
                };
                if let Some(reason) = fallback_reason {
                    text.push_str(&format!(" (CPU: {reason})"));
                }
                *client.backend.borrow_mut() = Some(backend);
                ui.backend.set(Some(text));
            }
            ModelEvent::Progress {
                file,
                loaded,
                total,
                cached,
                ..
            } => {
                let of = total.map_or(String::new(), |t| format!(" of {:.1} MB", t as f64 / 1e6));
                let from = if cached { "cache" } else { "network" };
                ui.status.set(format!(
                    "Loading the model: {file}, {:.1} MB{of} (from the {from})",
                    loaded as f64 / 1e6
                ));
            }
            event @ ModelEvent::BertScoreLoaded { job: j, .. } if j == job => return Ok(event),
            ModelEvent::Error { job: j, message } if j.is_none_or(|j| j == job) => {
                return Err(message);
            }
            _ => {}
        }
    }
}

/// Scores the pairs of one split that are not done yet, keeping and applying each chunk as it
/// completes. Returns whether it was cancelled.
async fn score_split(
    client: &Client,
    control: &Control,
    plan: &BertScorePlan,
    split_index: usize,
    signature: &str,
    ui: Ui,
) -> Result<bool, String> {
    let split = &plan.splits[split_index];
    let job = next_job();
    control.job.set(Some(job));
    let pairs: Vec<(String, String)> = split
        .items
        .iter()
        .map(|i| (i.candidate.clone(), i.reference.clone()))
        .collect();
    let done: Vec<bool> = split.items.iter().map(|i| i.done).collect();
    client.send(&ModelRequest::BertScore { job, pairs, done }, &[])?;
    let label = format!("{} ({})", plan.run_name, split.split);
    ui.progress.update(|p| {
        p.label = label.clone();
        p.sentences_done = 0;
        p.sentences_total = 0;
        p.rate = None;
    });
    let started = js_sys::Date::now();
    let db = db().await.ok();
    let mut pending = Vec::new();
    let mut last_flush = started;
    loop {
        match client.next_event().await {
            ModelEvent::BertScoreProgress {
                job: j,
                sentences_done,
                sentences_total,
            } if j == job => {
                let seconds = (js_sys::Date::now() - started) / 1000.0;
                ui.progress.update(|p| {
                    p.sentences_done = sentences_done;
                    p.sentences_total = sentences_total;
                    p.rate = (sentences_done > 0 && seconds > 0.0)
                        .then(|| f64::from(sentences_done) / seconds);
                });
                ui.status.set(if control.cancelled.get() {
                    "Cancelling after the current batch…".to_owned()
                } else {
                    "Computing B.Score…".to_owned()
                });
            }
            ModelEvent::BertScoreChunk { job: j, start, f1 } if j == job => {
                let start = start as usize;
                let items = split.items.get(start..start + f1.len()).ok_or_else(|| {
                    format!("the model worker answered for pairs {start}.. that were not asked")
                })?;
                let values: Vec<(String, String, f64)> = items
                    .iter()
                    .zip(&f1)
                    .map(|(item, f1)| {
                        (
                            item.key.question_id.clone(),
                            item.pair.clone(),
                            f64::from(*f1),
                        )
                    })
                    .collect();
                // Kept before it counts: a reload or a crash after this point loses nothing.
                if let Some(db) = &db {
                    let chunk = StoredBertScores {
                        run: plan.identity.clone(),
                        signature: signature.to_owned(),
                        split: split.split.as_str().to_owned(),
                        start: start as u32,
                        values: values.clone(),
                        chunk: chunk_hash_of(items),
                        saved_at: js_sys::Date::now(),
                    };
                    if let Err(error) = storage::put_bertscores(db, &chunk).await {
                        ui.error.set(Some(format!(
                            "B.Score values could not be kept in this browser ({error}): a reload will compute them again."
                        )));
                    }
                }
                let newly = items.iter().filter(|i| !i.done).count();
                pending.extend(
                    items
                        .iter()
                        .zip(values)
                        .map(|(item, (_, pair, f1))| (item.key.clone(), pair, f1)),
                );
                // The session recomputes the run's summary for each batch of values: at most
                // once a second.
                if js_sys::Date::now() - last_flush >= FLUSH_MS {
                    last_flush = js_sys::Date::now();
                    flush(plan.run, signature, &mut pending)?;
                }
                ui.progress.update(|p| {
                    p.pairs_done += newly;
                    p.computed += f1.len();
                });
            }
            ModelEvent::BertScoreDone {
                job: j,
                cancelled,
                truncated,
                empty_candidates,
                empty_references,
                ..
            } if j == job => {
                control.job.set(None);
                flush(plan.run, signature, &mut pending)?;
                if truncated > 0 || empty_candidates + empty_references > 0 {
                    ui.status.set(format!(
                        "{}: {truncated} sentence(s) cut at the model's maximum length (as bert_score cuts them); {empty_candidates} empty reference(s) and {empty_references} empty answer(s) score 0, as in bert_score.",
                        label
                    ));
                }
                return Ok(cancelled);
            }
            ModelEvent::Error { job: j, message } if j.is_none_or(|j| j == job) => {
                control.job.set(None);
                flush(plan.run, signature, &mut pending)?;
                return Err(message);
            }
            _ => {}
        }
    }
}

/// Hands the values received so far to the scoring worker.
fn flush(
    run: u32,
    signature: &str,
    pending: &mut Vec<(SampleKey, String, f64)>,
) -> Result<(), String> {
    if pending.is_empty() {
        return Ok(());
    }
    send_request(&Request::BertScores {
        run,
        signature: signature.to_owned(),
        scores: std::mem::take(pending),
    })
}

/// Loads the model, then scores every loaded run's missing pairs, split by split.
async fn compute(state: AppState, ui: Ui, settings: Settings, control: Rc<Control>) {
    let result = compute_inner(state, ui, settings, &control).await;
    ui.running.set(false);
    CONTROL.with(|c| *c.borrow_mut() = None);
    match result {
        Ok(true) => ui
            .status
            .set("Cancelled: the values computed so far are kept.".to_owned()),
        Ok(false) => ui.status.set("Done.".to_owned()),
        Err(error) => {
            ui.status.set("Stopped.".to_owned());
            ui.error.set(Some(error));
        }
    }
}

async fn compute_inner(
    state: AppState,
    ui: Ui,
    settings: Settings,
    control: &Control,
) -> Result<bool, String> {
    let runs: Vec<u32> = state
        .runs
        .with_untracked(|runs| runs.iter().map(|r| r.id).collect());
    if runs.is_empty() {
        return Err("Load a run first (and its reference answers).".to_owned());
    }
    let client = client(settings.prefer_gpu)?;
    let job = next_job();
    ui.status.set("Starting the model worker…".to_owned());
    client.send(
        &ModelRequest::BertScoreLoad {
            job,
            model: settings.source,
            model_name: settings.model_name.clone(),
            layer: settings.layer,
            batch_size: settings.batch,
        },
        &settings.files,
    )?;
    let ModelEvent::BertScoreLoaded {
        signature,
        layer,
        max_tokens,
        load_ms,
        network_files,
        cached_files,
        cache_error,
        length_note,
        buffer_limit,
        ..
    } = wait_loaded(&client, job, ui).await?
    else {
        return Err("unexpected answer to the model load".to_owned());
    };
    ui.signature.set(Some(signature.clone()));
    let limit = buffer_limit.map_or(String::new(), |b| {
        format!(
            "; the device's storage buffers hold up to {:.0} MiB (larger batches run in parts)",
            b as f64 / 1048576.0
        )
    });
    let mut notes = format!(
        "Model {} loaded in {:.1} s ({network_files} file(s) downloaded, {cached_files} from the cache), layer {layer}, sentences cut at {max_tokens} tokens{limit}.",
        settings.model_name,
        load_ms / 1000.0
    );
    for note in [cache_error, length_note].into_iter().flatten() {
        notes.push(' ');
        notes.push_str(&note);
    }
    ui.status.set(notes);
    if control.cancelled.get() {
        return Ok(true);
    }
    // Every run's plan first, so the progress counts all pairs.
    let mut plans = Vec::new();
    for run in runs {
        let mut plan = plan_of(run, &signature).await?;
        // Chunks kept in this browser under this signature that the session has not taken yet
        // (a run loaded again under another id): each counts only for exactly its pairs.
        if let Ok(db) = db().await
            && let Ok(kept) = storage::bertscores_of(&db, &plan.identity).await
        {
            let chunks = kept_chunks(&kept, &signature);
            let mut given = 0;
            for chunk in &chunks {
                let Some(split) = plan.splits.iter_mut().find(|s| s.split == chunk.split) else {
                    continue;
                };
                let end = chunk.start.saturating_add(chunk.f1.len());
                let Some(items) = split.items.get_mut(chunk.start..end) else {
                    continue;
                };
                if chunk_hash_of(items) == chunk.chunk {
                    given += items.iter().filter(|i| !i.done).count();
                    items.iter_mut().for_each(|i| i.done = true);
                }
            }
            if given > 0 {
                send_request(&Request::BertScoreChunks {
                    run,
                    signature: signature.clone(),
                    chunks,
                })?;
                ui.restored.update(|r| *r += given);
            }
        }
        plans.push(plan);
    }
    let items = || {
        plans
            .iter()
            .flat_map(|p| p.splits.iter())
            .flat_map(|s| &s.items)
    };
    let total = items().count();
    let done = items().filter(|i| i.done).count();
    ui.progress.update(|p| {
        p.pairs_total = total;
        p.pairs_done = done;
    });
    if total == 0 {
        return Err(
            "No answer of the loaded runs has a reference answer: load the reference shards."
                .to_owned(),
        );
    }
    for plan in &plans {
        for index in 0..plan.splits.len() {
            if plan.splits[index].items.iter().all(|i| i.done) {
                continue;
            }
            if score_split(&client, control, plan, index, &signature, ui).await? {
                return Ok(true);
            }
            if control.cancelled.get() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn cancel() {
    let control = CONTROL.with(|c| c.borrow().clone());
    let Some(control) = control else { return };
    control.cancelled.set(true);
    if let (Some(job), Some(client)) = (control.job.get(), CLIENT.with(|c| c.borrow().clone())) {
        let _ = client.send(&ModelRequest::Cancel { job }, &[]);
    }
}

/// The picked folder's files that a B.Score model is read from, as bytes, with their names. The
/// rest is not read: a Hub folder also holds the same weights as pytorch_model.bin, tf_model.h5,
/// flax and ONNX files, gigabytes that must not be loaded into the page.
async fn read_files(files: &[File]) -> Result<(Vec<String>, Vec<js_sys::Uint8Array>), String> {
    let mut names = Vec::new();
    let mut bytes = Vec::new();
    let wanted = |name: &str| BERTSCORE_FILES.iter().any(|(w, _)| *w == name);
    for file in files.iter().filter(|f| wanted(&f.name())) {
        let buffer = JsFuture::from(file.array_buffer())
            .await
            .map_err(|e| format!("{}: cannot be read ({e:?})", file.name()))?;
        names.push(file.name());
        bytes.push(js_sys::Uint8Array::new(&buffer));
    }
    Ok((names, bytes))
}

/// The folder's name of a picked folder (`webkitRelativePath`'s first part), else "".
fn folder_name(files: &[File]) -> String {
    files
        .first()
        .and_then(|f| {
            js_sys::Reflect::get(f, &"webkitRelativePath".into())
                .ok()
                .and_then(|v| v.as_string())
        })
        .and_then(|path| path.split('/').next().map(str::to_owned))
        .unwrap_or_default()
}

#[component]
pub fn BertScorePanel(state: AppState) -> impl IntoView {
    let url = RwSignal::new(DEFAULT_BERTSCORE_URL.to_owned());
    let layer = RwSignal::new(String::new());
    let batch = RwSignal::new(DEFAULT_BATCH.to_string());
    let prefer_gpu = RwSignal::new(true);
    let folder: RwSignal<Vec<File>, LocalStorage> = RwSignal::new_local(Vec::new());
    let ui = Ui {
        running: RwSignal::new(false),
        status: RwSignal::new(String::new()),
        error: RwSignal::new(None),
        backend: RwSignal::new(None),
        signature: RwSignal::new(None),
        progress: RwSignal::new(Progress::default()),
        restored: RwSignal::new(0),
    };

    // Kept values come back as soon as a run is listed (after a reload, or the same file
    // loaded again): once per run id.
    let run_ids = Memo::new(move |_| {
        state
            .runs
            .with(|runs| runs.iter().map(|r| r.id).collect::<Vec<_>>())
    });
    Effect::new(move |_| {
        if state.embedded {
            return;
        }
        for run in run_ids.get() {
            let first = RESTORED.with(|r| r.borrow_mut().insert(run));
            if !first {
                continue;
            }
            spawn_local(async move {
                match restore_run(run).await {
                    Ok(count) => ui.restored.update(|r| *r += count),
                    Err(error) => ui.error.set(Some(format!(
                        "Kept B.Score values could not be read: {error}"
                    ))),
                }
            });
        }
    });

    let start = move |_| {
        if ui.running.get_untracked() {
            return;
        }
        ui.error.set(None);
        let layer_text = layer.get_untracked().trim().to_owned();
        let layer = if layer_text.is_empty() {
            None
        } else {
            match layer_text.parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => {
                    ui.error.set(Some(format!(
                        "Layer: `{layer_text}` is not a whole number (leave it empty for bert_score's default)."
                    )));
                    return;
                }
            }
        };
        let batch = match batch.get_untracked().trim().parse::<u32>() {
            Ok(n) if n >= 1 => n,
            _ => {
                ui.error
                    .set(Some("Batch size: a whole number, at least 1.".to_owned()));
                return;
            }
        };
        let files = folder.get_untracked();
        let url_text = url.get_untracked().trim().to_owned();
        if files.is_empty() && url_text.is_empty() {
            ui.error.set(Some(
                "Give the model folder's URL or pick the folder.".to_owned(),
            ));
            return;
        }
        let prefer_gpu = prefer_gpu.get_untracked();
        let control = Rc::new(Control {
            cancelled: Cell::new(false),
            job: Cell::new(None),
        });
        CONTROL.with(|c| *c.borrow_mut() = Some(control.clone()));
        ui.running.set(true);
        ui.progress.update(|p| *p = Progress::default());
        spawn_local(async move {
            let settings = if files.is_empty() {
                Settings {
                    model_name: model_name_of_url(&url_text),
                    source: ModelSource::Url { base_url: url_text },
                    files: Vec::new(),
                    layer,
                    batch,
                    prefer_gpu,
                }
            } else {
                match read_files(&files).await {
                    Ok((names, bytes)) => Settings {
                        model_name: folder_name(&files),
                        source: ModelSource::Files { names },
                        files: bytes,
                        layer,
                        batch,
                        prefer_gpu,
                    },
                    Err(error) => {
                        ui.running.set(false);
                        ui.error.set(Some(error));
                        return;
                    }
                }
            };
            compute(state, ui, settings, control).await;
        });
    };

    let on_folder = move |ev: leptos::ev::Event| {
        let list = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
            .and_then(|input| input.files());
        folder.set(files_of(list));
    };

    view! {
        <section id="bertscore">
            <h2>"B.Score (BERTScore)"</h2>
            <details>
                <summary>"Compute B.Score for the loaded runs"</summary>
                <p class="note">
                    "B.Score is the mean BERTScore F1 of the benchmark's eval.py: bert_score 0.3.13 with "
                    "roberta-large, the output of its layer 17, no idf, no rescaling, the reference answer as "
                    "the candidate. It runs in this page, on WebGPU when the browser has it and on the CPU "
                    "otherwise; roberta-large's files (1.4 GB) are downloaded once and kept in the browser's "
                    "cache. Each chunk of answers is kept in this browser as it completes: a reload or a "
                    "cancel loses nothing, and the next run goes on where this one stopped."
                </p>
                <div class="row">
                    <label>"Model folder URL "
                        <input id="bertscore-url" type="url" size="60" prop:value=url
                            on:input=move |ev| url.set(event_target_value(&ev))/>
                    </label>
                </div>
                <div class="row">
                    <label>"or the folder "
                        <input id="bertscore-files" type="file" multiple prop:webkitdirectory=true on:change=on_folder/>
                    </label>
                    {move || {
                        let n = folder.with(Vec::len);
                        (n > 0).then(|| view! {
                            <span class="note">{format!("{n} file(s) picked: they are used instead of the URL. ")}</span>
                            <button on:click=move |_| folder.set(Vec::new())>"Use the URL"</button>
                        })
                    }}
                </div>
                <div class="row">
                    <label>"Layer "
                        <input id="bertscore-layer" class="range" type="number" min="0" placeholder="auto" prop:value=layer
                            on:input=move |ev| layer.set(event_target_value(&ev))/>
                    </label>
                    <label>"Batch size "
                        <input id="bertscore-batch" class="range" type="number" min="1" prop:value=batch
                            on:input=move |ev| batch.set(event_target_value(&ev))/>
                    </label>
                    <label>
                        <input id="bertscore-gpu" type="checkbox" prop:checked=prefer_gpu
                            on:change=move |ev| prefer_gpu.set(event_target_checked(&ev))/>
                        " Use WebGPU when available"
                    </label>
                </div>
                <p class="note">
                    "Layer: empty means bert_score's choice for the model's name (17 for roberta-large). "
                    "Batch size 64 is bert_score's, and it changes scores slightly (its padding): keep it to "
                    "match the leaderboard. Without WebGPU, roberta-large runs on one CPU core at a few "
                    "sentences a minute (measured 0.04 sentences/s on a 2-core machine): hours for a split. "
                    "The progress line says the rate and the time left; medhall score --bertscore is much "
                    "faster on the same CPU."
                </p>
                <div class="row">
                    <button id="bertscore-start" on:click=start disabled=move || ui.running.get()>"Compute B.Score"</button>
                    <button id="bertscore-cancel" on:click=move |_| cancel() disabled=move || !ui.running.get()>"Cancel"</button>
                </div>
                {move || ui.backend.get().map(|text| view! { <p class="note" id="bertscore-backend">{format!("Backend: {text}")}</p> })}
                <p class="note" id="bertscore-status">{move || ui.status.get()}</p>
                {move || {
                    let p = ui.progress.get();
                    let text = progress_text(&p);
                    view! {
                        <p class="note" id="bertscore-progress" data-running=ui.running.get().to_string()
                            data-sentences-done=p.sentences_done.to_string() data-sentences-total=p.sentences_total.to_string()
                            data-pairs-done=p.pairs_done.to_string() data-pairs-total=p.pairs_total.to_string()
                            data-computed=p.computed.to_string() data-restored=ui.restored.get().to_string()
                            data-backend=move || CLIENT.with(|c| c.borrow().as_ref().and_then(|c| c.backend.borrow().clone())).unwrap_or_default()>
                            {text}
                        </p>
                        <progress max=p.sentences_total.max(1).to_string() value=p.sentences_done.to_string()></progress>
                    }
                }}
                {move || ui.signature.get().map(|s| view! { <p class="note signature" id="bertscore-signature">{s}</p> })}
                {move || ui.error.get().map(|message| view! { <p class="error" id="bertscore-error" role="alert">{message}</p> })}
            </details>
        </section>
    }
}
