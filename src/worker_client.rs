//! The page's side of the scoring worker: requests go out as JSON text (with a `File` beside
//! loads), events come back and are handed to the app; replies find their callback by id.
//! Requests made before the worker says it is ready wait in a queue. When the worker crashes
//! (an `error` event: a panic traps the wasm, whose last words arrive as an `Error` event
//! first), every pending request is answered with an error, later ones are answered at once
//! with the same error, and the app is told, so that nothing waits forever.

use medhall_core::protocol::{Event, PROTOCOL_VERSION, Reply, Request};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{File, MessageEvent, Worker, WorkerOptions};

/// Trunk writes this loader next to the page (see index.html's worker link).
pub const WORKER_SCRIPT: &str = "./medhall-worker_loader.js";

type ReplyHandler = Box<dyn FnOnce(Reply)>;

struct Inner {
    worker: Worker,
    ready: Cell<bool>,
    queue: RefCell<Vec<(String, Option<File>)>>,
    replies: RefCell<HashMap<u32, ReplyHandler>>,
    next_id: Cell<u32>,
    /// Set when the worker crashed: why, for every later request.
    crashed: RefCell<Option<String>>,
    /// The last error the worker itself reported (a panic's message comes this way).
    last_error: RefCell<Option<String>>,
}

#[derive(Clone)]
pub struct WorkerClient {
    inner: Rc<Inner>,
}

fn message(text: &str, file: Option<&File>) -> JsValue {
    let object = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&object, &"msg".into(), &JsValue::from_str(text));
    if let Some(file) = file {
        let _ = js_sys::Reflect::set(&object, &"file".into(), file);
    }
    object.into()
}

impl WorkerClient {
    /// Starts the worker. `on_event` receives every event that is not a reply; `on_crash` is
    /// called once, with the reason, if the worker dies.
    pub fn start(
        on_event: impl Fn(Event) + 'static,
        on_crash: impl Fn(String) + 'static,
    ) -> Result<WorkerClient, String> {
        let options = WorkerOptions::new();
        options.set_name("medhall-scoring");
        let worker = Worker::new_with_options(WORKER_SCRIPT, &options)
            .map_err(|e| format!("cannot start the scoring worker: {e:?}"))?;
        let inner = Rc::new(Inner {
            worker,
            ready: Cell::new(false),
            queue: RefCell::new(Vec::new()),
            replies: RefCell::new(HashMap::new()),
            next_id: Cell::new(1),
            crashed: RefCell::new(None),
            last_error: RefCell::new(None),
        });
        let weak = Rc::downgrade(&inner);
        let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let Some(inner) = weak.upgrade() else { return };
            let Some(text) = event.data().as_string() else {
                return;
            };
            let event = match serde_json::from_str::<Event>(&text) {
                Ok(event) => event,
                Err(error) => Event::Error {
                    message: format!("unreadable worker message: {error}"),
                },
            };
            match event {
                Event::Reply { id, reply } => {
                    let handler = inner.replies.borrow_mut().remove(&id);
                    if let Some(handler) = handler {
                        handler(reply);
                    }
                }
                Event::Ready { protocol, .. } if protocol != PROTOCOL_VERSION => {
                    on_event(Event::Error {
                        message: format!(
                            "the scoring worker speaks protocol {protocol}, this page {PROTOCOL_VERSION}: reload the page"
                        ),
                    });
                }
                event @ Event::Ready { .. } => {
                    inner.ready.set(true);
                    let queued: Vec<_> = inner.queue.borrow_mut().drain(..).collect();
                    for (text, file) in queued {
                        let _ = inner.worker.post_message(&message(&text, file.as_ref()));
                    }
                    on_event(event);
                }
                Event::Error { message } => {
                    *inner.last_error.borrow_mut() = Some(message.clone());
                    on_event(Event::Error { message });
                }
                event => on_event(event),
            }
        });
        inner
            .worker
            .set_onmessage(Some(handler.as_ref().unchecked_ref()));
        // Lives as long as the page.
        handler.forget();
        let weak = Rc::downgrade(&inner);
        let on_error = Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(
            move |event: web_sys::ErrorEvent| {
                let Some(inner) = weak.upgrade() else { return };
                if inner.crashed.borrow().is_some() {
                    return;
                }
                // The worker's own last words (a panic message) say more than the trap.
                let detail = inner
                    .last_error
                    .borrow()
                    .clone()
                    .filter(|m| m.contains("crashed"))
                    .unwrap_or_else(|| event.message());
                let reason = format!(
                    "The scoring worker stopped ({detail}). Reload the page to continue: your dropped files are kept in this browser."
                );
                inner.worker.terminate();
                *inner.crashed.borrow_mut() = Some(reason.clone());
                inner.queue.borrow_mut().clear();
                let pending: Vec<ReplyHandler> =
                    inner.replies.borrow_mut().drain().map(|(_, h)| h).collect();
                for handler in pending {
                    handler(Reply::Error {
                        message: reason.clone(),
                    });
                }
                on_crash(reason);
            },
        );
        inner
            .worker
            .set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
        Ok(WorkerClient { inner })
    }

    /// Sends a request; after a crash, says why it cannot.
    pub fn send(&self, request: &Request, file: Option<File>) -> Result<(), String> {
        if let Some(reason) = self.inner.crashed.borrow().clone() {
            return Err(reason);
        }
        let text = serde_json::to_string(request)
            .map_err(|e| format!("a request cannot be encoded: {e}"))?;
        if self.inner.ready.get() {
            let _ = self
                .inner
                .worker
                .post_message(&message(&text, file.as_ref()));
        } else {
            self.inner.queue.borrow_mut().push((text, file));
        }
        Ok(())
    }

    /// A query: `make` builds the request from a fresh id; `on_reply` gets the answer.
    pub fn ask(&self, make: impl FnOnce(u32) -> Request, on_reply: impl FnOnce(Reply) + 'static) {
        let crashed = self.inner.crashed.borrow().clone();
        if let Some(message) = crashed {
            return on_reply(Reply::Error { message });
        }
        let id = self.inner.next_id.get();
        self.inner.next_id.set(id.wrapping_add(1));
        self.inner
            .replies
            .borrow_mut()
            .insert(id, Box::new(on_reply));
        if let Err(message) = self.send(&make(id), None) {
            let handler = self.inner.replies.borrow_mut().remove(&id);
            if let Some(handler) = handler {
                handler(Reply::Error { message });
            }
        }
    }
}
