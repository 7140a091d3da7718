//! MedHall Lens core: everything that turns bytes into numbers, with no platform in sight.
//!
//! It owns the benchmark's file formats and their incremental (chunk-fed) parsing, the official
//! lexical metrics (ROUGE, METEOR, BLEU) reproduced exactly as the Python evaluation computes them,
//! judge-verdict parsing, aggregation and statistics, and the metric signature. It must not depend
//! on web crates (web-sys, leptos, gloo), on burn, or on the filesystem: callers hand it bytes.

pub mod chart;
pub mod compare;
pub mod dataset;
pub mod export;
pub mod fast_hash;
pub mod formats;
pub mod identity;
pub mod judge;
pub mod judging;
pub mod leaderboard;
pub mod metrics;
pub mod protocol;
pub mod sample;
pub mod session;
pub mod signature;
pub mod stats;
pub mod summary;
pub mod text;
pub mod url_policy;
