//! `medhall generate` and `medhall answer`: the quick-check VLM (SmolVLM with an optional LoRA
//! adapter) from a terminal. `answer` writes the official prediction format, so its output goes
//! straight into `medhall score`.

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use clap::Args;
use medhall_model::generate::{Generation, GenerationOptions, Sampling, generate};
use medhall_model::image::{ImageSettings, TileGrid, Tiling, decode, process};
use medhall_model::nn::Quantization;
use medhall_model::prompt::Prompter;
use medhall_model::vlm::{AdapterFiles, AdapterMode, Idefics3, LoadOptions, ModelFiles};
use medhall_model_check::image_files::ImageIndex;
use medhall_model_check::model_protocol::{AnswerTimings, question_text};
use medhall_model_check::zip::{ZipEntry, read_directory, read_entry};
use serde_json::Value;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args)]
pub struct ModelArgs {
    /// Model folder: config.json, model.safetensors, tokenizer.json, processor_config.json
    /// and/or preprocessor_config.json, optionally generation_config.json and the chat template.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// PEFT LoRA adapter folder: adapter_config.json and adapter_model.safetensors.
    #[arg(long, value_name = "DIR")]
    adapter: Option<PathBuf>,
    /// Fold the adapter into the weights instead of applying it separately.
    #[arg(long, requires = "adapter")]
    merge: bool,
    /// Store the linear weights quantized: q8_0 (int8 weights and activations in blocks of 32
    /// along the input, integer products on the CPU; "q8" means the same) or q4 (4-bit, blocks
    /// of 32 along the output).
    #[arg(long, value_name = "q8_0|q4|none", default_value = "none", value_parser = parse_quantization)]
    quantize: Quantization,
    /// One tile (faster): give the vision encoder the whole image as one square, even when the
    /// processor config splits images into tiles plus a global image (`do_image_splitting`, as
    /// SmolVLM's model card does): one encoder pass and 64 image tokens instead of up to 17
    /// passes and 17 times as many tokens, but not the model card's processing.
    #[arg(long)]
    one_tile: bool,
    /// Where to run: cpu (burn's flex backend) or wgpu (Vulkan natively; lavapipe without a
    /// GPU; needs a build with `--features wgpu`).
    #[arg(long, value_name = "cpu|wgpu", default_value = "cpu")]
    device: String,
    /// Most tokens to generate per answer.
    #[arg(long, default_value_t = 128)]
    max_new_tokens: usize,
    /// Sample with this temperature instead of greedy decoding.
    #[arg(long)]
    temperature: Option<f32>,
    /// With --temperature: keep only the k most likely tokens (0: all).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// With --temperature: keep the most likely tokens up to this cumulative probability.
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// With --temperature: the sampler's seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The image (PNG or JPEG).
    #[arg(long, value_name = "FILE")]
    image: PathBuf,
    /// The question about it.
    #[arg(long)]
    question: String,
}

#[derive(Args)]
pub struct AnswerArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Questions JSONL (`question_id`, `image`, `question`, as the benchmark's question files).
    #[arg(long, value_name = "FILE")]
    questions: PathBuf,
    /// The questions' images: a folder (each row's `image` is a path under it), or a zip archive
    /// (any file: each row's `image` is looked up by path, then under a folder, then by file
    /// name; entries are read one at a time, never the whole archive).
    #[arg(long, value_name = "DIR|ZIP")]
    images: PathBuf,
    /// Predictions JSONL to write (`question_id`, `image`, `question`, `answer`).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Answer only the first N questions.
    #[arg(long)]
    limit: Option<usize>,
}

/// Where `answer` reads the questions' images.
enum Images {
    Folder(PathBuf),
    Zip {
        path: PathBuf,
        file: std::fs::File,
        index: ImageIndex<ZipEntry>,
    },
}

impl Images {
    /// A regular file is read as a zip archive (its directory, once); anything else as a folder.
    fn open(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Ok(Self::Folder(path.to_owned()));
        }
        let mut file =
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let entries =
            read_directory(&mut file).with_context(|| format!("--images {}", path.display()))?;
        let index = ImageIndex::new(
            entries
                .into_iter()
                .filter(|entry| !entry.is_dir())
                .map(|entry| (entry.name.clone(), entry)),
        );
        Ok(Self::Zip {
            path: path.to_owned(),
            file,
            index,
        })
    }

    /// The bytes of a row's `image` and the name to report it by; the error names the file.
    fn read(&mut self, image: &str) -> Result<(String, Vec<u8>), String> {
        match self {
            Self::Folder(dir) => {
                let path = dir.join(image);
                std::fs::read(&path)
                    .map(|bytes| (image.to_owned(), bytes))
                    .map_err(|e| format!("{}: {e}", path.display()))
            }
            Self::Zip { path, file, index } => {
                let entry = index
                    .find(image)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                read_entry(file, entry)
                    .map(|bytes| (entry.name.clone(), bytes))
                    .map_err(|e| format!("{}: {e}", path.display()))
            }
        }
    }
}

fn parse_quantization(text: &str) -> Result<Quantization, String> {
    Quantization::parse(text).ok_or_else(|| format!("`{text}` is not one of q8_0, q4, none"))
}

struct Loaded {
    model: Idefics3,
    prompter: Prompter,
    image_settings: ImageSettings,
    tiling: Tiling,
    options: GenerationOptions,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    if path.exists() {
        read(path).map(Some)
    } else {
        Ok(None)
    }
}

pub(crate) fn device(name: &str) -> Result<Device> {
    match name {
        "cpu" => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(Default::default())),
        #[cfg(not(feature = "wgpu"))]
        "wgpu" => bail!("this medhall was built without wgpu: rebuild with `--features wgpu`"),
        other => bail!("--device `{other}` is not cpu or wgpu"),
    }
}

fn load(args: &ModelArgs) -> Result<Loaded> {
    let dir = &args.model;
    let config = read(&dir.join("config.json"))?;
    let weights = read(&dir.join("model.safetensors"))?;
    let adapter = match &args.adapter {
        Some(a) => Some((
            read(&a.join("adapter_config.json"))?,
            read(&a.join("adapter_model.safetensors"))?,
        )),
        None => None,
    };
    let adapter_files = adapter
        .as_ref()
        .map(|(config, weights)| AdapterFiles { config, weights });
    let mode = if args.merge {
        AdapterMode::Merged
    } else {
        AdapterMode::Unmerged
    };
    let device = device(&args.device)?;
    let model = Idefics3::load(
        &ModelFiles {
            config: &config,
            weights: &weights,
        },
        adapter_files.as_ref().map(|f| (f, mode)),
        LoadOptions {
            quantization: args.quantize,
        },
        &device,
    )
    .with_context(|| format!("loading {}", dir.display()))?;
    let processor = read_optional(&dir.join("processor_config.json"))?;
    let preprocessor = read_optional(&dir.join("preprocessor_config.json"))?;
    let image_settings =
        ImageSettings::for_model(processor.as_deref(), preprocessor.as_deref(), &model.config)
            .with_context(|| format!("loading {}", dir.display()))?;
    let template = match read_optional(&dir.join("chat_template.jinja"))? {
        Some(t) => Some(t),
        None => read_optional(&dir.join("chat_template.json"))?,
    };
    let prompter = Prompter::new(
        &read(&dir.join("tokenizer.json"))?,
        processor.as_deref(),
        model.config.image_tokens(),
        read_optional(&dir.join("generation_config.json"))?.as_deref(),
        template.as_deref(),
    )?;
    if !prompter.template_matches() {
        eprintln!(
            "medhall: note: {}'s chat template is not SmolVLM's; prompts use SmolVLM's",
            dir.display()
        );
    }
    let sampling = match args.temperature {
        Some(temperature) => Sampling::Sample {
            temperature,
            top_k: args.top_k,
            top_p: args.top_p,
            seed: args.seed,
        },
        None => Sampling::Greedy,
    };
    Ok(Loaded {
        model,
        prompter,
        image_settings,
        tiling: if args.one_tile {
            Tiling::OneTile
        } else {
            Tiling::AsConfigured
        },
        options: GenerationOptions {
            max_new_tokens: args.max_new_tokens,
            sampling,
        },
    })
}

impl Loaded {
    /// Answers `question` about the image in `image_bytes`, streaming tokens to `on_text`.
    fn answer(
        &self,
        image_name: &str,
        image_bytes: &[u8],
        question: &str,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Answer> {
        let preprocessing = Instant::now();
        let image = decode(image_name, image_bytes)?;
        let images = process(image_name, &image, &self.image_settings, self.tiling)?;
        let pixels = self.model.image_tensors(&images);
        let preprocessing_ms = preprocessing.elapsed().as_secs_f64() * 1000.0;
        let ids = self.prompter.encode_question(question, Some(images.grid))?;
        let start = Instant::now();
        let clock = || start.elapsed().as_secs_f64() * 1000.0;
        let mut tokens = Vec::new();
        let mut shown = 0;
        let generation = pollster::block_on(generate(
            &self.model,
            &ids,
            &pixels,
            &self.prompter.stop_ids,
            self.options,
            &clock,
            &mut |token| {
                tokens.push(token);
                if let Ok(text) = self.prompter.decode(&tokens)
                    && text.len() > shown
                    && text.is_char_boundary(shown)
                {
                    on_text(&text[shown..]);
                    shown = text.len();
                }
                true
            },
        ))?;
        let text = self.prompter.decode(&generation.tokens)?;
        Ok(Answer {
            text: text.trim().to_owned(),
            generation,
            grid: images.grid,
            preprocessing_ms,
        })
    }

    /// How images are given to the vision encoder, for the run's settings line.
    fn image_handling(&self) -> String {
        let side = self.image_settings.max_image_size;
        match (self.tiling, self.image_settings.do_image_splitting) {
            (Tiling::OneTile, _) => format!("one {side}-pixel tile (--one-tile)"),
            (Tiling::AsConfigured, true) => format!(
                "{side}-pixel tiles plus a global image ({}: do_image_splitting)",
                self.image_settings.file
            ),
            (Tiling::AsConfigured, false) => format!(
                "one {side}-pixel tile ({} does not split images)",
                self.image_settings.file
            ),
        }
    }
}

/// One answer with how it was made.
struct Answer {
    text: String,
    generation: Generation,
    grid: TileGrid,
    /// Decoding the image and cutting it into the encoder's tiles.
    preprocessing_ms: f64,
}

impl Answer {
    /// Where the time went, stage by stage (the page's model check shows the same line).
    fn timings(&self) -> AnswerTimings {
        let t = &self.generation.timings;
        AnswerTimings {
            preprocessing_ms: self.preprocessing_ms,
            vision_ms: t.vision_ms,
            connector_ms: t.connector_ms,
            prefill_ms: t.prefill_ms,
            decode_ms: t.decode_ms.clone(),
            image_kernels: t.image_kernels,
            prefill_kernels: t.prefill_kernels,
            decode_kernels: t.decode_kernels.clone(),
        }
    }
}

fn timing(generation: &Generation, grid: TileGrid) -> String {
    let rate = generation
        .decode_tokens_per_s
        .map_or("n/a".to_owned(), |r| format!("{r:.2} tokens/s"));
    let images = if grid.rows == 0 {
        "1 image tile".to_owned()
    } else {
        format!(
            "{} image tiles ({}×{} and the global image)",
            grid.images(),
            grid.rows,
            grid.cols
        )
    };
    format!(
        "{images}, {} prompt tokens, {} generated ({:?}); time to first token {:.0} ms, decoding {rate}",
        generation.prompt_tokens,
        generation.tokens.len(),
        generation.stop,
        generation.time_to_first_token_ms,
    )
}

pub fn run_generate(args: &GenerateArgs) -> Result<()> {
    let started = Instant::now();
    let loaded = load(&args.model)?;
    // Measured from the loaded tensors where the backend allows it, else the config's formula.
    let size = match loaded.model.stored_bytes() {
        Some(bytes) => format!("{:.1} MB", bytes as f64 / 1e6),
        None => format!(
            "{:.1} MB nominal",
            loaded.model.nominal_bytes() as f64 / 1e6
        ),
    };
    eprintln!(
        "medhall: loaded {} ({} weights, {size}; images: {}) in {:.1} s",
        args.model.model.display(),
        args.model.quantize.name(),
        loaded.image_handling(),
        started.elapsed().as_secs_f64()
    );
    let bytes = read(&args.image)?;
    let mut stdout = std::io::stdout();
    let answer = loaded.answer(
        &args.image.display().to_string(),
        &bytes,
        &args.question,
        &mut |piece| {
            let _ = write!(stdout, "{piece}");
            let _ = stdout.flush();
        },
    )?;
    println!();
    eprintln!("medhall: {}", timing(&answer.generation, answer.grid));
    eprintln!(
        "medhall: where the time went: {}",
        answer.timings().summary()
    );
    Ok(())
}

pub fn run_answer(args: &AnswerArgs) -> Result<()> {
    let mut images = Images::open(&args.images)?;
    let loaded = load(&args.model)?;
    eprintln!(
        "medhall: {} ({} weights; images: {})",
        args.model.model.display(),
        args.model.quantize.name(),
        loaded.image_handling()
    );
    let file = std::fs::File::open(&args.questions)
        .with_context(|| format!("cannot read {}", args.questions.display()))?;
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&args.out)
            .with_context(|| format!("cannot write {}", args.out.display()))?,
    );
    let name = args.questions.display().to_string();
    let (mut answered, mut failed) = (0usize, 0usize);
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        if args.limit.is_some_and(|limit| answered + failed >= limit) {
            break;
        }
        let line_no = index + 1;
        let line = line.with_context(|| format!("{name}: line {line_no}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let mut fail = |message: String| {
            eprintln!("medhall: {name}: line {line_no}: {message}");
            failed += 1;
        };
        let row: Value = match serde_json::from_str(&line) {
            Ok(row) => row,
            Err(e) => {
                fail(format!("not JSON: {e}"));
                continue;
            }
        };
        let field = |key: &str| row.get(key).filter(|v| !v.is_null());
        let (Some(id), Some(image), Some(question)) = (
            field("question_id"),
            field("image").and_then(Value::as_str),
            field("question")
                .or_else(|| field("text"))
                .and_then(Value::as_str),
        ) else {
            fail("needs `question_id`, `image` and `question` (or `text`)".to_owned());
            continue;
        };
        let (image_name, bytes) = match images.read(image) {
            Ok(read) => read,
            Err(e) => {
                fail(format!("field `image`: {e}"));
                continue;
            }
        };
        match loaded.answer(&image_name, &bytes, &question_text(question), &mut |_| {}) {
            Ok(answer) => {
                let record = serde_json::json!({
                    "question_id": id,
                    "image": image,
                    "question": question,
                    "answer": answer.text,
                });
                writeln!(out, "{record}")?;
                answered += 1;
                eprintln!(
                    "medhall: {name}: line {line_no}: {}; {}",
                    timing(&answer.generation, answer.grid),
                    answer.timings().summary()
                );
            }
            Err(e) => fail(format!("{e:#}")),
        }
    }
    out.flush()?;
    eprintln!(
        "medhall: wrote {answered} answers to {}; {failed} questions failed",
        args.out.display()
    );
    if answered == 0 && failed > 0 {
        bail!("no question could be answered");
    }
    Ok(())
}
