//! The page's side of the scoring worker: requests go out as JSON text (with a `File` beside
//! loads), events come back and are handed to the app; replies find their callback by id.
//! Requests made before the worker says it is ready wait in a queue. When the worker crashes
//! (an `error` event: a panic traps the wasm, whose last words arrive as an `Error` event
//! first), every pending request is answered with an error, later ones are answered at once
//! with the same error, and the app is told, so that nothing waits forever. Starting, the
//! queue and the crash are `worker_port.rs`, shared with the model worker's client.

use crate::worker_port::{self, Handlers, WorkerEvent, WorkerPort};
use medhall_app::protocol::{Event, PROTOCOL_VERSION, Reply, Request};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use web_sys::File;

/// Trunk writes this loader next to the page (see index.html's worker link).
pub const WORKER_SCRIPT: &str = "./medhall-worker_loader.js";

type ReplyHandler = Box<dyn FnOnce(Reply)>;

/// The requests waiting for their reply, by id.
struct Replies {
    pending: RefCell<HashMap<u32, ReplyHandler>>,
    next_id: Cell<u32>,
}

#[derive(Clone)]
pub struct WorkerClient {
    port: WorkerPort,
    replies: Rc<Replies>,
}

impl WorkerEvent for Event {
    fn unreadable(error: String) -> Self {
        Event::Error {
            message: format!("unreadable worker message: {error}"),
        }
    }

    /// `Ready` in this page's protocol (one in another is reported instead: see `start`).
    fn is_ready(&self) -> bool {
        matches!(self, Event::Ready { protocol, .. } if *protocol == PROTOCOL_VERSION)
    }

    fn worker_error(&self) -> Option<&str> {
        match self {
            Event::Error { message } => Some(message),
            _ => None,
        }
    }
}

impl WorkerClient {
    /// Starts the worker. `on_event` receives every event that is not a reply; `on_crash` is
    /// called once, with the reason, if the worker dies.
    pub fn start(
        on_event: impl Fn(Event) + 'static,
        on_crash: impl Fn(String) + 'static,
    ) -> Result<WorkerClient, String> {
        let replies = Rc::new(Replies {
            pending: RefCell::new(HashMap::new()),
            next_id: Cell::new(1),
        });
        let routed = replies.clone();
        let failed = replies.clone();
        let handlers = Handlers {
            on_event: Box::new(move |event| match event {
                Event::Reply { id, reply } => {
                    let handler = routed.pending.borrow_mut().remove(&id);
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
                event => on_event(event),
            }),
            word_death: Box::new(|death| {
                // The worker's own last words (a panic message) say more than the trap.
                let detail = death
                    .last_words
                    .clone()
                    .filter(|m| m.contains("crashed"))
                    .unwrap_or_else(|| death.event_message.clone());
                format!(
                    "The scoring worker stopped ({detail}). Reload the page to continue: your dropped files are kept in this browser."
                )
            }),
            on_ended: Box::new(move |reason| {
                let pending: Vec<ReplyHandler> = failed
                    .pending
                    .borrow_mut()
                    .drain()
                    .map(|(_, h)| h)
                    .collect();
                for handler in pending {
                    handler(Reply::Error {
                        message: reason.clone(),
                    });
                }
                on_crash(reason);
            }),
            forward_ready: true,
        };
        let port = WorkerPort::start(
            WORKER_SCRIPT,
            "medhall-scoring",
            "the scoring worker",
            handlers,
        )?;
        Ok(WorkerClient { port, replies })
    }

    /// Sends a request; after a crash, says why it cannot.
    pub fn send(&self, request: &Request, file: Option<File>) -> Result<(), String> {
        if let Some(reason) = self.port.ended() {
            return Err(reason);
        }
        let text = serde_json::to_string(request)
            .map_err(|e| format!("a request cannot be encoded: {e}"))?;
        let beside: Vec<(&str, wasm_bindgen::JsValue)> =
            file.into_iter().map(|f| ("file", f.into())).collect();
        self.port.post(worker_port::message(&text, &beside))
    }

    /// A query: `make` builds the request from a fresh id; `on_reply` gets the answer.
    pub fn ask(&self, make: impl FnOnce(u32) -> Request, on_reply: impl FnOnce(Reply) + 'static) {
        if let Some(message) = self.port.ended() {
            return on_reply(Reply::Error { message });
        }
        let id = self.replies.next_id.get();
        self.replies.next_id.set(id.wrapping_add(1));
        self.replies
            .pending
            .borrow_mut()
            .insert(id, Box::new(on_reply));
        if let Err(message) = self.send(&make(id), None) {
            let handler = self.replies.pending.borrow_mut().remove(&id);
            if let Some(handler) = handler {
                handler(Reply::Error { message });
            }
        }
    }
}
