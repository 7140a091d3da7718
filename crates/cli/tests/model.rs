//! `medhall generate` and `medhall answer` on the tiny random-weight fixture model (its answers
//! are gibberish; what is checked is the plumbing): streaming output, the official prediction
//! format that `medhall score` reads, the adapter switch, and errors that name the line.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests/fixtures")
}

fn medhall(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medhall"))
        .args(args)
        .output()
        .expect("medhall runs")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

#[test]
fn answer_writes_predictions_that_score_reads_and_reports_bad_lines() {
    let dir = std::env::temp_dir().join(format!("medhall-answer-{}", std::process::id()));
    let images = dir.join("images");
    std::fs::create_dir_all(&images).expect("temp dir");
    std::fs::copy(
        fixtures().join("fixture-image.png"),
        images.join("scan.png"),
    )
    .expect("copy");
    let questions = dir.join("val.positive.questions.jsonl");
    std::fs::write(
        &questions,
        concat!(
            "{\"question_id\": 11, \"image\": \"scan.png\", \"question\": \"What is shown?\\n<image>\"}\n",
            "{\"question_id\": 12, \"image\": \"gone.png\", \"question\": \"And here?\"}\n",
            "{broken\n",
            "{\"question_id\": 13, \"image\": \"scan.png\", \"question\": \"Any lesion?\"}\n",
        ),
    )
    .expect("questions");
    let model = fixtures().join("tiny-idefics3");
    let lora = fixtures().join("tiny-lora");
    let run = |out: &Path, adapter: bool| {
        let mut args = vec![
            "answer",
            "--model",
            path(&model),
            "--questions",
            path(&questions),
            "--images",
            path(&images),
            "--out",
            path(out),
            "--max-new-tokens",
            "6",
        ];
        if adapter {
            args.extend(["--adapter", path(&lora)]);
        }
        medhall(&args)
    };
    let predictions = dir.join("tiny.positive.predictions.jsonl");
    let output = run(&predictions, false);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("line 2: field `image`"), "{stderr}");
    assert!(stderr.contains("line 3: not JSON"), "{stderr}");
    assert!(stderr.contains("wrote 2 answers"), "{stderr}");
    let rows: Vec<Value> = std::fs::read_to_string(&predictions)
        .expect("predictions")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["question_id"], 11);
    assert_eq!(rows[1]["question_id"], 13);
    for row in &rows {
        assert_eq!(row["image"], "scan.png");
        assert!(row["answer"].is_string() && row["question"].is_string());
    }
    // Greedy decoding is deterministic; the adapter changes the answers.
    let again = dir.join("again.positive.predictions.jsonl");
    assert!(run(&again, false).status.success());
    assert_eq!(
        std::fs::read(&predictions).expect("first"),
        std::fs::read(&again).expect("second")
    );
    let adapted = dir.join("adapted.positive.predictions.jsonl");
    assert!(run(&adapted, true).status.success());
    assert_ne!(
        std::fs::read(&predictions).expect("base"),
        std::fs::read(&adapted).expect("adapted")
    );
    // The predictions score like any results file.
    let references = dir.join("val.positive.references.jsonl");
    std::fs::write(
        &references,
        concat!(
            "{\"question_id\": 11, \"image\": \"scan.png\", \"text\": \"What is shown?\", \"gpt4_answer\": \"A chest X-ray.\"}\n",
            "{\"question_id\": 13, \"image\": \"scan.png\", \"text\": \"Any lesion?\", \"gpt4_answer\": \"No lesion.\"}\n",
        ),
    )
    .expect("references");
    let per_sample = dir.join("scores.jsonl");
    let scored = medhall(&[
        "score",
        "--references",
        path(&references),
        "--per-sample",
        path(&per_sample),
        path(&predictions),
    ]);
    assert!(
        scored.status.success(),
        "{}",
        String::from_utf8_lossy(&scored.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&per_sample)
            .expect("scores")
            .lines()
            .count(),
        2
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// CRC-32 (IEEE), bit by bit: enough for a test archive.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A zip archive of stored (uncompressed) entries.
fn stored_zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let (mut archive, mut central) = (Vec::new(), Vec::new());
    for (name, data) in files {
        let size = u32::try_from(data.len()).expect("small file");
        let name_len = u16::try_from(name.len()).expect("short name");
        // Version needed, flags, method, time, date, CRC, sizes, name and extra lengths.
        let mut common = Vec::new();
        common.extend(20u16.to_le_bytes());
        common.extend([0u8; 8]);
        common.extend(crc32(data).to_le_bytes());
        common.extend(size.to_le_bytes());
        common.extend(size.to_le_bytes());
        common.extend(name_len.to_le_bytes());
        common.extend(0u16.to_le_bytes());
        let offset = u32::try_from(archive.len()).expect("small archive");
        archive.extend(0x0403_4b50u32.to_le_bytes());
        archive.extend(&common);
        archive.extend(name.as_bytes());
        archive.extend(*data);
        central.extend(0x0201_4b50u32.to_le_bytes());
        central.extend(20u16.to_le_bytes());
        central.extend(&common);
        // Comment length, disk, internal and external attributes.
        central.extend([0u8; 10]);
        central.extend(offset.to_le_bytes());
        central.extend(name.as_bytes());
    }
    let count = u16::try_from(files.len()).expect("few files");
    let central_offset = u32::try_from(archive.len()).expect("small archive");
    let central_size = u32::try_from(central.len()).expect("small directory");
    archive.extend(central);
    archive.extend(0x0605_4b50u32.to_le_bytes());
    archive.extend([0u8; 4]);
    archive.extend(count.to_le_bytes());
    archive.extend(count.to_le_bytes());
    archive.extend(central_size.to_le_bytes());
    archive.extend(central_offset.to_le_bytes());
    archive.extend(0u16.to_le_bytes());
    archive
}

#[test]
fn answer_reads_images_from_a_zip_as_from_a_folder() {
    let dir = std::env::temp_dir().join(format!("medhall-answer-zip-{}", std::process::id()));
    let images = dir.join("images");
    std::fs::create_dir_all(&images).expect("temp dir");
    let png = std::fs::read(fixtures().join("fixture-image.png")).expect("fixture image");
    std::fs::write(images.join("scan.png"), &png).expect("image");
    // The folder as a zip tool writes it: a folder entry, the image under a folder, and macOS
    // metadata that must not count as an image.
    let zip = dir.join("MedHallTune.zip");
    std::fs::write(
        &zip,
        stored_zip(&[
            ("MedHallTune/images/", b""),
            ("MedHallTune/images/scan.png", &png),
            (
                "__MACOSX/MedHallTune/images/._scan.png",
                b"\x00\x05\x16\x07",
            ),
        ]),
    )
    .expect("zip");
    let questions = dir.join("val.positive.questions.jsonl");
    std::fs::write(
        &questions,
        concat!(
            "{\"question_id\": 11, \"image\": \"scan.png\", \"question\": \"What is shown?\\n<image>\"}\n",
            "{\"question_id\": 12, \"image\": \"gone.png\", \"question\": \"And here?\"}\n",
            "{\"question_id\": 13, \"image\": \"scan.png\", \"question\": \"Any lesion?\"}\n",
        ),
    )
    .expect("questions");
    let model = fixtures().join("tiny-idefics3");
    let run = |images: &Path, out: &Path| {
        medhall(&[
            "answer",
            "--model",
            path(&model),
            "--questions",
            path(&questions),
            "--images",
            path(images),
            "--out",
            path(out),
            "--max-new-tokens",
            "6",
        ])
    };
    let from_folder = dir.join("folder.positive.predictions.jsonl");
    let output = run(&images, &from_folder);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let from_zip = dir.join("zip.positive.predictions.jsonl");
    let output = run(&zip, &from_zip);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "line 2: field `image`: {}: no file named gone.png among the 1 images given",
            zip.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("wrote 2 answers"), "{stderr}");
    // Each answer says where its time went, stage by stage.
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.contains("; image preprocessing ")
                && l.contains(", vision encoder ")
                && l.contains(", prefill "))
            .count(),
        2,
        "{stderr}"
    );
    let rows = std::fs::read_to_string(&from_zip).expect("zip predictions");
    assert_eq!(rows.lines().count(), 2);
    assert_eq!(
        rows,
        std::fs::read_to_string(&from_folder).expect("folder predictions")
    );
    // A file that is not a zip archive fails before the model loads, naming the file.
    let output = run(&questions, &from_zip);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("not a zip archive"), "{stderr}");
    assert!(stderr.contains("val.positive.questions.jsonl"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn generate_streams_an_answer_and_bad_inputs_fail_with_a_reason() {
    let model = fixtures().join("tiny-idefics3");
    let image = fixtures().join("fixture-image.png");
    let output = medhall(&[
        "generate",
        "--model",
        path(&model),
        "--image",
        path(&image),
        "--question",
        "What is shown in this image?",
        "--max-new-tokens",
        "4",
        "--quantize",
        "q8",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // "q8" is still accepted; what is reported is the scheme's name.
    assert!(stderr.contains("q8_0 weights"), "{stderr}");
    assert!(stderr.contains("time to first token"), "{stderr}");
    assert!(!output.stdout.is_empty());

    let not_an_image = fixtures().join("reference.json");
    let output = medhall(&[
        "generate",
        "--model",
        path(&model),
        "--image",
        path(&not_an_image),
        "--question",
        "x",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("reference.json: not a usable image"),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().count(),
        2,
        "a load line and one reason: {stderr}"
    );

    // An adapter folder that is not an adapter, and a model folder without weights.
    let output = medhall(&[
        "generate",
        "--model",
        path(&model),
        "--adapter",
        path(&model),
        "--image",
        path(&image),
        "--question",
        "x",
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("adapter_config.json"));
    let output = medhall(&[
        "generate",
        "--model",
        path(&fixtures()),
        "--image",
        path(&image),
        "--question",
        "x",
    ]);
    assert!(!output.status.success());
    let output = medhall(&[
        "generate",
        "--model",
        path(&model),
        "--quantize",
        "q3",
        "--image",
        path(&image),
        "--question",
        "x",
    ]);
    assert!(!output.status.success());
}

#[test]
fn generate_splits_images_as_the_processor_config_asks_unless_one_tile_is_given() {
    // The tiny model with splitting switched on in its processor config: the 40×30 image
    // becomes 256×192, 3 × 4 tiles of 64 pixels and the global image.
    let dir = std::env::temp_dir().join(format!("medhall-split-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let source = fixtures().join("tiny-idefics3");
    for entry in std::fs::read_dir(&source).expect("fixture folder") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy");
    }
    let processor = dir.join("processor_config.json");
    let mut config: Value =
        serde_json::from_slice(&std::fs::read(&processor).expect("read")).expect("JSON");
    config["image_processor"]["do_image_splitting"] = Value::Bool(true);
    std::fs::write(&processor, config.to_string()).expect("write");
    let image = fixtures().join("fixture-image.png");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "generate",
            "--model",
            path(&dir),
            "--image",
            path(&image),
            "--question",
            "What is shown in this image?",
            "--max-new-tokens",
            "2",
        ];
        args.extend_from_slice(extra);
        let output = medhall(&args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{stderr}");
        stderr
    };
    let split = run(&[]);
    assert!(
        split.contains(
            "images: 64-pixel tiles plus a global image (processor_config.json: do_image_splitting)"
        ),
        "{split}"
    );
    // 13 images × 16 tokens, their markers and row/column tokens, and the question: 264 ids
    // (transformers' count, tests/fixtures/image_split_reference.json).
    assert!(
        split.contains("13 image tiles (3×4 and the global image), 264 prompt tokens"),
        "{split}"
    );
    let one = run(&["--one-tile"]);
    assert!(
        one.contains("images: one 64-pixel tile (--one-tile)"),
        "{one}"
    );
    assert!(one.contains("1 image tile, 44 prompt tokens"), "{one}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn generate_takes_an_adapter_on_the_vision_encoder_and_connector_too() {
    // tiny-lora-all adapts every linear layer (its target_modules also name the vision
    // encoder's q/k/v_proj); it was refused before LoRA reached the vision encoder.
    let model = fixtures().join("tiny-idefics3");
    let adapter = fixtures().join("tiny-lora-all");
    let image = fixtures().join("fixture-image.png");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "generate",
            "--model",
            path(&model),
            "--image",
            path(&image),
            "--question",
            "What is shown in this image?",
            "--max-new-tokens",
            "4",
        ];
        args.extend_from_slice(extra);
        let output = medhall(&args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    };
    let base = run(&[]);
    let unmerged = run(&["--adapter", path(&adapter)]);
    let merged = run(&["--adapter", path(&adapter), "--merge"]);
    assert_ne!(unmerged, base, "the adapter changes the answer");
    // peft gives the same greedy tokens unmerged and merged (lora_all_reference.json).
    assert_eq!(unmerged, merged);
}
