//! What the page's two worker clients share (the scoring worker's, `worker_client.rs`, and the
//! model worker's, `model_worker_client.rs`): starting a Web Worker, sending JSON text with
//! what travels beside it, holding requests until the worker says it can take them, reading
//! its events, and its death. Each client routes the events itself (replies by id, job streams).
//!
//! A worker dies with an `error` event (a panic traps its wasm, whose last words arrive just
//! before as one of its own error events). Then it is ended, its queue dropped, the client words
//! the reason once, and every later request is refused with that reason.

use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{MessageEvent, Worker, WorkerOptions};

/// A worker protocol's events, as the port needs to know them.
pub(crate) trait WorkerEvent: DeserializeOwned + 'static {
    /// The event that stands for a message that could not be read (`error`: why).
    fn unreadable(error: String) -> Self;
    /// Whether this event says the worker takes requests now (those sent before it waited).
    fn is_ready(&self) -> bool;
    /// The worker's own error message, when this event is one.
    fn worker_error(&self) -> Option<&str>;
}

/// How a worker died, for its client to word the reason.
pub(crate) struct Death {
    /// The `error` event's message.
    pub(crate) event_message: String,
    /// The last error the worker itself reported, if any.
    pub(crate) last_words: Option<String>,
}

impl Death {
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

/// What the client does with the worker's events and its death.
pub(crate) struct Handlers<E> {
    /// Every event (the one that says the worker is ready only with `forward_ready`).
    pub(crate) on_event: Box<dyn Fn(E)>,
    /// Words the reason the worker stopped (called once).
    pub(crate) word_death: Box<dyn Fn(&Death) -> String>,
    /// Called once the worker is ended, with that reason (pending work is failed here).
    pub(crate) on_ended: Box<dyn Fn(String)>,
    /// Whether the ready event goes to `on_event` too.
    pub(crate) forward_ready: bool,
}

struct Inner {
    worker: Worker,
    /// The worker's name in errors ("the scoring worker").
    what: String,
    /// Requests made before the worker was ready; `None` once it is.
    queue: RefCell<Option<Vec<JsValue>>>,
    /// Set when the worker was ended (it died, or was terminated): why.
    ended: RefCell<Option<String>>,
    /// The last error the worker itself reported.
    last_error: RefCell<Option<String>>,
}

impl Inner {
    fn end(&self, reason: String) {
        self.worker.terminate();
        *self.ended.borrow_mut() = Some(reason);
        self.queue.borrow_mut().take();
    }
}

/// A running worker (cheap to clone: the same worker).
#[derive(Clone)]
pub(crate) struct WorkerPort {
    inner: Rc<Inner>,
}

/// A message as the page's workers read it: `msg` (the JSON text) and what travels beside it.
pub(crate) fn message(text: &str, beside: &[(&str, JsValue)]) -> JsValue {
    let object = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&object, &"msg".into(), &JsValue::from_str(text));
    for (key, value) in beside {
        let _ = js_sys::Reflect::set(&object, &JsValue::from_str(key), value);
    }
    object.into()
}

impl WorkerPort {
    /// Starts `script` as a worker named `name`; `what` names it in errors ("the scoring
    /// worker").
    pub(crate) fn start<E: WorkerEvent>(
        script: &str,
        name: &str,
        what: &str,
        handlers: Handlers<E>,
    ) -> Result<WorkerPort, String> {
        let options = WorkerOptions::new();
        options.set_name(name);
        let worker = Worker::new_with_options(script, &options)
            .map_err(|e| format!("cannot start {what}: {e:?}"))?;
        let inner = Rc::new(Inner {
            worker,
            what: what.to_owned(),
            queue: RefCell::new(Some(Vec::new())),
            ended: RefCell::new(None),
            last_error: RefCell::new(None),
        });
        let Handlers {
            on_event,
            word_death,
            on_ended,
            forward_ready,
        } = handlers;
        let weak = Rc::downgrade(&inner);
        let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let Some(inner) = weak.upgrade() else { return };
            let Some(text) = event.data().as_string() else {
                return;
            };
            let event = match serde_json::from_str::<E>(&text) {
                Ok(event) => event,
                Err(e) => E::unreadable(e.to_string()),
            };
            if event.is_ready() {
                let queued = inner.queue.borrow_mut().take().unwrap_or_default();
                for message in queued {
                    let _ = inner.worker.post_message(&message);
                }
                if !forward_ready {
                    return;
                }
            }
            if let Some(message) = event.worker_error() {
                *inner.last_error.borrow_mut() = Some(message.to_owned());
            }
            on_event(event);
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
                let reason = word_death(&Death {
                    event_message: e.message(),
                    last_words: inner.last_error.borrow().clone(),
                });
                // Ended before the pending work hears of it, so that none is sent again.
                inner.end(reason.clone());
                on_ended(reason);
            });
        inner
            .worker
            .set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
        Ok(WorkerPort { inner })
    }

    /// Posts `message` (see [`message`]), or queues it until the worker is ready; refused once
    /// the worker was ended.
    pub(crate) fn post(&self, message: JsValue) -> Result<(), String> {
        if let Some(reason) = self.ended() {
            return Err(reason);
        }
        if let Some(queue) = self.inner.queue.borrow_mut().as_mut() {
            queue.push(message);
            return Ok(());
        }
        self.inner
            .worker
            .post_message(&message)
            .map_err(|e| format!("{} cannot take the request: {e:?}", self.inner.what))
    }

    /// Why the worker no longer runs, if it does not.
    pub(crate) fn ended(&self) -> Option<String> {
        self.inner.ended.borrow().clone()
    }

    /// Ends the worker (no `on_ended` call: the caller fails its own pending work).
    pub(crate) fn terminate(&self, reason: String) {
        if self.ended().is_none() {
            self.inner.end(reason);
        }
    }
}
