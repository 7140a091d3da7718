//! Test support only (a dev-dependency): where the parity tests find the Python reference stack
//! made by `scripts/setup-reference.sh`, and what they do when it is missing. Kept out of
//! `medhall-core`, which must not touch the filesystem.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (this crate lives in `crates/reference-stack`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The reference venv's python (`MEDHALL_REFERENCE_PYTHON`, else `.cache/pyref/venv/bin/python`)
/// with `NLTK_DATA` pointing at the WordNet folder built from Debian's files.
pub struct ReferenceStack {
    pub python: PathBuf,
    pub nltk_data: PathBuf,
}

impl ReferenceStack {
    pub fn locate() -> Result<Self, String> {
        let root = workspace_root();
        let python = std::env::var_os("MEDHALL_REFERENCE_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(".cache/pyref/venv/bin/python"));
        let nltk_data = std::env::var_os("NLTK_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(".cache/pyref/nltk_data"));
        if python.exists() {
            Ok(Self { python, nltk_data })
        } else {
            Err(format!(
                "no reference python at {} (run scripts/setup-reference.sh)",
                python.display()
            ))
        }
    }

    /// A command running the reference python with NLTK_DATA set.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.python);
        command.env("NLTK_DATA", &self.nltk_data);
        command
    }
}

/// Prints a `SKIPPED:` line, or panics when `MEDHALL_REQUIRE_REFERENCE=1` (scripts/test.sh sets
/// it: it installs the reference stack), so that a parity test that did not run never passes.
pub fn skip_or_fail(reason: &str) {
    if std::env::var("MEDHALL_REQUIRE_REFERENCE").as_deref() == Ok("1") {
        panic!("reference required but unavailable: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
}

/// The one rule for the real data: the folder `../shared/medhalltune` beside the repository.
/// When it is absent a test prints `SKIPPED:` and returns `None`, unless
/// `MEDHALL_REQUIRE_DATA=1` (CI's `.ci/run` sets it: CI has the data), which makes it fail.
/// The end-to-end tests (`tests/e2e/`) follow the same rule with the same variable.
pub fn shared_data() -> Option<PathBuf> {
    let dir = std::env::var_os("MEDHALL_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/medhalltune"));
    if dir.is_dir() {
        return Some(dir);
    }
    let reason = format!("{} is absent", dir.display());
    if std::env::var("MEDHALL_REQUIRE_DATA").as_deref() == Ok("1") {
        panic!("MEDHALL_REQUIRE_DATA=1 but the real data is missing: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
    None
}
