//! The judge panel's requests: core's `JudgeRun` driven by `fetch` (one task per request in
//! flight), each reply kept in IndexedDB before it counts as done, and the verdicts handed to
//! the scoring worker in batches.

use super::plan::{PlanView, replies_request, verdict_db, view_of};
use super::{JudgeHost, State};
use crate::storage::{self, StoredVerdict};
use leptos::prelude::*;
use leptos::task::spawn_local;
use medhall_app::session::{JudgePlan, TYPE_PLAN_RUN};
use medhall_core::export::redact_url;
use medhall_core::judging::openai::parse_retry_after;
use medhall_core::judging::provenance::{JudgeIdentity, SampleReply};
use medhall_core::judging::run::{Ending, JudgeRun, RunKind, RunProgress};
use medhall_core::judging::scheduler::{Dispatch, Next, Outcome, SchedulerConfig};
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::IdbDatabase;

/// Verdicts reach the worker in batches at most this often (each batch recomputes the
/// run's summary and its bootstrap intervals).
const FLUSH_MS: f64 = 1000.0;
/// Reasons of failed samples listed under the progress.
const FAILURES_SHOWN: usize = 10;

#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Progress {
    pub(super) run: RunProgress,
    pub(super) running: bool,
    pub(super) status: String,
}

pub(super) struct Settings {
    pub(super) url: String,
    /// The judge every verdict of this run is filed under (model as sent, endpoint host).
    pub(super) judge: JudgeIdentity,
    pub(super) key: String,
    pub(super) timeout_ms: u64,
}

/// One judge run in progress: core's run (every rule the CLI follows too), and what the
/// requests hand back to the loop.
pub(super) struct Control {
    run: RefCell<JudgeRun>,
    /// Resolves the loop's wait.
    wake: RefCell<Option<js_sys::Function>>,
    /// Whether any HTTP response came back in this run (then a failed fetch is a dropped
    /// connection, not a refusal of every request).
    answered: Cell<bool>,
    /// Verdicts not yet handed to the worker.
    verdicts: RefCell<Vec<(usize, SampleReply)>>,
    /// Problems writing verdicts locally.
    storage_error: RefCell<Option<String>>,
}

impl Control {
    fn wake(&self) {
        let wake = self.wake.borrow_mut().take();
        if let Some(resolve) = wake {
            let _ = resolve.call0(&JsValue::NULL);
        }
    }
}

pub(super) fn now() -> f64 {
    js_sys::Date::now()
}

/// Hands the verdicts received so far to the worker and marks them judged in the plan.
fn flush(
    state: State,
    host: JudgeHost,
    run: u32,
    identity: &str,
    judge: &JudgeIdentity,
    control: &Control,
) -> Result<(), String> {
    let verdicts: Vec<(usize, SampleReply)> = control.verdicts.borrow_mut().drain(..).collect();
    if verdicts.is_empty() {
        return Ok(());
    }
    let items: HashSet<usize> = verdicts.iter().map(|(item, ..)| *item).collect();
    state.with_value(|s| {
        if let Some(plan) = s
            .plan
            .borrow_mut()
            .as_mut()
            .filter(|p| p.identity == identity)
        {
            for item in &items {
                if let Some(item) = plan.items.get_mut(*item) {
                    item.judged = true;
                }
            }
        }
    });
    (host.send)(&replies_request(
        run,
        verdicts.into_iter().map(|(_, reply)| reply).collect(),
        judge,
    ))
}

fn page_origin() -> String {
    web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default()
}

/// Why a fetch failed without a response. The browser says only "TypeError: Failed to
/// fetch" for a refused CORS request, an unreachable host and a dropped connection alike; when
/// nothing has answered yet in this run, every request will fail the same way: stop and say
/// what the endpoint must allow.
fn network_outcome(url: &str, timed_out: bool, answered: bool, timeout_ms: u64) -> Outcome {
    if timed_out {
        return Outcome::Retry {
            reason: format!("no reply within {} s", timeout_ms / 1000),
            retry_after_ms: None,
        };
    }
    if answered {
        return Outcome::Retry {
            reason: "the connection failed (network error, or the browser refused the reply)"
                .to_owned(),
            retry_after_ms: None,
        };
    }
    let origin = page_origin();
    Outcome::Abort {
        reason: format!(
            "The browser could not reach {} or refused its reply. If the endpoint is running, it \
             must allow this page's origin (CORS): answer the preflight OPTIONS request and the \
             POST with Access-Control-Allow-Origin: {origin} (or *), and allow the Authorization \
             and Content-Type headers (Access-Control-Allow-Headers: Authorization, \
             Content-Type). To honour Retry-After, also Access-Control-Expose-Headers: \
             Retry-After.",
            redact_url(url)
        ),
    }
}

/// An HTTP response: its status, `Retry-After` in ms and body.
type HttpAnswer = (u16, Option<u64>, Vec<u8>);

/// One request: the response, or how the attempt ended without one.
async fn send_one(
    settings: &Settings,
    body: String,
    timeout_ms: u64,
    control: &Control,
) -> Result<HttpAnswer, Outcome> {
    let fatal = |reason: &str| Outcome::Abort {
        reason: reason.to_owned(),
    };
    let window = web_sys::window().ok_or_else(|| fatal("no window"))?;
    let abort = web_sys::AbortController::new()
        .map_err(|_| fatal("this browser cannot time requests out (no AbortController)"))?;
    let headers = web_sys::Headers::new().map_err(|_| fatal("cannot build request headers"))?;
    let _ = headers.set("Content-Type", "application/json");
    if !settings.key.is_empty() {
        let _ = headers.set("Authorization", &format!("Bearer {}", settings.key));
    }
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&JsValue::from_str(&body));
    init.set_signal(Some(&abort.signal()));
    init.set_mode(web_sys::RequestMode::Cors);
    // No cookies or other credentials of this browser go to the endpoint.
    init.set_credentials(web_sys::RequestCredentials::Omit);
    let timed_out = Rc::new(Cell::new(false));
    let on_timeout = Closure::once({
        let abort = abort.clone();
        let timed_out = timed_out.clone();
        move || {
            timed_out.set(true);
            abort.abort();
        }
    });
    let timer = window
        .set_timeout_with_callback_and_timeout_and_arguments_0(
            on_timeout.as_ref().unchecked_ref(),
            i32::try_from(timeout_ms).unwrap_or(i32::MAX),
        )
        .ok();
    let result = async {
        let response: web_sys::Response =
            match JsFuture::from(window.fetch_with_str_and_init(&settings.url, &init)).await {
                Ok(response) => response.unchecked_into(),
                Err(_) => {
                    return Err(network_outcome(
                        &settings.url,
                        timed_out.get(),
                        control.answered.get(),
                        timeout_ms,
                    ));
                }
            };
        control.answered.set(true);
        let status = response.status();
        let header = |name: &str| response.headers().get(name).ok().flatten();
        let retry_after = parse_retry_after(
            header("retry-after").as_deref(),
            header("retry-after-ms").as_deref(),
        );
        let body = match response.array_buffer() {
            Ok(promise) => JsFuture::from(promise).await.ok(),
            Err(_) => None,
        };
        let Some(body) = body else {
            return Err(Outcome::Retry {
                reason: if timed_out.get() {
                    format!("no complete reply within {} s", timeout_ms / 1000)
                } else {
                    "the reply was cut off".to_owned()
                },
                retry_after_ms: None,
            });
        };
        Ok((status, retry_after, js_sys::Uint8Array::new(&body).to_vec()))
    }
    .await;
    if let Some(timer) = timer {
        window.clear_timeout_with_handle(timer);
    }
    drop(on_timeout);
    result
}

async fn attempt(
    control: Rc<Control>,
    plan: Rc<JudgePlan>,
    settings: Rc<Settings>,
    db: Option<IdbDatabase>,
    dispatch: Dispatch,
) {
    let item = &plan.items[dispatch.item];
    let body = control.run.borrow().request_body(&item.messages);
    let answer = send_one(&settings, body, dispatch.timeout_ms, &control).await;
    let finished = match answer {
        Ok((status, retry_after, body)) => control.run.borrow_mut().response(
            dispatch.item,
            status,
            retry_after,
            &body,
            now() as u64,
        ),
        Err(outcome) => {
            control
                .run
                .borrow_mut()
                .report(dispatch.item, outcome, now() as u64);
            None
        }
    };
    if let Some(finished) = finished {
        let usage = finished.reply.usage.unwrap_or_default();
        let reply = SampleReply {
            key: finished.key.clone(),
            text: finished.reply.content.clone(),
            reply_model: finished.reply.model.clone(),
            refusal: finished.reply.refusal.clone(),
        };
        // Kept before it counts as finished: what was paid for survives a reload.
        if let Some(db) = &db {
            let kept = StoredVerdict {
                run: plan.identity.clone(),
                split: item.key.split.as_str().to_owned(),
                question_id: item.key.question_id.clone(),
                result: finished.reply.content.clone(),
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
                model: settings.judge.model.clone(),
                endpoint: settings.judge.endpoint.clone(),
                reply_model: reply.reply_model.clone(),
                refusal: reply.refusal.clone(),
            };
            if let Err(error) = storage::put_verdict(db, &kept).await {
                *control.storage_error.borrow_mut() = Some(format!(
                    "A verdict could not be kept in this browser: {error}"
                ));
            }
        }
        control.run.borrow_mut().kept(&finished, now() as u64);
        control.verdicts.borrow_mut().push((finished.item, reply));
    }
    control.wake();
}

/// Waits until `until` (epoch ms) or until a request ends.
async fn sleep_or_wake(control: &Control, until: Option<f64>) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let (Some(until), Some(window)) = (until, web_sys::window()) {
            let delay = (until - now()).clamp(0.0, f64::from(i32::MAX)) as i32;
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, delay);
        }
        *control.wake.borrow_mut() = Some(resolve);
    });
    let _ = JsFuture::from(promise).await;
    control.wake.borrow_mut().take();
}

#[derive(Clone, Copy)]
pub(super) struct Ui {
    pub(super) progress: RwSignal<Progress>,
    pub(super) error: RwSignal<Option<String>>,
    pub(super) failures: RwSignal<Vec<String>>,
    pub(super) plan_view: RwSignal<Option<Result<PlanView, String>>>,
}

fn show(ui: Ui, control: &Control, running: bool, status: String) {
    ui.progress.set(Progress {
        run: control.run.borrow().progress(),
        running,
        status,
    });
}

/// Runs the plan to its end (or the user's stop, or a refusal of every request).
pub(super) async fn drive(
    state: State,
    host: JudgeHost,
    plan: Rc<JudgePlan>,
    settings: Rc<Settings>,
    concurrency: usize,
    ui: Ui,
) {
    let config = SchedulerConfig {
        concurrency,
        timeout_ms: settings.timeout_ms,
        ..SchedulerConfig::default()
    };
    let kind = if plan.run == TYPE_PLAN_RUN {
        RunKind::TypeLabels
    } else {
        RunKind::Verdicts
    };
    let keys = plan.items.iter().map(|item| item.key.clone()).collect();
    let mut run = JudgeRun::new(kind, settings.judge.clone(), keys, config);
    run.resume(|item, _| plan.items[item].judged);
    let control = Rc::new(Control {
        run: RefCell::new(run),
        wake: RefCell::new(None),
        answered: Cell::new(false),
        verdicts: RefCell::new(Vec::new()),
        storage_error: RefCell::new(None),
    });
    state.with_value(|s| *s.control.borrow_mut() = Some(control.clone()));
    ui.error.set(None);
    ui.failures.set(Vec::new());
    let db = match verdict_db(state).await {
        Ok(db) => Some(db),
        Err(error) => {
            ui.error.set(Some(format!(
                "Verdicts will not be kept in this browser ({error}): a reload loses them."
            )));
            None
        }
    };
    // Hands what arrived to the worker; an error is shown, the run goes on.
    let flush_now = || {
        if let Err(error) = flush(
            state,
            host,
            plan.run,
            &plan.identity,
            &settings.judge,
            &control,
        ) {
            ui.error.set(Some(error));
        }
    };
    let mut last_flush = now();
    loop {
        if now() - last_flush >= FLUSH_MS {
            last_flush = now();
            flush_now();
        }
        let mut wait_until = None;
        let done = loop {
            let next = control.run.borrow_mut().next(now() as u64);
            match next {
                Next::Send(dispatch) => spawn_local(attempt(
                    control.clone(),
                    plan.clone(),
                    settings.clone(),
                    db.clone(),
                    dispatch,
                )),
                Next::WaitUntil(at) => {
                    wait_until = Some(at as f64);
                    break false;
                }
                Next::WaitForReply => break false,
                Next::Done => break true,
            }
        };
        if let Some(error) = control.storage_error.borrow_mut().take() {
            ui.error.set(Some(error));
        }
        let status = match wait_until {
            Some(at) => format!(
                "Waiting {:.1} s before asking again.",
                (at - now()).max(0.0) / 1000.0
            ),
            None => "Judging…".to_owned(),
        };
        show(ui, &control, !done, status);
        if done {
            break;
        }
        if !control.verdicts.borrow().is_empty() {
            let flush_at = last_flush + FLUSH_MS;
            wait_until = Some(wait_until.map_or(flush_at, |at| at.min(flush_at)));
        }
        sleep_or_wake(&control, wait_until).await;
    }
    flush_now();
    state.with_value(|s| *s.control.borrow_mut() = None);
    let run = control.run.borrow();
    let failures: Vec<String> = run
        .failures()
        .take(FAILURES_SHOWN)
        .map(|(_, key, reason)| format!("{} question {}: {reason}", key.split, key.question_id))
        .collect();
    let status = match run.ending() {
        Ending::Complete => "Done.".to_owned(),
        Ending::Aborted { reason, left } => {
            ui.error.set(Some(reason));
            format!("Stopped: every request was refused. {left} not done.")
        }
        Ending::Incomplete { failed, not_sent } => {
            format!("Ended with {failed} failed and {not_sent} not sent: Start asks for them only.")
        }
    };
    drop(run);
    ui.failures.set(failures);
    show(ui, &control, false, status);
    let view = state.with_value(|s| {
        s.plan
            .borrow()
            .as_ref()
            .filter(|p| p.identity == plan.identity)
            .map(|p| view_of(state, p))
    });
    if let Some(view) = view {
        ui.plan_view.set(Some(Ok(view)));
    }
}

pub(super) fn stop(state: State) {
    state.with_value(|s| {
        if let Some(control) = s.control.borrow().as_ref() {
            control.run.borrow_mut().stop();
            control.wake();
        }
    });
}
