//! The Llama-style decoder (SmolLM2): RMS norm, rotary position embeddings, grouped-query
//! attention with a KV cache, SiLU-gated MLP; as transformers' `LlamaModel` computes it.

use burn::prelude::*;

use crate::ModelError;
use crate::config::TextConfig;
use crate::nn::{
    Linear, RmsNorm, attention, merge_heads, split_heads, stored_bytes, total, upload,
};
use crate::vision::Reader;

struct DecoderLayer {
    input_layernorm: RmsNorm,
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    post_attention_layernorm: RmsNorm,
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

impl DecoderLayer {
    fn linears(&self) -> [&Linear; 7] {
        [
            &self.q_proj,
            &self.k_proj,
            &self.v_proj,
            &self.o_proj,
            &self.gate_proj,
            &self.up_proj,
            &self.down_proj,
        ]
    }

    fn linears_mut(&mut self) -> [(&'static str, &mut Linear); 7] {
        [
            ("self_attn.q_proj", &mut self.q_proj),
            ("self_attn.k_proj", &mut self.k_proj),
            ("self_attn.v_proj", &mut self.v_proj),
            ("self_attn.o_proj", &mut self.o_proj),
            ("mlp.gate_proj", &mut self.gate_proj),
            ("mlp.up_proj", &mut self.up_proj),
            ("mlp.down_proj", &mut self.down_proj),
        ]
    }
}

/// Keys and values of every layer for the tokens seen so far, `[kv_heads, capacity, head_dim]`
/// each, of which the first [`KvCache::len`] positions are filled.
///
/// The buffers are allocated ahead (in steps of [`KvCache::STEP`] positions, at least doubling)
/// and each step's keys and values are written into them in place (`slice_assign` on a buffer
/// nothing else holds): a decoding step neither reallocates nor copies the cache, where
/// concatenating would copy every layer's whole cache for each token.
#[derive(Clone, Default)]
pub struct KvCache {
    layers: Vec<(Tensor<3>, Tensor<3>)>,
    len: usize,
}

impl KvCache {
    /// Positions a buffer grows by at least.
    pub const STEP: usize = 256;

    /// Tokens held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Positions the buffers hold before they grow.
    pub fn capacity(&self) -> usize {
        self.layers.first().map_or(0, |(k, _)| k.dims()[1])
    }

    /// The capacity for `needed` positions when `current` is too small.
    fn grown(current: usize, needed: usize) -> usize {
        needed.max(2 * current).next_multiple_of(Self::STEP)
    }

    /// Writes layer `layer`'s keys and values for positions `len..len + tokens` and returns the
    /// keys and values of positions `0..len + tokens` (views into the buffers). Every layer is
    /// written before [`KvCache::advance`] moves `len` on.
    fn write(&mut self, layer: usize, k: Tensor<3>, v: Tensor<3>) -> (Tensor<3>, Tensor<3>) {
        let [kv_heads, tokens, d] = k.dims();
        let (start, end) = (self.len, self.len + tokens);
        if layer == self.layers.len() {
            let capacity = Self::grown(0, end);
            let device = k.device();
            let empty = || Tensor::<3>::zeros([kv_heads, capacity, d], &device);
            self.layers.push((empty(), empty()));
        }
        let (ck, cv) = &mut self.layers[layer];
        let capacity = ck.dims()[1];
        if end > capacity {
            let capacity = Self::grown(capacity, end);
            let device = k.device();
            let grow = |old: Tensor<3>| {
                let new = Tensor::<3>::zeros([kv_heads, capacity, d], &device);
                if start == 0 {
                    return new;
                }
                new.slice_assign([0..kv_heads, 0..start, 0..d], old.narrow(1, 0, start))
            };
            *ck = grow(ck.clone());
            *cv = grow(cv.clone());
        }
        // Moved out (a clone of `k` left in its place), the buffer is held only by
        // `slice_assign`'s argument, so the backend writes into it in place.
        let range = [0..kv_heads, start..end, 0..d];
        *ck = std::mem::replace(ck, k.clone()).slice_assign(range.clone(), k);
        *cv = std::mem::replace(cv, v.clone()).slice_assign(range, v);
        (ck.clone().narrow(1, 0, end), cv.clone().narrow(1, 0, end))
    }

    /// Counts `tokens` more positions as held, once every layer has written them.
    fn advance(&mut self, tokens: usize) {
        self.len += tokens;
    }
}

pub struct Text {
    embed_tokens: Tensor<2>,
    layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    /// `None` when the output projection is tied to the embeddings.
    lm_head: Option<Linear>,
    config: TextConfig,
    /// `1 / theta^(2i / d)` for the rotary embedding, as f32 (what transformers computes).
    inv_freq: Vec<f32>,
}

impl Text {
    pub fn load(config: &TextConfig, r: &Reader<'_, '_>) -> Result<Text, ModelError> {
        let t = config;
        let tp = "model.text_model";
        let (h, eps) = (t.hidden_size, t.rms_norm_eps);
        let (q, kv) = (
            t.num_attention_heads * t.head_dim,
            t.num_key_value_heads * t.head_dim,
        );
        let mut layers = Vec::with_capacity(t.num_hidden_layers);
        for i in 0..t.num_hidden_layers {
            let l = format!("{tp}.layers.{i}");
            let norm = |name: &str| -> Result<RmsNorm, ModelError> {
                Ok(RmsNorm::new(
                    r.host(&format!("{l}.{name}.weight"), &[h])?,
                    eps,
                    r.device,
                ))
            };
            layers.push(DecoderLayer {
                input_layernorm: norm("input_layernorm")?,
                q_proj: r.linear(&format!("{l}.self_attn.q_proj"), q, h, false)?,
                k_proj: r.linear(&format!("{l}.self_attn.k_proj"), kv, h, false)?,
                v_proj: r.linear(&format!("{l}.self_attn.v_proj"), kv, h, false)?,
                o_proj: r.linear(&format!("{l}.self_attn.o_proj"), h, q, false)?,
                post_attention_layernorm: norm("post_attention_layernorm")?,
                gate_proj: r.linear(
                    &format!("{l}.mlp.gate_proj"),
                    t.intermediate_size,
                    h,
                    false,
                )?,
                up_proj: r.linear(&format!("{l}.mlp.up_proj"), t.intermediate_size, h, false)?,
                down_proj: r.linear(
                    &format!("{l}.mlp.down_proj"),
                    h,
                    t.intermediate_size,
                    false,
                )?,
            });
        }
        let embed = r.host(&format!("{tp}.embed_tokens.weight"), &[t.vocab_size, h])?;
        let lm_head = if t.tie_word_embeddings {
            None
        } else {
            Some(r.linear("lm_head", t.vocab_size, h, false)?)
        };
        let d = t.head_dim;
        let inv_freq = (0..d / 2)
            .map(|i| {
                let exponent = (2 * i) as f32 / d as f32;
                1.0 / (t.rope_theta as f32).powf(exponent)
            })
            .collect();
        Ok(Text {
            embed_tokens: upload(embed, r.device),
            layers,
            norm: RmsNorm::new(r.host(&format!("{tp}.norm.weight"), &[h])?, eps, r.device),
            lm_head,
            config: t.clone(),
            inv_freq,
        })
    }

    /// Every linear layer with its module name under `model.text_model.layers.N.`, for the
    /// adapter loader.
    pub fn named_linears_mut(&mut self) -> impl Iterator<Item = (String, &mut Linear)> {
        self.layers.iter_mut().enumerate().flat_map(|(i, layer)| {
            layer
                .linears_mut()
                .into_iter()
                .map(move |(name, linear)| (format!("model.text_model.layers.{i}.{name}"), linear))
        })
    }

    /// Every linear layer with its module name, the untied LM head (`lm_head`) included.
    pub fn named_linears_with_head_mut(&mut self) -> impl Iterator<Item = (String, &mut Linear)> {
        let head = self.lm_head.as_mut().map(|l| ("lm_head".to_owned(), l));
        self.layers
            .iter_mut()
            .enumerate()
            .flat_map(|(i, layer)| {
                layer.linears_mut().into_iter().map(move |(name, linear)| {
                    (format!("model.text_model.layers.{i}.{name}"), linear)
                })
            })
            .chain(head)
    }

    /// Every adapted linear layer.
    pub fn adapted(&self) -> impl Iterator<Item = &Linear> {
        self.layers
            .iter()
            .flat_map(DecoderLayer::linears)
            .filter(|l| l.has_adapter())
    }

    /// The untied LM head (`None` when it is the token embedding).
    pub fn lm_head(&self) -> Option<&Linear> {
        self.lm_head.as_ref()
    }

    pub fn lm_head_mut(&mut self) -> Option<&mut Linear> {
        self.lm_head.as_mut()
    }

    /// Measured bytes of every tensor ([`crate::nn::stored_bytes`]).
    pub fn stored_bytes(&self) -> Option<usize> {
        let layers = self.layers.iter().flat_map(|l| {
            [
                l.input_layernorm.stored_bytes(),
                l.post_attention_layernorm.stored_bytes(),
            ]
            .into_iter()
            .chain(l.linears().map(Linear::stored_bytes))
        });
        total(
            [stored_bytes(&self.embed_tokens), self.norm.stored_bytes()]
                .into_iter()
                .chain(self.lm_head.iter().map(Linear::stored_bytes))
                .chain(layers),
        )
    }

    /// Token embeddings `[tokens, hidden]`.
    pub fn embed(&self, ids: &[u32], device: &Device) -> Tensor<2> {
        let ids: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
        let n = ids.len();
        let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [n]), device);
        self.embed_tokens.clone().select(0, ids)
    }

    /// `cos` and `sin` `[tokens, head_dim]` for positions `start..start + tokens`.
    fn rotary(&self, start: usize, tokens: usize, device: &Device) -> (Tensor<2>, Tensor<2>) {
        let d = self.config.head_dim;
        let mut cos = Vec::with_capacity(tokens * d);
        let mut sin = Vec::with_capacity(tokens * d);
        for p in start..start + tokens {
            let row: Vec<f32> = self.inv_freq.iter().map(|&f| p as f32 * f).collect();
            for _ in 0..2 {
                cos.extend(row.iter().map(|a| a.cos()));
                sin.extend(row.iter().map(|a| a.sin()));
            }
        }
        (
            Tensor::from_data(TensorData::new(cos, [tokens, d]), device),
            Tensor::from_data(TensorData::new(sin, [tokens, d]), device),
        )
    }

    /// Runs `embeds` `[tokens, hidden]` (positions after the cache's), appends their keys and
    /// values to `cache`, and returns the logits `[tokens, vocab]`.
    pub fn forward(&self, embeds: Tensor<2>, cache: &mut KvCache) -> Tensor<2> {
        let t = &self.config;
        let device = embeds.device();
        let [tokens, _] = embeds.dims();
        let past = cache.len();
        let (cos, sin) = self.rotary(past, tokens, &device);
        let (cos, sin) = (cos.unsqueeze_dim::<3>(0), sin.unsqueeze_dim::<3>(0));
        let rope = |x: Tensor<3>| -> Tensor<3> {
            let half = t.head_dim / 2;
            let x1 = x.clone().narrow(2, 0, half);
            let x2 = x.clone().narrow(2, half, half);
            let rotated = Tensor::cat(vec![x2.neg(), x1], 2);
            x.mul(cos.clone()).add(rotated.mul(sin.clone()))
        };
        // Grouped-query attention without repeating the keys and values: head `h` reads key/value
        // head `h / groups`, as transformers' `repeat_kv` pairs them. Over a prompt the query heads
        // that share a key/value head are stacked as rows, `[kv_heads, groups * tokens,
        // head_dim]`; for one new token see `one_token_attention`.
        let groups = t.num_attention_heads / t.num_key_value_heads;
        let kv_heads = t.num_key_value_heads;
        // Causal mask over [past + tokens] keys, one copy per stacked head; none needed for a
        // single new token.
        let mask = (tokens > 1).then(|| {
            let total = past + tokens;
            let values: Vec<f32> = (0..groups * tokens)
                .flat_map(|row| {
                    let i = row % tokens;
                    (0..total).map(move |j| if j > past + i { f32::NEG_INFINITY } else { 0.0 })
                })
                .collect();
            Tensor::<2>::from_data(TensorData::new(values, [groups * tokens, total]), &device)
        });
        let mut x = embeds;
        for (i, layer) in self.layers.iter().enumerate() {
            let h = layer.input_layernorm.forward(x.clone());
            let q = rope(split_heads(
                layer.q_proj.forward(h.clone()),
                t.num_attention_heads,
                t.head_dim,
            ));
            let k = rope(split_heads(
                layer.k_proj.forward(h.clone()),
                kv_heads,
                t.head_dim,
            ));
            let v = split_heads(layer.v_proj.forward(h), kv_heads, t.head_dim);
            let (k, v) = cache.write(i, k, v);
            let attended = if tokens == 1 {
                one_token_attention(q, k, v, groups)
            } else {
                let q = q.reshape([kv_heads, groups * tokens, t.head_dim]);
                attention(q, k, v, mask.clone(), t.head_dim).reshape([
                    t.num_attention_heads,
                    tokens,
                    t.head_dim,
                ])
            };
            x = x.add(layer.o_proj.forward(merge_heads(attended)));
            let h = layer.post_attention_layernorm.forward(x.clone());
            let gate = burn::tensor::activation::silu(layer.gate_proj.forward(h.clone()));
            x = x.add(layer.down_proj.forward(gate.mul(layer.up_proj.forward(h))));
        }
        cache.advance(tokens);
        let x = self.norm.forward(x);
        match &self.lm_head {
            Some(head) => head.forward(x),
            None => x.matmul(self.embed_tokens.clone().transpose()),
        }
    }
}

/// Attention of one new token, `q` `[heads, 1, head_dim]`, over the keys and values `[kv_heads,
/// positions, head_dim]` that each group of `groups` query heads shares.
///
/// Each head's product is one row against its key/value head, broadcast to the group's heads
/// (`expand`: a stride of 0, no copy; the kernels a step launches are the same as with stacked
/// heads). Stacking the group's heads as rows would make the products `groups` rows tall, and
/// for those the GPU backend compiles its general tiled matrix product: about 2.5 times the
/// generated code of the vector-matrix one, one variant per key count modulo 4, compiled in a
/// fresh worker's first decoding steps (0.8 to 1.7 s more a step on SwiftShader).
fn one_token_attention(q: Tensor<3>, k: Tensor<3>, v: Tensor<3>, groups: usize) -> Tensor<3> {
    let [heads, _, d] = q.dims();
    let [kv_heads, positions, _] = k.dims();
    let q = q.reshape([kv_heads, groups, 1, d]);
    let shared = |x: Tensor<3>| {
        x.unsqueeze_dim::<4>(1)
            .expand([kv_heads, groups, positions, d])
    };
    let scores = q.matmul(shared(k).swap_dims(2, 3));
    let weights = crate::elementwise::scaled_softmax(scores, (d as f64).powf(-0.5));
    weights.matmul(shared(v)).reshape([heads, 1, d])
}
