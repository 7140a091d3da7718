//! The page's one client of the model worker (`crates/model-worker`), used by the B.Score panel
//! and the model check; each starts its own instance (the model check's keeps its VLM loaded).
//!
//! Requests go out as JSON text with what travels beside them (an image's bytes, dropped
//! files); those made before the worker says `Started` wait in a queue (they would be lost):
//! that, and the worker's death, is `worker_port.rs`, shared with the scoring worker. A job's
//! events come back on its [`JobEvents`], one future per event, together with the
//! events of no job (`Ready`, a job-less `Error`); every event also goes to the panel's
//! `on_event`. When the worker dies (an `error` event: a panic traps its wasm, whose last words
//! arrive just before as a job-less `Error`), it is ended, every open job gets an `Error` with
//! the panel's reason and later requests are refused with it, so that nothing waits forever.

use crate::channel::{Receiver, Sender, channel};
use crate::worker_port::{self, Death, Handlers, WorkerEvent, WorkerPort};
use medhall_model_check::model_protocol::{ModelEvent, ModelRequest};
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use wasm_bindgen::JsValue;

/// Trunk writes this loader next to the page (see index.html's model-worker link).
pub(crate) const MODEL_WORKER_SCRIPT: &str = "./medhall-model-worker_loader.js";
/// roberta-large on the Hugging Face Hub: what bert_score's `lang='en'` loads.
pub(crate) const DEFAULT_BERTSCORE_URL: &str =
    "https://huggingface.co/FacebookAI/roberta-large/resolve/main/";
/// SmolVLM-256M-Instruct's files on the Hugging Face Hub: the model check's default VLM.
pub(crate) const DEFAULT_VLM_URL: &str =
    "https://huggingface.co/HuggingFaceTB/SmolVLM-256M-Instruct/resolve/main/";

/// What travels beside a request: an image's bytes (`Generate`), dropped files (`Load`,
/// `BertScoreLoad`, in the order their `ModelSource::Files` names them).
#[derive(Clone, Copy, Default)]
pub(crate) struct Attachments<'a> {
    pub(crate) bytes: Option<&'a [u8]>,
    pub(crate) files: &'a [js_sys::Uint8Array],
}

/// The client's side of a worker: its open jobs and what it reported.
#[derive(Default)]
struct Jobs {
    /// The open jobs' event streams.
    open: RefCell<Vec<(u32, Sender<ModelEvent>)>>,
    /// The backend it reported (`Ready`).
    backend: RefCell<Option<String>>,
}

impl Jobs {
    /// Ends every open job with `reason`.
    fn end(&self, reason: &str) {
        let open = std::mem::take(&mut *self.open.borrow_mut());
        for (job, events) in open {
            events.send(ModelEvent::Error {
                job: Some(job),
                message: reason.to_owned(),
            });
        }
    }
}

impl WorkerEvent for ModelEvent {
    fn unreadable(error: String) -> Self {
        ModelEvent::Error {
            job: None,
            message: format!("unreadable model-worker message: {error}"),
        }
    }

    /// `Started`: the worker's code has loaded (requests sent before it would be lost).
    fn is_ready(&self) -> bool {
        matches!(self, ModelEvent::Started { .. })
    }

    fn worker_error(&self) -> Option<&str> {
        match self {
            ModelEvent::Error { job: None, message } => Some(message),
            _ => None,
        }
    }
}

/// A running model worker (cheap to clone: the same worker).
#[derive(Clone)]
pub(crate) struct ModelWorker {
    port: WorkerPort,
    jobs: Rc<Jobs>,
}

/// The events of one job, with those of no job, in the order the worker posted them.
pub(crate) struct JobEvents {
    job: u32,
    events: Receiver<ModelEvent>,
    jobs: Weak<Jobs>,
}

impl JobEvents {
    /// The job these events are of.
    pub(crate) fn job(&self) -> u32 {
        self.job
    }

    /// The next event; once the worker is gone, an `Error` for this job saying so.
    pub(crate) async fn next(&self) -> ModelEvent {
        self.events
            .recv()
            .await
            .unwrap_or_else(|| ModelEvent::Error {
                job: Some(self.job),
                message: "the model worker stopped".to_owned(),
            })
    }
}

impl Drop for JobEvents {
    fn drop(&mut self) {
        if let Some(jobs) = self.jobs.upgrade() {
            jobs.open.borrow_mut().retain(|(job, _)| *job != self.job);
        }
    }
}

/// The job an event answers, if any.
fn job_of(event: &ModelEvent) -> Option<u32> {
    match event {
        ModelEvent::Started { .. } | ModelEvent::Ready { .. } | ModelEvent::CacheCleared { .. } => {
            None
        }
        ModelEvent::Error { job, .. } => *job,
        ModelEvent::Progress { job, .. }
        | ModelEvent::Loaded { job, .. }
        | ModelEvent::Token { job, .. }
        | ModelEvent::Answer { job, .. }
        | ModelEvent::Logits { job, .. }
        | ModelEvent::Sizes { job, .. }
        | ModelEvent::BertScoreLoaded { job, .. }
        | ModelEvent::BertScoreProgress { job, .. }
        | ModelEvent::BertScoreChunk { job, .. }
        | ModelEvent::BertScoreDone { job, .. } => Some(*job),
    }
}

fn message(text: &str, attachments: Attachments<'_>) -> JsValue {
    let mut beside = Vec::new();
    if let Some(bytes) = attachments.bytes {
        beside.push(("bytes", js_sys::Uint8Array::from(bytes).into()));
    }
    if !attachments.files.is_empty() {
        let array: js_sys::Array = attachments.files.iter().collect();
        beside.push(("files", array.into()));
    }
    worker_port::message(text, &beside)
}

impl ModelWorker {
    /// Starts a worker named `name` and asks it for its backend (`Init`, answered by `Ready`).
    /// `on_event` sees every event but `Started`; `word_death` words the reason once if the
    /// worker dies (open jobs and later requests get it).
    pub(crate) fn start(
        name: &str,
        prefer_gpu: bool,
        on_event: impl Fn(&ModelEvent) + 'static,
        word_death: impl Fn(&Death) -> String + 'static,
    ) -> Result<ModelWorker, String> {
        let jobs = Rc::new(Jobs::default());
        let routed = jobs.clone();
        let ended = jobs.clone();
        let handlers = Handlers {
            on_event: Box::new(move |event: ModelEvent| {
                if let ModelEvent::Ready { backend, .. } = &event {
                    *routed.backend.borrow_mut() = Some(backend.clone());
                }
                on_event(&event);
                let job = job_of(&event);
                let streams: Vec<Sender<ModelEvent>> = routed
                    .open
                    .borrow()
                    .iter()
                    .filter(|(open, _)| job.is_none_or(|job| job == *open))
                    .map(|(_, events)| events.clone())
                    .collect();
                for events in streams {
                    events.send(event.clone());
                }
            }),
            word_death: Box::new(word_death),
            on_ended: Box::new(move |reason| ended.end(&reason)),
            forward_ready: false,
        };
        let port = WorkerPort::start(MODEL_WORKER_SCRIPT, name, "the model worker", handlers)?;
        let client = ModelWorker { port, jobs };
        client.send(&ModelRequest::Init { prefer_gpu }, Attachments::default())?;
        Ok(client)
    }

    /// Sends a request whose answers the panel's `on_event` handles (or that has none).
    pub(crate) fn send(
        &self,
        request: &ModelRequest,
        attachments: Attachments<'_>,
    ) -> Result<(), String> {
        if let Some(reason) = self.port.ended() {
            return Err(reason);
        }
        let text = serde_json::to_string(request)
            .map_err(|e| format!("a request cannot be encoded: {e}"))?;
        self.port.post(message(&text, attachments))
    }

    /// Sends the request of `job` and returns its events (registered before it goes out, so
    /// none is missed).
    pub(crate) fn start_job(
        &self,
        job: u32,
        request: &ModelRequest,
        attachments: Attachments<'_>,
    ) -> Result<JobEvents, String> {
        let (sender, events) = channel();
        self.jobs.open.borrow_mut().push((job, sender));
        let events = JobEvents {
            job,
            events,
            jobs: Rc::downgrade(&self.jobs),
        };
        // On an error `events` is dropped, which closes the job again.
        self.send(request, attachments)?;
        Ok(events)
    }

    /// Asks the worker to stop `job` (a `Generate` after its current token, a `BertScore`
    /// after its current encoder batch).
    pub(crate) fn cancel(&self, job: u32) -> Result<(), String> {
        self.send(&ModelRequest::Cancel { job }, Attachments::default())
    }

    /// The backend the worker reported ("webgpu" or "cpu"), once it has.
    pub(crate) fn backend(&self) -> Option<String> {
        self.jobs.backend.borrow().clone()
    }

    /// Why the worker no longer runs, if it does not.
    pub(crate) fn ended(&self) -> Option<String> {
        self.port.ended()
    }

    /// Ends the worker; open jobs get `reason`.
    pub(crate) fn terminate(&self, reason: &str) {
        if self.ended().is_none() {
            self.port.terminate(reason.to_owned());
            self.jobs.end(reason);
        }
    }
}
