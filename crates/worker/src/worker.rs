//! The message loop: requests in, events out, the session in between.

use crate::stream::ByteStream;
use js_sys::Reflect;
use medhall_app::protocol::{Event, PROTOCOL_VERSION, Reply, Request, Source};
use medhall_app::session::Session;
use medhall_core::metrics::lexical::LexicalScorer;
use medhall_core::metrics::wordnet::WordNet;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{AbortController, DedicatedWorkerGlobalScope, File, MessageEvent};

/// Scoring runs in slices of about this many milliseconds, then yields so that requests (cancel,
/// table pages) are answered while a big run is being scored.
const SLICE_MS: f64 = 40.0;
/// Progress events are sent at most this often while reading.
const PROGRESS_MS: f64 = 100.0;

struct Job {
    cancelled: Rc<Cell<bool>>,
    abort: Option<AbortController>,
}

thread_local! {
    static SESSION: RefCell<Session> = RefCell::new(Session::default());
    static SCORER: RefCell<LexicalScorer<'static>> =
        RefCell::new(LexicalScorer::new(WordNet::embedded()));
    static JOBS: RefCell<BTreeMap<u32, Job>> = const { RefCell::new(BTreeMap::new()) };
    static SCORING: Cell<bool> = const { Cell::new(false) };
}

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn now() -> f64 {
    js_sys::Date::now()
}

fn post(event: &Event) {
    match serde_json::to_string(event) {
        Ok(text) => {
            let _ = scope().post_message(&JsValue::from_str(&text));
        }
        Err(error) => web_sys::console::error_1(&JsValue::from_str(&format!(
            "medhall-worker: cannot encode an event: {error}"
        ))),
    }
}

fn with_session<T>(f: impl FnOnce(&mut Session) -> T) -> T {
    SESSION.with(|session| f(&mut session.borrow_mut()))
}

pub fn start() {
    // A panic leaves the wasm instance unusable: say what happened to the page (which fails
    // the pending requests) before the trap ends this worker's task.
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        post(&Event::Error {
            message: format!("the scoring worker crashed: {info}"),
        });
    }));
    let handler = Closure::<dyn FnMut(MessageEvent)>::new(on_message);
    scope().set_onmessage(Some(handler.as_ref().unchecked_ref()));
    // The handler lives as long as the worker.
    handler.forget();
    post(&Event::Ready {
        protocol: PROTOCOL_VERSION,
        signature: with_session(|s| s.signature()),
    });
}

fn on_message(event: MessageEvent) {
    let data = event.data();
    let text = Reflect::get(&data, &JsValue::from_str("msg"))
        .ok()
        .and_then(|v| v.as_string());
    let file = Reflect::get(&data, &JsValue::from_str("file"))
        .ok()
        .and_then(|v| v.dyn_into::<File>().ok());
    let Some(text) = text else {
        post(&Event::Error {
            message: "a message without text".to_owned(),
        });
        return;
    };
    match serde_json::from_str::<Request>(&text) {
        Ok(request) => handle(request, file),
        Err(error) => post(&Event::Error {
            message: format!("unreadable request: {error}"),
        }),
    }
}

fn handle(request: Request, file: Option<File>) {
    match request {
        Request::Load {
            job,
            target,
            source,
            split,
        } => {
            with_session(|s| s.begin(job, target, &source.label(), split));
            spawn_local(load(job, source, file));
        }
        Request::Cancel { job } => cancel(job),
        Request::RenameRun { run, name } => {
            with_session(|s| s.rename_run(run, &name));
            post_state();
            post_summaries(true);
        }
        Request::RemoveRun { run } => {
            with_session(|s| s.remove_run(run));
            post_state();
            post_summaries(true);
        }
        Request::Clear => {
            let jobs: Vec<u32> = JOBS.with(|jobs| jobs.borrow().keys().copied().collect());
            for job in jobs {
                cancel(job);
            }
            with_session(Session::clear);
            post_state();
            post_summaries(true);
        }
        Request::Rows { id, query } => {
            let page = with_session(|s| s.rows(&query));
            post(&Event::Reply {
                id,
                reply: Reply::Rows { page },
            });
        }
        Request::Detail { id, key } => {
            let detail = with_session(|s| s.detail(&key));
            post(&Event::Reply {
                id,
                reply: Reply::Detail { detail },
            });
        }
        Request::Chart { id, query } => {
            let reply = match with_session(|s| s.chart(&query)) {
                Ok(spec) => Reply::Chart { spec },
                Err(message) => Reply::Error { message },
            };
            post(&Event::Reply { id, reply });
        }
        Request::Leaderboard { id, names } => {
            let reply = match with_session(|s| s.leaderboard(&names)) {
                Ok(board) => Reply::Leaderboard { board },
                Err(message) => Reply::Error { message },
            };
            post(&Event::Reply { id, reply });
        }
        Request::Matrix { id, query } => {
            let reply = match with_session(|s| s.matrix(&query)) {
                Ok(view) => Reply::Matrix { view },
                Err(message) => Reply::Error { message },
            };
            post(&Event::Reply { id, reply });
        }
        Request::Disagreement { id, query } => {
            let reply = match with_session(|s| s.disagreement(&query)) {
                Ok(view) => Reply::Disagreement { view },
                Err(message) => Reply::Error { message },
            };
            post(&Event::Reply { id, reply });
        }
        Request::Export { id, kind, run } => {
            let reply = match with_session(|s| s.export(kind, run)) {
                Ok(export) => Reply::Export { export },
                Err(message) => Reply::Error { message },
            };
            post(&Event::Reply { id, reply });
        }
        Request::Questions {
            id,
            count,
            seed,
            split,
            type_value,
        } => {
            let questions =
                with_session(|s| s.questions(count, seed, split, type_value.as_deref()));
            post(&Event::Reply {
                id,
                reply: Reply::Questions { questions },
            });
        }
        Request::JudgePlan {
            id,
            run,
            calibration,
            retry_unreadable,
        } => {
            let plan =
                with_session(|s| s.judge_plan(run, calibration.as_deref(), retry_unreadable));
            let reply = match plan {
                Ok(plan) => Reply::JudgePlan { plan },
                Err(message) => Reply::Error { message },
            };
            post(&Event::Reply { id, reply });
        }
        Request::TypePlan { id } => {
            let reply = match with_session(|s| s.type_plan()) {
                Ok(plan) => Reply::JudgePlan { plan },
                Err(message) => Reply::Error { message },
            };
            post(&Event::Reply { id, reply });
        }
        Request::TypeLabels { labels } => {
            with_session(|s| s.apply_type_labels(labels));
            post_state();
            if !SCORING.with(Cell::get) {
                post_summaries(true);
            }
        }
        Request::BertScorePlan { id, run, signature } => {
            let reply = match with_session(|s| s.bertscore_plan(run, &signature)) {
                Ok(plan) => Reply::BertScorePlan { plan },
                Err(message) => Reply::Error { message },
            };
            post(&Event::Reply { id, reply });
        }
        Request::RatingPlan { id, query } => {
            let reply = match with_session(|s| s.rating_plan(&query)) {
                Ok(plan) => Reply::RatingPlan { plan },
                Err(message) => Reply::Error { message },
            };
            post(&Event::Reply { id, reply });
        }
        Request::Agreement { id, query } => {
            let view = Box::new(with_session(|s| s.agreement(&query)));
            post(&Event::Reply {
                id,
                reply: Reply::Agreement { view },
            });
        }
        Request::JudgedItems { id, keys } => {
            let items = with_session(|s| s.judged_items(&keys));
            post(&Event::Reply {
                id,
                reply: Reply::JudgedItems { items },
            });
        }
        Request::Vqa { id, query } => {
            let reply = match medhall_app::vqa::vqa_view(&query) {
                Ok(view) => Reply::Vqa {
                    view: Box::new(view),
                },
                Err(message) => Reply::Error { message },
            };
            post(&Event::Reply { id, reply });
        }
        Request::RunIdentity { id, run } => {
            let reply = match with_session(|s| s.run_identity(run)) {
                Ok(identity) => Reply::RunIdentity { identity },
                Err(message) => Reply::Error { message },
            };
            post(&Event::Reply { id, reply });
        }
        Request::BertScoreChunks {
            run,
            signature,
            chunks,
        } => match with_session(|s| s.apply_bertscore_chunks(run, &signature, &chunks)) {
            Ok(_) => {
                post_state();
                if !SCORING.with(Cell::get) {
                    post_summaries(true);
                }
            }
            Err(message) => post(&Event::Error { message }),
        },
        Request::BertScores {
            run,
            signature,
            scores,
        } => match with_session(|s| s.apply_bertscore(run, &signature, scores)) {
            Ok(_) => {
                post_state();
                if !SCORING.with(Cell::get) {
                    post_summaries(true);
                }
            }
            Err(message) => post(&Event::Error { message }),
        },
        Request::JudgeVerdicts {
            run,
            verdicts,
            judge,
        } => {
            match with_session(|s| s.apply_verdicts(run, verdicts, &judge)) {
                Ok(_) => {
                    post_state();
                    // While runs are being scored, the scoring loop sends the summaries.
                    if !SCORING.with(Cell::get) {
                        post_summaries(true);
                    }
                }
                Err(message) => post(&Event::Error { message }),
            }
        }
    }
}

fn cancel(job: u32) {
    if let Some(handle) = JOBS.with(|jobs| jobs.borrow_mut().remove(&job)) {
        handle.cancelled.set(true);
        if let Some(abort) = handle.abort {
            abort.abort();
        }
    }
    if with_session(|s| s.cancel(job)) {
        post(&Event::Cancelled { job });
    }
}

async fn load(job: u32, source: Source, file: Option<File>) {
    let cancelled = Rc::new(Cell::new(false));
    let abort = AbortController::new().ok();
    JOBS.with(|jobs| {
        jobs.borrow_mut().insert(
            job,
            Job {
                cancelled: cancelled.clone(),
                abort: abort.clone(),
            },
        )
    });
    let opened = match (&source, file) {
        (Source::File { name, .. }, Some(file)) => {
            ByteStream::from_file(&file).map_err(|e| format!("{name}: {e}"))
        }
        (Source::File { name, .. }, None) => Err(format!("{name}: the file did not arrive")),
        (Source::Url { url }, _) => match &abort {
            Some(abort) => ByteStream::from_url(&scope(), url, abort).await,
            None => Err(format!("{url}: the browser cannot abort requests")),
        },
    };
    let stream = match opened {
        Ok(stream) => stream,
        Err(message) => return fail(job, &cancelled, message),
    };
    let mut last_post = 0.0;
    loop {
        if cancelled.get() {
            stream.cancel();
            return;
        }
        match stream.next().await {
            Ok(Some(chunk)) => {
                let Some(progress) = with_session(|s| s.push(job, &chunk)) else {
                    stream.cancel();
                    return; // cancelled meanwhile
                };
                if now() - last_post >= PROGRESS_MS {
                    last_post = now();
                    post(&Event::Progress {
                        job,
                        progress,
                        total_bytes: stream.total_bytes,
                    });
                }
            }
            Ok(None) => break,
            Err(message) => {
                return fail(job, &cancelled, format!("{}: {message}", source.label()));
            }
        }
    }
    if cancelled.get() {
        return;
    }
    JOBS.with(|jobs| jobs.borrow_mut().remove(&job));
    match with_session(|s| s.finish(job)) {
        Ok(report) => post(&Event::Loaded { job, report }),
        Err(message) => post(&Event::Failed { job, message }),
    }
    post_state();
    ensure_scoring();
}

fn fail(job: u32, cancelled: &Cell<bool>, message: String) {
    JOBS.with(|jobs| jobs.borrow_mut().remove(&job));
    with_session(|s| s.cancel(job));
    if !cancelled.get() {
        post(&Event::Failed { job, message });
    }
}

fn post_state() {
    let event = with_session(|s| Event::State {
        runs: s.run_infos(),
        references: s.references(),
        reference_sources: s.reference_sources().to_vec(),
        typed_samples: s.typed_samples(),
        memory_bytes: memory_bytes(),
    });
    post(&event);
}

/// The size of this worker's wasm memory (it only grows).
fn memory_bytes() -> u64 {
    wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .ok()
        .and_then(|m| m.buffer().dyn_into::<js_sys::ArrayBuffer>().ok())
        .map_or(0, |b| u64::from(b.byte_length()))
}

fn post_summaries(intervals: bool) {
    let runs = with_session(|s| s.summaries(intervals));
    post(&Event::Summaries { runs, intervals });
}

fn ensure_scoring() {
    if !SCORING.with(Cell::get) {
        SCORING.with(|s| s.set(true));
        spawn_local(score_loop());
    }
}

/// Resolves on the next turn of the event loop, so queued messages are handled.
async fn yield_now() {
    sleep_ms(0).await;
}

/// How long the worker waits after sending the means before it computes the intervals, so the
/// page's chart request (sent when the means arrive) is answered first.
const CHART_GRACE_MS: i32 = 300;

/// Resolves after `ms` milliseconds, handling queued messages meanwhile.
async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = scope().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = JsFuture::from(promise).await;
}

async fn score_loop() {
    loop {
        let started = now();
        while now() - started < SLICE_MS {
            let scored = SESSION.with(|session| {
                SCORER.with(|scorer| {
                    session
                        .borrow_mut()
                        .score_step(&mut scorer.borrow_mut(), 64)
                })
            });
            if scored == 0 {
                break;
            }
        }
        let (pending, total) = with_session(|s| (s.pending(), s.total_predictions()));
        post(&Event::Scoring {
            scored: total - pending,
            total,
        });
        if pending == 0 {
            break;
        }
        yield_now().await;
    }
    SCORING.with(|s| s.set(false));
    post_state();
    post_summaries(false);
    // The page asks for its chart when the means arrive: answer that (from the means) before the
    // bootstrap, which takes minutes on a million rows, blocks this worker.
    sleep_ms(CHART_GRACE_MS).await;
    // Intervals take longer on big runs; if new work arrived meanwhile, its own pass sends them.
    if with_session(|s| s.pending()) == 0 && !SCORING.with(Cell::get) {
        post_summaries(true);
    }
}
