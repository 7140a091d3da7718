//! The "Run the judge" panel: the benchmark's judge requests for a loaded run (planned by the
//! scoring worker's session), sent from this page to an OpenAI-compatible endpoint by core's
//! `JudgeRun` (the rules `medhall judge` follows too), each verdict kept in IndexedDB as it
//! arrives and handed to the worker, so the run's judge columns fill in.
//!
//! The view is here; the requests are in `driver.rs`, the plan and the verdicts this browser
//! kept in `plan.rs`. The panel's state is the component's (`PanelState`), not a global.
//!
//! The API key lives in a signal of this tab only: it is sent as `Authorization: Bearer` to
//! the endpoint and nowhere else, and is never stored, logged or put in a URL.

mod driver;
mod plan;

pub use plan::clear_kept_verdicts;

use crate::check_judge_endpoint;
use driver::{Control, Progress, Settings, Ui, drive, stop};
use leptos::prelude::*;
use leptos::task::spawn_local;
use medhall_app::protocol::{Reply, Request};
use medhall_app::session::{JudgePlan, RunInfo, is_calibration_name};
use medhall_core::judging::openai::chat_url;
use medhall_core::judging::plan::CHARS_PER_TOKEN;
use medhall_core::judging::provenance::JudgeIdentity;
use medhall_core::judging::scheduler::SchedulerConfig;
use medhall_core::url_policy::Endpoint;
use plan::{Asked, PlanView, ask_plan};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use web_sys::IdbDatabase;

type MakeRequest = Box<dyn FnOnce(u32) -> Request>;
type OnReply = Box<dyn FnOnce(Reply)>;

pub const DEFAULT_ENDPOINT: &str = "https://api.openai.com/v1";
pub const DEFAULT_MODEL: &str = "gpt-4o";
/// gpt-4o's list prices, USD per million tokens (input, output): defaults for the user to edit.
const DEFAULT_PRICES: (f64, f64) = (2.5, 10.0);

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
    /// Opens the Data view (where the calibration files are loaded).
    pub open_data: Callback<()>,
}

/// What the panel keeps between renders and across its runs: owned by the component and
/// handed to its driver (a `Copy` handle), never a global.
#[derive(Default)]
struct PanelState {
    /// The plan of the chosen run, with `judged` kept up to date as verdicts arrive.
    plan: RefCell<Option<JudgePlan>>,
    /// Bumped for every plan asked, so a late answer for another run is dropped.
    plan_asked: Cell<u32>,
    /// The run in progress, if one is.
    control: RefCell<Option<Rc<Control>>>,
    /// The verdict store, opened once.
    db: RefCell<Option<IdbDatabase>>,
    /// Kept verdicts applied in this page so far, per run identity (a later plan of the same
    /// run sees them as judged and still says where they came from).
    restored: RefCell<HashMap<String, usize>>,
}

impl PanelState {
    fn restored_of(&self, identity: &str) -> usize {
        self.restored.borrow().get(identity).copied().unwrap_or(0)
    }
}

type State = StoredValue<PanelState, LocalStorage>;

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
    let state: State = StoredValue::new_local(PanelState::default());
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
    // Verdicts need a calibration run (LLaVA-Med's judge-eval files): without one the panel
    // says what to load instead of asking the worker for a plan it cannot make. This is the
    // session's own rule (`judge_plan`): auto picks the other runs named llava-med.
    let calibration_missing = Memo::new(move |_| {
        if types_mode.get() || !calibration_choice.get().is_empty() {
            return false;
        }
        let Some(run) = run_choice.get() else {
            return false;
        };
        !run_list.with(|list| {
            list.iter()
                .any(|(id, name, _)| *id != run && is_calibration_name(name))
        })
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
                ask_plan(state, host, Asked::Types, ui.plan_view);
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
        if calibration_missing.get() {
            state.with_value(|s| *s.plan.borrow_mut() = None);
            ui.plan_view.set(None);
            return;
        }
        if ui.progress.with_untracked(|p| p.running) {
            return;
        }
        let retry_unreadable = retry_unreadable.get();
        ask_plan(
            state,
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
        if ui.progress.with_untracked(|p| p.running) || calibration_missing.get_untracked() {
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
        let Some(plan) = state.with_value(|s| s.plan.borrow().clone()) else {
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
        spawn_local(drive(state, host, Rc::new(plan), settings, concurrency, ui));
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
                <div class="form">
                    <label for="judge-mode">"Ask for"</label>
                    <div class="field">
                        <select id="judge-mode" on:change=move |ev| types_mode.set(event_target_value(&ev) == "types")>
                            <option value="verdicts" selected=true>"the judge's scores of a run"</option>
                            <option value="types">"the hallucination types of the negative questions (labels marked as the model's)"</option>
                        </select>
                    </div>
                    <label for="judge-run">"Run"</label>
                    <div class="field">
                        <select id="judge-run" on:change=move |ev| run_choice.set(event_target_value(&ev).parse().ok())>
                            {run_options}
                        </select>
                    </div>
                    <label for="judge-calibration">"Calibration"</label>
                    <div class="field">
                        <select id="judge-calibration" aria-describedby="judge-calibration-help" on:change=move |ev| calibration_choice.set(event_target_value(&ev))>
                            <option value="" selected=move || calibration_choice.get().is_empty()>"auto: the runs named llava-med"</option>
                            {calibration_options}
                        </select>
                        <p class="help" id="judge-calibration-help">"The benchmark's prompt shows the judge LLaVA-Med's answer and verdict for the same question: the run holding them."</p>
                    </div>
                    <div class="field check">
                        <label>
                            <input id="judge-retry-unreadable" type="checkbox" aria-describedby="judge-retry-help" prop:checked=retry_unreadable
                                on:change=move |ev| retry_unreadable.set(event_target_checked(&ev))/>
                            " ask again for unreadable verdicts"
                        </label>
                        <p class="help" id="judge-retry-help">"Refusals, empty and unscored replies were paid for and are kept; they are asked again only when this is ticked."</p>
                    </div>
                    <label for="judge-endpoint">"Endpoint"</label>
                    <div class="field">
                        <input id="judge-endpoint" type="url" aria-describedby="judge-endpoint-help" prop:value=endpoint
                            on:input=move |ev| endpoint.set(event_target_value(&ev))/>
                        <p class="help" id="judge-endpoint-help">"An OpenAI-compatible base URL ending in /v1; http only for localhost and 127.0.0.1."</p>
                    </div>
                    <label for="judge-model">"Model"</label>
                    <div class="field">
                        <input id="judge-model" type="text" spellcheck="false" aria-describedby="judge-model-help" prop:value=model
                            on:input=move |ev| model.set(event_target_value(&ev))/>
                        <p class="help" id="judge-model-help">"The name the endpoint serves; gpt-4o is the benchmark's judge."</p>
                    </div>
                    <label for="judge-key">"API key"</label>
                    <div class="field">
                        <input id="judge-key" type="password" autocomplete="off" spellcheck="false" aria-describedby="judge-key-help" prop:value=key
                            on:input=move |ev| key.set(event_target_value(&ev))/>
                        <p class="help" id="judge-key-help">"Kept in this tab's memory only; typed again after a reload."</p>
                    </div>
                    <label for="judge-concurrency">"Concurrency"</label>
                    <div class="field">
                        <input id="judge-concurrency" class="range" type="number" min="1" max="256" aria-describedby="judge-concurrency-help" prop:value=concurrency
                            on:input=move |ev| concurrency.set(event_target_value(&ev))/>
                        <p class="help" id="judge-concurrency-help">"Requests in flight at once (1 to 256)."</p>
                    </div>
                    <label for="judge-price-in">"Input price"</label>
                    <div class="field">
                        <input id="judge-price-in" class="range" type="number" min="0" step="0.01" aria-describedby="judge-prices-help" prop:value=price_in
                            on:input=move |ev| price_in.set(event_target_value(&ev))/>
                    </div>
                    <label for="judge-price-out">"Output price"</label>
                    <div class="field">
                        <input id="judge-price-out" class="range" type="number" min="0" step="0.01" aria-describedby="judge-prices-help" prop:value=price_out
                            on:input=move |ev| price_out.set(event_target_value(&ev))/>
                        <p class="help" id="judge-prices-help">"US dollars per million tokens, for the estimate below (gpt-4o's list prices by default)."</p>
                    </div>
                </div>
                {move || calibration_missing.get().then(|| view! {
                    <div class="notice judge-calibration-notice" id="judge-estimate" role="status">
                        <p>
                            <strong>"Load a calibration first. "</strong>
                            "The judge's scores need LLaVA-Med's judge-eval files loaded as runs (a results file whose name contains "
                            "llava-med): the benchmark's prompt shows the judge LLaVA-Med's answer and verdict for each question. "
                            "The \"MedHallTune validation (upstream)\" dataset on Data has them, with the benchmark's references. "
                            "Or choose a loaded run as the calibration above. Start waits until there is one."
                        </p>
                        <button on:click=move |_| host.open_data.run(())>"Go to Data"</button>
                    </div>
                })}
                {move || match (calibration_missing.get(), ui.plan_view.get()) {
                    (true, _) => ().into_any(),
                    (false, None) => view! { <p class="note" id="judge-estimate">"Choose a run (its plan appears here)."</p> }.into_any(),
                    (false, Some(Err(message))) => view! { <p class="error" id="judge-estimate">{message}</p> }.into_any(),
                    (false, Some(Ok(view))) => {
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
                <div class="actions">
                    <button id="judge-start" class="primary" on:click=start disabled=move || running() || calibration_missing.get()>"Start"</button>
                    <button id="judge-stop" on:click=move |_| stop(state) disabled=move || !running()>"Stop"</button>
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
                        <progress max=run.total.max(1).to_string() value=run.counts.finished.to_string() aria-label="Judge progress"></progress>
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
