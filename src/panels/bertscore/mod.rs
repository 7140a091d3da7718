//! The "Compute B.Score" panel: BERTScore F1 (the leaderboard's B.Score, as the benchmark's
//! eval.py computes it with bert_score 0.3.13) for the loaded runs, computed in a model worker
//! (`crates/model-worker`, the same `medhall_model::bertscore::BertScorer` as `medhall score
//! --bertscore`) on WebGPU or, without it, on burn's CPU backend.
//!
//! The scoring worker's session plans each run's pairs (`Session::bertscore_plan`: per split,
//! in the run's order, as the CLI scores them). The model worker scores a split one chunk of
//! `batch` pairs at a time and hands each chunk back as soon as it is complete; the chunk is
//! written to IndexedDB and then given to the session (`Session::apply_bertscore`), whose
//! summaries, charts and exports then carry the `bertscore` metric. After a reload, the kept
//! chunks are given to the session again as soon as the runs are back, so nothing is computed
//! twice, and "Compute B.Score" resumes with the chunks still missing.
//!
//! The model's files come through the model worker's Cache API cache (downloaded once) or from
//! a dropped folder.

//! This file is the view; `driver.rs` runs the computations, with the state the panel owns;
//! `kept.rs` reads and offers the values kept in this browser.

mod driver;
mod kept;

pub(crate) use kept::clear_kept_bertscores;

use crate::dom::files_of;
use crate::model_worker_client::DEFAULT_BERTSCORE_URL;
use crate::state::AppState;
use driver::{Driver, Settings, compute};
use kept::restore_run;
use leptos::prelude::*;
use leptos::task::spawn_local;
use medhall_model_check::model_protocol::{BERTSCORE_FILES, ModelSource, model_name_of_url};
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::File;

/// bert_score's default batch size.
const DEFAULT_BATCH: u32 = 64;

/// The panel's reactive state.
#[derive(Clone, Copy)]
struct Ui {
    running: RwSignal<bool>,
    status: RwSignal<String>,
    error: RwSignal<Option<String>>,
    backend: RwSignal<Option<String>>,
    signature: RwSignal<Option<String>>,
    progress: RwSignal<Progress>,
    /// Values given back from this browser's storage (no computation).
    restored: RwSignal<usize>,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Progress {
    label: String,
    sentences_done: u32,
    sentences_total: u32,
    /// Sentences per second over this split so far.
    rate: Option<f64>,
    pairs_done: usize,
    pairs_total: usize,
    /// Pairs scored by the model in this page (not restored).
    computed: usize,
}

fn describe_seconds(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn progress_text(p: &Progress) -> String {
    if p.label.is_empty() {
        return String::new();
    }
    let mut text = format!(
        "{}: {}/{} sentences",
        p.label, p.sentences_done, p.sentences_total
    );
    if let Some(rate) = p.rate.filter(|r| *r > 0.0) {
        let left = f64::from(p.sentences_total.saturating_sub(p.sentences_done)) / rate;
        text.push_str(&format!(
            ", {rate:.2} sentences/s, about {} left",
            describe_seconds(left)
        ));
    }
    text.push_str(&format!(
        "; {}/{} pairs of the loaded runs have B.Score ({} computed here).",
        p.pairs_done, p.pairs_total, p.computed
    ));
    text
}

/// The picked folder's files that a B.Score model is read from, as bytes, with their names. The
/// rest is not read: a Hub folder also holds the same weights as pytorch_model.bin, tf_model.h5,
/// flax and ONNX files, gigabytes that must not be loaded into the page.
async fn read_files(files: &[File]) -> Result<(Vec<String>, Vec<js_sys::Uint8Array>), String> {
    let mut names = Vec::new();
    let mut bytes = Vec::new();
    let wanted = |name: &str| BERTSCORE_FILES.iter().any(|(w, _)| *w == name);
    for file in files.iter().filter(|f| wanted(&f.name())) {
        let buffer = JsFuture::from(file.array_buffer())
            .await
            .map_err(|e| format!("{}: cannot be read ({e:?})", file.name()))?;
        names.push(file.name());
        bytes.push(js_sys::Uint8Array::new(&buffer));
    }
    Ok((names, bytes))
}

/// The folder's name of a picked folder (`webkitRelativePath`'s first part), else "".
fn folder_name(files: &[File]) -> String {
    files
        .first()
        .and_then(|f| {
            js_sys::Reflect::get(f, &"webkitRelativePath".into())
                .ok()
                .and_then(|v| v.as_string())
        })
        .and_then(|path| path.split('/').next().map(str::to_owned))
        .unwrap_or_default()
}

#[component]
pub fn BertScorePanel(state: AppState) -> impl IntoView {
    let url = RwSignal::new(DEFAULT_BERTSCORE_URL.to_owned());
    let layer = RwSignal::new(String::new());
    let batch = RwSignal::new(DEFAULT_BATCH.to_string());
    let prefer_gpu = RwSignal::new(true);
    let folder: RwSignal<Vec<File>, LocalStorage> = RwSignal::new_local(Vec::new());
    let ui = Ui {
        running: RwSignal::new(false),
        status: RwSignal::new(String::new()),
        error: RwSignal::new(None),
        backend: RwSignal::new(None),
        signature: RwSignal::new(None),
        progress: RwSignal::new(Progress::default()),
        restored: RwSignal::new(0),
    };
    // The panel's run state (its worker, the computation in progress, the kept values' store),
    // handed to each computation.
    let driver = StoredValue::new_local(Rc::new(Driver::default()));

    // Kept values come back as soon as a run is listed (after a reload, or the same file
    // loaded again): once per run id.
    let run_ids = Memo::new(move |_| {
        state
            .runs
            .with(|runs| runs.iter().map(|r| r.id).collect::<Vec<_>>())
    });
    Effect::new(move |_| {
        if state.embedded {
            return;
        }
        for run in run_ids.get() {
            let driver = driver.get_value();
            if !driver.first_listing(run) {
                continue;
            }
            spawn_local(async move {
                match restore_run(&driver, run).await {
                    Ok(count) => ui.restored.update(|r| *r += count),
                    Err(error) => ui.error.set(Some(format!(
                        "Kept B.Score values could not be read: {error}"
                    ))),
                }
            });
        }
    });

    let start = move |_| {
        if ui.running.get_untracked() {
            return;
        }
        ui.error.set(None);
        let layer_text = layer.get_untracked().trim().to_owned();
        let layer = if layer_text.is_empty() {
            None
        } else {
            match layer_text.parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => {
                    ui.error.set(Some(format!(
                        "Layer: `{layer_text}` is not a whole number (leave it empty for bert_score's default)."
                    )));
                    return;
                }
            }
        };
        let batch = match batch.get_untracked().trim().parse::<u32>() {
            Ok(n) if n >= 1 => n,
            _ => {
                ui.error
                    .set(Some("Batch size: a whole number, at least 1.".to_owned()));
                return;
            }
        };
        let files = folder.get_untracked();
        let url_text = url.get_untracked().trim().to_owned();
        if files.is_empty() && url_text.is_empty() {
            ui.error.set(Some(
                "Give the model folder's URL or pick the folder.".to_owned(),
            ));
            return;
        }
        let prefer_gpu = prefer_gpu.get_untracked();
        let driver = driver.get_value();
        let control = driver.begin();
        ui.running.set(true);
        ui.progress.update(|p| *p = Progress::default());
        spawn_local(async move {
            let settings = if files.is_empty() {
                Settings {
                    model_name: model_name_of_url(&url_text),
                    source: ModelSource::Url { base_url: url_text },
                    files: Vec::new(),
                    layer,
                    batch,
                    prefer_gpu,
                }
            } else {
                match read_files(&files).await {
                    Ok((names, bytes)) => Settings {
                        model_name: folder_name(&files),
                        source: ModelSource::Files { names },
                        files: bytes,
                        layer,
                        batch,
                        prefer_gpu,
                    },
                    Err(error) => {
                        ui.running.set(false);
                        ui.error.set(Some(error));
                        return;
                    }
                }
            };
            compute(driver, state, ui, settings, control).await;
        });
    };

    let on_folder = move |ev: leptos::ev::Event| {
        let list = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
            .and_then(|input| input.files());
        folder.set(files_of(list));
    };

    view! {
        <section id="bertscore">
            <h2>"B.Score (BERTScore)"</h2>
            <details>
                <summary>"Compute B.Score for the loaded runs"</summary>
                <p class="note">
                    "B.Score is the mean BERTScore F1 of the benchmark's eval.py: bert_score 0.3.13 with "
                    "roberta-large, the output of its layer 17, no idf, no rescaling, the reference answer as "
                    "the candidate. It runs in this page, on WebGPU when the browser has it and on the CPU "
                    "otherwise; roberta-large's files (1.4 GB) are downloaded once and kept in the browser's "
                    "cache. Each chunk of answers is kept in this browser as it completes: a reload or a "
                    "cancel loses nothing, and the next run goes on where this one stopped."
                </p>
                <div class="form">
                    <label for="bertscore-url">"Model folder URL"</label>
                    <div class="field">
                        <input id="bertscore-url" type="url" aria-describedby="bertscore-url-help" prop:value=url
                            on:input=move |ev| url.set(event_target_value(&ev))/>
                        <p class="help" id="bertscore-url-help">"roberta-large's folder (config.json, tokenizer, safetensors weights), or pick the folder below."</p>
                    </div>
                    <label for="bertscore-files">"Model folder"</label>
                    <div class="field">
                        <input id="bertscore-files" type="file" multiple prop:webkitdirectory=true on:change=on_folder/>
                        {move || {
                            let n = folder.with(Vec::len);
                            (n > 0).then(|| view! {
                                <p class="help">{format!("{n} file(s) picked: they are used instead of the URL. ")}
                                    <button on:click=move |_| folder.set(Vec::new())>"Use the URL"</button>
                                </p>
                            })
                        }}
                    </div>
                    <label for="bertscore-layer">"Layer"</label>
                    <div class="field">
                        <input id="bertscore-layer" class="range" type="number" min="0" placeholder="auto" aria-describedby="bertscore-layer-help" prop:value=layer
                            on:input=move |ev| layer.set(event_target_value(&ev))/>
                        <p class="help" id="bertscore-layer-help">"Empty: bert_score's choice for the model's name (17 for roberta-large)."</p>
                    </div>
                    <label for="bertscore-batch">"Batch size"</label>
                    <div class="field">
                        <input id="bertscore-batch" class="range" type="number" min="1" aria-describedby="bertscore-batch-help" prop:value=batch
                            on:input=move |ev| batch.set(event_target_value(&ev))/>
                        <p class="help" id="bertscore-batch-help">"64 is bert_score's, and it changes scores slightly (its padding): keep it to match the leaderboard."</p>
                    </div>
                    <div class="field check">
                        <label>
                            <input id="bertscore-gpu" type="checkbox" aria-describedby="bertscore-gpu-help" prop:checked=prefer_gpu
                                on:change=move |ev| prefer_gpu.set(event_target_checked(&ev))/>
                            " Use WebGPU when available"
                        </label>
                        <p class="help" id="bertscore-gpu-help">
                            "Without WebGPU, roberta-large runs on one CPU core at a few sentences a minute (measured 0.04 "
                            "sentences/s on a 2-core machine): hours for a split. The progress line says the rate and the "
                            "time left; medhall score --bertscore is much faster on the same CPU."
                        </p>
                    </div>
                </div>
                <div class="actions">
                    <button id="bertscore-start" class="primary" on:click=start disabled=move || ui.running.get()>"Compute B.Score"</button>
                    <button id="bertscore-cancel" on:click=move |_| driver.with_value(|d| d.cancel()) disabled=move || !ui.running.get()>"Cancel"</button>
                </div>
                {move || ui.backend.get().map(|text| view! { <p class="note" id="bertscore-backend">{format!("Backend: {text}")}</p> })}
                <p class="note" id="bertscore-status">{move || ui.status.get()}</p>
                {move || {
                    let p = ui.progress.get();
                    let text = progress_text(&p);
                    view! {
                        <p class="note" id="bertscore-progress" data-running=ui.running.get().to_string()
                            data-sentences-done=p.sentences_done.to_string() data-sentences-total=p.sentences_total.to_string()
                            data-pairs-done=p.pairs_done.to_string() data-pairs-total=p.pairs_total.to_string()
                            data-computed=p.computed.to_string() data-restored=ui.restored.get().to_string()
                            data-backend=move || driver.with_value(|d| d.backend()).unwrap_or_default()>
                            {text}
                        </p>
                        <progress max=p.sentences_total.max(1).to_string() value=p.sentences_done.to_string() aria-label="B.Score progress"></progress>
                    }
                }}
                {move || ui.signature.get().map(|s| view! { <p class="note signature" id="bertscore-signature">{s}</p> })}
                {move || ui.error.get().map(|message| view! { <p class="error" id="bertscore-error" role="alert">{message}</p> })}
            </details>
        </section>
    }
}
