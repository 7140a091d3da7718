//! The message loop: requests in, events out, the model in between.

use crate::fetch::{clear_cache, fetch_cached, open_cache};
use burn::prelude::*;
use js_sys::{Reflect, Uint8Array};
use medhall_metrics::signature::bertscore_signature;
use medhall_model::bertscore::{BertScoreFiles, BertScorer, default_layer};
use medhall_model::config::Idefics3Config;
use medhall_model::generate::{
    GenerationOptions, Pause, Sampling, StopReason, generate_pausing, read_row,
};
use medhall_model::image::{ImageSettings, TileGrid, Tiling, decode, process};
use medhall_model::nn::{QuantStorage, Quantization};
use medhall_model::prompt::Prompter;
use medhall_model::roberta::RobertaConfig;
use medhall_model::text::KvCache;
use medhall_model::vlm::{AdapterFiles, AdapterMode, Idefics3, LoadOptions, ModelFiles};
use medhall_model_check::model_protocol::BERTSCORE_FILES;
use medhall_model_check::model_protocol::{
    ADAPTER_FILES, AnswerTimings, MODEL_FILES, MODEL_PROTOCOL_VERSION, ModelEvent, ModelRequest,
    ModelSource, match_files,
};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::spawn_local;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

struct Loaded {
    model: Idefics3,
    prompter: Prompter,
    image_settings: ImageSettings,
}

thread_local! {
    static DEVICE: RefCell<Option<Device>> = const { RefCell::new(None) };
    /// The running (or finished) `Init`.
    static INIT: RefCell<Option<js_sys::Promise>> = const { RefCell::new(None) };
    static MODEL: RefCell<Option<Rc<Loaded>>> = const { RefCell::new(None) };
    static CANCELLED: RefCell<BTreeMap<u32, Rc<Cell<bool>>>> = const { RefCell::new(BTreeMap::new()) };
    /// The B.Score model (a RoBERTa encoder cut to its layer), loaded beside the VLM.
    static BERT: RefCell<Option<Rc<BertLoaded>>> = const { RefCell::new(None) };
    /// The WebGPU device's largest storage buffer (as the adapter grants it): encoder batches
    /// whose activations would not fit run in parts. `None` on the CPU backend.
    static BUFFER_LIMIT: Cell<Option<u64>> = const { Cell::new(None) };
}

struct BertLoaded {
    scorer: BertScorer,
    batch_size: usize,
}

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn now() -> f64 {
    js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("performance"))
        .ok()
        .and_then(|p| p.dyn_into::<web_sys::Performance>().ok())
        .map_or_else(js_sys::Date::now, |p| p.now())
}

fn post(event: &ModelEvent) {
    if let Ok(text) = serde_json::to_string(event) {
        let _ = scope().post_message(&JsValue::from_str(&text));
    }
}

fn fail(job: Option<u32>, message: String) {
    post(&ModelEvent::Error { job, message });
}

pub fn start() {
    // A panic leaves the wasm instance unusable: say what happened to the page (which then
    // fails the pending work and offers a restart) before the trap ends this worker's task.
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        fail(None, format!("the model worker crashed: {info}"));
    }));
    let handler = Closure::<dyn FnMut(MessageEvent)>::new(on_message);
    scope().set_onmessage(Some(handler.as_ref().unchecked_ref()));
    handler.forget();
    post(&ModelEvent::Started {
        version: MODEL_PROTOCOL_VERSION,
    });
}

fn on_message(event: MessageEvent) {
    let data = event.data();
    let text = Reflect::get(&data, &JsValue::from_str("msg"))
        .ok()
        .and_then(|v| v.as_string());
    let bytes = Reflect::get(&data, &JsValue::from_str("bytes"))
        .ok()
        .and_then(|v| v.dyn_into::<Uint8Array>().ok())
        .map(|a| a.to_vec());
    // Dropped model or adapter files, in the order their `ModelSource::Files` names them.
    let files: Vec<Vec<u8>> = Reflect::get(&data, &JsValue::from_str("files"))
        .ok()
        .filter(js_sys::Array::is_array)
        .map(|v| {
            js_sys::Array::from(&v)
                .iter()
                .map(|f| {
                    f.dyn_into::<Uint8Array>()
                        .map_or_else(|_| Vec::new(), |a| a.to_vec())
                })
                .collect()
        })
        .unwrap_or_default();
    let Some(text) = text else {
        return fail(None, "a message without `msg` text".to_owned());
    };
    let request = match serde_json::from_str::<ModelRequest>(&text) {
        Ok(request) => request,
        Err(e) => return fail(None, format!("an unreadable request: {e}")),
    };
    match request {
        ModelRequest::Init { prefer_gpu } => {
            // Kept so that a request arriving while WebGPU starts waits for it (see `device`).
            let starting = wasm_bindgen_futures::future_to_promise(async move {
                init(prefer_gpu).await;
                Ok(JsValue::UNDEFINED)
            });
            INIT.with(|i| *i.borrow_mut() = Some(starting));
        }
        ModelRequest::Load {
            job,
            model,
            adapter,
            quantization,
            merge,
        } => spawn_local(async move {
            if let Err(message) = load(job, model, adapter, files, &quantization, merge).await {
                fail(Some(job), message);
            }
        }),
        ModelRequest::Generate {
            job,
            question,
            image_name,
            max_new_tokens,
            adapter_enabled,
            one_tile,
        } => {
            let tiling = if one_tile {
                Tiling::OneTile
            } else {
                Tiling::AsConfigured
            };
            let cancelled = Rc::new(Cell::new(false));
            CANCELLED.with(|c| c.borrow_mut().insert(job, cancelled.clone()));
            spawn_local(async move {
                let options = AnswerOptions {
                    max_new_tokens,
                    adapter_enabled,
                    tiling,
                };
                let result = answer(
                    job,
                    &question,
                    &image_name,
                    bytes.unwrap_or_default(),
                    options,
                    cancelled,
                )
                .await;
                CANCELLED.with(|c| c.borrow_mut().remove(&job));
                if let Err(message) = result {
                    fail(Some(job), message);
                }
            });
        }
        ModelRequest::Logits { job, question } => spawn_local(async move {
            if let Err(message) = logits(job, &question, bytes.unwrap_or_default()).await {
                fail(Some(job), message);
            }
        }),
        ModelRequest::Sizes { job, model } => spawn_local(async move {
            match sizes(job, &model, files).await {
                Ok(bytes) => post(&ModelEvent::Sizes { job, bytes }),
                Err(message) => fail(Some(job), message),
            }
        }),
        ModelRequest::Cancel { job } => CANCELLED.with(|c| {
            if let Some(flag) = c.borrow().get(&job) {
                flag.set(true);
            }
        }),
        ModelRequest::BertScoreLoad {
            job,
            model,
            model_name,
            layer,
            batch_size,
        } => spawn_local(async move {
            if let Err(message) = bert_load(job, model, files, &model_name, layer, batch_size).await
            {
                fail(Some(job), message);
            }
        }),
        ModelRequest::BertScore { job, pairs, done } => {
            let cancelled = Rc::new(Cell::new(false));
            CANCELLED.with(|c| c.borrow_mut().insert(job, cancelled.clone()));
            spawn_local(async move {
                let result = bert_score(job, &pairs, &done, cancelled).await;
                CANCELLED.with(|c| c.borrow_mut().remove(&job));
                if let Err(message) = result {
                    fail(Some(job), message);
                }
            });
        }
        ModelRequest::ClearCache => spawn_local(async {
            match clear_cache().await {
                Ok(files) => post(&ModelEvent::CacheCleared { files }),
                Err(message) => fail(None, message),
            }
        }),
    }
}

fn has_webgpu() -> bool {
    let navigator = scope().navigator();
    Reflect::get(&navigator, &JsValue::from_str("gpu")).is_ok_and(|gpu| !gpu.is_undefined())
}

async fn init(prefer_gpu: bool) {
    let (device, backend, info, reason) = if !prefer_gpu {
        (
            Device::flex(),
            "cpu",
            None,
            Some("the CPU backend was asked for".to_owned()),
        )
    } else if !has_webgpu() {
        (
            Device::flex(),
            "cpu",
            None,
            Some("this browser offers no WebGPU (navigator.gpu is missing)".to_owned()),
        )
    } else {
        webgpu().await
    };
    DEVICE.with(|d| *d.borrow_mut() = Some(device));
    post(&ModelEvent::Ready {
        version: MODEL_PROTOCOL_VERSION,
        backend: backend.to_owned(),
        adapter_info: info,
        fallback_reason: reason,
    });
}

/// WebGPU's device, or the CPU backend and why not.
#[cfg(feature = "wgpu")]
async fn webgpu() -> (Device, &'static str, Option<String>, Option<String>) {
    match Device::wgpu_options().init_with_setup_async().await {
        Ok((device, setup)) => {
            let limits = setup.device.limits();
            BUFFER_LIMIT.with(|b| {
                b.set(Some(
                    limits
                        .max_storage_buffer_binding_size
                        .min(limits.max_buffer_size),
                ))
            });
            let i = setup.adapter.get_info();
            let info = format!(
                "{} ({:?}, {:?}{}{})",
                i.name,
                i.backend,
                i.device_type,
                if i.driver.is_empty() { "" } else { ", " },
                i.driver
            );
            (device, "webgpu", Some(info), None)
        }
        Err(e) => (
            Device::flex(),
            "cpu",
            None,
            Some(format!("WebGPU could not start: {e}")),
        ),
    }
}

/// Builds without the `wgpu` feature (the threaded build) have only the CPU backend.
#[cfg(not(feature = "wgpu"))]
async fn webgpu() -> (Device, &'static str, Option<String>, Option<String>) {
    (
        Device::flex(),
        "cpu",
        None,
        Some("this build of the model worker has no WebGPU (the threaded CPU build)".to_owned()),
    )
}

/// The device `Init` chose, once it has (WebGPU takes a while to start).
async fn device() -> Result<Device, String> {
    if let Some(starting) = INIT.with(|i| i.borrow().clone()) {
        let _ = wasm_bindgen_futures::JsFuture::from(starting).await;
    }
    DEVICE
        .with(|d| d.borrow().clone())
        .ok_or_else(|| "the worker was not initialised (send `init` first)".to_owned())
}

struct Files {
    files: BTreeMap<&'static str, Vec<u8>>,
    network: u32,
    cached: u32,
    cache_error: Option<String>,
}

/// A model's or adapter's files: fetched (through the cache) from a URL, or taken from the
/// dropped files sent with the request (`given` yields them in order).
async fn read_source(
    job: u32,
    source: &ModelSource,
    names: &[(&'static str, bool)],
    given: &mut impl Iterator<Item = Vec<u8>>,
) -> Result<Files, String> {
    match source {
        ModelSource::Url { base_url } => fetch_folder(job, base_url, names).await,
        ModelSource::Files { names: given_names } => {
            let mut bytes: Vec<Option<Vec<u8>>> = given.take(given_names.len()).map(Some).collect();
            if bytes.len() != given_names.len() {
                return Err(format!(
                    "{} files were named but {} sent",
                    given_names.len(),
                    bytes.len()
                ));
            }
            let mut files = BTreeMap::new();
            for (name, index) in match_files(given_names, names)? {
                if let Some(b) = bytes.get_mut(index).and_then(Option::take) {
                    files.insert(name, b);
                }
            }
            Ok(Files {
                files,
                network: 0,
                cached: 0,
                cache_error: None,
            })
        }
    }
}

async fn fetch_folder(
    job: u32,
    base_url: &str,
    names: &[(&'static str, bool)],
) -> Result<Files, String> {
    let cache = open_cache().await.ok();
    let base = if base_url.ends_with('/') {
        base_url.to_owned()
    } else {
        format!("{base_url}/")
    };
    let mut out = Files {
        files: BTreeMap::new(),
        network: 0,
        cached: 0,
        cache_error: cache
            .is_none()
            .then(|| "the Cache API is not available here; files will download again".to_owned()),
    };
    for &(name, optional) in names {
        let url = format!("{base}{name}");
        let mut last = 0.0;
        let fetched = fetch_cached(
            cache.as_ref(),
            &url,
            optional,
            &mut |loaded, total, cached| {
                let t = now();
                if t - last > 100.0 || total == Some(loaded) {
                    last = t;
                    post(&ModelEvent::Progress {
                        job,
                        file: name.to_owned(),
                        loaded,
                        total,
                        cached,
                    });
                }
            },
        )
        .await?;
        if let Some(fetched) = fetched {
            if fetched.cached {
                out.cached += 1;
            } else {
                out.network += 1;
            }
            if out.cache_error.is_none() {
                out.cache_error = fetched.cache_error;
            }
            out.files.insert(name, fetched.bytes);
        }
    }
    Ok(out)
}

async fn load(
    job: u32,
    source: ModelSource,
    adapter: Option<ModelSource>,
    given: Vec<Vec<u8>>,
    quantization: &str,
    merge: bool,
) -> Result<(), String> {
    let device = device().await?;
    let quantization = Quantization::parse(quantization)
        .ok_or_else(|| format!("quantization `{quantization}` is not none, q8 or q4"))?;
    let start = now();
    MODEL.with(|m| *m.borrow_mut() = None);
    let mut given = given.into_iter();
    let mut model_files = read_source(job, &source, MODEL_FILES, &mut given)
        .await
        .map_err(|e| format!("model: {e}"))?;
    let adapter_files = match &adapter {
        Some(a) => Some(
            read_source(job, a, ADAPTER_FILES, &mut given)
                .await
                .map_err(|e| format!("adapter: {e}"))?,
        ),
        None => None,
    };
    let file = |files: &Files, name: &str| -> Result<Vec<u8>, String> {
        files
            .files
            .get(name)
            .cloned()
            .ok_or_else(|| format!("{name} is missing"))
    };
    let weights = model_files
        .files
        .remove("model.safetensors")
        .ok_or("model.safetensors is missing")?;
    let config = file(&model_files, "config.json")?;
    let adapter_bytes = match &adapter_files {
        Some(f) => Some((
            file(f, "adapter_config.json")?,
            file(f, "adapter_model.safetensors")?,
        )),
        None => None,
    };
    let adapter_refs = adapter_bytes
        .as_ref()
        .map(|(config, weights)| AdapterFiles { config, weights });
    let mode = if merge {
        AdapterMode::Merged
    } else {
        AdapterMode::Unmerged
    };
    let model = Idefics3::load(
        &ModelFiles {
            config: &config,
            weights: &weights,
        },
        adapter_refs.as_ref().map(|a| (a, mode)),
        LoadOptions { quantization },
        &device,
    )
    .map_err(|e| e.to_string())?;
    drop(weights);
    let processor = model_files.files.get("processor_config.json");
    let settings = ImageSettings::for_model(
        processor.map(Vec::as_slice),
        model_files
            .files
            .get("preprocessor_config.json")
            .map(Vec::as_slice),
        &model.config,
    )
    .map_err(|e| e.to_string())?;
    let template = model_files
        .files
        .get("chat_template.jinja")
        .or_else(|| model_files.files.get("chat_template.json"));
    let prompter = Prompter::new(
        &file(&model_files, "tokenizer.json")?,
        processor.map(Vec::as_slice),
        model.config.image_tokens(),
        model_files
            .files
            .get("generation_config.json")
            .map(Vec::as_slice),
        template.map(Vec::as_slice),
    )
    .map_err(|e| e.to_string())?;
    let weight_bytes = model
        .stored_bytes()
        .unwrap_or_else(|| model.nominal_bytes()) as u64;
    let (network, cached) = (
        model_files.network + adapter_files.as_ref().map_or(0, |f| f.network),
        model_files.cached + adapter_files.as_ref().map_or(0, |f| f.cached),
    );
    let cache_error = model_files
        .cache_error
        .take()
        .or_else(|| adapter_files.and_then(|f| f.cache_error));
    MODEL.with(|m| {
        *m.borrow_mut() = Some(Rc::new(Loaded {
            model,
            prompter,
            image_settings: settings,
        }))
    });
    post(&ModelEvent::Loaded {
        job,
        weight_bytes,
        load_ms: now() - start,
        network_files: network,
        cached_files: cached,
        cache_error,
    });
    Ok(())
}

/// The weight bytes of the model at `source` in each quantization, from its config.json.
async fn sizes(
    job: u32,
    source: &ModelSource,
    given: Vec<Vec<u8>>,
) -> Result<Vec<(String, u64)>, String> {
    let files = read_source(
        job,
        source,
        &[("config.json", false)],
        &mut given.into_iter(),
    )
    .await?;
    let config = files
        .files
        .get("config.json")
        .ok_or("config.json is missing")?;
    let config = Idefics3Config::from_json("config.json", config).map_err(|e| e.to_string())?;
    // As this worker's backend stores quantized values: burn's CPU backend keeps q4 one value
    // a byte (as large as q8), WebGPU packs it.
    let storage = QuantStorage::of(&device().await?);
    Ok([Quantization::None, Quantization::Q8, Quantization::Q4]
        .into_iter()
        .map(|q| {
            let bytes = config.weight_bytes_stored(q, storage);
            (q.name().to_owned(), bytes as u64)
        })
        .collect())
}

fn loaded() -> Result<Rc<Loaded>, String> {
    MODEL
        .with(|m| m.borrow().clone())
        .ok_or_else(|| "no model is loaded".to_owned())
}

/// The image's tiles (or one image) as the vision encoder's input, and how it was cut.
fn pixels(
    loaded: &Loaded,
    name: &str,
    bytes: &[u8],
    tiling: Tiling,
) -> Result<(Vec<Tensor<3>>, TileGrid), String> {
    let image = decode(name, bytes).map_err(|e| e.to_string())?;
    let images =
        process(name, &image, &loaded.image_settings, tiling).map_err(|e| e.to_string())?;
    Ok((loaded.model.image_tensors(&images), images.grid))
}

/// A `Generate` request's settings.
struct AnswerOptions {
    max_new_tokens: u32,
    adapter_enabled: bool,
    tiling: Tiling,
}

async fn answer(
    job: u32,
    question: &str,
    image_name: &str,
    image: Vec<u8>,
    options: AnswerOptions,
    cancelled: Rc<Cell<bool>>,
) -> Result<(), String> {
    let AnswerOptions {
        max_new_tokens,
        adapter_enabled,
        tiling,
    } = options;
    let loaded = loaded()?;
    let preprocessing_start = now();
    let (pixels, grid) = pixels(&loaded, image_name, &image, tiling)?;
    let preprocessing_ms = now() - preprocessing_start;
    let ids = loaded
        .prompter
        .encode_question(question, Some(grid))
        .map_err(|e| e.to_string())?;
    loaded.model.set_adapter_enabled(adapter_enabled);
    let model = &loaded.model;
    let mut tokens = Vec::new();
    let mut shown = 0;
    let generation = generate_pausing(
        model,
        &ids,
        &pixels,
        &loaded.prompter.stop_ids,
        GenerationOptions {
            max_new_tokens: max_new_tokens as usize,
            sampling: Sampling::Greedy,
        },
        &now,
        &mut |token| {
            tokens.push(token);
            if let Ok(text) = loaded.prompter.decode(&tokens)
                && text.len() > shown
                && text.is_char_boundary(shown)
            {
                post(&ModelEvent::Token {
                    job,
                    text: text[shown..].to_owned(),
                });
                shown = text.len();
            }
            !cancelled.get()
        },
        &|| -> Pause {
            let cancelled = cancelled.clone();
            Box::pin(async move {
                yield_to_events().await;
                !cancelled.get()
            })
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    let answer = loaded
        .prompter
        .decode(&generation.tokens)
        .map_err(|e| e.to_string())?;
    post(&ModelEvent::Answer {
        job,
        answer: answer.trim().to_owned(),
        prompt_tokens: generation.prompt_tokens as u32,
        generated_tokens: generation.tokens.len() as u32,
        time_to_first_token_ms: generation.time_to_first_token_ms,
        tokens_per_s: generation.decode_tokens_per_s,
        cancelled: generation.stop == StopReason::Cancelled,
        image_tiles: grid.images() as u32,
        timings: Some(AnswerTimings {
            preprocessing_ms,
            vision_ms: generation.timings.vision_ms,
            connector_ms: generation.timings.connector_ms,
            prefill_ms: generation.timings.prefill_ms,
            decode_ms: generation.timings.decode_ms,
            image_kernels: generation.timings.image_kernels,
            prefill_kernels: generation.timings.prefill_kernels,
            decode_kernels: generation.timings.decode_kernels,
        }),
    });
    Ok(())
}

/// Resolves on a later turn of the worker's event loop (a zero timeout), so that messages that
/// arrived meanwhile (a `Cancel`) are handled.
fn yield_to_events() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = scope().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0);
    });
    Box::pin(async move {
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    })
}

async fn logits(job: u32, question: &str, image: Vec<u8>) -> Result<(), String> {
    let loaded = loaded()?;
    let (pixels, grid) = pixels(&loaded, "image", &image, Tiling::AsConfigured)?;
    let ids = loaded
        .prompter
        .encode_question(question, Some(grid))
        .map_err(|e| e.to_string())?;
    let mut cache = KvCache::default();
    let all = loaded
        .model
        .prefill_images(&ids, &pixels, &mut cache)
        .map_err(|e| e.to_string())?;
    let [rows, vocab] = all.dims();
    let values = read_row(all.reshape([1, rows * vocab]))
        .await
        .map_err(|e| e.to_string())?;
    post(&ModelEvent::Logits { job, ids, values });
    Ok(())
}

/// Loads a RoBERTa folder for B.Score (see `ModelRequest::BertScoreLoad`).
async fn bert_load(
    job: u32,
    source: ModelSource,
    given: Vec<Vec<u8>>,
    model_name: &str,
    layer: Option<u32>,
    batch_size: u32,
) -> Result<(), String> {
    let device = device().await?;
    let start = now();
    BERT.with(|b| *b.borrow_mut() = None);
    let mut files = read_source(job, &source, BERTSCORE_FILES, &mut given.into_iter())
        .await
        .map_err(|e| format!("B.Score model: {e}"))?;
    let config_json = files
        .files
        .remove("config.json")
        .ok_or("config.json is missing")?;
    let weights = files
        .files
        .remove("model.safetensors")
        .ok_or("model.safetensors is missing")?;
    let config = RobertaConfig::parse(&config_json).map_err(|e| e.to_string())?;
    let layer = match layer {
        Some(layer) => layer as usize,
        None => default_layer(model_name)
            .or_else(|| config.name_or_path.as_deref().and_then(default_layer))
            .ok_or_else(|| {
                format!(
                    "bert_score has no default layer for a model named `{model_name}` (it knows \
                     roberta-base, roberta-large, roberta-large-mnli, distilroberta-base and the \
                     openai-detector models): give the layer"
                )
            })?,
    };
    let bert_files = BertScoreFiles {
        config_json,
        weights,
        weights_name: "model.safetensors".to_owned(),
        vocab_json: files.files.remove("vocab.json"),
        merges_txt: files.files.remove("merges.txt"),
        tokenizer_json: files.files.remove("tokenizer.json"),
        tokenizer_config_json: files.files.remove("tokenizer_config.json"),
    };
    let mut scorer = BertScorer::load(&bert_files, layer, &device).map_err(|e| e.to_string())?;
    // The files' content, not their names, keys the values this page keeps.
    let files_hash = bert_files.content_hash();
    drop(bert_files);
    let limit = BUFFER_LIMIT.with(Cell::get);
    scorer.encoder.set_buffer_limit(limit);
    // Said now, not after the first long batch: the longest sentence must fit the device.
    scorer
        .encoder
        .sentences_per_part(scorer.max_tokens)
        .map_err(|e| format!("{e}. Choose the CPU backend to compute B.Score here."))?;
    let batch_size = (batch_size as usize).max(1);
    let signature = bertscore_signature(
        model_name,
        &files_hash,
        layer,
        batch_size,
        scorer.max_tokens,
    );
    let (max_tokens, length_note) = (scorer.max_tokens as u32, scorer.length_note.clone());
    BERT.with(|b| {
        *b.borrow_mut() = Some(Rc::new(BertLoaded { scorer, batch_size }));
    });
    post(&ModelEvent::BertScoreLoaded {
        job,
        signature,
        layer: layer as u32,
        max_tokens,
        load_ms: now() - start,
        network_files: files.network,
        cached_files: files.cached,
        cache_error: files.cache_error,
        length_note,
        buffer_limit: limit,
    });
    Ok(())
}

/// Scores pairs with the loaded B.Score model, one chunk of pairs a unit, posting each chunk's
/// F1 as soon as it is complete (see `ModelRequest::BertScore`).
async fn bert_score(
    job: u32,
    pairs: &[(String, String)],
    done: &[bool],
    cancelled: Rc<Cell<bool>>,
) -> Result<(), String> {
    let loaded = BERT
        .with(|b| b.borrow().clone())
        .ok_or("no B.Score model is loaded")?;
    let cands: Vec<&str> = pairs.iter().map(|(c, _)| c.as_str()).collect();
    let refs: Vec<&str> = pairs.iter().map(|(_, r)| r.as_str()).collect();
    let scorer = &loaded.scorer;
    let mut work = scorer
        .job(&cands, &refs, loaded.batch_size, 1, done)
        .map_err(|e| e.to_string())?;
    let total = work.sentences_total() as u32;
    post(&ModelEvent::BertScoreProgress {
        job,
        sentences_done: 0,
        sentences_total: total,
    });
    let mut stopped = false;
    loop {
        let next = work.next_batch().map_err(|e| e.to_string())?;
        for chunk in work.take_finished() {
            post(&ModelEvent::BertScoreChunk {
                job,
                start: chunk.start as u32,
                f1: chunk.scores.iter().map(|s| s.f1).collect(),
            });
        }
        let Some(batch) = next else {
            break;
        };
        // Messages that arrived meanwhile (a `Cancel`) are handled before the next batch.
        yield_to_events().await;
        if cancelled.get() {
            stopped = true;
            break;
        }
        let rows = scorer
            .encoder
            .encode_batch_async(&batch)
            .await
            .map_err(|e| e.to_string())?;
        work.accept(rows).map_err(|e| e.to_string())?;
        post(&ModelEvent::BertScoreProgress {
            job,
            sentences_done: work.sentences_done() as u32,
            sentences_total: total,
        });
    }
    let empty = work.empty();
    post(&ModelEvent::BertScoreDone {
        job,
        cancelled: stopped,
        sentences: work.sentences_done() as u32,
        truncated: work.truncated() as u32,
        empty_candidates: empty.candidates as u32,
        empty_references: empty.references as u32,
    });
    Ok(())
}
