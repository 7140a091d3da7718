//! The model check's driver: its model worker (started when the panel opens, restarted after a
//! crash), the events that change the panel, the size and load requests, and the question loop.
//! Its state is a [`Driver`] that the panel owns.

use super::images::{ImageSource, read_blob};
use super::{Answered, Panel};
use crate::model_worker_client::{Attachments, JobEvents, ModelWorker};
use crate::worker_port::Death;
use leptos::prelude::*;
use medhall_app::session::QuestionItem;
use medhall_model_check::model_protocol::{
    AnswerTimings, MODEL_PROTOCOL_VERSION, ModelEvent, ModelRequest, ModelSource,
    preselected_weights, question_text,
};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::JsValue;
use web_sys::File;

/// What the panel's requests share: owned by the panel.
#[derive(Default)]
pub(super) struct Driver {
    /// The panel's model worker; one that crashed stays here, ended, until restarted.
    client: RefCell<Option<ModelWorker>>,
    next_job: Cell<u32>,
}

impl Driver {
    pub(super) fn next_job(&self) -> u32 {
        let job = self.next_job.get().wrapping_add(1);
        self.next_job.set(job);
        job
    }

    /// The worker, if it runs (it stopped, or never started, otherwise).
    fn client(&self) -> Result<ModelWorker, String> {
        self.client
            .borrow()
            .clone()
            .filter(|client| client.ended().is_none())
            .ok_or_else(|| "the model worker is not running: restart it".to_owned())
    }

    /// Sends a request whose answers `on_event` shows; an error says the worker is not
    /// running, so that nothing waits for an answer that cannot come.
    pub(super) fn send(&self, request: &ModelRequest) -> Result<(), String> {
        self.client()?.send(request, Attachments::default())
    }

    fn start_job(
        &self,
        job: u32,
        request: &ModelRequest,
        attachments: Attachments<'_>,
    ) -> Result<JobEvents, String> {
        self.client()?.start_job(job, request, attachments)
    }

    /// Starts the model worker (unless it runs) and routes its events to `panel`.
    pub(super) fn start(&self, panel: Panel) -> Result<(), String> {
        if self.client().is_ok() {
            return Ok(());
        }
        let client = ModelWorker::start(
            "medhall-model",
            true,
            move |event| on_event(panel, event),
            move |death| crashed(panel, death),
        )?;
        *self.client.borrow_mut() = Some(client);
        panel.crashed.set(false);
        Ok(())
    }
}

/// What an event of the worker changes in the panel, whichever step asked for it.
fn on_event(panel: Panel, event: &ModelEvent) {
    match event {
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
        // A job-less error (a failed cache deletion, a panic's last words) is shown here:
        // no step waits for it.
        ModelEvent::Error { job: None, message } => panel.error.set(Some(message.clone())),
        _ => {}
    }
}

/// The worker died: the client has ended it and fails the pending step of a run or load with
/// the reason worded here; the loaded model is gone, a running question loop stops, and the
/// panel offers a restart.
fn crashed(panel: Panel, death: &Death) -> String {
    let reason = format!(
        "The model worker stopped ({}). The loaded model is gone: restart the worker, then load a model again.",
        death.detail()
    );
    panel.backend.set(None);
    panel.loaded.set(None);
    panel.stop.set(true);
    panel.crashed.set(true);
    panel.error.set(Some(reason.clone()));
    reason
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
pub(super) fn ask_sizes(driver: &Driver, panel: Panel, url: String) {
    if panel.sizes_url.get_untracked().as_deref() == Some(url.as_str()) {
        return;
    }
    panel.sizes_url.set(Some(url.clone()));
    let job = driver.next_job();
    panel.sizes.set(None);
    panel.sizes_job.set(Some(job));
    if let Err(e) = driver.send(&ModelRequest::Sizes {
        job,
        model: ModelSource::Url { base_url: url },
    }) {
        panel.error.set(Some(e));
    }
}

/// Sends `request` (a `Load` of `job`) with the adapter's `files`, and shows what it loaded.
pub(super) async fn load_model(
    driver: Rc<Driver>,
    panel: Panel,
    job: u32,
    request: ModelRequest,
    files: Vec<File>,
) {
    let mut bytes = Vec::new();
    for file in &files {
        match read_blob(file, None).await {
            Ok(b) => bytes.push(b),
            Err(e) => return panel.error.set(Some(format!("adapter: {e}"))),
        }
    }
    let attachments = Attachments {
        bytes: None,
        files: &bytes,
    };
    let events = match driver.start_job(job, &request, attachments) {
        Ok(events) => events,
        Err(e) => return panel.error.set(Some(e)),
    };
    loop {
        match events.next().await {
            ModelEvent::Loaded {
                weight_bytes,
                load_ms,
                network_files,
                cached_files,
                cache_error,
                ..
            } => {
                panel.loaded.set(Some(format!(
                    "Loaded: {:.1} MB of weights (measured) in {:.1} s ({network_files} files downloaded, {cached_files} from the cache).",
                    weight_bytes as f64 / 1e6,
                    load_ms / 1000.0
                )));
                panel.status.set(String::new());
                if let Some(e) = cache_error {
                    panel.error.set(Some(e));
                }
                return;
            }
            ModelEvent::Error {
                job: Some(_),
                message,
            } => return panel.error.set(Some(message)),
            _ => {}
        }
    }
}

/// How each question of a run is answered (`ModelRequest::Generate`'s settings).
pub(super) struct AnswerOptions {
    pub(super) max_new_tokens: u32,
    pub(super) adapter_enabled: bool,
    pub(super) one_tile: bool,
}

/// Answers `questions` one by one, then hands the answers on. "Stop" ends the run after the
/// current answer, which is dropped (it may be cut short); the answers before it are kept.
pub(super) async fn run_questions(
    driver: Rc<Driver>,
    panel: Panel,
    questions: Vec<QuestionItem>,
    images: ImageSource,
    options: AnswerOptions,
    done: impl Fn(&[Answered]) + 'static,
) {
    let AnswerOptions {
        max_new_tokens,
        adapter_enabled,
        one_tile,
    } = options;
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
        let job = driver.next_job();
        panel.current_job.set(Some(job));
        let request = ModelRequest::Generate {
            job,
            question: question_text(&item.question),
            image_name: item.image.clone(),
            max_new_tokens,
            adapter_enabled,
            one_tile,
        };
        let attachments = Attachments {
            bytes: Some(&image),
            files: &[],
        };
        let events = match driver.start_job(job, &request, attachments) {
            Ok(events) => events,
            Err(e) => {
                panel.current_job.set(None);
                failed += 1;
                panel.error.set(Some(e));
                break;
            }
        };
        let result = answer_of(&events).await;
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

/// Waits for the end of a `Generate`: its answer, or why there is none (its tokens are shown
/// on the way by `on_event`).
async fn answer_of(events: &JobEvents) -> Result<Finished, String> {
    loop {
        match events.next().await {
            ModelEvent::Answer {
                answer,
                time_to_first_token_ms,
                tokens_per_s,
                cancelled,
                image_tiles,
                timings,
                ..
            } => {
                return Ok(Finished {
                    answer,
                    ttft_ms: time_to_first_token_ms,
                    tokens_per_s,
                    cancelled,
                    image_tiles,
                    timings,
                });
            }
            ModelEvent::Error {
                job: Some(_),
                message,
            } => return Err(message),
            _ => {}
        }
    }
}
