//! The "Run the judge" panel: the benchmark's judge requests for a loaded run (planned by the
//! scoring worker's session), sent from this page to an OpenAI-compatible endpoint under the
//! core's sans-I/O scheduler (concurrency, backoff, Retry-After, attempt limit), each verdict
//! kept in IndexedDB as it arrives and handed to the worker, so the run's judge columns fill in.
//!
//! The API key lives in a signal of this tab only: it is sent as `Authorization: Bearer` to
//! the endpoint and nowhere else, and is never stored, logged or put in a URL.

use crate::check_judge_endpoint;
use crate::storage::{self, StoredVerdict};
use leptos::prelude::*;
use leptos::task::spawn_local;
use medhall_core::export::redact_url;
use medhall_core::judging::openai::{chat_url, parse_retry_after};
use medhall_core::judging::plan::{CHARS_PER_TOKEN, CostEstimate};
use medhall_core::judging::provenance::JudgeIdentity;
use medhall_core::judging::run::{Ending, JudgeRun, RunKind, RunProgress};
use medhall_core::judging::scheduler::{Dispatch, Next, Outcome, SchedulerConfig};
use medhall_core::protocol::{Reply, Request};
use medhall_core::sample::SampleKey;
use medhall_core::session::{JudgePlan, RunInfo, TYPE_PLAN_RUN, is_calibration_name};
use medhall_core::url_policy::Endpoint;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::IdbDatabase;

type MakeRequest = Box<dyn FnOnce(u32) -> Request>;
type OnReply = Box<dyn FnOnce(Reply)>;

pub const DEFAULT_ENDPOINT: &str = "https://api.openai.com/v1";
pub const DEFAULT_MODEL: &str = "gpt-4o";
/// gpt-4o's list prices, USD per million tokens (input, output): defaults for the user to edit.
const DEFAULT_PRICES: (f64, f64) = (2.5, 10.0);
/// Verdicts reach the worker in batches at most this often (each batch recomputes the
/// run's summary and its bootstrap intervals).
const FLUSH_MS: f64 = 1000.0;
/// Reasons of failed samples listed under the progress.
const FAILURES_SHOWN: usize = 10;

/// What the panel needs from the rest of the app.
#[derive(Clone, Copy)]
pub struct JudgeHost {
    /// Asks the scoring worker.
    pub ask: fn(MakeRequest, OnReply),
    /// Tells the scoring worker.
    pub send: fn(&Request) -> Result<(), String>,
    pub runs: Signal<Vec<RunInfo>>,
    /// Reference answers loaded (a new shard changes the plan).
    pub references: Signal<usize>,
}

/// The plan as the panel shows it.
#[derive(Clone, Debug, Default, PartialEq)]
struct PlanView {
    run_name: String,
    calibration: Vec<String>,
    items: usize,
    judged: usize,
    restored: usize,
    /// What the requests still to send will cost (the CLI's `--dry-run` estimate).
    estimate: CostEstimate,
    /// Type labels: their replies are a word each and are not estimated.
    types: bool,
    issues: Vec<String>,
    issue_total: u64,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Progress {
    run: RunProgress,
    running: bool,
    status: String,
}

struct Settings {
    url: String,
    /// The judge every verdict of this run is filed under (model as sent, endpoint host).
    judge: JudgeIdentity,
    key: String,
    timeout_ms: u64,
}

/// One judge run in progress: core's run (every rule the CLI follows too), and what the
/// requests hand back to the loop.
struct Control {
    run: RefCell<JudgeRun>,
    /// Resolves the loop's wait.
    wake: RefCell<Option<js_sys::Function>>,
    /// Whether any HTTP response came back in this run (then a failed fetch is a dropped
    /// connection, not a refusal of every request).
    answered: Cell<bool>,
    /// Verdicts not yet handed to the worker.
    verdicts: RefCell<Vec<(usize, SampleKey, String)>>,
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

thread_local! {
    /// The plan of the chosen run, with `judged` kept up to date as verdicts arrive.
    static PLAN: RefCell<Option<JudgePlan>> = const { RefCell::new(None) };
    /// Bumped for every plan asked, so a late answer for another run is dropped.
    static PLAN_ASKED: Cell<u32> = const { Cell::new(0) };
    static CONTROL: RefCell<Option<Rc<Control>>> = const { RefCell::new(None) };
    static VERDICT_DB: RefCell<Option<IdbDatabase>> = const { RefCell::new(None) };
    /// Kept verdicts applied in this page so far, per run identity (a later plan of the same
    /// run sees them as judged and still says where they came from).
    static RESTORED: RefCell<HashMap<String, usize>> = RefCell::new(HashMap::new());
}

fn restored_of(identity: &str) -> usize {
    RESTORED.with(|r| r.borrow().get(identity).copied().unwrap_or(0))
}

fn now() -> f64 {
    js_sys::Date::now()
}

async fn verdict_db() -> Result<IdbDatabase, String> {
    if let Some(db) = VERDICT_DB.with(|d| d.borrow().clone()) {
        return Ok(db);
    }
    let db = storage::open_verdicts().await?;
    VERDICT_DB.with(|d| *d.borrow_mut() = Some(db.clone()));
    Ok(db)
}

/// Removes every kept verdict (the page's "Clear local data").
pub async fn clear_kept_verdicts() -> Result<(), String> {
    let db = verdict_db().await?;
    storage::clear_verdicts(&db).await
}

fn view_of(plan: &JudgePlan) -> PlanView {
    let restored = restored_of(&plan.identity);
    let to_send = plan.items.iter().filter(|i| !i.judged);
    PlanView {
        run_name: plan.run_name.clone(),
        calibration: plan.calibration.clone(),
        items: plan.items.len(),
        judged: plan.items.iter().filter(|i| i.judged).count(),
        restored,
        estimate: CostEstimate::of(to_send.map(|item| (&item.messages[..], item.reply_chars))),
        types: plan.run == TYPE_PLAN_RUN,
        issues: plan.issues.first.iter().map(ToString::to_string).collect(),
        issue_total: plan.issues.total(),
    }
}

/// What the panel asks the endpoint for.
#[derive(Clone, Debug, PartialEq)]
enum Asked {
    /// The judge's verdicts for a run, calibrated by these runs (absent: the llava-med ones).
    Verdicts {
        run: u32,
        calibration: Option<Vec<u32>>,
        /// Ask again for samples whose verdict is unreadable (`--retry-unreadable`).
        retry_unreadable: bool,
    },
    /// The hallucination types of the loaded negative questions (`Session::type_plan`).
    Types,
}

/// Asks the worker for the plan, then applies what this browser kept for it.
fn ask_plan(host: JudgeHost, what: Asked, plan_view: RwSignal<Option<Result<PlanView, String>>>) {
    let asked = PLAN_ASKED.with(|c| {
        c.set(c.get().wrapping_add(1));
        c.get()
    });
    let current = move || PLAN_ASKED.with(Cell::get) == asked;
    PLAN.with(|p| *p.borrow_mut() = None);
    plan_view.set(None);
    (host.ask)(
        Box::new(move |id| match what {
            Asked::Verdicts {
                run,
                calibration,
                retry_unreadable,
            } => Request::JudgePlan {
                id,
                run,
                calibration,
                retry_unreadable,
            },
            Asked::Types => Request::TypePlan { id },
        }),
        Box::new(move |reply| match reply {
            Reply::JudgePlan { plan } if current() => spawn_local(async move {
                let (plan, error) = restore_kept(host, plan).await;
                if !current() {
                    return;
                }
                let view = view_of(&plan);
                PLAN.with(|p| *p.borrow_mut() = Some(plan));
                plan_view.set(Some(Ok(view)));
                if let Some(error) = error {
                    plan_view.set(Some(Err(error)));
                }
            }),
            Reply::Error { message } if current() => plan_view.set(Some(Err(message))),
            _ => {}
        }),
    );
}

/// Verdicts kept in this browser for the plan's run and not on the run yet: applied to the run
/// (so its judge columns show) and marked judged (so they are not asked again).
async fn restore_kept(host: JudgeHost, mut plan: JudgePlan) -> (JudgePlan, Option<String>) {
    let kept = match verdict_db().await {
        Ok(db) => storage::verdicts_of(&db, &plan.identity).await,
        Err(error) => Err(error),
    };
    let kept = match kept {
        Ok(kept) => kept,
        Err(error) => {
            return (
                plan,
                Some(format!("Kept verdicts could not be read: {error}")),
            );
        }
    };
    // One verdict a sample (the first kept, when several judges answered it), each handed
    // over under the judge that gave it: the run's judge columns then name every judge.
    let mut by_key: HashMap<(String, String), StoredVerdict> = HashMap::new();
    for verdict in kept {
        by_key
            .entry((verdict.split.clone(), verdict.question_id.clone()))
            .or_insert(verdict);
    }
    let mut by_judge: Vec<(JudgeIdentity, Vec<(SampleKey, String)>)> = Vec::new();
    let mut restored = 0;
    for item in plan.items.iter_mut().filter(|i| !i.judged) {
        let lookup = (
            item.key.split.as_str().to_owned(),
            item.key.question_id.clone(),
        );
        if let Some(verdict) = by_key.get(&lookup) {
            let judge = verdict.judge();
            let reply = (item.key.clone(), verdict.result.clone());
            match by_judge.iter_mut().find(|(j, _)| *j == judge) {
                Some((_, replies)) => replies.push(reply),
                None => by_judge.push((judge, vec![reply])),
            }
            item.judged = true;
            restored += 1;
        }
    }
    RESTORED.with(|r| *r.borrow_mut().entry(plan.identity.clone()).or_insert(0) += restored);
    let mut error = None;
    for (judge, replies) in by_judge {
        if let Err(message) = (host.send)(&replies_request(plan.run, replies, &judge)) {
            error = Some(message);
        }
    }
    (plan, error)
}

/// The request that hands replies to the worker: verdicts for a run, filed under their judge,
/// or type labels (each with the model that gave it).
fn replies_request(run: u32, replies: Vec<(SampleKey, String)>, judge: &JudgeIdentity) -> Request {
    if run == TYPE_PLAN_RUN {
        Request::TypeLabels {
            labels: replies
                .into_iter()
                .map(|(key, text)| (key, text, judge.model.clone()))
                .collect(),
        }
    } else {
        Request::JudgeVerdicts {
            run,
            verdicts: replies,
            judge: judge.clone(),
        }
    }
}

/// Hands the verdicts received so far to the worker and marks them judged in the plan.
fn flush(
    host: JudgeHost,
    run: u32,
    identity: &str,
    judge: &JudgeIdentity,
    control: &Control,
) -> Result<(), String> {
    let verdicts: Vec<(usize, SampleKey, String)> =
        control.verdicts.borrow_mut().drain(..).collect();
    if verdicts.is_empty() {
        return Ok(());
    }
    let items: HashSet<usize> = verdicts.iter().map(|(item, ..)| *item).collect();
    PLAN.with(|p| {
        if let Some(plan) = p.borrow_mut().as_mut().filter(|p| p.identity == identity) {
            for item in &items {
                if let Some(item) = plan.items.get_mut(*item) {
                    item.judged = true;
                }
            }
        }
    });
    (host.send)(&replies_request(
        run,
        verdicts
            .into_iter()
            .map(|(_, key, text)| (key, text))
            .collect(),
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
            };
            if let Err(error) = storage::put_verdict(db, &kept).await {
                *control.storage_error.borrow_mut() = Some(format!(
                    "A verdict could not be kept in this browser: {error}"
                ));
            }
        }
        control.run.borrow_mut().kept(&finished, now() as u64);
        control
            .verdicts
            .borrow_mut()
            .push((finished.item, finished.key, finished.reply.content));
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
struct Ui {
    progress: RwSignal<Progress>,
    error: RwSignal<Option<String>>,
    failures: RwSignal<Vec<String>>,
    plan_view: RwSignal<Option<Result<PlanView, String>>>,
}

fn show(ui: Ui, control: &Control, running: bool, status: String) {
    ui.progress.set(Progress {
        run: control.run.borrow().progress(),
        running,
        status,
    });
}

/// Runs the plan to its end (or the user's stop, or a refusal of every request).
async fn drive(
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
    CONTROL.with(|c| *c.borrow_mut() = Some(control.clone()));
    ui.error.set(None);
    ui.failures.set(Vec::new());
    let db = match verdict_db().await {
        Ok(db) => Some(db),
        Err(error) => {
            ui.error.set(Some(format!(
                "Verdicts will not be kept in this browser ({error}): a reload loses them."
            )));
            None
        }
    };
    let mut last_flush = now();
    loop {
        if now() - last_flush >= FLUSH_MS {
            last_flush = now();
            if let Err(error) = flush(host, plan.run, &plan.identity, &settings.judge, &control) {
                ui.error.set(Some(error));
            }
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
    if let Err(error) = flush(host, plan.run, &plan.identity, &settings.judge, &control) {
        ui.error.set(Some(error));
    }
    CONTROL.with(|c| *c.borrow_mut() = None);
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
    let view = PLAN.with(|p| {
        p.borrow()
            .as_ref()
            .filter(|p| p.identity == plan.identity)
            .map(view_of)
    });
    if let Some(view) = view {
        ui.plan_view.set(Some(Ok(view)));
    }
}

fn stop() {
    CONTROL.with(|c| {
        if let Some(control) = c.borrow().as_ref() {
            control.run.borrow_mut().stop();
            control.wake();
        }
    });
}

fn estimate_text(view: &PlanView, price_in: f64, price_out: f64) -> String {
    let to_send = view.items - view.judged;
    let tokens_in = view.estimate.prompt_tokens();
    let cost = view.estimate.cost(price_in, price_out);
    let replies = if view.types {
        "replies (a type name each) not counted".to_owned()
    } else {
        format!(
            "{} reply tokens (the calibration verdicts' length)",
            view.estimate.completion_tokens()
        )
    };
    let restored = if view.restored > 0 {
        format!(", {} of them restored from this browser", view.restored)
    } else {
        String::new()
    };
    let source = if view.calibration.is_empty() {
        "Types are asked with our prompt (medhall-types-1, from the paper's definitions, not the \
         benchmark's) and shown everywhere as the model's labels."
            .to_owned()
    } else {
        format!("Calibrated with: {}.", view.calibration.join(", "))
    };
    format!(
        "{to_send} request(s) to send for {} ({} of {} already done{restored}). \
         Estimate: {tokens_in} prompt tokens (about {CHARS_PER_TOKEN} characters a token) and \
         {replies}, about ${cost:.2} at these prices. {source}",
        view.run_name, view.judged, view.items
    )
}

fn progress_text(progress: &Progress, price_in: f64, price_out: f64) -> String {
    if progress.run.total == 0 && !progress.running {
        return String::new();
    }
    format!(
        "{} {}.",
        progress.status,
        progress.run.line(Some((price_in, price_out)))
    )
}

fn parse_price(text: &str, default: f64) -> f64 {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|p| p.is_finite() && *p >= 0.0)
        .unwrap_or(default)
}

#[component]
pub fn JudgePanel(host: JudgeHost) -> impl IntoView {
    let open = RwSignal::new(false);
    let run_choice: RwSignal<Option<u32>> = RwSignal::new(None);
    let calibration_choice = RwSignal::new(String::new());
    // Hallucination types of the negative questions instead of a run's verdicts.
    let types_mode = RwSignal::new(false);
    let retry_unreadable = RwSignal::new(false);
    let endpoint = RwSignal::new(DEFAULT_ENDPOINT.to_owned());
    let model = RwSignal::new(DEFAULT_MODEL.to_owned());
    // In this tab's memory only.
    let key = RwSignal::new(String::new());
    let concurrency = RwSignal::new("8".to_owned());
    let price_in = RwSignal::new(DEFAULT_PRICES.0.to_string());
    let price_out = RwSignal::new(DEFAULT_PRICES.1.to_string());
    let ui = Ui {
        progress: RwSignal::new(Progress::default()),
        error: RwSignal::new(None),
        failures: RwSignal::new(Vec::new()),
        plan_view: RwSignal::new(None),
    };
    let prices = move || {
        (
            parse_price(&price_in.get(), DEFAULT_PRICES.0),
            parse_price(&price_out.get(), DEFAULT_PRICES.1),
        )
    };

    // The run list, without the counts that change while scoring and judging.
    let run_list = Memo::new(move |_| {
        host.runs.with(|runs| {
            runs.iter()
                .map(|r| (r.id, r.name.clone(), r.predictions))
                .collect::<Vec<_>>()
        })
    });
    // Default: the first run that is not a calibration run.
    Effect::new(move |_| {
        let list = run_list.get();
        let current = run_choice.get_untracked();
        if current.is_none_or(|id| !list.iter().any(|(i, ..)| *i == id)) {
            let pick = list
                .iter()
                .find(|(_, name, _)| !is_calibration_name(name))
                .or(list.first())
                .map(|(id, ..)| *id);
            run_choice.set(pick);
        }
    });
    // The plan follows the chosen run, its calibration and the loaded data, while open.
    Effect::new(move |_| {
        if !open.get() {
            return;
        }
        run_list.track();
        host.references.track();
        if types_mode.get() {
            if !ui.progress.with_untracked(|p| p.running) {
                ask_plan(host, Asked::Types, ui.plan_view);
            }
            return;
        }
        let calibration = calibration_choice
            .get()
            .parse::<u32>()
            .ok()
            .map(|id| vec![id]);
        let Some(run) = run_choice.get() else {
            ui.plan_view.set(None);
            return;
        };
        if ui.progress.with_untracked(|p| p.running) {
            return;
        }
        let retry_unreadable = retry_unreadable.get();
        ask_plan(
            host,
            Asked::Verdicts {
                run,
                calibration,
                retry_unreadable,
            },
            ui.plan_view,
        );
    });

    let on_toggle = move |ev: leptos::ev::Event| {
        let is_open = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlDetailsElement>().ok())
            .is_some_and(|d| d.open());
        open.set(is_open);
    };

    let start = move |_| {
        if ui.progress.with_untracked(|p| p.running) {
            return;
        }
        ui.error.set(None);
        let endpoint_text = endpoint.get_untracked();
        if let Err(message) = check_judge_endpoint(&endpoint_text) {
            ui.error.set(Some(message));
            return;
        }
        let model_name = model.get_untracked().trim().to_owned();
        if model_name.is_empty() {
            ui.error.set(Some(
                "Name the model the endpoint serves (gpt-4o for the benchmark's judge).".to_owned(),
            ));
            return;
        }
        let Some(plan) = PLAN.with(|p| p.borrow().clone()) else {
            ui.error.set(Some(
                "No plan yet: load a run, its reference shards and LLaVA-Med's judge-eval files."
                    .to_owned(),
            ));
            return;
        };
        if plan.items.is_empty() {
            ui.error
                .set(Some("Nothing to judge: see the issues above.".to_owned()));
            return;
        }
        let concurrency = concurrency
            .get_untracked()
            .trim()
            .parse::<usize>()
            .unwrap_or(8)
            .clamp(1, 256);
        let host_label = match Endpoint::parse(&endpoint_text) {
            Ok(endpoint) => endpoint.host_label(),
            Err(refused) => {
                ui.error.set(Some(refused.to_string()));
                return;
            }
        };
        let settings = Rc::new(Settings {
            url: chat_url(&endpoint_text),
            judge: JudgeIdentity::current(&model_name, &host_label),
            key: key.get_untracked().trim().to_owned(),
            timeout_ms: SchedulerConfig::default().timeout_ms,
        });
        ui.progress.update(|p| p.running = true);
        spawn_local(drive(host, Rc::new(plan), settings, concurrency, ui));
    };

    let running = move || ui.progress.with(|p| p.running);
    let run_options = move || {
        run_list
            .get()
            .into_iter()
            .map(|(id, name, predictions)| {
                view! {
                    <option value=id.to_string() selected=move || run_choice.get() == Some(id)>
                        {format!("{name} ({predictions} samples)")}
                    </option>
                }
            })
            .collect_view()
    };
    let calibration_options = move || {
        run_list
            .get()
            .into_iter()
            .map(|(id, name, _)| {
                let value = id.to_string();
                let selected = value.clone();
                view! {
                    <option value=value selected=move || calibration_choice.get() == selected>{name}</option>
                }
            })
            .collect_view()
    };

    view! {
        <section id="judge">
            <h2>"Run the judge"</h2>
            <details on:toggle=on_toggle>
                <summary>"Ask an OpenAI-compatible endpoint (GPT-4o for the benchmark's judge) for a loaded run's judge scores"</summary>
                <p class="note">
                    "The requests go from this page to the endpoint you type and nowhere else, with the API key as "
                    "Authorization: Bearer. The key stays in this tab's memory: it is never stored or put in the URL, "
                    "and is typed again after a reload. Each verdict is kept in this browser as it arrives, so a "
                    "reload or a closed tab resumes where it stopped, without asking again. Local endpoints "
                    "(http://localhost, http://127.0.0.1) work; every endpoint must allow this page's origin (CORS)."
                </p>
                <div class="row">
                    <label>"Ask for "
                        <select id="judge-mode" on:change=move |ev| types_mode.set(event_target_value(&ev) == "types")>
                            <option value="verdicts" selected=true>"the judge's scores of a run"</option>
                            <option value="types">"the hallucination types of the negative questions (labels marked as the model's)"</option>
                        </select>
                    </label>
                </div>
                <div class="row">
                    <label>"Run "
                        <select id="judge-run" on:change=move |ev| run_choice.set(event_target_value(&ev).parse().ok())>
                            {run_options}
                        </select>
                    </label>
                    <label>"Calibration "
                        <select id="judge-calibration" on:change=move |ev| calibration_choice.set(event_target_value(&ev))>
                            <option value="" selected=move || calibration_choice.get().is_empty()>"auto: the runs named llava-med"</option>
                            {calibration_options}
                        </select>
                    </label>
                    <label title="Refusals, empty and unscored replies were paid for and are kept; they are asked again only when this is ticked.">
                        <input id="judge-retry-unreadable" type="checkbox" prop:checked=retry_unreadable
                            on:change=move |ev| retry_unreadable.set(event_target_checked(&ev))/>
                        " ask again for unreadable verdicts"
                    </label>
                </div>
                <div class="row">
                    <label>"Endpoint (…/v1) "
                        <input id="judge-endpoint" type="url" size="32" prop:value=endpoint
                            on:input=move |ev| endpoint.set(event_target_value(&ev))/>
                    </label>
                    <label>"Model "
                        <input id="judge-model" size="10" prop:value=model
                            on:input=move |ev| model.set(event_target_value(&ev))/>
                    </label>
                    <label>"API key "
                        <input id="judge-key" type="password" autocomplete="off" spellcheck="false" prop:value=key
                            on:input=move |ev| key.set(event_target_value(&ev))/>
                    </label>
                    <label>"Concurrency "
                        <input id="judge-concurrency" class="range" type="number" min="1" max="256" prop:value=concurrency
                            on:input=move |ev| concurrency.set(event_target_value(&ev))/>
                    </label>
                </div>
                <div class="row">
                    <label>"Prices per million tokens: input $"
                        <input id="judge-price-in" class="range" type="number" min="0" step="0.01" prop:value=price_in
                            on:input=move |ev| price_in.set(event_target_value(&ev))/>
                    </label>
                    <label>" output $"
                        <input id="judge-price-out" class="range" type="number" min="0" step="0.01" prop:value=price_out
                            on:input=move |ev| price_out.set(event_target_value(&ev))/>
                    </label>
                </div>
                {move || match ui.plan_view.get() {
                    None => view! { <p class="note" id="judge-estimate">"Choose a run (its plan appears here)."</p> }.into_any(),
                    Some(Err(message)) => view! { <p class="error" id="judge-estimate">{message}</p> }.into_any(),
                    Some(Ok(view)) => {
                        let (price_in, price_out) = prices();
                        let text = estimate_text(&view, price_in, price_out);
                        let listed = view.issues.clone();
                        let total = view.issue_total;
                        view! {
                            <p class="note" id="judge-estimate" data-items=view.items.to_string()
                                data-judged=view.judged.to_string() data-restored=view.restored.to_string()
                                data-requests=(view.items - view.judged).to_string()>{text}</p>
                            {(total > 0).then(|| view! {
                                <details class="judge-issues">
                                    <summary>{format!("{total} sample(s) cannot be judged")}</summary>
                                    <ul class="issue-list">
                                        {listed.into_iter().map(|line| view! { <li>{line}</li> }).collect_view()}
                                    </ul>
                                </details>
                            })}
                        }.into_any()
                    }
                }}
                <div class="row">
                    <button id="judge-start" on:click=start disabled=running>"Start"</button>
                    <button id="judge-stop" on:click=move |_| stop() disabled=move || !running()>"Stop"</button>
                </div>
                {move || {
                    let progress = ui.progress.get();
                    let (price_in, price_out) = prices();
                    let text = progress_text(&progress, price_in, price_out);
                    let run = progress.run;
                    view! {
                        <p class="note" id="judge-progress" data-total=run.total.to_string()
                            data-judged=run.counts.finished.to_string() data-failed=run.counts.failed.to_string()
                            data-retries=run.counts.retries.to_string() data-running=progress.running.to_string()
                            data-unreadable=run.unreadable_now.to_string()
                            data-prompt-tokens=run.usage.prompt_tokens.to_string()
                            data-completion-tokens=run.usage.completion_tokens.to_string()>
                            {text}
                        </p>
                        <progress max=run.total.max(1).to_string() value=run.counts.finished.to_string()></progress>
                    }
                }}
                {move || ui.error.get().map(|message| view! { <p class="error judge-error" role="alert">{message}</p> })}
                {move || {
                    let failures = ui.failures.get();
                    (!failures.is_empty()).then(|| view! {
                        <ul class="issue-list judge-failures">
                            {failures.into_iter().map(|line| view! { <li>{line}</li> }).collect_view()}
                        </ul>
                    })
                }}
            </details>
        </section>
    }
}
