//! Loads: files, URLs and shard sets sent to the scoring worker, and what restores them after a
//! reload (IndexedDB).

use crate::manifest::{Manifest, ShardSet};
use crate::state::{
    AppState, DB, JobStatus, JobView, NEXT_JOB, NEXT_RUN, SEQ_COUNTER, next, next_seq, send,
};
use crate::storage::{self, Stored, StoredItem};
use leptos::prelude::*;
use leptos::task::spawn_local;
use medhall_app::protocol::{Request, Source};
use medhall_app::session::LoadTarget;
use medhall_core::export::redact_url;
use web_sys::{File, IdbDatabase};

/// Starts a load in the worker and lists it as a job.
pub(crate) fn start_load(
    state: AppState,
    target: LoadTarget,
    source: Source,
    file: Option<File>,
) -> u32 {
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
pub(crate) fn persist(state: AppState, job: u32, id: String, item: Stored, file: Option<File>) {
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
pub(crate) fn load_run(state: AppState, name: String, source: Source, file: Option<File>) {
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

pub(crate) fn load_results_file(state: AppState, file: File) {
    let source = Source::File {
        name: file.name(),
        size: file.size() as u64,
    };
    load_run(state, file.name(), source, Some(file));
}

pub(crate) fn load_reference_file(state: AppState, file: File, type_map: bool) {
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

pub(crate) fn load_url(state: AppState, url: String, run_name: Option<String>) {
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

pub(crate) fn load_set(state: AppState, set: &ShardSet) {
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
pub(crate) async fn restore(state: AppState, db: &IdbDatabase) {
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

pub(crate) async fn fetch_manifest() -> Result<Manifest, String> {
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
