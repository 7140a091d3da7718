//! The page's reactive state, its link to the scoring worker, and what the worker's events change.

use crate::channel::channel;
use crate::manifest::Manifest;
use crate::storage;
use crate::view_state::ViewState;
use crate::worker_client::WorkerClient;
use leptos::prelude::*;
use leptos::task::spawn_local;
use medhall_app::protocol::{Event, Reply, Request};
use medhall_app::session::{LoadReport, RowsPage, RunInfo, RunSummary, SampleDetail};
use medhall_core::url_policy::{ImageBase, UrlRefused};
use std::cell::{Cell, RefCell};
use web_sys::{File, IdbDatabase};

thread_local! {
    pub(crate) static WORKER: RefCell<Option<WorkerClient>> = const { RefCell::new(None) };
    pub(crate) static DB: RefCell<Option<IdbDatabase>> = const { RefCell::new(None) };
    pub(crate) static NEXT_JOB: Cell<u32> = const { Cell::new(1) };
    /// Run ids start at a random point, so a file dropped while stored runs are still being
    /// restored cannot take a stored run's id.
    pub(crate) static NEXT_RUN: Cell<u32> = Cell::new((js_sys::Math::random() * 1e9) as u32 + 1);
    pub(crate) static SEQ_COUNTER: Cell<u32> = const { Cell::new(0) };
    pub(crate) static LAST_ROWS_REFRESH: Cell<f64> = const { Cell::new(0.0) };
}

/// Sends a request to the scoring worker; an error says why it cannot (it crashed, or never
/// started).
pub(crate) fn send(request: &Request, file: Option<File>) -> Result<(), String> {
    WORKER.with(|w| match w.borrow().as_ref() {
        Some(worker) => worker.send(request, file),
        None => Err("the scoring worker is not running".to_owned()),
    })
}

pub(crate) fn ask(make: impl FnOnce(u32) -> Request, on_reply: impl FnOnce(Reply) + 'static) {
    WORKER.with(|w| {
        if let Some(worker) = w.borrow().as_ref() {
            worker.ask(make, on_reply);
        }
    });
}

/// Asks the scoring worker, as a future: its reply, or an error when none can come.
pub(crate) async fn ask_future(make: impl FnOnce(u32) -> Request) -> Reply {
    let (sender, reply) = channel();
    ask(make, move |answer| sender.send(answer));
    reply.recv().await.unwrap_or(Reply::Error {
        message: "the scoring worker did not answer".to_owned(),
    })
}

pub(crate) fn send_request(request: &Request) -> Result<(), String> {
    send(request, None)
}

pub(crate) fn ask_boxed(make: Box<dyn FnOnce(u32) -> Request>, on_reply: Box<dyn FnOnce(Reply)>) {
    ask(make, on_reply);
}

/// Replay order of stored items: time first, so items of earlier visits come first.
pub(crate) fn next_seq() -> f64 {
    js_sys::Date::now() + f64::from(next(&SEQ_COUNTER) % 1000) / 1000.0
}

pub(crate) fn next(counter: &'static std::thread::LocalKey<Cell<u32>>) -> u32 {
    counter.with(|c| {
        let value = c.get();
        c.set(value + 1);
        value
    })
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum JobStatus {
    Running,
    Done(LoadReport),
    Failed(String),
    Cancelled,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct JobView {
    pub(crate) job: u32,
    pub(crate) label: String,
    pub(crate) bytes: u64,
    pub(crate) records: u64,
    pub(crate) total_bytes: Option<u64>,
    pub(crate) status: JobStatus,
    /// The IndexedDB item that restores this load; dropped when the load fails or is cancelled,
    /// so a reload does not repeat it.
    pub(crate) stored: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ChartView {
    Waiting(String),
    /// Rendered where it is shown, at the size the window gives it.
    Ready(medhall_core::chart::ChartSpec),
    Failed(String),
}

/// All reactive state; `Copy`, so closures take it freely.
#[derive(Clone, Copy)]
pub(crate) struct AppState {
    pub(crate) view: RwSignal<ViewState>,
    pub(crate) runs: RwSignal<Vec<RunInfo>>,
    pub(crate) summaries: RwSignal<Vec<RunSummary>>,
    /// The model names the user gave runs (run id, name); every view that shows models
    /// (`session::model_summaries`, the leaderboard) pairs files by them.
    pub(crate) model_names: RwSignal<Vec<(u32, String)>>,
    pub(crate) intervals: RwSignal<bool>,
    pub(crate) jobs: RwSignal<Vec<JobView>>,
    pub(crate) scoring: RwSignal<Option<(usize, usize)>>,
    pub(crate) references: RwSignal<(usize, usize)>,
    pub(crate) worker_memory: RwSignal<u64>,
    /// The metric signature the worker scores with.
    pub(crate) signature: RwSignal<String>,
    pub(crate) manifest: RwSignal<Option<Result<Manifest, String>>>,
    pub(crate) messages: RwSignal<Vec<String>>,
    pub(crate) chart: RwSignal<ChartView>,
    /// The window's inner width in CSS pixels (charts are drawn to fit it).
    pub(crate) window_width: RwSignal<u32>,
    pub(crate) rows: RwSignal<Option<RowsPage>>,
    pub(crate) first_row: RwSignal<usize>,
    pub(crate) detail: RwSignal<Option<SampleDetail>>,
    /// Bumped whenever the worker's data changed, so queries are asked again.
    pub(crate) revision: RwSignal<u32>,
    /// Bumped at most twice a second while scoring, so the table fills as results arrive.
    pub(crate) scored_revision: RwSignal<u32>,
    pub(crate) embedded: bool,
    /// Whether images may be requested from the image base URL: yes when the user typed it or
    /// it resolves to the page's own origin (`url_policy::ImageBase`); one that a shared link
    /// set (`?images=`) elsewhere waits for a click that names the host (else opening a sample
    /// would tell that host which samples the user reads).
    pub(crate) image_base_allowed: RwSignal<bool>,
}

impl AppState {
    /// The image base URL resolved against the page, if one is set.
    pub(crate) fn image_base(&self) -> Option<Result<ImageBase, UrlRefused>> {
        let text = self.view.with(|v| v.image_base.clone())?;
        Some(ImageBase::resolve(&crate::dom::page_url(), &text))
    }

    /// The image base, if requests to it are allowed.
    pub(crate) fn allowed_image_base(&self) -> Option<ImageBase> {
        if !self.image_base_allowed.get() {
            return None;
        }
        self.image_base()?.ok()
    }

    /// Shows why a request could not be sent, if it could not.
    pub(crate) fn report(&self, sent: Result<(), String>) {
        if let Err(message) = sent {
            self.message(message);
        }
    }

    /// The scoring worker died: loads in progress fail (their stored copies stay, so a reload
    /// restores them) and the reason is shown.
    pub(crate) fn on_crash(&self, reason: String) {
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

    pub(crate) fn message(&self, text: String) {
        self.messages.update(|m| m.push(text));
    }

    pub(crate) fn update_job(&self, job: u32, f: impl FnOnce(&mut JobView)) {
        self.jobs.update(|jobs| {
            if let Some(view) = jobs.iter_mut().find(|j| j.job == job) {
                f(view);
            }
        });
    }

    pub(crate) fn forget_stored(&self, job: u32) {
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

    pub(crate) fn on_event(&self, event: Event) {
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
