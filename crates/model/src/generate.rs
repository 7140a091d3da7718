//! Text generation: prefill, then one token at a time through the KV cache; greedy or seeded
//! sampling, stop tokens, a token limit, a per-token callback for streaming, and timings.
//!
//! Logits are read back asynchronously (synchronous reads panic on WebGPU in wasm) and the next
//! token is chosen on the CPU. Time comes from the caller's clock (`Instant` natively,
//! `performance.now()` in a browser), so this module never reads a clock itself.

use burn::prelude::*;
use std::future::Future;
use std::pin::Pin;

use crate::ModelError;
use crate::text::KvCache;
use crate::vlm::Idefics3;
pub use medhall_metrics::stats::SplitMix64;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampling {
    Greedy,
    /// Temperature sampling over the `top_k` most likely tokens (0: all) whose cumulative
    /// probability reaches `top_p`, from a seeded generator: the same seed, the same text.
    Sample {
        temperature: f32,
        top_k: usize,
        top_p: f32,
        seed: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GenerationOptions {
    pub max_new_tokens: usize,
    pub sampling: Sampling,
}

impl Default for GenerationOptions {
    fn default() -> Self {
        GenerationOptions {
            max_new_tokens: 64,
            sampling: Sampling::Greedy,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// A stop token was produced (it is not part of `tokens`).
    StopToken,
    MaxTokens,
    /// The callback asked to stop.
    Cancelled,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    pub tokens: Vec<u32>,
    pub stop: StopReason,
    pub prompt_tokens: usize,
    /// From the call to the first generated token (image encoding and prefill included), ms.
    pub time_to_first_token_ms: f64,
    /// Tokens after the first, per second of decoding (`None` with fewer than two tokens).
    pub decode_tokens_per_s: Option<f64>,
    pub total_ms: f64,
    /// Where the time went, stage by stage.
    pub timings: Timings,
}

/// Where one generation's time went, in ms of the caller's clock. Each stage ends with a read
/// of (part of) its output, so on WebGPU a stage's time is its work done, not only queued.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timings {
    /// The vision encoder, over every image (tiles and the global image).
    pub vision_ms: f64,
    /// The connector (pixel shuffle and projection), over every image.
    pub connector_ms: f64,
    /// The text model over the whole prompt, to the first token chosen.
    pub prefill_ms: f64,
    /// Each later token's step: the decoder over one token, the read-back and the choice.
    pub decode_ms: Vec<f64>,
    /// On a GPU (wgpu, WebGPU): the kernels launched for the images (encoder and connector),
    /// for the prefill, and for each later token's step ([`crate::gpu::KernelCount`]). `None`
    /// and empty on the CPU backend.
    pub image_kernels: Option<usize>,
    pub prefill_kernels: Option<usize>,
    pub decode_kernels: Vec<usize>,
}

/// Generates from the prompt `ids` and the `images` its image tokens stand for (`[3, size,
/// size]` each: an image's tiles then its global image, or one image, or none), calling
/// `on_token` with each new token; it returns `false` to stop.
pub async fn generate(
    model: &Idefics3,
    ids: &[u32],
    images: &[Tensor<3>],
    stop_ids: &[u32],
    options: GenerationOptions,
    clock: &dyn Fn() -> f64,
    on_token: &mut dyn FnMut(u32) -> bool,
) -> Result<Generation, ModelError> {
    let no_pause = || -> Pause { Box::pin(std::future::ready(true)) };
    generate_pausing(
        model, ids, images, stop_ids, options, clock, on_token, &no_pause,
    )
    .await
}

/// A future the generation loop awaits after each image and each token; it resolves to whether
/// to go on (`false` stops the generation as cancelled).
pub type Pause = Pin<Box<dyn Future<Output = bool>>>;

/// [`generate`], awaiting `pause()` after each image the vision encoder takes and after each
/// token. A browser worker passes a pause that yields to its event loop and then says whether a
/// `Cancel` came: on the CPU backend nothing else in the loop ever waits, so without it a
/// `Cancel` message would only be read after the answer is finished. The images are most of the
/// time to the first token (a split image is up to 17 encoder passes), so a cancel during the
/// prefill takes effect after the image being encoded; the text model's pass over the prompt is
/// not interrupted.
#[allow(clippy::too_many_arguments)]
pub async fn generate_pausing(
    model: &Idefics3,
    ids: &[u32],
    images: &[Tensor<3>],
    stop_ids: &[u32],
    options: GenerationOptions,
    clock: &dyn Fn() -> f64,
    on_token: &mut dyn FnMut(u32) -> bool,
    pause: &dyn Fn() -> Pause,
) -> Result<Generation, ModelError> {
    let start = clock();
    let mut rng = SplitMix64::new(match options.sampling {
        Sampling::Sample { seed, .. } => seed,
        Sampling::Greedy => 0,
    });
    let mut timings = Timings::default();
    let kernels = crate::gpu::KernelCount::start(model.device());
    let launched = || kernels.as_ref().map(crate::gpu::KernelCount::launched);
    model.check_prompt(ids)?;
    let mut features = Vec::with_capacity(images.len());
    for pixels in images {
        let t = clock();
        let encoded = model.encode_image(pixels.clone())?;
        settle(&encoded).await?;
        timings.vision_ms += clock() - t;
        let t = clock();
        let connected = model.connect(encoded);
        settle(&connected).await?;
        timings.connector_ms += clock() - t;
        features.push(connected);
        if !pause().await {
            let end = clock();
            return Ok(Generation {
                tokens: Vec::new(),
                stop: StopReason::Cancelled,
                prompt_tokens: ids.len(),
                time_to_first_token_ms: end - start,
                decode_tokens_per_s: None,
                total_ms: end - start,
                timings,
            });
        }
    }
    timings.image_kernels = launched();
    let prefill_start = clock();
    let mut step_kernels = launched();
    let mut cache = KvCache::default();
    let mut tokens = Vec::new();
    let mut first_token_at = None;
    let mut logits = model.prefill_features(ids, features, &mut cache)?;
    let mut stop = StopReason::MaxTokens;
    let mut step_start = prefill_start;
    while tokens.len() < options.max_new_tokens {
        let [rows, _] = logits.dims();
        let row = read_row(logits.narrow(0, rows - 1, 1)).await?;
        let token = choose(&row, options.sampling, &mut rng);
        let chosen = clock();
        let used = launched()
            .zip(step_kernels)
            .map(|(now, before)| now - before);
        if first_token_at.is_none() {
            first_token_at = Some(chosen);
            timings.prefill_ms = chosen - prefill_start;
            timings.prefill_kernels = used;
        } else {
            timings.decode_ms.push(chosen - step_start);
            timings.decode_kernels.extend(used);
        }
        if stop_ids.contains(&token) {
            stop = StopReason::StopToken;
            break;
        }
        tokens.push(token);
        if !on_token(token) || !pause().await {
            stop = StopReason::Cancelled;
            break;
        }
        if tokens.len() == options.max_new_tokens {
            break;
        }
        step_start = clock();
        step_kernels = launched();
        logits = model.decode(token, &mut cache)?;
    }
    let end = clock();
    let first = first_token_at.unwrap_or(end);
    let decode_tokens_per_s = (tokens.len() >= 2 && end > first)
        .then(|| (tokens.len() - 1) as f64 / ((end - first) / 1000.0));
    Ok(Generation {
        tokens,
        stop,
        prompt_tokens: ids.len(),
        time_to_first_token_ms: first - start,
        decode_tokens_per_s,
        total_ms: end - start,
        timings,
    })
}

/// Waits until `t` is computed, by reading back one of its values: on WebGPU operations are
/// queued, and a stage's time must include its work. On the CPU backend it costs one copy.
async fn settle(t: &Tensor<2>) -> Result<(), ModelError> {
    t.clone()
        .slice([0..1, 0..1])
        .into_data_async()
        .await
        .map(|_| ())
        .map_err(|e| ModelError::Input(format!("reading from the device: {e:?}")))
}

/// Reads a `[1, vocab]` tensor back to the host.
pub async fn read_row(row: Tensor<2>) -> Result<Vec<f32>, ModelError> {
    let data = row
        .into_data_async()
        .await
        .map_err(|e| ModelError::Input(format!("reading logits from the device: {e:?}")))?;
    data.try_into_vec_as::<f32>()
        .map_err(|e| ModelError::Input(format!("logits are not f32: {e:?}")))
}

/// The next token: arg max, or a sample after temperature, top-k and top-p.
pub fn choose(logits: &[f32], sampling: Sampling, rng: &mut SplitMix64) -> u32 {
    let Sampling::Sample {
        temperature,
        top_k,
        top_p,
        ..
    } = sampling
    else {
        return argmax(logits);
    };
    if temperature <= 0.0 {
        return argmax(logits);
    }
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    if top_k > 0 {
        order.truncate(top_k);
    }
    let max = logits[order[0]];
    let mut probs: Vec<f64> = order
        .iter()
        .map(|&i| f64::from((logits[i] - max) / temperature).exp())
        .collect();
    let total: f64 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
    let mut kept = 0;
    let mut cumulative = 0.0;
    for p in &probs {
        kept += 1;
        cumulative += p;
        if cumulative >= f64::from(top_p) {
            break;
        }
    }
    let total: f64 = probs[..kept].iter().sum();
    let mut target = rng.next_f64() * total;
    for (i, p) in probs[..kept].iter().enumerate() {
        target -= p;
        if target <= 0.0 {
            return order[i] as u32;
        }
    }
    order[kept - 1] as u32
}

pub fn argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_first_maximum() {
        assert_eq!(argmax(&[0.1, 3.0, 3.0, -1.0]), 1);
        let mut rng = SplitMix64::new(1);
        assert_eq!(choose(&[0.0, 5.0, 1.0], Sampling::Greedy, &mut rng), 1);
    }

    #[test]
    fn sampling_is_seeded_and_respects_top_k() {
        let logits = [1.0, 2.0, 3.0, 0.5, 2.5];
        let sampling = |seed| Sampling::Sample {
            temperature: 1.0,
            top_k: 2,
            top_p: 1.0,
            seed,
        };
        let draw = |seed: u64| {
            let mut rng = SplitMix64::new(seed);
            (0..200)
                .map(|_| choose(&logits, sampling(seed), &mut rng))
                .collect::<Vec<_>>()
        };
        let a = draw(7);
        assert_eq!(a, draw(7), "same seed, same tokens");
        assert_ne!(a, draw(8));
        assert!(a.iter().all(|&t| t == 2 || t == 4), "only the top 2");
        assert!(a.contains(&2) && a.contains(&4));
        // top_p small enough keeps only the most likely token.
        let mut rng = SplitMix64::new(3);
        let only = Sampling::Sample {
            temperature: 1.0,
            top_k: 0,
            top_p: 0.01,
            seed: 3,
        };
        assert!((0..50).all(|_| choose(&logits, only, &mut rng) == 2));
    }
}
