//! Our side of the model benchmark (`scripts/bench_model.sh` runs it after the PyTorch side).
//!
//! For the tiny fixture model and for the real-size random-weight SmolVLM-256M that
//! `scripts/bench_model_reference.py` built, loads the model in f32, q8 and q4 and, for each,
//! runs the benchmark prompt: prefill with the image, then decoding through the KV cache fed with
//! the f32 model's greedy tokens (so every variant sees the same sequence). It prints one JSON
//! line per run: weight bytes (measured from the loaded tensors, else the config's formula,
//! saying which), the threads it ran on, load time, time to first token, decode tokens/s, and
//! against f32 the top-1 agreement and mean KL divergence over every position; for real-size
//! f32 also the largest logit difference from transformers and whether the greedy tokens are
//! the same.
//!
//! burn's flex backend runs on rayon's global pool, whose size `RAYON_NUM_THREADS` sets
//! (bench_model.sh sets it to PyTorch's thread count); the line reports the pool's size.
//!
//! Usage: bench_model BENCH_DIR [TOKENS] [QUANTIZATIONS]
//! (QUANTIZATIONS: comma-separated, default `none,q8_0,q4`; `none` always runs first, as the
//! reference the others are compared with).

use burn::prelude::*;
use medhall_model::nn::Quantization;
use medhall_model::safetensors::SafeTensors;
use medhall_model::text::KvCache;
use medhall_model::vlm::{Idefics3, LoadOptions, ModelFiles};
use medhall_model::weights::HostTensor;
use std::path::{Path, PathBuf};
use std::time::Instant;

type Error = Box<dyn std::error::Error>;

struct Case {
    name: &'static str,
    model_dir: PathBuf,
    ids: Vec<u32>,
    pixels: HostTensor,
    torch: Option<TorchReference>,
}

struct TorchReference {
    prefill_last: Vec<f32>,
    decode: Vec<f32>,
    tokens: Vec<u32>,
}

struct RunResult {
    /// Logits at every prompt position and after every fed token, `[positions][vocab]`.
    logits: Vec<Vec<f32>>,
    greedy: Vec<u32>,
    ttft_ms: f64,
    decode_tokens_per_s: f64,
    /// The time to first token by stage, and each decoding step, ms.
    vision_ms: f64,
    connector_ms: f64,
    prefill_ms: f64,
    decode_ms: Vec<f64>,
    /// On a GPU: kernels launched by the prefill (images included) and by each decoding step.
    prefill_kernels: Option<usize>,
    decode_kernels: Vec<usize>,
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()).into())
}

fn tensor(bytes: &[u8], name: &str) -> Result<HostTensor, Error> {
    let st = SafeTensors::parse("reference.safetensors", bytes)?;
    let info = st.tensors.get(name).ok_or(format!("no tensor {name}"))?;
    if info.dtype == "I64" {
        let raw = st.bytes(name).ok_or("bytes")?;
        let values = raw
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap_or_default()) as f32)
            .collect();
        return Ok(HostTensor {
            shape: info.shape.clone(),
            values,
        });
    }
    let shape = info.shape.clone();
    Ok(HostTensor::read(
        "reference.safetensors",
        &st,
        name,
        &shape,
    )?)
}

fn rows(t: Tensor<2>) -> Result<Vec<Vec<f32>>, Error> {
    let [_, vocab] = t.dims();
    let values = t
        .into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| format!("{e:?}"))?;
    Ok(values.chunks_exact(vocab).map(<[f32]>::to_vec).collect())
}

fn argmax(row: &[f32]) -> u32 {
    medhall_model::generate::argmax(row)
}

/// Prefill, then `feed` (or the model's own greedy tokens when `feed` is empty) one at a time.
fn run(
    model: &Idefics3,
    case: &Case,
    feed: &[u32],
    tokens: usize,
    label: &str,
) -> Result<RunResult, Error> {
    // With MEDHALL_BENCH_STAGE_MARKS set, a line on stderr as each stage ends: with cubecl's
    // compilation log on stderr too (scripts/compile_log_by_stage.py), each kernel compiled is
    // placed in the stage that compiled it.
    let marks = std::env::var_os("MEDHALL_BENCH_STAGE_MARKS").is_some();
    let mark = |stage: &str| {
        if marks {
            eprintln!("[bench stage] {}, {label}: {stage}", case.name);
        }
    };
    let device = model.device().clone();
    let p = &case.pixels;
    let pixels = Tensor::<3>::from_data(
        TensorData::new(p.values.clone(), [p.shape[0], p.shape[1], p.shape[2]]),
        &device,
    );
    let ms = |since: Instant| since.elapsed().as_secs_f64() * 1000.0;
    // burn's CPU backend computes each operation when it is called; on wgpu a stage ends with
    // reading one value of its output back, so the clock between stages measures their work.
    let settle = |t: &Tensor<2>| {
        t.clone().slice([0..1, 0..1]).into_data();
    };
    let kernels = medhall_model::gpu::KernelCount::start(&device);
    let launched = || {
        kernels
            .as_ref()
            .map(medhall_model::gpu::KernelCount::launched)
    };
    let start = Instant::now();
    let mut cache = KvCache::default();
    model.check_prompt(&case.ids)?;
    let encoded = model.encode_image(pixels)?;
    settle(&encoded);
    let vision_ms = ms(start);
    let stage = Instant::now();
    let features = model.connect(encoded);
    settle(&features);
    let connector_ms = ms(stage);
    let stage = Instant::now();
    let prefill = model.prefill_features(&case.ids, vec![features], &mut cache)?;
    let mut logits = rows(prefill)?;
    let mut greedy = vec![argmax(logits.last().ok_or("no logits")?)];
    let prefill_ms = ms(stage);
    let ttft = start.elapsed();
    let prefill_kernels = launched();
    mark("prefill done");
    let decode_start = Instant::now();
    let mut decode_ms = Vec::with_capacity(tokens.saturating_sub(1));
    let mut decode_kernels = Vec::with_capacity(tokens.saturating_sub(1));
    for step in 0..tokens - 1 {
        let step_start = Instant::now();
        let before = launched();
        let token = feed.get(step).copied().unwrap_or(greedy[step]);
        let row = rows(model.decode(token, &mut cache)?)?.remove(0);
        greedy.push(argmax(&row));
        logits.push(row);
        decode_ms.push(ms(step_start));
        mark(&format!("decoding step {} done", step + 1));
        decode_kernels.extend(launched().zip(before).map(|(now, before)| now - before));
    }
    let decode = decode_start.elapsed();
    Ok(RunResult {
        logits,
        greedy,
        ttft_ms: ttft.as_secs_f64() * 1000.0,
        decode_tokens_per_s: (tokens - 1) as f64 / decode.as_secs_f64(),
        vision_ms,
        connector_ms,
        prefill_ms,
        decode_ms,
        prefill_kernels,
        decode_kernels,
    })
}

/// Gap between the two largest logits.
fn margin(row: &[f32]) -> f32 {
    let (mut first, mut second) = (f32::NEG_INFINITY, f32::NEG_INFINITY);
    for &x in row {
        if x > first {
            second = first;
            first = x;
        } else if x > second {
            second = x;
        }
    }
    first - second
}

/// Top-1 agreement and mean KL(f32 || variant) over all positions.
fn compare(reference: &[Vec<f32>], variant: &[Vec<f32>]) -> (f64, f64) {
    let log_softmax = |row: &[f32]| -> Vec<f64> {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let sum: f64 = row.iter().map(|&x| (x as f64 - max).exp()).sum();
        row.iter().map(|&x| x as f64 - max - sum.ln()).collect()
    };
    let (mut agree, mut kl) = (0usize, 0.0f64);
    for (r, v) in reference.iter().zip(variant) {
        agree += usize::from(argmax(r) == argmax(v));
        let (lp, lq) = (log_softmax(r), log_softmax(v));
        kl += lp
            .iter()
            .zip(&lq)
            .map(|(p, q)| p.exp() * (p - q))
            .sum::<f64>();
    }
    let n = reference.len() as f64;
    (agree as f64 / n, kl / n)
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn bench(case: &Case, tokens: usize, quantizations: &[Quantization]) -> Result<(), Error> {
    let config = read(&case.model_dir.join("config.json"))?;
    let weights = read(&case.model_dir.join("model.safetensors"))?;
    let mut reference: Option<RunResult> = None;
    for &quantization in quantizations {
        let start = Instant::now();
        let model = Idefics3::load(
            &ModelFiles {
                config: &config,
                weights: &weights,
            },
            None,
            LoadOptions { quantization },
            &device(),
        )?;
        let load_s = start.elapsed().as_secs_f64();
        let feed: Vec<u32> = reference
            .as_ref()
            .map(|r| r.greedy[..tokens - 1].to_vec())
            .unwrap_or_default();
        // Warm-up on the prompt alone (allocations, first-touch of the weights), as the
        // PyTorch side warms up.
        let name = quantization.name();
        run(&model, case, &feed, 1, &format!("{name}, warm-up"))?;
        let result = run(&model, case, &feed, tokens, name)?;
        let (weight_bytes, measured) = match model.stored_bytes() {
            Some(bytes) => (bytes, true),
            None => (model.nominal_bytes(), false),
        };
        let mut line = serde_json::json!({
            "case": case.name,
            "engine": engine(),
            "threads": rayon::current_num_threads(),
            "quantization": quantization.name(),
            // q8_0's integer kernel on this machine (avx2, simd128 or portable).
            "q8_kernel": medhall_model::q8::kernel_name(),
            "weight_bytes": weight_bytes,
            "weight_bytes_measured": measured,
            "load_s": load_s,
            "prompt_tokens": case.ids.len(),
            "generated_tokens": tokens,
            "time_to_first_token_ms": result.ttft_ms,
            "decode_tokens_per_s": result.decode_tokens_per_s,
            // The time to first token by stage (image preprocessing is not part of this run:
            // the pixels come from the PyTorch side), and each decoding step.
            "vision_encoder_ms": result.vision_ms,
            "connector_ms": result.connector_ms,
            "prefill_ms": result.prefill_ms,
            "decode_step_ms": result.decode_ms,
            // On wgpu: kernels launched by the prefill (the image included) and per decoding step.
            "prefill_kernels": result.prefill_kernels,
            "decode_step_kernels": result.decode_kernels,
            "kernels_per_decode_step": (!result.decode_kernels.is_empty()).then(|| {
                result.decode_kernels.iter().sum::<usize>() as f64 / result.decode_kernels.len() as f64
            }),
        });
        match &reference {
            None => {
                if let Some(torch) = &case.torch {
                    let prompt = case.ids.len();
                    let ours_decode: Vec<f32> = result.logits[prompt..].concat();
                    line["max_abs_diff_vs_transformers"] = serde_json::json!(
                        max_abs(&result.logits[prompt - 1], &torch.prefill_last)
                            .max(max_abs(&ours_decode, &torch.decode))
                    );
                    line["greedy_tokens_equal_transformers"] =
                        serde_json::json!(result.greedy == torch.tokens);
                }
            }
            Some(r) => {
                let (agreement, kl) = compare(&r.logits, &result.logits);
                line["positions_compared"] = serde_json::json!(r.logits.len());
                // Random weights give flat next-token distributions: how many positions have
                // a top-2 logit gap small enough for rounding noise to swap them.
                let close = r.logits.iter().filter(|row| margin(row) < 0.05).count();
                line["f32_positions_with_top2_gap_below_0.05"] = serde_json::json!(close);
                line["top1_agreement_vs_f32"] = serde_json::json!(agreement);
                line["mean_kl_vs_f32"] = serde_json::json!(kl);
            }
        }
        println!("{line}");
        if reference.is_none() {
            reference = Some(result);
        }
    }
    Ok(())
}

/// The device: burn's CPU backend, or wgpu with `MEDHALL_BENCH_DEVICE=wgpu` (a build with the
/// `wgpu` feature; Vulkan, lavapipe without a GPU).
fn device() -> Device {
    match std::env::var("MEDHALL_BENCH_DEVICE").as_deref() {
        #[cfg(feature = "wgpu")]
        Ok("wgpu") => Device::wgpu(Default::default()),
        _ => Device::flex(),
    }
}

fn engine() -> String {
    let fused = if cfg!(feature = "wgpu-fusion") {
        ", fusion + autotune"
    } else {
        ""
    };
    match std::env::var("MEDHALL_BENCH_DEVICE").as_deref() {
        Ok("wgpu") if cfg!(feature = "wgpu") => format!("medhall-model on burn 0.22 wgpu{fused}"),
        _ => "medhall-model on burn 0.22 flex (CPU)".to_owned(),
    }
}

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: bench_model BENCH_DIR [TOKENS]")?);
    let tokens: usize = args.next().map_or(Ok(32), |t| t.parse())?;
    let mut quantizations = vec![Quantization::None];
    for name in args.next().as_deref().unwrap_or("q8_0,q4").split(',') {
        let q = Quantization::parse(name).ok_or(format!("unknown quantization `{name}`"))?;
        if !quantizations.contains(&q) {
            quantizations.push(q);
        }
    }
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");

    let tiny_ref = read(&fixtures.join("reference.safetensors"))?;
    let json: serde_json::Value = serde_json::from_slice(&read(&fixtures.join("reference.json"))?)?;
    let ids = json["input"]["input_ids"]
        .as_array()
        .ok_or("input_ids")?
        .iter()
        .map(|v| v.as_u64().map(|v| v as u32).ok_or("an id"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut pixels = tensor(&tiny_ref, "pixel_values")?;
    pixels.shape.drain(..2);
    bench(
        &Case {
            name: "tiny fixture",
            model_dir: fixtures.join("tiny-idefics3"),
            ids,
            pixels,
            torch: None,
        },
        tokens,
        &quantizations,
    )?;

    let real = read(&dir.join("reference.safetensors"))?;
    let as_ids = |t: HostTensor| t.values.iter().map(|&v| v as u32).collect::<Vec<_>>();
    let torch = TorchReference {
        prefill_last: tensor(&real, "prefill_last_logits")?.values,
        decode: tensor(&real, "decode_logits")?.values,
        tokens: as_ids(tensor(&real, "greedy_tokens")?),
    };
    if torch.tokens.len() != tokens {
        return Err(format!(
            "the PyTorch run generated {} tokens, this run {tokens}",
            torch.tokens.len()
        )
        .into());
    }
    bench(
        &Case {
            name: "SmolVLM-256M config, random weights",
            model_dir: dir.join("smolvlm-256m-random"),
            ids: as_ids(tensor(&real, "input_ids")?),
            pixels: tensor(&real, "pixel_values")?,
            torch: Some(torch),
        },
        tokens,
        &quantizations,
    )
}
