//! The page's one client of the model worker (`crates/model-worker`), used by the B.Score panel
//! and the model check; each starts its own instance (the model check's keeps its VLM loaded).
//!
//! Requests go out as JSON text with what travels beside them (an image's bytes, dropped
//! files); those made before the worker says `Started` wait in a queue (they would be lost).
//! A job's events come back on its [`JobEvents`], one future per event, together with the
//! events of no job (`Ready`, a job-less `Error`); every event also goes to the panel's
//! `on_event`. When the worker dies (an `error` event: a panic traps its wasm, whose last words
//! arrive just before as a job-less `Error`), it is ended, every open job gets an `Error` with
//! the panel's reason and later requests are refused with it, so that nothing waits forever.

use crate::channel::{Receiver, Sender, channel};
use medhall_model_check::model_protocol::{ModelEvent, ModelRequest};
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{MessageEvent, Worker, WorkerOptions};

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

/// How the worker died, for the panel to word its reason.
pub(crate) struct Crash {
    /// The `error` event's message.
    pub(crate) event_message: String,
    /// The worker's last job-less `Error`, if any.
    pub(crate) last_words: Option<String>,
}

impl Crash {
    /// The worker's own last words when they report a crash (they say more than the trap),
    /// else the error event's message.
    pub(crate) fn detail(&self) -> String {
        self.last_words
            .clone()
            .filter(|m| m.contains("crashed"))
            .unwrap_or_else(|| {
                if self.event_message.is_empty() {
                    "no message".to_owned()
                } else {
                    self.event_message.clone()
                }
            })
    }
}

struct Inner {
    worker: Worker,
    /// Requests made before the worker said `Started`; `None` once it has.
    queue: RefCell<Option<Vec<JsValue>>>,
    /// The open jobs' event streams.
    jobs: RefCell<Vec<(u32, Sender<ModelEvent>)>>,
    /// The backend it reported (`Ready`).
    backend: RefCell<Option<String>>,
    /// Set when the worker was ended (it crashed, or was terminated): why.
    ended: RefCell<Option<String>>,
    /// The last job-less error the worker reported (a panic's message comes this way).
    last_error: RefCell<Option<String>>,
}

impl Inner {
    /// Ends every open job with `reason` and refuses later requests with it.
    fn end(&self, reason: String) {
        self.worker.terminate();
        *self.ended.borrow_mut() = Some(reason.clone());
        self.queue.borrow_mut().take();
        let jobs = std::mem::take(&mut *self.jobs.borrow_mut());
        for (job, events) in jobs {
            events.send(ModelEvent::Error {
                job: Some(job),
                message: reason.clone(),
            });
        }
    }
}

/// A running model worker (cheap to clone: the same worker).
#[derive(Clone)]
pub(crate) struct ModelWorker {
    inner: Rc<Inner>,
}

/// The events of one job, with those of no job, in the order the worker posted them.
pub(crate) struct JobEvents {
    job: u32,
    events: Receiver<ModelEvent>,
    client: Weak<Inner>,
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
        if let Some(inner) = self.client.upgrade() {
            inner.jobs.borrow_mut().retain(|(job, _)| *job != self.job);
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
    let object = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&object, &"msg".into(), &JsValue::from_str(text));
    if let Some(bytes) = attachments.bytes {
        let _ = js_sys::Reflect::set(&object, &"bytes".into(), &js_sys::Uint8Array::from(bytes));
    }
    if !attachments.files.is_empty() {
        let array: js_sys::Array = attachments.files.iter().collect();
        let _ = js_sys::Reflect::set(&object, &"files".into(), &array);
    }
    object.into()
}

impl ModelWorker {
    /// Starts a worker named `name` and asks it for its backend (`Init`, answered by `Ready`).
    /// `on_event` sees every event but `Started`; `on_crash` words the reason once if the
    /// worker dies (open jobs and later requests get it).
    pub(crate) fn start(
        name: &str,
        prefer_gpu: bool,
        on_event: impl Fn(&ModelEvent) + 'static,
        on_crash: impl Fn(Crash) -> String + 'static,
    ) -> Result<ModelWorker, String> {
        let options = WorkerOptions::new();
        options.set_name(name);
        let worker = Worker::new_with_options(MODEL_WORKER_SCRIPT, &options)
            .map_err(|e| format!("cannot start the model worker: {e:?}"))?;
        let inner = Rc::new(Inner {
            worker,
            queue: RefCell::new(Some(Vec::new())),
            jobs: RefCell::new(Vec::new()),
            backend: RefCell::new(None),
            ended: RefCell::new(None),
            last_error: RefCell::new(None),
        });
        let weak = Rc::downgrade(&inner);
        let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let Some(inner) = weak.upgrade() else { return };
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
                ModelEvent::Started { .. } => {
                    let queued = inner.queue.borrow_mut().take().unwrap_or_default();
                    for message in queued {
                        let _ = inner.worker.post_message(&message);
                    }
                    return;
                }
                ModelEvent::Ready { backend, .. } => {
                    *inner.backend.borrow_mut() = Some(backend.clone());
                }
                ModelEvent::Error { job: None, message } => {
                    *inner.last_error.borrow_mut() = Some(message.clone());
                }
                _ => {}
            }
            on_event(&event);
            let job = job_of(&event);
            let streams: Vec<Sender<ModelEvent>> = inner
                .jobs
                .borrow()
                .iter()
                .filter(|(open, _)| job.is_none_or(|job| job == *open))
                .map(|(_, events)| events.clone())
                .collect();
            for events in streams {
                events.send(event.clone());
            }
        });
        inner
            .worker
            .set_onmessage(Some(handler.as_ref().unchecked_ref()));
        // Lives as long as the page (it holds the worker weakly).
        handler.forget();
        let weak = Rc::downgrade(&inner);
        let on_error =
            Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(move |e: web_sys::ErrorEvent| {
                let Some(inner) = weak.upgrade() else { return };
                if inner.ended.borrow().is_some() {
                    return;
                }
                let reason = on_crash(Crash {
                    event_message: e.message(),
                    last_words: inner.last_error.borrow().clone(),
                });
                inner.end(reason);
            });
        inner
            .worker
            .set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
        let client = ModelWorker { inner };
        client.send(&ModelRequest::Init { prefer_gpu }, Attachments::default())?;
        Ok(client)
    }

    /// Sends a request whose answers the panel's `on_event` handles (or that has none).
    pub(crate) fn send(
        &self,
        request: &ModelRequest,
        attachments: Attachments<'_>,
    ) -> Result<(), String> {
        if let Some(reason) = self.inner.ended.borrow().clone() {
            return Err(reason);
        }
        let text = serde_json::to_string(request)
            .map_err(|e| format!("a request cannot be encoded: {e}"))?;
        let message = message(&text, attachments);
        if let Some(queue) = self.inner.queue.borrow_mut().as_mut() {
            queue.push(message);
            return Ok(());
        }
        self.inner
            .worker
            .post_message(&message)
            .map_err(|e| format!("the model worker cannot take the request: {e:?}"))
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
        self.inner.jobs.borrow_mut().push((job, sender));
        let events = JobEvents {
            job,
            events,
            client: Rc::downgrade(&self.inner),
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
        self.inner.backend.borrow().clone()
    }

    /// Why the worker no longer runs, if it does not.
    pub(crate) fn ended(&self) -> Option<String> {
        self.inner.ended.borrow().clone()
    }

    /// Ends the worker; open jobs get `reason`.
    pub(crate) fn terminate(&self, reason: &str) {
        if self.ended().is_none() {
            self.inner.end(reason.to_owned());
        }
    }
}
