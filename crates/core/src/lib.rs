//! MedHall Lens core: everything that turns bytes into numbers, with no platform in sight.
//!
//! It owns the benchmark's file formats and their incremental (chunk-fed) parsing, judge-verdict
//! parsing, aggregation, and the metric signature. The metrics themselves (ROUGE, METEOR, BLEU,
//! BERTScore matching), Python's text rules and the statistics live one layer down, in
//! `medhall-metrics`, and are re-exported here under their old paths. It must not depend on web
//! crates (web-sys, leptos, gloo), on burn, on the model, or on the filesystem: callers hand it
//! bytes.

// The metrics crate's modules under the paths core had before they moved down, so
// `crate::metrics::…` here and `medhall_core::metrics::…` elsewhere keep resolving.
pub use medhall_metrics as metrics;
pub use medhall_metrics::{fast_hash, stats, text, vqa};

pub mod agreement;
pub mod chart;
pub mod compare;
pub mod dataset;
pub mod export;
pub mod formats;
pub mod identity;
pub mod judge;
pub mod judging;
pub mod leaderboard;
pub mod sample;
pub mod signature;
pub mod summary;
pub mod url_policy;
pub mod vqa_data;
pub mod vqa_run;
