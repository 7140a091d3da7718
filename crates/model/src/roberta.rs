//! The RoBERTa encoder as transformers 4.x' `RobertaModel` computes it in eval mode, cut to its
//! first N layers as `bert_score` does (`model.encoder.layer = layer[:N]`; the output it scores,
//! `last_hidden_state`, is then the output of layer N after that layer's final LayerNorm, and
//! with N = 0 the embeddings' output).
//!
//! - Embeddings: `word[id] + position[pos] + token_type[0]`, LayerNorm. Positions as RoBERTa
//!   derives them from the ids: `pad + cumsum(id != pad) * (id != pad)`, so the first real token
//!   is at `pad + 1` and a pad id (padding, or `<pad>` written in the text) sits at `pad`.
//! - Each layer (post-LN): `h = LN(h + Wo·attn(h))`, `h = LN(h + W2·gelu(W1·h))` with the exact
//!   (erf) GELU; attention over the sentence's real tokens only (padded keys get an additive
//!   `-inf`-like mask, so their weight is exactly 0).
//! - A batch is encoded in groups of sentences of similar length (see `RobertaEncoder::groups`):
//!   the products, layer norms and GELU on the group's real tokens only, attention with each
//!   sentence right-padded to the group's longest; each sentence's rows are its own tokens.

use burn::prelude::*;
use serde_json::Value;

use crate::ModelError;
use crate::nn::{LayerNorm, Linear};
use crate::safetensors::SafeTensors;
use crate::vision::Reader;
use crate::weights::HostTensor;

/// What the encoder needs from `config.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct RobertaConfig {
    /// `_name_or_path` when the file has it (the Hub name), for messages and layer defaults.
    pub name_or_path: Option<String>,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    pub pad_token_id: u32,
}

impl RobertaConfig {
    pub fn parse(bytes: &[u8]) -> Result<RobertaConfig, ModelError> {
        let file = "config.json";
        let root: Value = serde_json::from_slice(bytes).map_err(|e| ModelError::Json {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        let field = |name: &str, message: &str| ModelError::Field {
            file: file.to_owned(),
            field: name.to_owned(),
            message: message.to_owned(),
        };
        let model_type = root.get("model_type").and_then(Value::as_str);
        if model_type != Some("roberta") {
            return Err(field(
                "model_type",
                &format!(
                    "{}: not a RoBERTa model (BERTScore here runs RoBERTa encoders only)",
                    model_type.map_or("missing".to_owned(), |t| format!("`{t}`"))
                ),
            ));
        }
        let size = |name: &str| -> Result<usize, ModelError> {
            root.get(name)
                .and_then(Value::as_u64)
                .and_then(|v| usize::try_from(v).ok())
                .filter(|&v| v > 0)
                .ok_or_else(|| field(name, "missing or not a positive integer"))
        };
        if let Some(act) = root.get("hidden_act").and_then(Value::as_str)
            && act != "gelu"
        {
            return Err(field(
                "hidden_act",
                &format!("`{act}`: only `gelu` is implemented"),
            ));
        }
        if let Some(kind) = root.get("position_embedding_type").and_then(Value::as_str)
            && kind != "absolute"
        {
            return Err(field(
                "position_embedding_type",
                &format!("`{kind}`: only `absolute` is implemented"),
            ));
        }
        let config = RobertaConfig {
            name_or_path: root
                .get("_name_or_path")
                .and_then(Value::as_str)
                .map(str::to_owned),
            vocab_size: size("vocab_size")?,
            hidden_size: size("hidden_size")?,
            num_hidden_layers: size("num_hidden_layers")?,
            num_attention_heads: size("num_attention_heads")?,
            intermediate_size: size("intermediate_size")?,
            max_position_embeddings: size("max_position_embeddings")?,
            type_vocab_size: size("type_vocab_size")?,
            layer_norm_eps: root
                .get("layer_norm_eps")
                .and_then(Value::as_f64)
                .ok_or_else(|| field("layer_norm_eps", "missing or not a number"))?,
            pad_token_id: root
                .get("pad_token_id")
                .and_then(Value::as_u64)
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| field("pad_token_id", "missing or not a token id"))?,
        };
        if !config
            .hidden_size
            .is_multiple_of(config.num_attention_heads)
        {
            return Err(field("num_attention_heads", "does not divide hidden_size"));
        }
        if config.max_position_embeddings <= config.pad_token_id as usize + 2 {
            return Err(field(
                "max_position_embeddings",
                "leaves no position after the padding id",
            ));
        }
        Ok(config)
    }

    /// The longest sequence (`<s>` and `</s>` included) the position table holds: positions
    /// start at `pad + 1`.
    pub fn max_tokens(&self) -> usize {
        self.max_position_embeddings - self.pad_token_id as usize - 1
    }
}

struct Layer {
    /// The query, key and value projections as one product (`[h, 3h]`: their weights side by
    /// side): the activations are read and packed once instead of three times, and each
    /// output column is the same dot product as in its own projection.
    qkv: Linear,
    attention_output: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// What one more encoder group costs, in padded tokens: each group streams every weight matrix
/// once more (about 50 MB a layer for roberta-large, some milliseconds), the time of roughly a
/// hundred tokens' products on this kind of CPU.
pub const GROUP_COST_TOKENS: usize = 128;

/// Sentences of a batch encoded together, padded to `longest` (the first member's length).
struct Group {
    longest: usize,
    members: Vec<usize>,
}

/// A RoBERTa encoder cut to its first `layers` layers.
pub struct RobertaEncoder {
    pub config: RobertaConfig,
    /// Host copies of the embedding tables: rows are gathered on the host (one upload a batch).
    word: HostTensor,
    position: HostTensor,
    token_type: HostTensor,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    device: Device,
    buffer_limit: Option<u64>,
}

impl RobertaEncoder {
    /// Loads `config.json` and `model.safetensors` (f32, bf16 or f16), keeping the first
    /// `layers` layers. Tensor names as `RobertaModel` saves them, or with a `roberta.` prefix
    /// (`RobertaForMaskedLM`, as the Hub's roberta-large).
    pub fn load(
        config: RobertaConfig,
        file: &str,
        weights: &[u8],
        layers: usize,
        device: &Device,
    ) -> Result<RobertaEncoder, ModelError> {
        if layers > config.num_hidden_layers {
            return Err(ModelError::Input(format!(
                "layer {layers} asked for, the model has {} layers (0 to {} are valid)",
                config.num_hidden_layers, config.num_hidden_layers
            )));
        }
        let checkpoint = SafeTensors::parse(file, weights)?;
        let prefix = if checkpoint
            .tensors
            .contains_key("roberta.embeddings.word_embeddings.weight")
        {
            "roberta."
        } else {
            ""
        };
        let r = Reader {
            file,
            checkpoint: &checkpoint,
            device,
        };
        let (h, eps) = (config.hidden_size, config.layer_norm_eps);
        let name = |rest: &str| format!("{prefix}{rest}");
        let norm = |rest: &str| -> Result<LayerNorm, ModelError> {
            // Old checkpoints name LayerNorm parameters gamma/beta (transformers renames them).
            let base = name(rest);
            if checkpoint.tensors.contains_key(&format!("{base}.gamma")) {
                Ok(LayerNorm::new(
                    r.host(&format!("{base}.gamma"), &[h])?,
                    r.host(&format!("{base}.beta"), &[h])?,
                    eps,
                    device,
                ))
            } else {
                r.layer_norm(&base, h, eps)
            }
        };
        let word = r.host(
            &name("embeddings.word_embeddings.weight"),
            &[config.vocab_size, h],
        )?;
        let position = r.host(
            &name("embeddings.position_embeddings.weight"),
            &[config.max_position_embeddings, h],
        )?;
        let token_type = r.host(
            &name("embeddings.token_type_embeddings.weight"),
            &[config.type_vocab_size, h],
        )?;
        let embedding_norm = norm("embeddings.LayerNorm")?;
        let mut loaded = Vec::with_capacity(layers);
        for i in 0..layers {
            let p = name(&format!("encoder.layer.{i}"));
            let inter = config.intermediate_size;
            loaded.push(Layer {
                qkv: query_key_value(&r, &format!("{p}.attention.self"), h)?,
                attention_output: r.linear(&format!("{p}.attention.output.dense"), h, h, true)?,
                attention_norm: norm(&format!("encoder.layer.{i}.attention.output.LayerNorm"))?,
                intermediate: r.linear(&format!("{p}.intermediate.dense"), inter, h, true)?,
                output: r.linear(&format!("{p}.output.dense"), h, inter, true)?,
                output_norm: norm(&format!("encoder.layer.{i}.output.LayerNorm"))?,
            });
        }
        Ok(RobertaEncoder {
            config,
            word,
            position,
            token_type,
            embedding_norm,
            layers: loaded,
            device: device.clone(),
            buffer_limit: None,
        })
    }

    pub fn layers(&self) -> usize {
        self.layers.len()
    }

    /// The most bytes one device buffer may hold (WebGPU's `maxStorageBufferBindingSize`, as
    /// the adapter grants it): no group of a batch holds more sentences than fit in one
    /// buffer at the group's padded length. `None`: no limit.
    pub fn set_buffer_limit(&mut self, bytes: Option<u64>) {
        self.buffer_limit = bytes;
    }

    /// The largest activation one sentence padded to `longest` tokens needs in one buffer:
    /// its attention scores (`heads × longest²`) or its feed-forward activations
    /// (`longest × intermediate`), f32.
    pub fn bytes_per_sentence(&self, longest: usize) -> u64 {
        let c = &self.config;
        let values = (c.num_attention_heads * longest * longest)
            .max(longest * c.intermediate_size)
            .max(longest * c.hidden_size);
        values as u64 * 4
    }

    /// How many sentences padded to `longest` tokens one group of a batch holds under the
    /// buffer limit; an error that says so plainly when not even one fits.
    pub fn sentences_per_part(&self, longest: usize) -> Result<usize, ModelError> {
        let Some(limit) = self.buffer_limit else {
            return Ok(usize::MAX);
        };
        let one = self.bytes_per_sentence(longest).max(1);
        if one > limit {
            return Err(ModelError::Input(format!(
                "this device cannot encode a sentence of {longest} tokens: it needs a buffer of {:.1} MiB and the device's storage buffers hold at most {:.1} MiB",
                one as f64 / 1048576.0,
                limit as f64 / 1048576.0
            )));
        }
        Ok(usize::try_from(limit / one).unwrap_or(usize::MAX).max(1))
    }

    /// The groups a batch is encoded in: its sentences sorted by token count, longest first
    /// (ties in batch order), cut into runs that are each padded to their own longest. The
    /// cut minimises the padded tokens plus [`GROUP_COST_TOKENS`] per group (exactly, by
    /// dynamic programming over the sorted lengths), with at most as many sentences a group as
    /// the buffer limit allows (see [`RobertaEncoder::set_buffer_limit`]).
    ///
    /// A sentence's rows do not depend on its group: padded keys get an additive `-inf`, so
    /// their attention weight is exactly 0, and every other operation is row by row. Only the
    /// summation order inside the matrix products can change with the group's size, i.e.
    /// floating-point noise. bert_score pads each batch of 64 to its longest sentence and so
    /// computes up to twice the rows on text like the LLaVA-Med answers. Here padding costs
    /// only attention (see [`RobertaEncoder::forward`]), which the cut still keeps small.
    fn groups(&self, batch: &[Vec<u32>]) -> Result<Vec<Group>, ModelError> {
        let longest = batch.iter().map(Vec::len).max().unwrap_or(0);
        if longest > self.config.max_tokens() {
            return Err(ModelError::Input(format!(
                "a sentence of {longest} tokens is longer than the model's {} positions",
                self.config.max_tokens()
            )));
        }
        let mut order: Vec<usize> = (0..batch.len()).filter(|&i| !batch[i].is_empty()).collect();
        order.sort_by_key(|&i| (std::cmp::Reverse(batch[i].len()), i));
        let n = order.len();
        // best[j]: the cheapest cut of order[..j]; from[j]: where its last group starts.
        let mut best = vec![usize::MAX; n + 1];
        let mut from = vec![0usize; n + 1];
        best[0] = 0;
        for i in 0..n {
            if best[i] == usize::MAX {
                continue;
            }
            let len = batch[order[i]].len();
            let room = self.sentences_per_part(len)?;
            for j in i + 1..=n.min(i.saturating_add(room)) {
                let cost = best[i] + (j - i) * len + GROUP_COST_TOKENS;
                if cost < best[j] {
                    best[j] = cost;
                    from[j] = i;
                }
            }
        }
        let mut groups = Vec::new();
        let mut j = n;
        while j > 0 {
            let i = from[j];
            groups.push(Group {
                longest: batch[order[i]].len(),
                members: order[i..j].to_vec(),
            });
            j = i;
        }
        groups.reverse();
        Ok(groups)
    }

    /// Encodes sentences (token ids, each within [`RobertaConfig::max_tokens`]); returns each
    /// sentence's rows, `len × hidden`, row-major, in the batch's order (see
    /// [`RobertaEncoder::groups`] for how they are grouped). Reads the device synchronously:
    /// in the browser use [`RobertaEncoder::encode_batch_async`]. With the `native-cpu`
    /// feature the groups run concurrently on rayon's pool: burn's CPU backend runs its
    /// element-wise operations on one thread, so one group at a time leaves cores idle
    /// between matrix products.
    pub fn encode_batch(&self, batch: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, ModelError> {
        let groups = self.groups(batch)?;
        let run = |group: &Group| -> Result<Vec<f32>, ModelError> {
            let part: Vec<&[u32]> = group.members.iter().map(|&i| &batch[i][..]).collect();
            read_values(self.forward(&part, group.longest)?.into_data())
        };
        #[cfg(feature = "native-cpu")]
        let values: Vec<Vec<f32>> = {
            use rayon::prelude::*;
            groups.par_iter().map(run).collect::<Result<_, _>>()?
        };
        #[cfg(not(feature = "native-cpu"))]
        let values: Vec<Vec<f32>> = groups.iter().map(run).collect::<Result<_, _>>()?;
        Ok(self.rows_of(batch, &groups, &values))
    }

    /// [`RobertaEncoder::encode_batch`] with an asynchronous read-back (synchronous reads
    /// panic on WebGPU in wasm), one group at a time.
    pub async fn encode_batch_async(
        &self,
        batch: &[Vec<u32>],
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        let groups = self.groups(batch)?;
        let mut values = Vec::with_capacity(groups.len());
        for group in &groups {
            let part: Vec<&[u32]> = group.members.iter().map(|&i| &batch[i][..]).collect();
            let data = self
                .forward(&part, group.longest)?
                .into_data_async()
                .await
                .map_err(|e| ModelError::Input(format!("reading the encoder's output: {e:?}")))?;
            values.push(read_values(data)?);
        }
        Ok(self.rows_of(batch, &groups, &values))
    }

    /// Each sentence's rows, in the batch's order, from its group's packed output (empty
    /// sentences: no rows).
    fn rows_of(&self, batch: &[Vec<u32>], groups: &[Group], values: &[Vec<f32>]) -> Vec<Vec<f32>> {
        let h = self.config.hidden_size;
        let mut rows = vec![Vec::new(); batch.len()];
        for (group, values) in groups.iter().zip(values) {
            let mut start = 0;
            for &i in &group.members {
                let end = start + batch[i].len() * h;
                rows[i] = values[start..end].to_vec();
                start = end;
            }
        }
        rows
    }

    /// The encoder's output for `batch`, its sentences' rows one after another with no
    /// padding: `[tokens, hidden]`. Only attention needs the sentences side by side: there
    /// the rows are spread out to `[batch × longest]` (padded keys masked), and gathered back
    /// after it, so the products, layer norms and GELU take the real tokens only (bert_score
    /// computes them on padded rows too; a row's values do not depend on the others).
    fn forward(&self, batch: &[&[u32]], longest: usize) -> Result<Tensor<2>, ModelError> {
        let h = self.config.hidden_size;
        let pad = self.config.pad_token_id;
        let b = batch.len();
        let tokens: usize = batch.iter().map(|ids| ids.len()).sum();
        let mut embedded = Vec::with_capacity(tokens * h);
        let mut mask = vec![f32::NEG_INFINITY; b * longest];
        // spread[p]: the packed row at padded position p (a padded position takes its
        // sentence's first row: masked as a key, dropped as a query); packed[r]: the padded
        // position of packed row r.
        let mut spread = vec![0i64; b * longest];
        let mut packed = Vec::with_capacity(tokens);
        for (s, ids) in batch.iter().enumerate() {
            let first = packed.len() as i64;
            let mut real = 0usize;
            for (t, &id) in ids.iter().enumerate() {
                let position = if id == pad {
                    pad as usize
                } else {
                    real += 1;
                    pad as usize + real
                };
                let word_row = usize::try_from(id)
                    .ok()
                    .filter(|&i| i < self.config.vocab_size)
                    .ok_or_else(|| {
                        ModelError::Input(format!(
                            "token id {id} is outside the model's vocabulary of {}",
                            self.config.vocab_size
                        ))
                    })?;
                let word = &self.word.values[word_row * h..(word_row + 1) * h];
                let pos = &self.position.values[position * h..(position + 1) * h];
                let kind = &self.token_type.values[..h];
                // transformers' order: (word + token_type) + position.
                embedded.extend((0..h).map(|k| (word[k] + kind[k]) + pos[k]));
                mask[s * longest + t] = 0.0;
                spread[s * longest + t] = packed.len() as i64;
                packed.push((s * longest + t) as i64);
            }
            for t in ids.len()..longest {
                spread[s * longest + t] = first;
            }
        }
        let x = Tensor::<2>::from_data(TensorData::new(embedded, [tokens, h]), &self.device);
        let spread =
            Tensor::<1, Int>::from_data(TensorData::new(spread, [b * longest]), &self.device);
        let packed = Tensor::<1, Int>::from_data(TensorData::new(packed, [tokens]), &self.device);
        let mut x = self.embedding_norm.forward(x);
        let mask = Tensor::<3>::from_data(TensorData::new(mask, [b, 1, longest]), &self.device)
            .unsqueeze_dim::<4>(1);
        let heads = self.config.num_attention_heads;
        let d = h / heads;
        for layer in &self.layers {
            let qkv = layer.qkv.forward(x.clone()).select(0, spread.clone());
            let split = |t: Tensor<2>| t.reshape([b, longest, heads, d]).swap_dims(1, 2);
            let q = split(qkv.clone().narrow(1, 0, h));
            let k = split(qkv.clone().narrow(1, h, h));
            let v = split(qkv.narrow(1, 2 * h, h));
            let scores = q
                .matmul(k.swap_dims(2, 3))
                .div_scalar((d as f64).sqrt())
                .add(mask.clone());
            let context = crate::elementwise::scaled_softmax(scores, 1.0)
                .matmul(v)
                .swap_dims(1, 2)
                .reshape([b * longest, h])
                .select(0, packed.clone());
            let attended = layer
                .attention_norm
                .forward(layer.attention_output.forward(context).add(x));
            let inner = crate::elementwise::gelu_erf(layer.intermediate.forward(attended.clone()));
            x = layer
                .output_norm
                .forward(layer.output.forward(inner).add(attended));
        }
        Ok(x)
    }
}

/// `{prefix}.query`, `.key` and `.value` (each `[h, h]` with a bias) as one linear layer of
/// `3h` outputs, in that order.
fn query_key_value(r: &Reader<'_, '_>, prefix: &str, h: usize) -> Result<Linear, ModelError> {
    let mut weight = Vec::with_capacity(3 * h * h);
    let mut bias = Vec::with_capacity(3 * h);
    for part in ["query", "key", "value"] {
        weight.extend(r.host(&format!("{prefix}.{part}.weight"), &[h, h])?.values);
        bias.extend(r.host(&format!("{prefix}.{part}.bias"), &[h])?.values);
    }
    Ok(Linear::new(
        HostTensor {
            shape: vec![3 * h, h],
            values: weight,
        },
        Some(HostTensor {
            shape: vec![3 * h],
            values: bias,
        }),
        r.device,
    ))
}

fn read_values(data: TensorData) -> Result<Vec<f32>, ModelError> {
    data.try_into_vec::<f32>()
        .map_err(|e| ModelError::Input(format!("reading the encoder's output: {e:?}")))
}
