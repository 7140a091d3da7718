//! The Data view's first step: two paths a researcher picks from, "Score your predictions" and
//! "Try the demo", and what the other views say while nothing is loaded. Both paths load
//! through `loading.rs` (the file inputs' and the shard sets' loaders), and nothing is fetched
//! from another host before the user's click on the button that names it.

use crate::dom::{files_of, input_files, page_url};
use crate::loading::{load_results_file, load_set};
use crate::manifest::ShardSet;
use crate::state::{AppState, JobStatus};
use crate::view_state::Tab;
use leptos::prelude::*;
use medhall_core::url_policy::destination_label;
use web_sys::File;

/// datasets.json's id of the bundled demo.
pub(crate) const DEMO_SET: &str = "demo";
/// datasets.json's id of the benchmark's validation split (read from the pinned upstream).
pub(crate) const VALIDATION_SET: &str = "medhalltune-val";

fn shard_set(state: AppState, id: &str) -> Option<ShardSet> {
    state.manifest.with(|m| match m {
        Some(Ok(manifest)) => manifest.set(id).cloned(),
        _ => None,
    })
}

fn open(state: AppState, tab: Tab) {
    state.view.update(|v| v.tab = tab);
}

/// Loads the bundled demo as its Load button on Data does; false while datasets.json is unread.
pub(crate) fn load_demo(state: AppState) -> bool {
    match shard_set(state, DEMO_SET) {
        Some(set) => {
            load_set(state, &set);
            true
        }
        None => false,
    }
}

#[component]
pub(crate) fn StartPanel(state: AppState) -> impl IntoView {
    // The names of the prediction files given here (shown as text), and whether the validation
    // references were asked for from here.
    let chosen = RwSignal::new(Vec::<String>::new());
    let confirmed = RwSignal::new(false);
    // The validation set asked for here, or earlier (the view names the set it loaded, and a
    // reload restores it). Other references (the demo's) would not join the benchmark's answers.
    let validation_asked = move || {
        confirmed.get()
            || state
                .view
                .with(|v| v.set.as_deref() == Some(VALIDATION_SET))
    };
    let references_ready = move || validation_asked() && state.references.get().0 > 0;
    // At a file choice: the validation set is asked for (its download may still be running).
    let references_ready_now = move || {
        confirmed.get_untracked()
            || (state
                .view
                .with_untracked(|v| v.set.as_deref() == Some(VALIDATION_SET))
                && state.references.get_untracked().0 > 0)
    };
    let take = move |files: Vec<File>| {
        if files.is_empty() {
            return;
        }
        chosen.update(|names| names.extend(files.iter().map(File::name)));
        for file in files {
            load_results_file(state, file);
        }
        if references_ready_now() {
            open(state, Tab::Leaderboard);
        }
    };
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        take(files_of(ev.data_transfer().and_then(|d| d.files())));
    };
    let confirm = move |_| {
        let Some(set) = shard_set(state, VALIDATION_SET) else {
            return;
        };
        load_set(state, &set);
        confirmed.set(true);
        if !chosen.with_untracked(Vec::is_empty) {
            open(state, Tab::Leaderboard);
        }
    };
    // What the confirmation downloads, from datasets.json: rows per split and the host.
    let validation = move || {
        shard_set(state, VALIDATION_SET).map(|set| {
            let rows = |split: &str| -> u64 {
                set.shards
                    .iter()
                    .filter(|s| s.split.is_some_and(|x| x.as_str() == split))
                    .filter_map(|s| s.rows)
                    .sum()
            };
            let host = set
                .shards
                .first()
                .map_or_else(String::new, |s| destination_label(&page_url(), &s.url));
            let runs: Vec<String> = set.runs.iter().map(|r| r.name.clone()).collect();
            (rows("positive"), rows("negative"), host, runs.join(", "))
        })
    };
    let references_text = move || {
        let (references, _) = state.references.get();
        let loading = state.jobs.with(|jobs| {
            jobs.iter()
                .any(|j| j.status == JobStatus::Running && j.label.starts_with("references:"))
        });
        match (references, loading, validation_asked()) {
            (_, true, _) => format!("Downloading the references: {references} so far."),
            (0, false, true) => {
                "The references did not load: see the loads listed under Reference shards."
                    .to_owned()
            }
            (0, false, false) => String::new(),
            (n, false, true) => format!("{n} reference answers loaded."),
            (n, false, false) => format!(
                "{n} other reference answers are loaded (the demo's, or your own); this downloads the benchmark's."
            ),
        }
    };
    let has_references = references_ready;
    let has_chosen = move || !chosen.with(Vec::is_empty);
    view! {
        <section id="start" class="start" aria-labelledby="start-title">
            <h2 id="start-title">"Start here"</h2>
            <div class="paths">
                <div class="path" id="start-score">
                    <h3>"Score your predictions"</h3>
                    <p class="help">"Your model's answers to the benchmark's validation questions, scored with the official metrics and placed on the leaderboard."</p>
                    <ol class="steps">
                        <li class="step drop start-drop" class:done=has_chosen
                            on:dragover=move |ev: leptos::ev::DragEvent| ev.prevent_default() on:drop=on_drop>
                            <label class="step-title" for="start-predictions">"Your prediction files"</label>
                            <input type="file" id="start-predictions" multiple accept=".jsonl,.json,.csv"
                                aria-describedby="start-predictions-help"
                                on:change=move |ev| take(input_files(&ev))/>
                            <p class="help" id="start-predictions-help">
                                "Choose or drop them here: the official predictions JSONL (or judge-eval JSONL, CSV, JSON), "
                                "one file per split, with positive or negative in its name. They are read in this page and never uploaded."
                            </p>
                            <p class="note start-chosen">{move || chosen.with(|names| {
                                if names.is_empty() { String::new() } else { format!("Chosen: {}.", names.join(", ")) }
                            })}</p>
                        </li>
                        <li class="step" class:done=has_references>
                            <span class="step-title">"The benchmark's references"</span>
                            {move || match validation() {
                                Some((positive, negative, host, runs)) => view! {
                                    <p class="help" id="start-references-help">
                                        {format!(
                                            "MedHallTune's validation split ({positive} positive and {negative} negative questions) \
                                             and {runs}: the judge's calibration and a published model to compare with. \
                                             Your browser downloads them from {host}, at the commit datasets.json pins, \
                                             only when you click."
                                        )}
                                    </p>
                                    <button class="primary" id="start-references" aria-describedby="start-references-help"
                                        disabled=move || confirmed.get() on:click=confirm>
                                        {format!("Download the references from {host}")}
                                    </button>
                                }.into_any(),
                                None => view! {
                                    <p class="help">{move || if state.manifest.with(Option::is_none) {
                                        "Reading datasets.json…"
                                    } else {
                                        "This site's datasets.json lists no MedHallTune validation set: load reference shards under Reference shards below."
                                    }}</p>
                                }.into_any(),
                            }}
                            <p class="note start-references-status" role="status">{references_text}</p>
                        </li>
                    </ol>
                    <p class="help">"With both, the Leaderboard opens on its own, your model's row among the published ones."</p>
                    <Show when=move || has_chosen() && has_references()>
                        <button id="start-open-leaderboard" on:click=move |_| open(state, Tab::Leaderboard)>"Open the Leaderboard"</button>
                    </Show>
                </div>
                <div class="path" id="start-demo">
                    <h3>"Try the demo"</h3>
                    <p class="help">"Two made-up models on 40 synthetic questions, bundled with the page (nothing is downloaded from elsewhere): every view with data in it, before you bring your own files."</p>
                    <button class="primary" id="start-demo-load" disabled=move || state.manifest.with(Option::is_none)
                        on:click=move |_| if load_demo(state) { open(state, Tab::Results) }>
                        "Load the demo"
                    </button>
                </div>
            </div>
        </section>
    }
}

/// What a view says while it has nothing to show: what to load, and the way to Data.
#[component]
pub(crate) fn EmptyState(
    state: AppState,
    /// What the view is missing, said as the next step.
    text: &'static str,
    /// Whether the view is missing it (by default: no run is loaded).
    #[prop(optional, into)]
    missing: Option<Signal<bool>>,
) -> impl IntoView {
    let missing = missing.unwrap_or_else(|| Signal::derive(move || state.runs.with(Vec::is_empty)));
    let loading = move || {
        state
            .jobs
            .with(|jobs| jobs.iter().any(|j| j.status == JobStatus::Running))
    };
    view! {
        <Show when=move || missing.get()>
            <div class="empty-state" role="status">
                <p>{move || if loading() {
                    "Loading: your files are still being read (the loads are listed on Data)."
                } else {
                    text
                }}</p>
                <div class="actions">
                    <button class="primary" on:click=move |_| open(state, Tab::Data)>"Go to Data"</button>
                    <button on:click=move |_| { load_demo(state); } disabled=move || state.manifest.with(Option::is_none)>"Load the demo"</button>
                </div>
            </div>
        </Show>
    }
}
