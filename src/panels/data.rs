//! The data panel: reference shard sets, URLs and files, and the loads in progress.

use crate::describe_lines;
use crate::dom::input_files;
use crate::loading::{load_reference_file, load_set, load_url};
use crate::state::{AppState, JobStatus, send};
use leptos::prelude::*;
use medhall_app::protocol::Request;
use medhall_core::export::redact_url;

#[component]
pub(crate) fn DataPanel(state: AppState) -> impl IntoView {
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
            <p class="note">"Every dataset datasets.json lists, and reference files or URLs of your own."</p>
            {sets}
            <div class="form">
                <label for="data-url">"Shard or results URL"</label>
                <div class="field">
                    <input type="url" id="data-url" aria-describedby="data-url-help" placeholder="https://…/val_positive_qa-filtered.jsonl"
                        prop:value=url on:input=move |ev| url.set(event_target_value(&ev))/>
                    <p class="help" id="data-url-help">"https:// (or a path on this site). Kept for reloads without its ?query, #fragment or user:password@: a token there is used now, not saved."</p>
                </div>
                <div class="field check">
                    <label><input type="checkbox" prop:checked=url_is_run
                        on:change=move |ev| url_is_run.set(event_target_checked(&ev))/>" it is a results file"</label>
                    <p class="help">"A model's answers (a run) rather than reference answers."</p>
                </div>
                <div class="field action">
                    <button class="primary" on:click=move |_| {
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
                <label for="shard-files">"Reference shard files"</label>
                <div class="field">
                    <input type="file" id="shard-files" multiple aria-describedby="shard-files-help"
                        on:change=move |ev| for file in input_files(&ev) { load_reference_file(state, file, false) }/>
                    <p class="help" id="shard-files-help">"The benchmark's questions and reference answers: JSONL, JSON or CSV."</p>
                </div>
                <label for="type-map">"Hallucination-type map"</label>
                <div class="field">
                    <input type="file" id="type-map" aria-describedby="type-map-help"
                        on:change=move |ev| for file in input_files(&ev) { load_reference_file(state, file, true) }/>
                    <p class="help" id="type-map-help">"CSV with the columns split, question_id, type."</p>
                </div>
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
pub(crate) fn Jobs(state: AppState) -> impl IntoView {
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
                                <progress max="1" value=fraction.unwrap_or(0.0).to_string() aria-label=format!("{} progress", job.label)></progress>
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
