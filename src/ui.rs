//! The page: data sources, results files, summary table, charts, sample table, exports.

use crate::download::{download_png, download_text};
use crate::judge_panel::{JudgeHost, JudgePanel};
use crate::manifest::{Manifest, ShardSet};
use crate::model_check::{Host, ModelPanel};
use crate::storage::{self, Stored, StoredItem};
use crate::view_state::ViewState;
use crate::worker_client::WorkerClient;
use crate::{describe_lines, format_mean};
use leptos::prelude::*;
use leptos::task::spawn_local;
use medhall_core::chart::ChartKind;
use medhall_core::export::redact_url;
use medhall_core::protocol::{ChartQuery, Event, Reply, Request, Source};
use medhall_core::sample::Split;
use medhall_core::session::{
    ExportKind, LoadReport, LoadTarget, RowQuery, RowView, RowsPage, RunInfo, RunSummary,
    SampleDetail,
};
use medhall_core::summary::Metric;
use std::cell::{Cell, RefCell};
use wasm_bindgen::JsCast;
use web_sys::{File, FileList, HtmlInputElement, IdbDatabase};

const CHART_WIDTH: u32 = 760;
const CHART_HEIGHT: u32 = 420;
const ROW_HEIGHT: f64 = 30.0;
const VISIBLE_ROWS: usize = 16;

thread_local! {
    static WORKER: RefCell<Option<WorkerClient>> = const { RefCell::new(None) };
    static DB: RefCell<Option<IdbDatabase>> = const { RefCell::new(None) };
    static NEXT_JOB: Cell<u32> = const { Cell::new(1) };
    /// Run ids start at a random point, so a file dropped while stored runs are still being
    /// restored cannot take a stored run's id.
    static NEXT_RUN: Cell<u32> = Cell::new((js_sys::Math::random() * 1e9) as u32 + 1);
    static SEQ_COUNTER: Cell<u32> = const { Cell::new(0) };
    static LAST_ROWS_REFRESH: Cell<f64> = const { Cell::new(0.0) };
}

/// Sends a request to the scoring worker; an error says why it cannot (it crashed, or never
/// started).
fn send(request: &Request, file: Option<File>) -> Result<(), String> {
    WORKER.with(|w| match w.borrow().as_ref() {
        Some(worker) => worker.send(request, file),
        None => Err("the scoring worker is not running".to_owned()),
    })
}

fn ask(make: impl FnOnce(u32) -> Request, on_reply: impl FnOnce(Reply) + 'static) {
    WORKER.with(|w| {
        if let Some(worker) = w.borrow().as_ref() {
            worker.ask(make, on_reply);
        }
    });
}

fn send_request(request: &Request) -> Result<(), String> {
    send(request, None)
}

fn ask_boxed(make: Box<dyn FnOnce(u32) -> Request>, on_reply: Box<dyn FnOnce(Reply)>) {
    ask(make, on_reply);
}

/// Replay order of stored items: time first, so items of earlier visits come first.
fn next_seq() -> f64 {
    js_sys::Date::now() + f64::from(next(&SEQ_COUNTER) % 1000) / 1000.0
}

fn next(counter: &'static std::thread::LocalKey<Cell<u32>>) -> u32 {
    counter.with(|c| {
        let value = c.get();
        c.set(value + 1);
        value
    })
}

#[derive(Clone, Debug, PartialEq)]
enum JobStatus {
    Running,
    Done(LoadReport),
    Failed(String),
    Cancelled,
}

#[derive(Clone, Debug, PartialEq)]
struct JobView {
    job: u32,
    label: String,
    bytes: u64,
    records: u64,
    total_bytes: Option<u64>,
    status: JobStatus,
    /// The IndexedDB item that restores this load; dropped when the load fails or is cancelled,
    /// so a reload does not repeat it.
    stored: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
enum ChartView {
    Waiting(String),
    Ready(String),
    Failed(String),
}

/// All reactive state; `Copy`, so closures take it freely.
#[derive(Clone, Copy)]
struct AppState {
    view: RwSignal<ViewState>,
    runs: RwSignal<Vec<RunInfo>>,
    summaries: RwSignal<Vec<RunSummary>>,
    intervals: RwSignal<bool>,
    jobs: RwSignal<Vec<JobView>>,
    scoring: RwSignal<Option<(usize, usize)>>,
    references: RwSignal<(usize, usize)>,
    worker_memory: RwSignal<u64>,
    /// The metric signature the worker scores with.
    signature: RwSignal<String>,
    manifest: RwSignal<Option<Result<Manifest, String>>>,
    messages: RwSignal<Vec<String>>,
    chart: RwSignal<ChartView>,
    rows: RwSignal<Option<RowsPage>>,
    first_row: RwSignal<usize>,
    detail: RwSignal<Option<SampleDetail>>,
    /// Bumped whenever the worker's data changed, so queries are asked again.
    revision: RwSignal<u32>,
    /// Bumped at most twice a second while scoring, so the table fills as results arrive.
    scored_revision: RwSignal<u32>,
    embedded: bool,
    /// Whether images may be requested from the image base URL: yes when the user typed it or
    /// it is on the page's own origin; one that a shared link set (`?images=`) on another host
    /// waits for a click that names the host (else opening a sample would tell that host which
    /// samples the user reads).
    image_base_allowed: RwSignal<bool>,
}

impl AppState {
    /// The image base URL, if requests to it are allowed.
    fn allowed_image_base(&self) -> Option<String> {
        if !self.image_base_allowed.get() {
            return None;
        }
        self.view.with(|v| v.image_base.clone())
    }

    /// Shows why a request could not be sent, if it could not.
    fn report(&self, sent: Result<(), String>) {
        if let Err(message) = sent {
            self.message(message);
        }
    }

    /// The scoring worker died: loads in progress fail (their stored copies stay, so a reload
    /// restores them) and the reason is shown.
    fn on_crash(&self, reason: String) {
        self.jobs.update(|jobs| {
            for job in jobs.iter_mut() {
                if job.status == JobStatus::Running {
                    job.status = JobStatus::Failed(reason.clone());
                }
            }
        });
        self.scoring.set(None);
        self.message(reason);
    }

    fn message(&self, text: String) {
        self.messages.update(|m| m.push(text));
    }

    fn update_job(&self, job: u32, f: impl FnOnce(&mut JobView)) {
        self.jobs.update(|jobs| {
            if let Some(view) = jobs.iter_mut().find(|j| j.job == job) {
                f(view);
            }
        });
    }

    fn forget_stored(&self, job: u32) {
        let stored = self.jobs.with_untracked(|jobs| {
            jobs.iter()
                .find(|j| j.job == job)
                .and_then(|j| j.stored.clone())
        });
        let Some(id) = stored else { return };
        let state = *self;
        spawn_local(async move {
            let Some(db) = DB.with(|d| d.borrow().clone()) else {
                return;
            };
            if let Err(error) = storage::delete(&db, &id).await {
                state.message(format!("Could not remove the local copy: {error}"));
            }
        });
    }

    fn on_event(&self, event: Event) {
        match event {
            Event::Ready { signature, .. } => self.signature.set(signature),
            Event::Progress {
                job,
                progress,
                total_bytes,
            } => self.update_job(job, |j| {
                j.bytes = progress.bytes;
                j.records = progress.records;
                j.total_bytes = total_bytes;
            }),
            Event::Loaded { job, report } => self.update_job(job, |j| {
                j.bytes = report.progress.bytes;
                j.records = report.progress.records;
                j.status = JobStatus::Done(report);
            }),
            Event::Failed { job, message } => {
                self.update_job(job, |j| j.status = JobStatus::Failed(message));
                self.forget_stored(job);
            }
            Event::Cancelled { job } => {
                self.update_job(job, |j| j.status = JobStatus::Cancelled);
                self.forget_stored(job);
            }
            Event::Scoring { scored, total } => {
                self.scoring.set(Some((scored, total)));
                let now = js_sys::Date::now();
                if now - LAST_ROWS_REFRESH.with(Cell::get) >= 500.0 {
                    LAST_ROWS_REFRESH.with(|c| c.set(now));
                    self.scored_revision.update(|r| *r += 1);
                }
            }
            Event::State {
                runs,
                references,
                typed_samples,
                memory_bytes,
                ..
            } => {
                self.runs.set(runs);
                self.references.set((references, typed_samples));
                self.worker_memory.set(memory_bytes);
            }
            Event::Summaries { runs, intervals } => {
                self.summaries.set(runs);
                self.intervals.set(intervals);
                self.revision.update(|r| *r += 1);
            }
            Event::Reply { .. } => {}
            Event::Error { message } => self.message(message),
        }
    }
}

fn location_search() -> String {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default()
}

fn replace_query(query: &str) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let path = window.location().pathname().unwrap_or_default();
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(
            &wasm_bindgen::JsValue::NULL,
            "",
            Some(&format!("{path}{query}")),
        );
    }
}

/// Starts a load in the worker and lists it as a job.
fn start_load(state: AppState, target: LoadTarget, source: Source, file: Option<File>) -> u32 {
    let job = next(&NEXT_JOB);
    let label = match &target {
        LoadTarget::Run { name, .. } => format!("results: {name}"),
        LoadTarget::Shard => format!("references: {}", source.label()),
        LoadTarget::TypeMap => format!("type map: {}", source.label()),
    };
    state.jobs.update(|jobs| {
        jobs.push(JobView {
            job,
            label,
            bytes: 0,
            records: 0,
            total_bytes: match &source {
                Source::File { size, .. } => Some(*size),
                Source::Url { .. } => None,
            },
            status: JobStatus::Running,
            stored: None,
        })
    });
    if let Err(message) = send(
        &Request::Load {
            job,
            target,
            source,
            split: None,
        },
        file,
    ) {
        state.update_job(job, |j| j.status = JobStatus::Failed(message));
    }
    job
}

/// Saves what restores a load after a reload (not in embed mode: an embed only reads).
fn persist(state: AppState, job: u32, id: String, item: Stored, file: Option<File>) {
    if state.embedded {
        return;
    }
    state.update_job(job, |j| j.stored = Some(id.clone()));
    let seq = next_seq();
    spawn_local(async move {
        let Some(db) = DB.with(|d| d.borrow().clone()) else {
            return;
        };
        let stored = StoredItem { id, seq, item };
        if let Err(error) = storage::put(&db, &stored, file.as_ref()).await {
            state.message(format!("Not saved locally: {error}"));
        }
    });
}

/// Starts a run (a dropped file or a URL) and saves what restores it.
fn load_run(state: AppState, name: String, source: Source, file: Option<File>) {
    let run = next(&NEXT_RUN);
    // What is stored (and restored after a reload) loses a URL's query, fragment and
    // credentials: a token there would otherwise sit in IndexedDB. The request keeps them.
    let url = match &source {
        Source::Url { url } => Some(redact_url(url)),
        Source::File { .. } => None,
    };
    let stored_source = url.clone().unwrap_or_else(|| source.name().to_owned());
    let target = LoadTarget::Run {
        run,
        name: name.clone(),
    };
    let job = start_load(state, target, source, file.clone());
    let item = Stored::Run {
        run,
        name,
        source: stored_source,
        url,
    };
    persist(state, job, format!("run:{run}"), item, file);
}

fn load_results_file(state: AppState, file: File) {
    let source = Source::File {
        name: file.name(),
        size: file.size() as u64,
    };
    load_run(state, file.name(), source, Some(file));
}

fn load_reference_file(state: AppState, file: File, type_map: bool) {
    let name = file.name();
    let source = Source::File {
        name: name.clone(),
        size: file.size() as u64,
    };
    let seq = next(&SEQ_COUNTER);
    let (target, id, item) = if type_map {
        (
            LoadTarget::TypeMap,
            format!("types:{}-{seq}", js_sys::Date::now()),
            Stored::TypeMap {
                source: name.clone(),
            },
        )
    } else {
        (
            LoadTarget::Shard,
            format!("shard:{}-{seq}", js_sys::Date::now()),
            Stored::Shard {
                source: name.clone(),
                url: None,
            },
        )
    };
    let job = start_load(state, target, source, Some(file.clone()));
    persist(state, job, id, item, Some(file));
}

fn load_url(state: AppState, url: String, run_name: Option<String>) {
    let source = Source::Url { url: url.clone() };
    match run_name {
        Some(name) => load_run(state, name, source, None),
        None => {
            let seq = next(&SEQ_COUNTER);
            let job = start_load(state, LoadTarget::Shard, source, None);
            persist(
                state,
                job,
                format!("shard:{}-{seq}", js_sys::Date::now()),
                // Stored without query, fragment or credentials, as in `load_run`.
                Stored::Shard {
                    source: redact_url(&url),
                    url: Some(redact_url(&url)),
                },
                None,
            );
        }
    }
}

fn load_set(state: AppState, set: &ShardSet) {
    // The view names the set, so links and embeds of this view load the same data.
    state.view.update(|v| v.set = Some(set.id.clone()));
    for shard in &set.shards {
        load_url(state, shard.url.clone(), None);
    }
    for run in &set.runs {
        for file in &run.files {
            let name = match file.split {
                Some(split) => format!("{}.{split}", run.name),
                None => run.name.clone(),
            };
            load_url(state, file.url.clone(), Some(name));
        }
    }
}

/// Replays what IndexedDB holds into the worker.
async fn restore(state: AppState, db: &IdbDatabase) {
    let (items, unreadable) = match storage::all(db).await {
        Ok(found) => found,
        Err(error) => {
            state.message(format!("Could not read local data: {error}"));
            return;
        }
    };
    if !unreadable.is_empty() {
        state.message(format!(
            "{} locally stored item(s) could not be read and were skipped: {}",
            unreadable.len(),
            unreadable.join(", ")
        ));
    }
    for (stored, file) in items {
        let stored_id = stored.id.clone();
        let job = match stored.item {
            Stored::Run {
                run,
                name,
                source,
                url,
            } => {
                NEXT_RUN.with(|c| c.set(c.get().max(run + 1)));
                let source = match (url, &file) {
                    (Some(url), _) => Source::Url { url },
                    (None, Some(file)) => Source::File {
                        name: source,
                        size: file.size() as u64,
                    },
                    (None, None) => {
                        state.message(format!("{source}: its stored file is missing"));
                        continue;
                    }
                };
                start_load(state, LoadTarget::Run { run, name }, source, file)
            }
            Stored::Shard { source, url } => {
                let source = match url {
                    Some(url) => Source::Url { url },
                    None => Source::File {
                        name: source,
                        size: file.as_ref().map_or(0, |f| f.size() as u64),
                    },
                };
                start_load(state, LoadTarget::Shard, source, file)
            }
            Stored::TypeMap { source } => {
                let size = file.as_ref().map_or(0, |f| f.size() as u64);
                start_load(
                    state,
                    LoadTarget::TypeMap,
                    Source::File { name: source, size },
                    file,
                )
            }
        };
        state.update_job(job, |j| j.stored = Some(stored_id));
    }
}

async fn fetch_manifest() -> Result<Manifest, String> {
    let response = gloo_net::http::Request::get("datasets.json")
        .send()
        .await
        .map_err(|e| format!("datasets.json: {e}"))?;
    if !response.ok() {
        return Err(format!("datasets.json: HTTP {}", response.status()));
    }
    let text = response
        .text()
        .await
        .map_err(|e| format!("datasets.json: {e}"))?;
    Manifest::parse(&text)
}

pub(crate) fn files_of(list: Option<FileList>) -> Vec<File> {
    let Some(list) = list else {
        return Vec::new();
    };
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

pub(crate) fn input_files(event: &leptos::ev::Event) -> Vec<File> {
    let files = event
        .target()
        .and_then(|t| t.dyn_into::<HtmlInputElement>().ok())
        .and_then(|input| input.files());
    files_of(files)
}

fn metric_options() -> impl IntoView {
    Metric::ALL
        .iter()
        .map(|m| {
            let name = m.name();
            view! { <option value=name>{name}</option> }
        })
        .collect_view()
}

#[component]
pub fn App() -> impl IntoView {
    let view_state = ViewState::from_query(&location_search());
    // An image base on this page's own origin requests nothing from elsewhere.
    let page_host = web_sys::window()
        .and_then(|w| w.location().host().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let image_base_allowed = view_state
        .image_base
        .as_deref()
        .is_none_or(|base| crate::view_state::url_host(base).is_none_or(|host| host == page_host));
    let embedded = view_state.embed.is_some();
    let state = AppState {
        view: RwSignal::new(view_state),
        runs: RwSignal::new(Vec::new()),
        summaries: RwSignal::new(Vec::new()),
        intervals: RwSignal::new(false),
        jobs: RwSignal::new(Vec::new()),
        scoring: RwSignal::new(None),
        references: RwSignal::new((0, 0)),
        worker_memory: RwSignal::new(0),
        signature: RwSignal::new(String::new()),
        manifest: RwSignal::new(None),
        messages: RwSignal::new(Vec::new()),
        chart: RwSignal::new(ChartView::Waiting("No scored run yet.".to_owned())),
        rows: RwSignal::new(None),
        first_row: RwSignal::new(0),
        detail: RwSignal::new(None),
        revision: RwSignal::new(0),
        scored_revision: RwSignal::new(0),
        embedded,
        image_base_allowed: RwSignal::new(image_base_allowed),
    };

    match WorkerClient::start(
        move |event| state.on_event(event),
        move |reason| state.on_crash(reason),
    ) {
        Ok(client) => WORKER.with(|w| *w.borrow_mut() = Some(client)),
        Err(error) => state.message(error),
    }

    // Start-up: the manifest, then local data (or, in an embed, the set the URL names).
    spawn_local(async move {
        let manifest = fetch_manifest().await;
        let requested = state.view.with_untracked(|v| v.set.clone());
        if let (Ok(manifest), Some(id)) = (&manifest, &requested) {
            match manifest.set(id) {
                Some(set) if embedded => load_set(state, set),
                Some(_) => {}
                None => state.message(format!("datasets.json has no shard set `{id}`")),
            }
        }
        state.manifest.set(Some(manifest));
        match storage::open().await {
            Ok(db) => {
                DB.with(|d| *d.borrow_mut() = Some(db.clone()));
                if !embedded || requested.is_none() {
                    restore(state, &db).await;
                }
            }
            Err(error) => state.message(format!("Local storage unavailable: {error}")),
        }
    });

    // The URL follows the view.
    Effect::new(move |_| {
        let query = state.view.with(|v| v.to_query());
        replace_query(&query);
    });

    // The chart follows the view and the data.
    Effect::new(move |_| {
        let (chart, metric) = state.view.with(|v| {
            (
                v.embed.clone().unwrap_or_else(|| v.chart.clone()),
                v.metric.clone(),
            )
        });
        state.revision.track();
        if state.summaries.with(Vec::is_empty) {
            state
                .chart
                .set(ChartView::Waiting("No scored run yet.".to_owned()));
            return;
        }
        // The paired chart compares the two runs the view names (else the first two that share
        // questions).
        let pair = state.view.with(|v| v.pair.clone());
        let runs = match (&pair, chart.as_str()) {
            (Some((a, b)), "paired") => state.runs.with(|runs| {
                [a, b]
                    .iter()
                    .filter_map(|name| runs.iter().find(|r| &r.name == *name).map(|r| r.id))
                    .collect()
            }),
            _ => Vec::new(),
        };
        let query = ChartQuery {
            kind: chart,
            metric,
            runs,
        };
        ask(
            move |id| Request::Chart { id, query },
            move |reply| {
                let view = match reply {
                    Reply::Chart { spec } => {
                        match medhall_charts::render_svg(&spec, CHART_WIDTH, CHART_HEIGHT) {
                            Ok(svg) => ChartView::Ready(svg),
                            Err(error) => ChartView::Failed(error.to_string()),
                        }
                    }
                    Reply::Error { message } => ChartView::Failed(message),
                    _ => ChartView::Failed("unexpected reply".to_owned()),
                };
                state.chart.set(view);
            },
        );
    });

    // The table page follows the filters, the scroll position and the data.
    Effect::new(move |_| {
        if embedded {
            return;
        }
        let view = state.view.get();
        let first = state.first_row.get();
        state.revision.track();
        state.scored_revision.track();
        state.runs.track();
        let run = view.run.as_ref().and_then(|name| {
            state
                .runs
                .with_untracked(|runs| runs.iter().find(|r| &r.name == name).map(|r| r.id))
        });
        let query = RowQuery {
            search: view.search.clone(),
            split: view.split,
            type_value: view.type_value.clone(),
            run,
            metric: (view.min.is_some() || view.max.is_some()).then(|| view.metric.clone()),
            min: view.min,
            max: view.max,
            offset: first,
            limit: VISIBLE_ROWS + 8,
        };
        ask(
            move |id| Request::Rows { id, query },
            move |reply| {
                if let Reply::Rows { page } = reply {
                    state.rows.set(Some(page));
                }
            },
        );
    });

    // The detail pane follows the selected sample.
    Effect::new(move |_| {
        let Some(key) = state.view.with(|v| v.sample.clone()) else {
            state.detail.set(None);
            return;
        };
        state.revision.track();
        ask(
            move |id| Request::Detail { id, key },
            move |reply| {
                if let Reply::Detail { detail } = reply {
                    state.detail.set(detail);
                }
            },
        );
    });

    if embedded {
        return view! { <EmbedView state=state/> }.into_any();
    }
    view! {
        <header>
            <h1>"MedHall Lens"</h1>
            <p class="note">
                "Scores medical VLM answers for the MedHallTune benchmark with the official metrics "
                "(rouge_score 0.1.2; NLTK 3.10.4 METEOR with WordNet 3.0 and BLEU), and charts imported "
                "GPT-4o judge scores. Everything runs in this page: your files never leave your machine; "
                "the page only requests URLs you choose or that datasets.json lists."
            </p>
        </header>
        <Messages state=state/>
        <DataPanel state=state/>
        <RunsPanel state=state/>
        <JudgePanel host=JudgeHost {
            ask: ask_boxed,
            send: send_request,
            runs: Signal::derive(move || state.runs.get()),
            references: Signal::derive(move || state.references.get().0),
        }/>
        <SummaryTable state=state/>
        <ChartPanel state=state/>
        <SamplePanel state=state/>
        <ExportPanel state=state/>
        <ModelPanel host=Host {
            ask: ask_boxed,
            add_run: Callback::new(move |file| load_results_file(state, file)),
            image_base: Signal::derive(move || state.allowed_image_base()),
        }/>
    }
    .into_any()
}

#[component]
fn Messages(state: AppState) -> impl IntoView {
    view! {
        <Show when=move || state.messages.with(|m| !m.is_empty())>
            <div class="messages" role="alert">
                {move || {
                    state
                        .messages
                        .get()
                        .into_iter()
                        .map(|m| view! { <p>{m}</p> })
                        .collect_view()
                }}
                <button on:click=move |_| state.messages.set(Vec::new())>"Dismiss"</button>
            </div>
        </Show>
    }
}

#[component]
fn DataPanel(state: AppState) -> impl IntoView {
    let url = RwSignal::new(String::new());
    let url_is_run = RwSignal::new(false);
    let sets = move || {
        match state.manifest.get() {
        None => view! { <p class="note">"Reading datasets.json…"</p> }.into_any(),
        Some(Err(error)) => view! { <p class="error">{error}</p> }.into_any(),
        Some(Ok(manifest)) => manifest
            .shard_sets
            .into_iter()
            .map(|set| {
                let rows: u64 = set.shards.iter().filter_map(|s| s.rows).sum();
                let id = set.id.clone();
                let set_for_click = set.clone();
                view! {
                    <div class="shard-set" data-set=id>
                        <strong>{set.name.clone()}</strong>
                        <span class="note">{format!(" {} shard(s), {rows} rows, {} run file(s). ", set.shards.len(), set.runs.iter().map(|r| r.files.len()).sum::<usize>())}</span>
                        <p class="note">{set.description.clone()}</p>
                        <button class="load-set" on:click=move |_| load_set(state, &set_for_click)>
                            "Load"
                        </button>
                    </div>
                }
            })
            .collect_view()
            .into_any(),
    }
    };
    view! {
        <section id="data">
            <h2>"Reference shards"</h2>
            {sets}
            <div class="row">
                <label>"Shard or results URL (kept for reloads without its ?query, #fragment or user:password@: a token there is used now, not saved) "
                    <input type="url" placeholder="https://…/val_positive_qa-filtered.jsonl"
                        prop:value=url on:input=move |ev| url.set(event_target_value(&ev))/>
                </label>
                <label><input type="checkbox" prop:checked=url_is_run
                    on:change=move |ev| url_is_run.set(event_target_checked(&ev))/>" it is a results file"</label>
                <button on:click=move |_| {
                    let text = url.get_untracked().trim().to_owned();
                    if text.is_empty() { return; }
                    let origin = web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default();
                    if text.starts_with("http://") && !text.starts_with(&format!("{origin}/")) {
                        // The page's Content-Security-Policy allows https only (and this site).
                        state.message(format!("{text}: only https:// URLs can be loaded (or a path on this site)."));
                        return;
                    }
                    // The run name is stored and exported: take it from the URL without a token.
                    let name = url_is_run.get_untracked().then(|| {
                        let path = redact_url(&text);
                        path.rsplit('/').next().unwrap_or(&path).to_owned()
                    });
                    load_url(state, text, name);
                    url.set(String::new());
                }>"Load URL"</button>
            </div>
            <div class="row">
                <label>"Reference shard files (JSONL, JSON, CSV) "
                    <input type="file" id="shard-files" multiple
                        on:change=move |ev| for file in input_files(&ev) { load_reference_file(state, file, false) }/>
                </label>
                <label>"Hallucination-type map (CSV: split, question_id, type) "
                    <input type="file" id="type-map"
                        on:change=move |ev| for file in input_files(&ev) { load_reference_file(state, file, true) }/>
                </label>
            </div>
            <p class="note">{move || {
                let (references, typed) = state.references.get();
                format!("{references} reference answers loaded; {typed} questions with a type from a map.")
            }}</p>
            <Jobs state=state/>
        </section>
    }
}

#[component]
fn Jobs(state: AppState) -> impl IntoView {
    view! {
        <ul class="jobs">
            {move || {
                state
                    .jobs
                    .get()
                    .into_iter()
                    .rev()
                    .map(|job| {
                        let id = job.job;
                        let fraction = job
                            .total_bytes
                            .filter(|t| *t > 0)
                            .map(|t| job.bytes as f64 / t as f64);
                        let status = match &job.status {
                            JobStatus::Running => "reading".to_owned(),
                            JobStatus::Done(report) => {
                                let malformed = report
                                    .issues
                                    .counts
                                    .get(&medhall_core::dataset::IssueKind::Malformed)
                                    .copied()
                                    .unwrap_or(0);
                                let mut text = format!(
                                    "done: {} records, {} issue(s)",
                                    report.progress.records,
                                    report.issues.total()
                                );
                                if malformed > 0 {
                                    text.push_str(&format!(
                                        "; {}: the rest loaded",
                                        describe_lines(malformed, &report.issues.malformed_lines())
                                    ));
                                }
                                text
                            }
                            JobStatus::Failed(message) => format!("failed: {message}"),
                            JobStatus::Cancelled => "cancelled".to_owned(),
                        };
                        let running = job.status == JobStatus::Running;
                        let class = match job.status {
                            JobStatus::Failed(_) => "job failed",
                            JobStatus::Done(_) => "job done",
                            _ => "job",
                        };
                        view! {
                            <li class=class data-job=id>
                                <span class="label">{job.label.clone()}</span>
                                <progress max="1" value=fraction.unwrap_or(0.0).to_string()></progress>
                                <span class="note">{format!(" {} rows, {} KB. ", job.records, job.bytes / 1024)}</span>
                                <span class="status">{status}</span>
                                <Show when=move || running>
                                    <button on:click=move |_| state.report(send(&Request::Cancel { job: id }, None))>"Cancel"</button>
                                </Show>
                            </li>
                        }
                    })
                    .collect_view()
            }}
        </ul>
        <p class="note scoring">{move || match state.scoring.get() {
            Some((scored, total)) if scored < total => format!("Scoring in the worker: {scored} of {total} samples."),
            Some((_, total)) => format!("All {total} samples scored."),
            None => String::new(),
        }}</p>
        <p class="note" id="worker-memory" data-bytes=move || state.worker_memory.get().to_string()>{move || {
            let bytes = state.worker_memory.get();
            if bytes == 0 { String::new() } else { format!("Scoring worker memory: {:.1} MB.", bytes as f64 / 1_048_576.0) }
        }}</p>
    }
}

#[component]
fn RunsPanel(state: AppState) -> impl IntoView {
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        let files = ev.data_transfer().and_then(|d| d.files());
        for file in files_of(files) {
            load_results_file(state, file);
        }
    };
    view! {
        <section id="runs">
            <h2>"Results files"</h2>
            <div class="drop" on:dragover=move |ev: leptos::ev::DragEvent| ev.prevent_default() on:drop=on_drop>
                <p>"Drop results files here (official predictions JSONL, judge-eval JSONL, CSV, JSON): one file per run."</p>
                <input type="file" id="results-input" multiple
                    on:change=move |ev| for file in input_files(&ev) { load_results_file(state, file) }/>
            </div>
            <table class="runs">
                <thead><tr><th>"Run"</th><th>"Samples"</th><th>"Scored"</th><th>"Judge"</th><th>"Issues"</th><th></th></tr></thead>
                <tbody>
                {move || state.runs.get().into_iter().map(|run| {
                    let id = run.id;
                    let malformed = run.issues.counts.get(&medhall_core::dataset::IssueKind::Malformed).copied().unwrap_or(0);
                    let issues = if malformed > 0 {
                        format!("{} issue(s); {}", run.issues.total(), describe_lines(malformed, &run.issues.malformed_lines()))
                    } else {
                        format!("{} issue(s)", run.issues.total())
                    };
                    let listed: Vec<String> = run.issues.first.iter().map(ToString::to_string).collect();
                    let shown = listed.len() as u64;
                    let total = run.issues.total();
                    let issue_cell = if total == 0 {
                        view! { <span>{issues}</span> }.into_any()
                    } else {
                        view! {
                            <details>
                                <summary>{issues}</summary>
                                <ul class="issue-list">
                                    {listed.into_iter().map(|line| view! { <li>{line}</li> }).collect_view()}
                                </ul>
                                {(total > shown).then(|| view! {
                                    <p class="note">{format!("The first {shown} are listed (up to 50 of each kind), out of {total}.")}</p>
                                })}
                            </details>
                        }.into_any()
                    };
                    view! {
                        <tr data-run-id=id>
                            <td><input class="run-name" prop:value=run.name.clone()
                                on:change=move |ev| {
                                    let name = event_target_value(&ev);
                                    state.report(send(&Request::RenameRun { run: id, name: name.clone() }, None));
                                    rename_stored(state, id, name);
                                }/></td>
                            <td>{run.predictions}</td>
                            <td>{run.scored}</td>
                            <td>{run.with_judge}</td>
                            <td class="issues">{issue_cell}</td>
                            <td><button on:click=move |_| remove_run(state, id)>"Remove"</button></td>
                        </tr>
                    }
                }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

fn rename_stored(state: AppState, run: u32, name: String) {
    if state.embedded {
        return;
    }
    spawn_local(async move {
        let Some(db) = DB.with(|d| d.borrow().clone()) else {
            return;
        };
        let Ok((items, _)) = storage::all(&db).await else {
            return;
        };
        for (mut stored, file) in items {
            if let Stored::Run {
                run: id, name: old, ..
            } = &mut stored.item
                && *id == run
            {
                *old = name.clone();
                if let Err(error) = storage::put(&db, &stored, file.as_ref()).await {
                    state.message(format!("Not saved locally: {error}"));
                }
            }
        }
    });
}

fn remove_run(state: AppState, run: u32) {
    state.report(send(&Request::RemoveRun { run }, None));
    spawn_local(async move {
        let Some(db) = DB.with(|d| d.borrow().clone()) else {
            return;
        };
        if let Err(error) = storage::delete(&db, &format!("run:{run}")).await {
            state.message(format!("Could not remove the local copy: {error}"));
        }
    });
}

#[component]
fn SummaryTable(state: AppState) -> impl IntoView {
    let header = Metric::ALL
        .iter()
        .map(|m| view! { <th>{m.name()}</th> })
        .collect_view();
    view! {
        <section id="summary">
            <h2>"Means per run and split"</h2>
            <p class="note">{move || if state.intervals.get() {
                "Hover a mean for its 95% bootstrap interval and count."
            } else {
                "95% intervals are being computed…"
            }}</p>
            <table class="summary">
                <thead><tr><th>"Run"</th><th>"Split"</th><th>"Group"</th><th>"n"</th>{header}</tr></thead>
                <tbody>
                {move || state.summaries.get().into_iter().flat_map(|summary| {
                    let name = summary.name.clone();
                    summary.groups.into_iter().map(move |group| {
                        let split = group.split.as_str();
                        let type_value = group.value.clone();
                        let cells = Metric::ALL.iter().map(|metric| {
                            let found = group.metrics.iter().find(|m| m.metric == metric.name()).cloned();
                            match found {
                                Some(m) => {
                                    let title = match m.ci95 {
                                        Some([low, high]) => format!("{} = {} (95% CI {low:.4} to {high:.4}; n = {})", m.metric, m.mean, m.n),
                                        None => format!("{} = {} (n = {})", m.metric, m.mean, m.n),
                                    };
                                    view! {
                                        <td data-run=name.clone() data-split=split data-metric=metric.name()
                                            data-type=type_value.clone() data-value=m.mean.to_string() title=title>
                                            {format_mean(metric.name(), m.mean)}
                                        </td>
                                    }.into_any()
                                }
                                None => view! { <td class="none">"–"</td> }.into_any(),
                            }
                        }).collect_view();
                        let class = if group.value.is_some() { "type-row" } else { "split-row" };
                        view! {
                            <tr class=class>
                                <td>{name.clone()}</td>
                                <td>{split}</td>
                                <td>{group.value.clone().unwrap_or_else(|| "all".to_owned())}</td>
                                <td>{group.samples}</td>
                                {cells}
                            </tr>
                        }
                    }).collect::<Vec<_>>()
                }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

/// Clicking a bar filters the sample table to what the bar counts.
fn filter_from_click(state: AppState, ev: leptos::ev::MouseEvent) {
    let Some(target) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
    else {
        return;
    };
    if !target.class_list().contains("hit") {
        return;
    }
    let attribute = |name: &str| target.get_attribute(name).filter(|v| !v.is_empty());
    state.view.update(|v| {
        v.split = attribute("data-split").and_then(|s| Split::parse(&s));
        v.type_value = attribute("data-value");
        v.run = attribute("data-run");
    });
    state.first_row.set(0);
    if let Some(table) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("samples"))
    {
        table.scroll_into_view();
    }
}

#[component]
fn ChartBody(state: AppState) -> impl IntoView {
    view! {
        {move || match state.chart.get() {
            ChartView::Waiting(text) => view! { <p class="note chart-empty">{text}</p> }.into_any(),
            ChartView::Failed(text) => view! { <p class="error chart-error">{text}</p> }.into_any(),
            // The SVG is ours (medhall-charts escapes every label, run names included).
            ChartView::Ready(svg) => view! {
                <div class="chart" inner_html=svg on:click=move |ev| filter_from_click(state, ev)></div>
            }.into_any(),
        }}
    }
}

#[component]
fn EmbedView(state: AppState) -> impl IntoView {
    view! {
        <div class="embed">
            <ChartBody state=state/>
            <p class="note">{move || {
                let runs = state.runs.with(|r| r.len());
                format!("MedHall Lens · {runs} run(s) · metric {}", state.view.with(|v| v.metric.clone()))
            }}</p>
            <Messages state=state/>
        </div>
    }
}

/// Copies text with the asynchronous clipboard API; a refusal is reported, and the snippet stays
/// selectable in its text box.
fn copy_text(state: AppState, text: &str) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let clipboard = js_sys::Reflect::get(&window.navigator(), &"clipboard".into()).ok();
    let write = clipboard.as_ref().and_then(|c| {
        js_sys::Reflect::get(c, &"writeText".into())
            .ok()?
            .dyn_into::<js_sys::Function>()
            .ok()
    });
    let (Some(clipboard), Some(write)) = (clipboard, write) else {
        state.message(
            "This browser gives the page no clipboard: copy the snippet from its box.".to_owned(),
        );
        return;
    };
    match write.call1(&clipboard, &wasm_bindgen::JsValue::from_str(text)) {
        Ok(promise) => {
            let promise: js_sys::Promise = promise.unchecked_into();
            spawn_local(async move {
                if wasm_bindgen_futures::JsFuture::from(promise).await.is_err() {
                    state.message(
                        "The browser refused the clipboard: copy the snippet from its box."
                            .to_owned(),
                    );
                }
            });
        }
        Err(_) => state.message(
            "The browser refused the clipboard: copy the snippet from its box.".to_owned(),
        ),
    }
}

fn page_url() -> String {
    web_sys::window()
        .and_then(|w| {
            let location = w.location();
            Some(format!(
                "{}{}",
                location.origin().ok()?,
                location.pathname().ok()?
            ))
        })
        .unwrap_or_default()
}

#[component]
fn ChartPanel(state: AppState) -> impl IntoView {
    let kinds = ChartKind::ALL
        .iter()
        .map(|k| view! { <option value=k.name()>{k.name()}</option> })
        .collect_view();
    let embed_snippet = move || {
        let query = state.view.with(|v| v.embed_query());
        let from_urls = state.view.with(|v| v.set.is_some());
        if from_urls {
            format!(
                "<iframe src=\"{}{query}\" width=\"{}\" height=\"{}\" style=\"border:0\" title=\"MedHall Lens chart\"></iframe>",
                page_url(),
                CHART_WIDTH + 20,
                CHART_HEIGHT + 60
            )
        } else {
            "Embeds load their data from URLs: load a shard set from datasets.json to get an embed snippet (dropped files stay on this machine). Download the SVG instead.".to_owned()
        }
    };
    let download_svg = move |_| {
        if let ChartView::Ready(svg) = state.chart.get_untracked() {
            let name = state
                .view
                .with_untracked(|v| format!("medhall-{}-{}.svg", v.chart, v.metric));
            if let Err(error) = download_text(&name, "image/svg+xml", &svg) {
                state.message(error);
            }
        }
    };
    let download_png_click = move |_| {
        if let ChartView::Ready(svg) = state.chart.get_untracked() {
            let name = state
                .view
                .with_untracked(|v| format!("medhall-{}-{}.png", v.chart, v.metric));
            if let Err(error) = download_png(&svg, &name, CHART_WIDTH, CHART_HEIGHT) {
                state.message(error);
            }
        }
    };
    view! {
        <section id="charts">
            <h2>"Charts"</h2>
            <div class="row">
                <label>"Chart "
                    <select id="chart-kind" prop:value=move || state.view.with(|v| v.chart.clone())
                        on:change=move |ev| state.view.update(|v| v.chart = event_target_value(&ev))>
                        {kinds}
                    </select>
                </label>
                <label>"Metric "
                    <select id="chart-metric" prop:value=move || state.view.with(|v| v.metric.clone())
                        on:change=move |ev| state.view.update(|v| v.metric = event_target_value(&ev))>
                        {metric_options()}
                    </select>
                </label>
                <Show when=move || state.view.with(|v| v.chart == "paired")>
                    <PairPicker state=state/>
                </Show>
                <button on:click=download_svg>"Download SVG"</button>
                <button on:click=download_png_click>"Download PNG"</button>
            </div>
            <ChartBody state=state/>
            <label class="note">"Embed snippet "
                <textarea readonly id="embed-snippet" prop:value=embed_snippet></textarea>
            </label>
            <button id="copy-embed" on:click=move |_| copy_text(state, &embed_snippet())>"Copy embed snippet"</button>
        </section>
    }
}

/// Run A and run B of the paired chart.
#[component]
fn PairPicker(state: AppState) -> impl IntoView {
    let options = move || {
        state
            .runs
            .get()
            .into_iter()
            .map(|r| view! { <option value=r.name.clone()>{r.name.clone()}</option> })
            .collect_view()
    };
    let initial = state
        .view
        .with_untracked(|v| v.pair.clone())
        .unwrap_or_default();
    let first = RwSignal::new(initial.0);
    let second = RwSignal::new(initial.1);
    // The view (and the URL) takes the pair once both sides are chosen.
    let commit = move || {
        let (a, b) = (first.get_untracked(), second.get_untracked());
        state.view.update(|v| {
            v.pair = (!a.is_empty() && !b.is_empty()).then_some((a, b));
        });
    };
    view! {
        <label>"A "
            <select id="pair-a" prop:value=first on:change=move |ev| { first.set(event_target_value(&ev)); commit(); }>
                <option value="">"(first run)"</option>
                {options}
            </select>
        </label>
        <label>" minus B "
            <select id="pair-b" prop:value=second on:change=move |ev| { second.set(event_target_value(&ev)); commit(); }>
                <option value="">"(second run)"</option>
                {options}
            </select>
        </label>
    }
}

/// A row's value of `metric` (rows carry the metrics in `Metric::ALL` order).
fn metric_cell(row: &RowView, metric: Metric) -> String {
    let value = Metric::ALL
        .iter()
        .position(|m| *m == metric)
        .and_then(|i| row.metrics.get(i).copied().flatten());
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.3}"))
}

#[component]
fn SamplePanel(state: AppState) -> impl IntoView {
    let on_scroll = move |ev: leptos::ev::Event| {
        if let Some(element) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        {
            let first = (f64::from(element.scroll_top()) / ROW_HEIGHT).floor() as usize;
            if first != state.first_row.get_untracked() {
                state.first_row.set(first);
            }
        }
    };
    let row_view = move |row: RowView, index: usize| {
        let key = row.key.clone();
        let top = format!("top:{}px", index as f64 * ROW_HEIGHT);
        let run_name = state.runs.with_untracked(|runs| {
            runs.iter()
                .find(|r| r.id == row.run)
                .map(|r| r.name.clone())
                .unwrap_or_default()
        });
        view! {
            <div class="sample-row" style=top on:click=move |_| {
                let key = key.clone();
                state.view.update(|v| v.sample = Some(key));
            }>
                <span class="c-run">{run_name}</span>
                <span class="c-split">{row.key.split.as_str()}</span>
                <span class="c-id">{row.key.question_id.clone()}</span>
                <span class="c-type">{row.type_value.clone().unwrap_or_else(|| "unlabelled".to_owned())}</span>
                <span class="c-text">{row.question.clone()}</span>
                <span class="c-text">{row.answer.clone()}</span>
                <span class="c-num">{metric_cell(&row, Metric::Meteor)}</span>
                <span class="c-num">{metric_cell(&row, Metric::RougeL)}</span>
                <span class="c-num">{metric_cell(&row, Metric::ClinicalAccuracy)}</span>
            </div>
        }
    };
    view! {
        <section id="samples">
            <h2>"Samples"</h2>
            <div class="row filters">
                <input type="search" placeholder="Search questions and answers" id="sample-search"
                    prop:value=move || state.view.with(|v| v.search.clone())
                    on:input=move |ev| { state.view.update(|v| v.search = event_target_value(&ev)); state.first_row.set(0); }/>
                <select prop:value=move || state.view.with(|v| v.split.map(|s| s.as_str().to_owned()).unwrap_or_default())
                    on:change=move |ev| { let value = event_target_value(&ev); state.view.update(|v| v.split = Split::parse(&value)); state.first_row.set(0); }>
                    <option value="">"both splits"</option>
                    <option value="positive">"positive (non-hallucination)"</option>
                    <option value="negative">"negative (hallucination)"</option>
                </select>
                <input type="text" placeholder="type (e.g. unlabelled)"
                    prop:value=move || state.view.with(|v| v.type_value.clone().unwrap_or_default())
                    on:change=move |ev| { let value = event_target_value(&ev); state.view.update(|v| v.type_value = Some(value).filter(|s| !s.is_empty())); state.first_row.set(0); }/>
                <select prop:value=move || state.view.with(|v| v.run.clone().unwrap_or_default())
                    on:change=move |ev| { let value = event_target_value(&ev); state.view.update(|v| v.run = Some(value).filter(|s| !s.is_empty())); state.first_row.set(0); }>
                    <option value="">"all runs"</option>
                    {move || state.runs.get().into_iter().map(|r| view! { <option value=r.name.clone()>{r.name.clone()}</option> }).collect_view()}
                </select>
                <label class="note">{move || format!("{} from ", state.view.with(|v| v.metric.clone()))}
                    <input type="number" step="any" class="range" id="metric-min"
                        prop:value=move || state.view.with(|v| v.min.map(|x| x.to_string()).unwrap_or_default())
                        on:change=move |ev| { let value = event_target_value(&ev); state.view.update(|v| v.min = value.trim().parse().ok()); state.first_row.set(0); }/>
                    " to "
                    <input type="number" step="any" class="range" id="metric-max"
                        prop:value=move || state.view.with(|v| v.max.map(|x| x.to_string()).unwrap_or_default())
                        on:change=move |ev| { let value = event_target_value(&ev); state.view.update(|v| v.max = value.trim().parse().ok()); state.first_row.set(0); }/>
                </label>
                <button on:click=move |_| { state.view.update(|v| { v.search.clear(); v.split = None; v.type_value = None; v.run = None; v.min = None; v.max = None; }); state.first_row.set(0); }>"Clear filters"</button>
            </div>
            <p class="note">{move || state.rows.with(|r| r.as_ref().map(|p| format!("{} matching rows", p.total)).unwrap_or_default())}</p>
            <div class="sample-head"><span class="c-run">"run"</span><span class="c-split">"split"</span><span class="c-id">"id"</span><span class="c-type">"type"</span><span class="c-text">"question"</span><span class="c-text">"answer"</span><span class="c-num">"METEOR"</span><span class="c-num">"ROUGE-L"</span><span class="c-num">"accuracy"</span></div>
            <div class="sample-table" on:scroll=on_scroll style=format!("height:{}px", ROW_HEIGHT * VISIBLE_ROWS as f64)>
                <div class="sample-space" style=move || format!("height:{}px", state.rows.with(|r| r.as_ref().map_or(0, |p| p.total)) as f64 * ROW_HEIGHT)>
                    {move || state.rows.get().map(|page| {
                        let offset = page.offset;
                        page.rows.into_iter().enumerate().map(|(i, row)| row_view(row, offset + i)).collect_view()
                    })}
                </div>
            </div>
            <DetailPane state=state/>
        </section>
    }
}

#[component]
fn DetailPane(state: AppState) -> impl IntoView {
    let image_base = RwSignal::new(
        state
            .view
            .with_untracked(|v| v.image_base.clone().unwrap_or_default()),
    );
    view! {
        <div class="detail">
            <label class="note">"Image base URL (optional; images are requested only if you set one) "
                <input type="url" prop:value=image_base on:change=move |ev| {
                    let value = event_target_value(&ev);
                    image_base.set(value.clone());
                    // Typed by the user: the host is their choice.
                    state.image_base_allowed.set(true);
                    state.view.update(|v| v.image_base = Some(value).filter(|s| !s.is_empty()));
                }/>
            </label>
            {move || (!state.image_base_allowed.get()).then(|| {
                let base = state.view.with(|v| v.image_base.clone()).unwrap_or_default();
                let host = crate::view_state::host_label(&base);
                view! {
                    <p class="note image-base-confirm">
                        {format!("This link sets the image base URL to {base}. Nothing is requested from {host} until you allow it: opening a sample would then load its image from there (and tell {host} which samples you open). ")}
                        <button class="allow-image-base" on:click=move |_| state.image_base_allowed.set(true)>{format!("Load images from {host}")}</button>
                    </p>
                }
            })}
            {move || state.detail.get().map(|detail| {
                let image = detail.image.clone().and_then(|name| {
                    state.allowed_image_base().map(|base| format!("{}{}", base, name))
                });
                let answers = detail.answers.iter().map(|answer| {
                    let metrics = Metric::ALL.iter().zip(&answer.metrics).map(|(m, v)| {
                        view! { <li>{format!("{}: {}", m.name(), v.map_or("–".to_owned(), |v| v.to_string()))}</li> }
                    }).collect_view();
                    view! {
                        <div class="answer">
                            <h4>{answer.run_name.clone()}</h4>
                            <p class="answer-text">{answer.answer.clone()}</p>
                            <ul class="metrics">{metrics}</ul>
                            {answer.judge_text.clone().map(|text| view! { <pre class="judge">{text}</pre> })}
                        </div>
                    }
                }).collect_view();
                view! {
                    <div class="detail-body" data-sample=format!("{}:{}", detail.key.split, detail.key.question_id)>
                        <h3>{format!("{} question {}", detail.key.split, detail.key.question_id)}</h3>
                        <p><strong>"Type: "</strong>{detail.type_value.clone().unwrap_or_else(|| "unlabelled".to_owned())}</p>
                        <p><strong>"Question: "</strong>{detail.question.clone().unwrap_or_default()}</p>
                        <p><strong>"Reference: "</strong>{detail.reference.clone().unwrap_or_default()}</p>
                        {image.map(|src| view! { <img class="sample-image" src=src alt="the question's image"/> })}
                        <div class="answers">{answers}</div>
                    </div>
                }
            })}
        </div>
    }
}

fn export(state: AppState, kind: ExportKind, run: Option<u32>) {
    ask(
        move |id| Request::Export { id, kind, run },
        move |reply| match reply {
            Reply::Export { export } => {
                if let Err(error) = download_text(&export.file_name, &export.mime, &export.text) {
                    state.message(error);
                }
            }
            Reply::Error { message } => state.message(message),
            _ => {}
        },
    );
}

#[component]
fn ExportPanel(state: AppState) -> impl IntoView {
    let clear = move |_| {
        state.report(send(&Request::Clear, None));
        state.jobs.set(Vec::new());
        state.summaries.set(Vec::new());
        state.view.update(|v| v.set = None);
        spawn_local(async move {
            let Some(db) = DB.with(|d| d.borrow().clone()) else {
                return;
            };
            let cleared = match storage::clear(&db).await {
                Ok(()) => crate::judge_panel::clear_kept_verdicts().await,
                Err(error) => Err(error),
            };
            match cleared {
                Ok(()) => state.message("Local data cleared.".to_owned()),
                Err(error) => state.message(format!("Could not clear local data: {error}")),
            }
        });
    };
    view! {
        <section id="export">
            <h2>"Export"</h2>
            <div class="row">
                <button on:click=move |_| export(state, ExportKind::SummaryJson, None)>"Summary (JSON)"</button>
                <button on:click=move |_| export(state, ExportKind::SummaryCsv, None)>"Summary (CSV)"</button>
                {move || state.runs.get().into_iter().map(|run| {
                    let id = run.id;
                    view! { <button on:click=move |_| export(state, ExportKind::PerSample, Some(id))>{format!("Per-sample scores: {}", run.name)}</button> }
                }).collect_view()}
            </div>
            <p class="note signature">"Metric signature (in every export): " {move || state.signature.get()}</p>
            <button class="danger" id="clear-local" on:click=clear>"Clear local data"</button>
            <p class="note">"Removes every stored file, URL, run and kept judge verdict from this browser."</p>
        </section>
    }
}
