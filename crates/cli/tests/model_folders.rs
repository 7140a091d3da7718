//! `medhall generate` on model folders whose files disagree with each other or with the image:
//! each must end in an error naming the file and the setting, never in a panic (the model's
//! tensors have fixed shapes, and a wrong image size used to reach them).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests/fixtures")
}

fn generate(model: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medhall"))
        .arg("generate")
        .arg("--model")
        .arg(model)
        .arg("--image")
        .arg(fixtures().join("fixture-image.png"))
        .args(["--question", "What is shown?", "--max-new-tokens", "2"])
        .output()
        .expect("medhall runs")
}

/// The command failed with a message, not a panic; returns its stderr.
fn failed_cleanly(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "it succeeded: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // anyhow's error exit, not Rust's panic exit (101).
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    stderr
}

/// A copy of the tiny fixture model in a temp folder, with `edit` applied to one JSON file.
fn edited_copy(name: &str, file: &str, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let source = fixtures().join("tiny-idefics3");
    let dir = std::env::temp_dir().join(format!("medhall-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for entry in std::fs::read_dir(&source).expect("fixture folder") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy");
    }
    let path = dir.join(file);
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("JSON");
    edit(&mut json);
    std::fs::write(&path, serde_json::to_vec_pretty(&json).expect("JSON")).expect("write");
    dir
}

#[test]
fn an_image_the_processor_does_not_resize_to_the_model_size_is_an_error() {
    // processor_config.json says do_resize: false; the image is 40×30, the model takes 64×64.
    let output = generate(&fixtures().join("tiny-idefics3-inconsistent"));
    let stderr = failed_cleanly(&output);
    assert!(
        stderr.contains(
            "fixture-image.png: not a usable image: it is 40×30, but processor_config.json sets do_resize to false and the model needs 64×64 (max_image_size)"
        ),
        "{stderr}"
    );
}

#[test]
fn a_processor_image_size_other_than_the_encoders_is_refused_at_load() {
    let dir = edited_copy("max-image-size", "processor_config.json", |json| {
        json["image_processor"]["max_image_size"]["longest_edge"] = 32.into();
    });
    let stderr = failed_cleanly(&generate(&dir));
    assert!(
        stderr.contains(
            "processor_config.json: missing or unusable field `image_processor.max_image_size.longest_edge`: is 32, but config.json's vision_config.image_size is 64"
        ),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_vision_encoder_that_does_not_take_three_channels_is_refused_at_load() {
    let dir = edited_copy("channels", "config.json", |json| {
        json["vision_config"]["num_channels"] = 4.into();
    });
    let stderr = failed_cleanly(&generate(&dir));
    assert!(
        stderr.contains("config.json: missing or unusable field `vision_config.num_channels`"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
