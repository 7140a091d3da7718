//! A PEFT LoRA adapter: `adapter_config.json` and `adapter_model.safetensors`, checked against
//! the base model it claims to adapt.

use crate::ModelError;
use crate::safetensors::SafeTensors;
use serde_json::Value;

/// PEFT writes `target_modules` as a list of module names or as one regular expression.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetModules {
    Names(Vec<String>),
    Pattern(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct LoraConfig {
    pub r: usize,
    pub lora_alpha: f64,
    pub use_rslora: bool,
    pub target_modules: TargetModules,
}

impl LoraConfig {
    pub fn from_json(file: &str, bytes: &[u8]) -> Result<LoraConfig, ModelError> {
        let root: Value = serde_json::from_slice(bytes).map_err(|e| ModelError::Json {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        let field = |name: &str, message: &str| ModelError::Field {
            file: file.to_owned(),
            field: name.to_owned(),
            message: message.to_owned(),
        };
        if let Some(kind) = root.get("peft_type").and_then(Value::as_str)
            && kind != "LORA"
        {
            return Err(field(
                "peft_type",
                &format!("`{kind}` is not a LoRA adapter"),
            ));
        }
        let r = root
            .get("r")
            .and_then(Value::as_u64)
            .and_then(|r| usize::try_from(r).ok())
            .filter(|r| *r > 0)
            .ok_or_else(|| field("r", "expected a positive integer"))?;
        let lora_alpha = root
            .get("lora_alpha")
            .and_then(Value::as_f64)
            .filter(|a| a.is_finite())
            .ok_or_else(|| field("lora_alpha", "expected a number"))?;
        let target_modules = match root.get("target_modules") {
            Some(Value::String(pattern)) => TargetModules::Pattern(pattern.clone()),
            Some(Value::Array(names)) => TargetModules::Names(
                names
                    .iter()
                    .map(|n| n.as_str().map(str::to_owned))
                    .collect::<Option<_>>()
                    .ok_or_else(|| field("target_modules", "expected module names"))?,
            ),
            _ => return Err(field("target_modules", "expected a list or a pattern")),
        };
        Ok(LoraConfig {
            r,
            lora_alpha,
            use_rslora: root
                .get("use_rslora")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            target_modules,
        })
    }

    /// The factor the adapter's product is scaled by: alpha / r (alpha / sqrt(r) with rsLoRA).
    pub fn scaling(&self) -> f64 {
        if self.use_rslora {
            self.lora_alpha / (self.r as f64).sqrt()
        } else {
            self.lora_alpha / self.r as f64
        }
    }
}

/// One adapted linear layer: the base weight it changes and its low-rank factors.
#[derive(Clone, Debug, PartialEq)]
pub struct LoraLayer {
    /// The base model's weight, e.g. `model.text_model.layers.0.self_attn.q_proj.weight`.
    pub base_weight: String,
    pub lora_a: String,
    pub lora_b: String,
}

const PREFIX: &str = "base_model.model.";

/// Pairs every `lora_A`/`lora_B` of the adapter with a base weight of `base` (names and shapes
/// as [`crate::config::Idefics3Config::tensors`] lists them) and checks A is `[r, in]` and B
/// `[out, r]`. An adapter made for another model fails here, naming the first tensor that does
/// not fit.
pub fn check_adapter(
    file: &str,
    adapter: &SafeTensors<'_>,
    config: &LoraConfig,
    base: &[(String, Vec<usize>)],
) -> Result<Vec<LoraLayer>, ModelError> {
    let error = |message: String| ModelError::Adapter {
        file: file.to_owned(),
        message,
    };
    let mut layers = Vec::new();
    for name in adapter.tensors.keys() {
        let Some(module) = name
            .strip_prefix(PREFIX)
            .and_then(|n| n.strip_suffix(".lora_A.weight"))
        else {
            if !name.ends_with(".lora_B.weight") {
                return Err(error(format!(
                    "`{name}` is not a LoRA factor this loader knows"
                )));
            }
            continue;
        };
        let base_weight = format!("{module}.weight");
        let Some((_, shape)) = base.iter().find(|(n, _)| *n == base_weight) else {
            return Err(error(format!(
                "`{name}` adapts `{module}`, which this base model does not have"
            )));
        };
        let [out, input] = shape[..] else {
            return Err(error(format!("`{module}` is not a linear layer")));
        };
        let lora_b = format!("{PREFIX}{module}.lora_B.weight");
        let a_shape = &adapter.tensors[name].shape;
        let b_shape = &adapter
            .tensors
            .get(&lora_b)
            .ok_or_else(|| error(format!("`{name}` has no `{lora_b}`")))?
            .shape;
        if a_shape[..] != [config.r, input] || b_shape[..] != [out, config.r] {
            return Err(error(format!(
                "`{module}`: A is {a_shape:?} and B {b_shape:?}, but r = {} and the base weight is [{out}, {input}]",
                config.r
            )));
        }
        layers.push(LoraLayer {
            base_weight,
            lora_a: name.clone(),
            lora_b,
        });
    }
    if layers.is_empty() {
        return Err(error("no lora_A/lora_B tensors".to_owned()));
    }
    Ok(layers)
}
