//! Image splitting (SmolVLM's `do_image_splitting`) against transformers' Idefics3 processor:
//! tiles, pixel values and prompt ids on images of several sizes and aspect ratios, and the
//! tiny model's logits with a split image. The reference is
//! `tests/fixtures/image_split_reference.json` (scripts/gen_image_split_fixture.py).

use burn::prelude::*;
use medhall_model::generate::{GenerationOptions, Sampling, generate};
use medhall_model::image::{
    EncoderImages, ImageSettings, Rgb8, TileGrid, Tiling, decode, preprocess, process,
};
use medhall_model::nn::Quantization;
use medhall_model::prompt::Prompter;
use medhall_model::text::KvCache;
use serde_json::Value;

mod common;
use common::{fixture, tiny_model};

const QUESTION: &str = "What is shown in this image?";

fn reference() -> Value {
    serde_json::from_slice(&fixture("image_split_reference.json")).expect("reference JSON")
}

fn usize_at(v: &Value, key: &str) -> usize {
    v[key].as_u64().unwrap_or_else(|| panic!("{key}")) as usize
}

fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// The image-processor settings the reference names, read as a preprocessor_config.json.
fn settings(reference: &Value, name: &str) -> ImageSettings {
    let json = serde_json::to_vec(&reference["settings"][name]["image_processor"]).expect("JSON");
    ImageSettings::from_json("preprocessor_config.json", &json).expect("settings")
}

fn prompter(reference: &Value, name: &str) -> Prompter {
    let seq_len = usize_at(&reference["settings"][name], "image_seq_len");
    let processor = format!(r#"{{"image_seq_len": {seq_len}}}"#);
    Prompter::new(
        &fixture("tiny-idefics3/tokenizer.json"),
        Some(processor.as_bytes()),
        16,
        None,
        None,
    )
    .expect("prompter")
}

/// The script's `synthetic_image`, in the same integer arithmetic.
fn synthetic_image(width: usize, height: usize) -> Rgb8 {
    let mut pixels = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        for x in 0..width {
            pixels.push((x * 255 / (width - 1).max(1)) as u8);
            pixels.push((y * 255 / (height - 1).max(1)) as u8);
            pixels.push(((((x >> 4) ^ (y >> 4)) & 1) * 160 + ((x * 7 + y * 3) & 63)) as u8);
        }
    }
    Rgb8 {
        width,
        height,
        pixels,
    }
}

/// The script's `bits_checksum`: Σ (i + 1) · bits(value i) mod 2⁶⁴.
fn bits_checksum(values: &[f32]) -> u64 {
    values.iter().enumerate().fold(0u64, |sum, (i, v)| {
        sum.wrapping_add((i as u64 + 1).wrapping_mul(u64::from(v.to_bits())))
    })
}

/// Compares every tile with the processor's: its checksum (so every value equal), and, to say
/// how far off a failing tile is, its sampled values and channel sums. Returns the largest
/// difference seen in the samples.
fn compare_tiles(label: &str, ours: &EncoderImages, tiles: &[Value]) -> f64 {
    assert_eq!(ours.count(), tiles.len(), "{label}: number of images");
    let mut max_diff = 0.0f64;
    for (t, tile) in tiles.iter().enumerate() {
        let values = ours.image(t);
        let samples = f64s(&tile["sample_values"]);
        for (i, expected) in samples.iter().enumerate() {
            let at = (7 + i * 1_000_003) % values.len();
            // The JSON holds float32 values; serde_json may read them back 1 ulp off in f64.
            max_diff = max_diff.max(f64::from((values[at] - *expected as f32).abs()));
        }
        let plane = values.len() / 3;
        for (c, expected) in f64s(&tile["channel_sums"]).iter().enumerate() {
            let sum: f64 = values[c * plane..(c + 1) * plane]
                .iter()
                .map(|&v| f64::from(v))
                .sum();
            assert!(
                (sum - expected).abs() <= 1e-6 * expected.abs().max(1.0),
                "{label}: tile {t} channel {c}: sum {sum}, the processor's {expected}"
            );
        }
        let expected: u64 = tile["bits_checksum"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("checksum");
        assert_eq!(
            bits_checksum(values),
            expected,
            "{label}: tile {t} differs from the processor's (largest sampled difference so far {max_diff})"
        );
    }
    max_diff
}

#[test]
fn tiles_pixels_and_prompt_ids_equal_the_processors() {
    let reference = reference();
    let cases = reference["cases"].as_array().expect("cases");
    assert!(cases.len() >= 4, "at least four image sizes");
    let mut sizes = std::collections::BTreeSet::new();
    for case in cases {
        let name = case["settings"].as_str().expect("settings name");
        let (width, height) = (usize_at(case, "width"), usize_at(case, "height"));
        let label = format!("{name} {width}×{height}");
        let settings = settings(&reference, name);
        assert!(settings.do_image_splitting, "{label}");
        let ours = process(
            "synthetic.png",
            &synthetic_image(width, height),
            &settings,
            Tiling::AsConfigured,
        )
        .unwrap_or_else(|e| panic!("{label}: {e}"));
        let grid = TileGrid {
            rows: usize_at(case, "rows"),
            cols: usize_at(case, "cols"),
        };
        assert_eq!(ours.grid, grid, "{label}: rows and columns");
        let shape = u32s(&case["pixel_values_shape"]);
        let side = settings.max_image_size;
        assert_eq!(shape[1..], [3, side as u32, side as u32], "{label}");
        let diff = compare_tiles(&label, &ours, case["tiles"].as_array().expect("tiles"));
        assert_eq!(diff, 0.0, "{label}: sampled values differ");

        let ids = prompter(&reference, name)
            .encode_question(QUESTION, Some(ours.grid))
            .expect("encodes");
        assert_eq!(ids, u32s(&case["input_ids"]), "{label}: prompt ids");
        sizes.insert((width, height, grid.rows, grid.cols));
    }
    // The cases cover splits into rows only, columns only and both.
    assert!(sizes.iter().any(|s| s.2 == 1 && s.3 > 1));
    assert!(sizes.iter().any(|s| s.2 > 1 && s.3 == 1));
    assert!(sizes.iter().any(|s| s.2 > 1 && s.3 > 1 && s.2 != s.3));
}

#[test]
fn one_tile_ignores_the_splitting_setting() {
    let reference = reference();
    let settings = settings(&reference, "smolvlm-256m");
    let image = synthetic_image(300, 200);
    let one = process("s.png", &image, &settings, Tiling::OneTile).expect("one tile");
    assert_eq!((one.grid, one.count()), (TileGrid::default(), 1));
    assert_eq!(
        one.values,
        preprocess("s.png", &image, &settings).expect("one")
    );
    let split = process("s.png", &image, &settings, Tiling::AsConfigured).expect("split");
    assert_eq!(split.count(), 13);
    // The prompt: 64 image tokens for one tile, 13 × 64 split, with the row/column tokens.
    let p = prompter(&reference, "smolvlm-256m");
    let image_id = 338;
    let count = |ids: &[u32]| ids.iter().filter(|&&i| i == image_id).count();
    let one_ids = p
        .encode_question(QUESTION, Some(one.grid))
        .expect("encodes");
    let split_ids = p
        .encode_question(QUESTION, Some(split.grid))
        .expect("encodes");
    assert_eq!(count(&one_ids), 64);
    assert_eq!(count(&split_ids), 13 * 64);
    let expanded = p.expand_images("<image>", split.grid);
    assert!(expanded.starts_with("<fake_token_around_image><row_1_col_1><image>"));
    assert!(expanded.contains("<image>\n<fake_token_around_image><row_2_col_1>"));
    assert!(expanded.contains("<image>\n\n<fake_token_around_image><global-img><image>"));
    assert!(expanded.ends_with("<image><fake_token_around_image>"));
    assert_eq!(expanded.matches("<row_").count(), 12);
}

#[test]
fn a_split_image_gives_transformers_logits_on_the_tiny_model() {
    let reference = reference();
    let expected = &reference["model"];
    let model = tiny_model(None, Quantization::None, &Device::flex());
    let image = decode("fixture-image.png", &fixture("fixture-image.png")).expect("png");
    let settings = settings(&reference, "tiny");
    let images =
        process("fixture-image.png", &image, &settings, Tiling::AsConfigured).expect("splits");
    assert_eq!(
        images.count(),
        u32s(&expected["pixel_values_shape"])[1] as usize
    );
    let p = prompter(&reference, "tiny");
    let ids = p
        .encode_question(QUESTION, Some(images.grid))
        .expect("encodes");
    assert_eq!(ids, u32s(&expected["input_ids"]));

    let tensors = model.image_tensors(&images);
    let mut cache = KvCache::default();
    let logits = model
        .prefill_images(&ids, &tensors, &mut cache)
        .expect("prefill");
    let [rows, vocab] = logits.dims();
    let last: Vec<f32> = logits
        .narrow(0, rows - 1, 1)
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("f32");
    let want = f64s(&expected["last_logits"]);
    assert_eq!(vocab, want.len());
    let max_diff = last
        .iter()
        .zip(&want)
        .map(|(&a, &b)| (f64::from(a) - b).abs())
        .fold(0.0, f64::max);
    println!("split-image prefill: last-position logits within {max_diff:.2e} of transformers'");
    assert!(max_diff < 1e-4, "last-position logits differ by {max_diff}");
    // One image's features fill only a thirteenth of the image tokens: an error, not a panic.
    let err = model
        .prefill_images(&ids, &tensors[..1], &mut KvCache::default())
        .expect_err("too few images");
    assert!(err.to_string().contains("image tokens"), "{err}");

    let generation = pollster::block_on(generate(
        &model,
        &ids,
        &tensors,
        &[],
        GenerationOptions {
            max_new_tokens: 4,
            sampling: Sampling::Greedy,
        },
        &|| 0.0,
        &mut |_| true,
    ))
    .expect("generates");
    assert_eq!(generation.tokens, u32s(&expected["greedy_tokens"]));
}
