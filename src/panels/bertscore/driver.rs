//! The B.Score panel's driver: the model worker's load and scoring jobs, the chunks kept in
//! IndexedDB and given to the scoring worker's session, and "Cancel". Its state is a
//! [`Driver`] that the panel owns and hands to each computation.

use super::Ui;
use super::kept::{chunk_hash_of, offer_kept};
use crate::model_worker_client::{Attachments, JobEvents, ModelWorker};
use crate::state::{AppState, ask_future, send_request};
use crate::storage::{self, StoredBertScores};
use leptos::prelude::*;
use medhall_app::protocol::{Reply, Request};
use medhall_app::session::BertScorePlan;
use medhall_core::sample::SampleKey;
use medhall_model_check::model_protocol::{
    MODEL_PROTOCOL_VERSION, ModelEvent, ModelRequest, ModelSource,
};
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;
use web_sys::IdbDatabase;

/// Values reach the scoring worker in batches at most this often (each batch recomputes the
/// run's summary and its bootstrap intervals).
const FLUSH_MS: f64 = 1000.0;

/// What the panel's computations share: owned by the panel, one per panel.
#[derive(Default)]
pub(super) struct Driver {
    /// The panel's own model worker (the model check's keeps its VLM), and whether it was
    /// started with WebGPU preferred.
    client: RefCell<Option<(ModelWorker, bool)>>,
    next_job: Cell<u32>,
    /// The computation in progress, for "Cancel".
    control: RefCell<Option<Rc<Control>>>,
    db: RefCell<Option<IdbDatabase>>,
    /// Runs (by id) whose kept values were looked up in this page already.
    restored: RefCell<HashSet<u32>>,
}

impl Driver {
    fn next_job(&self) -> u32 {
        let job = self.next_job.get().wrapping_add(1);
        self.next_job.set(job);
        job
    }

    pub(super) async fn db(&self) -> Result<IdbDatabase, String> {
        if let Some(db) = self.db.borrow().clone() {
            return Ok(db);
        }
        let db = storage::open_bertscores().await?;
        *self.db.borrow_mut() = Some(db.clone());
        Ok(db)
    }

    /// The worker, started (with WebGPU preferred or not) if it is not running that way.
    fn client(&self, prefer_gpu: bool) -> Result<ModelWorker, String> {
        let running = self.client.borrow_mut().take();
        if let Some((client, gpu)) = running {
            if gpu == prefer_gpu && client.ended().is_none() {
                *self.client.borrow_mut() = Some((client.clone(), gpu));
                return Ok(client);
            }
            client.terminate("the model worker was restarted");
        }
        let client = ModelWorker::start(
            "medhall-bertscore",
            prefer_gpu,
            |_| {},
            |death| {
                format!(
                    "The model worker stopped ({}). Values already computed are kept: press Compute B.Score to go on.",
                    death.event_message
                )
            },
        )?;
        *self.client.borrow_mut() = Some((client.clone(), prefer_gpu));
        Ok(client)
    }

    /// The backend the panel's worker reported, if it did.
    pub(super) fn backend(&self) -> Option<String> {
        self.client
            .borrow()
            .as_ref()
            .and_then(|(client, _)| client.backend())
    }

    /// Whether kept values of `run` are to be looked up (the first time it is listed).
    pub(super) fn first_listing(&self, run: u32) -> bool {
        self.restored.borrow_mut().insert(run)
    }

    /// A new computation, which "Cancel" reaches from now on.
    pub(super) fn begin(&self) -> Rc<Control> {
        let control = Rc::new(Control {
            cancelled: Cell::new(false),
            job: Cell::new(None),
        });
        *self.control.borrow_mut() = Some(control.clone());
        control
    }

    /// Cancels the computation in progress, if any.
    pub(super) fn cancel(&self) {
        let control = self.control.borrow().clone();
        let Some(control) = control else { return };
        control.cancelled.set(true);
        let client = self.client.borrow().as_ref().map(|(c, _)| c.clone());
        if let (Some(job), Some(client)) = (control.job.get(), client) {
            let _ = client.cancel(job);
        }
    }
}

/// One computation in progress: what "Cancel" needs.
pub(super) struct Control {
    cancelled: Cell<bool>,
    /// The model worker's job being scored, to cancel.
    job: Cell<Option<u32>>,
}

async fn plan_of(run: u32, signature: &str) -> Result<BertScorePlan, String> {
    let signature = signature.to_owned();
    match ask_future(move |id| Request::BertScorePlan { id, run, signature }).await {
        Reply::BertScorePlan { plan } => Ok(plan),
        Reply::Error { message } => Err(message),
        _ => Err("unexpected reply to a B.Score plan".to_owned()),
    }
}

/// What a computation loads and how it scores.
pub(super) struct Settings {
    pub(super) source: ModelSource,
    pub(super) files: Vec<js_sys::Uint8Array>,
    pub(super) model_name: String,
    pub(super) layer: Option<u32>,
    pub(super) batch: u32,
    pub(super) prefer_gpu: bool,
}

/// Waits for the model worker's answer to the load `events` are of (progress is shown on the
/// way); its stream closes with it.
async fn wait_loaded(events: JobEvents, ui: Ui) -> Result<ModelEvent, String> {
    let job = events.job();
    loop {
        match events.next().await {
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
    driver: &Driver,
    client: &ModelWorker,
    control: &Control,
    plan: &BertScorePlan,
    split_index: usize,
    signature: &str,
    ui: Ui,
) -> Result<bool, String> {
    let split = &plan.splits[split_index];
    let job = driver.next_job();
    control.job.set(Some(job));
    let pairs: Vec<(String, String)> = split
        .items
        .iter()
        .map(|i| (i.candidate.clone(), i.reference.clone()))
        .collect();
    let done: Vec<bool> = split.items.iter().map(|i| i.done).collect();
    let events = client.start_job(
        job,
        &ModelRequest::BertScore { job, pairs, done },
        Attachments::default(),
    )?;
    let label = format!("{} ({})", plan.run_name, split.split);
    ui.progress.update(|p| {
        p.label = label.clone();
        p.sentences_done = 0;
        p.sentences_total = 0;
        p.rate = None;
    });
    let started = js_sys::Date::now();
    let db = driver.db().await.ok();
    let mut pending = Vec::new();
    let mut last_flush = started;
    loop {
        match events.next().await {
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
/// `control` is the one [`Driver::begin`] gave.
pub(super) async fn compute(
    driver: Rc<Driver>,
    state: AppState,
    ui: Ui,
    settings: Settings,
    control: Rc<Control>,
) {
    let result = compute_inner(&driver, state, ui, settings, &control).await;
    ui.running.set(false);
    driver.control.borrow_mut().take();
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
    driver: &Driver,
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
    let client = driver.client(settings.prefer_gpu)?;
    let job = driver.next_job();
    ui.status.set("Starting the model worker…".to_owned());
    let events = client.start_job(
        job,
        &ModelRequest::BertScoreLoad {
            job,
            model: settings.source,
            model_name: settings.model_name.clone(),
            layer: settings.layer,
            batch_size: settings.batch,
        },
        Attachments {
            bytes: None,
            files: &settings.files,
        },
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
    } = wait_loaded(events, ui).await?
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
        if let Ok(db) = driver.db().await {
            let given = offer_kept(&db, &mut plan, run, &signature).await?;
            if given > 0 {
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
            if score_split(driver, &client, control, plan, index, &signature, ui).await? {
                return Ok(true);
            }
            if control.cancelled.get() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}
