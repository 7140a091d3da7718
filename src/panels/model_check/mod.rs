//! The quick model check panel: a small VLM (SmolVLM + an optional LoRA adapter) answers benchmark
//! questions in the model worker (WebGPU, or the CPU backend without it), token by token; the
//! answers become a results file that is scored and charted like any dropped file.
//!
//! The model worker (`crates/model-worker`) is started only when the panel is opened, so its
//! wasm is not part of the page's first load.
//!
//! This file is the view; `driver.rs` drives the model worker, with the state the panel owns;
//! `images.rs` reads the questions' images.

mod driver;
mod images;

use crate::dom::{files_of, input_files};
use crate::model_worker_client::DEFAULT_VLM_URL;
use driver::{AnswerOptions, Driver, ask_sizes, load_model, run_questions};
use images::{GivenImages, ImageSource, drop_entries, given_images, relative_path, walk_entries};
use leptos::prelude::*;
use leptos::task::spawn_local;
use medhall_app::protocol::{Reply, Request};
use medhall_app::session::QuestionItem;
use medhall_core::export::redact_url;
use medhall_core::sample::Split;
use medhall_model_check::model_protocol::{
    AnswerTimings, ModelRequest, ModelSource, question_text,
};
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::File;

type MakeRequest = Box<dyn FnOnce(u32) -> Request>;
type OnReply = Box<dyn FnOnce(Reply)>;

/// What the page needs from the rest of the app.
#[derive(Clone, Copy)]
pub struct Host {
    /// Asks the scoring worker.
    pub ask: fn(MakeRequest, OnReply),
    /// Loads a results file as a run.
    pub add_run: Callback<web_sys::File>,
    /// The image base URL the user set, if any.
    pub image_base: Signal<Option<String>>,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Answered {
    item: Option<QuestionItem>,
    answer: String,
    ttft_ms: f64,
    tokens_per_s: Option<f64>,
    /// Images the vision encoder saw (tiles and the global image, or 1).
    image_tiles: u32,
    /// Where the time went (none from a worker that predates it).
    timings: Option<AnswerTimings>,
}

#[derive(Clone, Copy)]
struct Panel {
    backend: RwSignal<Option<String>>,
    status: RwSignal<String>,
    error: RwSignal<Option<String>>,
    loaded: RwSignal<Option<String>>,
    streaming: RwSignal<String>,
    answers: RwSignal<Vec<Answered>>,
    running: RwSignal<bool>,
    /// The question being answered, so that "Stop" can cancel it.
    current_job: RwSignal<Option<u32>>,
    stop: RwSignal<bool>,
    /// Weight bytes by quantization of the model at the URL, and the job that asked.
    sizes: RwSignal<Option<Vec<(String, u64)>>>,
    sizes_job: RwSignal<Option<u32>>,
    sizes_url: RwSignal<Option<String>>,
    /// The worker died (a panic traps its wasm): it must be restarted before the next load.
    crashed: RwSignal<bool>,
    /// The weights to load: preselected for the backend once the worker says which it has
    /// (with the reason shown beside them), until the user picks.
    quantization: RwSignal<String>,
    weights_why: RwSignal<Option<String>>,
    weights_picked: RwSignal<bool>,
}

/// A quantization choice with the model's weight size in it, once known.
fn size_label(panel: Panel, quantization: &str, text: &str) -> String {
    let bytes = panel.sizes.with(|sizes| {
        sizes
            .as_ref()
            .and_then(|s| s.iter().find(|(q, _)| q == quantization).map(|(_, b)| *b))
    });
    match bytes {
        // Computed from config.json before anything large downloads (nominal: WebGPU's packed
        // layout); the size after Load is measured from the tensors held.
        Some(b) if b < 100_000_000 => {
            format!("{text}: weights {:.1} MB (nominal)", b as f64 / 1e6)
        }
        Some(b) => format!("{text}: weights {:.0} MB (nominal)", b as f64 / 1e6),
        None => text.to_owned(),
    }
}

/// The official prediction format, one object a line, with the split and the check's settings.
fn predictions_jsonl(answers: &[Answered], settings: &serde_json::Value) -> String {
    answers
        .iter()
        .filter_map(|a| {
            let item = a.item.as_ref()?;
            let line = serde_json::json!({
                "question_id": item.key.question_id,
                "split": item.key.split.as_str(),
                "image": item.image,
                "question": item.question,
                "answer": a.answer,
                "model_check": settings,
            });
            Some(format!("{line}\n"))
        })
        .collect()
}

#[component]
pub fn ModelPanel(host: Host) -> impl IntoView {
    let panel = Panel {
        backend: RwSignal::new(None),
        status: RwSignal::new(String::new()),
        error: RwSignal::new(None),
        loaded: RwSignal::new(None),
        streaming: RwSignal::new(String::new()),
        answers: RwSignal::new(Vec::new()),
        running: RwSignal::new(false),
        current_job: RwSignal::new(None),
        stop: RwSignal::new(false),
        sizes: RwSignal::new(None),
        sizes_job: RwSignal::new(None),
        sizes_url: RwSignal::new(None),
        crashed: RwSignal::new(false),
        // "q8_0": int8 weights and activations in blocks of 32 along the input (medhall-model's
        // q8; runs before issue 13 recorded "q8" for a different scheme).
        quantization: RwSignal::new("q8_0".to_owned()),
        weights_why: RwSignal::new(None),
        weights_picked: RwSignal::new(false),
    };
    // The panel's run state (its worker, the job numbers), handed to each request.
    let driver = StoredValue::new_local(Rc::new(Driver::default()));
    let model_url = RwSignal::new(DEFAULT_VLM_URL.to_owned());
    let adapter_url = RwSignal::new(String::new());
    let adapter_files: RwSignal<Vec<File>, LocalStorage> = RwSignal::new_local(Vec::new());
    let images: RwSignal<Option<Rc<GivenImages>>, LocalStorage> = RwSignal::new_local(None);
    let quantization = panel.quantization;
    let count = RwSignal::new(20usize);
    let seed = RwSignal::new(1u64);
    let max_tokens = RwSignal::new(64u32);
    let adapter_on = RwSignal::new(true);
    // Off: images are cut as the model's processor config says (SmolVLM's: tiles plus a global
    // image, as its model card does); on: one tile, far fewer image tokens and encoder passes.
    let one_tile = RwSignal::new(false);
    let split = RwSignal::new(String::new());
    let type_filter = RwSignal::new(String::new());
    let last_jsonl = RwSignal::new(String::new());

    let on_toggle = move |ev: leptos::ev::Event| {
        let open = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlDetailsElement>().ok())
            .is_some_and(|d| d.open());
        // Starting the worker requests only this page's own files; nothing leaves the origin
        // until the user clicks Show sizes or Load.
        if open && let Err(e) = driver.with_value(|d| d.start(panel)) {
            panel.error.set(Some(e));
        }
    };

    let load = move |_| {
        panel.error.set(None);
        panel.loaded.set(None);
        let driver = driver.get_value();
        ask_sizes(&driver, panel, model_url.get_untracked());
        let job = driver.next_job();
        let url = adapter_url.get_untracked().trim().to_owned();
        let files = adapter_files.get_untracked();
        if !url.is_empty() && !files.is_empty() {
            panel.error.set(Some(
                "Give the adapter as a URL or as files, not both: clear one of them.".to_owned(),
            ));
            return;
        }
        let adapter = if !files.is_empty() {
            Some(ModelSource::Files {
                names: files.iter().map(relative_path).collect(),
            })
        } else {
            (!url.is_empty()).then_some(ModelSource::Url { base_url: url })
        };
        let request = ModelRequest::Load {
            job,
            model: ModelSource::Url {
                base_url: model_url.get_untracked(),
            },
            adapter,
            quantization: quantization.get_untracked(),
            merge: false,
        };
        spawn_local(load_model(driver, panel, job, request, files));
    };

    let take_images = move |files: Vec<(String, File)>, label: String| {
        panel.error.set(None);
        spawn_local(async move {
            match given_images(files, label).await {
                Ok(given) => images.set(Some(Rc::new(given))),
                Err(e) => panel.error.set(Some(format!("Images: {e}"))),
            }
        });
    };
    let on_images_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        let entries = drop_entries(&ev);
        // Without entries (a browser or drag source that offers none) the dropped files
        // themselves are used: a zip, or loose images.
        let loose: Vec<(String, File)> = files_of(ev.data_transfer().and_then(|d| d.files()))
            .into_iter()
            .map(|f| (f.name(), f))
            .collect();
        spawn_local(async move {
            if entries.is_empty() {
                return take_images(loose, "the dropped files".to_owned());
            }
            match walk_entries(entries).await {
                Ok(files) => take_images(files, "the dropped files".to_owned()),
                Err(e) => panel.error.set(Some(format!("Images: {e}"))),
            }
        });
    };

    let run = move |_| {
        panel.error.set(None);
        let source = match (images.get_untracked(), host.image_base.get_untracked()) {
            (Some(given), _) => ImageSource::Given(given),
            (None, Some(base)) => ImageSource::Url(base),
            (None, None) => {
                panel.error.set(Some(
                    "Give the questions' images: drop a folder or a zip of them here, or set an image base URL (sample table)."
                        .to_owned(),
                ));
                return;
            }
        };
        let images_used = source.describe();
        let split = match split.get_untracked().as_str() {
            "positive" => Some(Split::Positive),
            "negative" => Some(Split::Negative),
            _ => None,
        };
        let (n, s) = (count.get_untracked(), seed.get_untracked());
        let type_value =
            Some(type_filter.get_untracked().trim().to_owned()).filter(|t| !t.is_empty());
        let type_asked = type_value.clone();
        panel.running.set(true);
        panel.stop.set(false);
        panel.answers.set(Vec::new());
        (host.ask)(
            Box::new(move |id| Request::Questions {
                id,
                count: n,
                seed: s,
                split,
                type_value,
            }),
            Box::new(move |reply| {
                let Reply::Questions { questions } = reply else {
                    panel.running.set(false);
                    return;
                };
                if questions.is_empty() {
                    panel.error.set(Some(
                        "No loaded reference question with an image matches the split and type: load reference shards first, or change the filter."
                            .to_owned(),
                    ));
                    panel.running.set(false);
                    return;
                }
                spawn_local(run_questions(
                    driver.get_value(),
                    panel,
                    questions,
                    source,
                    AnswerOptions {
                        max_new_tokens: max_tokens.get_untracked(),
                        adapter_enabled: adapter_on.get_untracked(),
                        one_tile: one_tile.get_untracked(),
                    },
                    move |answers| {
                        let adapter = adapter_files.with_untracked(|files| {
                            if files.is_empty() {
                                redact_url(&adapter_url.get_untracked())
                            } else {
                                format!(
                                    "given files: {}",
                                    files
                                        .iter()
                                        .map(relative_path)
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )
                            }
                        });
                        let settings = serde_json::json!({
                            // Written into every line of a file that may be shared: no
                            // query, fragment or credentials (a token in a URL would leak).
                            "model": redact_url(&model_url.get_untracked()),
                            "adapter": adapter,
                            "images": images_used.clone(),
                            "adapter_enabled": adapter_on.get_untracked(),
                            // true: one tile a question; false: as the processor config
                            // says (tiles plus a global image when it splits images).
                            "one_tile": one_tile.get_untracked(),
                            "quantization": quantization.get_untracked(),
                            "backend": panel.backend.get_untracked(),
                            "seed": s,
                            "split": split.map(|s| s.as_str()),
                            "type": type_asked.clone(),
                            "max_new_tokens": max_tokens.get_untracked(),
                        });
                        let jsonl = predictions_jsonl(answers, &settings);
                        last_jsonl.set(jsonl.clone());
                        let name = format!(
                            "model-check {} n{} seed{}.jsonl",
                            quantization.get_untracked(),
                            answers.len(),
                            s
                        );
                        let parts = js_sys::Array::of1(&JsValue::from_str(&jsonl));
                        match web_sys::File::new_with_str_sequence(&parts, &name) {
                            Ok(file) => host.add_run.run(file),
                            Err(e) => panel.error.set(Some(format!("{e:?}"))),
                        }
                    },
                ));
            }),
        );
    };

    view! {
        <section id="model-check">
            <h2>"Quick model check"</h2>
            <details on:toggle=on_toggle>
                <summary>"Run a small VLM (SmolVLM + LoRA) on benchmark questions in this browser"</summary>
                <p class="note">"The model runs on your GPU through WebGPU (or on the CPU, slowly, without it). "
                    "Model files are downloaded once from the URLs below and kept in this browser's cache."</p>
                <p class="note model-backend">{move || match panel.backend.get() {
                    Some(b) => format!("Backend: {b}"),
                    None if panel.crashed.get() => "The model worker stopped.".to_owned(),
                    None => "Starting the model worker…".to_owned(),
                }}</p>
                <div class="form">
                    <label for="model-url">"Model folder URL"</label>
                    <div class="field">
                        <input type="url" id="model-url" class="model-url" prop:value=model_url on:change=move |ev| {
                            model_url.set(event_target_value(&ev));
                            panel.sizes.set(None);
                            panel.sizes_url.set(None);
                        }/>
                        <p class="help">"A folder holding SmolVLM's config.json, tokenizer and safetensors weights."</p>
                    </div>
                    <label for="adapter-url">"LoRA adapter URL"</label>
                    <div class="field">
                        <input type="url" id="adapter-url" class="adapter-url" prop:value=adapter_url on:change=move |ev| adapter_url.set(event_target_value(&ev))/>
                        <p class="help">"Optional: the adapter's folder, or its files below (not both)."</p>
                    </div>
                    <label for="adapter-files">"LoRA adapter files"</label>
                    <div class="field">
                        <input type="file" id="adapter-files" class="adapter-files" multiple accept=".json,.safetensors"
                            on:change=move |ev| adapter_files.set(input_files(&ev))/>
                        <p class="help">"adapter_config.json and adapter_model.safetensors; pick or drop them."</p>
                    </div>
                    <label for="model-quantization">"Weights"</label>
                    <div class="field">
                        <select id="model-quantization" class="quantization" on:change=move |ev| {
                            quantization.set(event_target_value(&ev));
                            panel.weights_picked.set(true);
                            panel.weights_why.set(None);
                        }>
                            <option value="q8_0" selected=move || quantization.get() == "q8_0">{move || size_label(panel, "q8_0", "q8_0 (8-bit blocks)")}</option>
                            <option value="q4" selected=move || quantization.get() == "q4">{move || size_label(panel, "q4", "q4 (4-bit blocks)")}</option>
                            <option value="none" selected=move || quantization.get() == "none">{move || size_label(panel, "none", "f32 (not quantized)")}</option>
                        </select>
                        {move || panel.weights_why.get().map(|why| view! { <p class="help model-weights-why">{why}</p> })}
                        <p class="help">"Show sizes reads the model's config.json and gives each choice its download size."</p>
                    </div>
                </div>
                <div class="actions">
                    <button class="model-sizes" disabled=move || panel.backend.get().is_none()
                        title=move || format!("Reads config.json from {}", medhall_core::url_policy::destination_label(&crate::dom::page_url(), &model_url.get()))
                        on:click=move |_| driver.with_value(|d| ask_sizes(d, panel, model_url.get_untracked()))>"Show sizes"</button>
                    <button class="model-load primary" disabled=move || panel.backend.get().is_none() on:click=load>"Load model"</button>
                    {move || panel.crashed.get().then(|| view! {
                        <button class="model-restart" on:click=move |_| {
                            panel.error.set(None);
                            if let Err(e) = driver.with_value(|d| d.start(panel)) {
                                panel.error.set(Some(e));
                            }
                        }>"Restart the model worker"</button>
                    })}
                    <button class="model-clear-cache" on:click=move |_| {
                        if let Err(e) = driver.with_value(|d| d.send(&ModelRequest::ClearCache)) {
                            panel.error.set(Some(e));
                        }
                    }>"Delete cached models"</button>
                </div>
                <p class="help model-host">{move || format!("Show sizes and Load request files from {}.", medhall_core::url_policy::destination_label(&crate::dom::page_url(), &model_url.get()))}</p>
                <p class="note model-status">{move || panel.status.get()}</p>
                <p class="note model-loaded">{move || panel.loaded.get()}</p>
                <div class="drop model-images" on:dragover=move |ev: leptos::ev::DragEvent| ev.prevent_default() on:drop=on_images_drop>
                    <p>"Images: drop a folder of the questions' images or a zip of them here (files are matched by name; a zip is read one image at a time), or pick one:"</p>
                    <div class="form">
                        <label for="model-images-folder">"Images folder"</label>
                        <div class="field">
                            <input type="file" id="model-images-folder" class="model-images-folder" multiple prop:webkitdirectory=true
                                on:change=move |ev| take_images(input_files(&ev).into_iter().map(|f| (relative_path(&f), f)).collect(), "the picked folder".to_owned())/>
                        </div>
                        <label for="model-images-zip">"Images zip"</label>
                        <div class="field">
                            <input type="file" id="model-images-zip" class="model-images-zip" accept=".zip,application/zip"
                                on:change=move |ev| take_images(input_files(&ev).into_iter().map(|f| (relative_path(&f), f)).collect(), "the picked zip".to_owned())/>
                        </div>
                    </div>
                    <p class="note model-images-source">{move || match images.get() {
                        Some(given) => format!("Images: {}.", given.describe()),
                        None => host.image_base.get().map_or_else(
                            || "No images given yet (and no image base URL is set).".to_owned(),
                            |base| format!("Images: from the image base URL {base}"),
                        ),
                    }}</p>
                    <button class="model-images-clear" on:click=move |_| images.set(None)>"Forget the given images"</button>
                </div>
                <div class="form model-run">
                    <label for="model-count">"Questions"</label>
                    <div class="field">
                        <input type="number" id="model-count" class="model-count" min="1" prop:value=move || count.get().to_string() on:change=move |ev| count.set(event_target_value(&ev).parse().unwrap_or(20))/>
                        <p class="help">"How many loaded reference questions with an image to answer, drawn at random."</p>
                    </div>
                    <label for="model-seed">"Seed"</label>
                    <div class="field">
                        <input type="number" id="model-seed" class="model-seed" prop:value=move || seed.get().to_string() on:change=move |ev| seed.set(event_target_value(&ev).parse().unwrap_or(1))/>
                        <p class="help">"The same seed draws the same questions."</p>
                    </div>
                    <label for="model-split">"Split"</label>
                    <div class="field">
                        <select id="model-split" class="model-split" on:change=move |ev| split.set(event_target_value(&ev))>
                            <option value="">"both"</option>
                            <option value="positive">"positive"</option>
                            <option value="negative">"negative"</option>
                        </select>
                    </div>
                    <label for="model-type">"Type"</label>
                    <div class="field">
                        <input type="text" id="model-type" class="model-type" placeholder="any" prop:value=type_filter on:change=move |ev| type_filter.set(event_target_value(&ev))/>
                        <p class="help">"A hallucination type, as the type map names it; empty for any."</p>
                    </div>
                    <label for="model-max-tokens">"Max tokens"</label>
                    <div class="field">
                        <input type="number" id="model-max-tokens" class="model-max-tokens" min="1" prop:value=move || max_tokens.get().to_string() on:change=move |ev| max_tokens.set(event_target_value(&ev).parse().unwrap_or(64))/>
                        <p class="help">"The longest answer, in tokens."</p>
                    </div>
                    <div class="field check">
                        <label><input type="checkbox" class="model-adapter-on" prop:checked=adapter_on on:change=move |ev| adapter_on.set(event_target_checked(&ev))/>" adapter on"</label>
                    </div>
                    <div class="field check">
                        <label><input type="checkbox" class="model-one-tile" prop:checked=one_tile on:change=move |ev| one_tile.set(event_target_checked(&ev))/>" one tile (faster)"</label>
                        <p class="help">"SmolVLM's processor cuts a large image into 512-pixel tiles plus a global view (up to 17 encoder passes, about 1,100 image tokens); one tile squashes the image into one (64 tokens): faster, but not what the model card does."</p>
                    </div>
                </div>
                <div class="actions">
                    <button class="model-run-button primary" disabled=move || panel.running.get() || panel.loaded.get().is_none() on:click=run>"Run"</button>
                    <button class="model-stop" disabled=move || !panel.running.get() on:click=move |_| {
                        panel.stop.set(true);
                        if let Some(job) = panel.current_job.get_untracked()
                            && let Err(e) = driver.with_value(|d| d.send(&ModelRequest::Cancel { job }))
                        {
                            panel.error.set(Some(e));
                        }
                    }>"Stop"</button>
                    <button on:click=move |_| {
                        let jsonl = last_jsonl.get_untracked();
                        if !jsonl.is_empty() {
                            let _ = crate::download::download_text("model-check.predictions.jsonl", "application/x-ndjson", &jsonl);
                        }
                    }>"Download predictions (official format)"</button>
                </div>
                {move || panel.error.get().map(|e| view! { <p class="error model-error">{e}</p> })}
                <p class="model-streaming">{move || panel.streaming.get()}</p>
                <ol class="model-answers">
                    {move || panel.answers.get().into_iter().map(|a| {
                        let question = a.item.as_ref().map(|i| question_text(&i.question)).unwrap_or_default();
                        let rate = a.tokens_per_s.map_or("–".to_owned(), |r| format!("{r:.1}"));
                        view! {
                            <li>
                                <p class="q">{question}</p>
                                <p class="a">{a.answer.clone()}</p>
                                <p class="note">{format!("{} image tile{}, time to first token {:.0} ms, {rate} tokens/s", a.image_tiles, if a.image_tiles == 1 { "" } else { "s" }, a.ttft_ms)}</p>
                                {a.timings.as_ref().map(|t| view! { <p class="note model-timings">{format!("Where the time went: {}.", t.summary())}</p> })}
                            </li>
                        }
                    }).collect_view()}
                </ol>
            </details>
        </section>
    }
}
