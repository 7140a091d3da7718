//! MedHall Lens application state, sans I/O: the scoring `Session` that the page's scoring
//! worker and `medhall report` drive (`session/`: the state in `mod.rs`, one module per
//! concern: ingest, scoring, rows, matrix, disagreement, samples, charts, judge plans, type
//! plans, B.Score plans and values, verdicts, publishing, agreement), a rater's sheet on a
//! rating plan (`rating.rs`: keys, progress, the ratings JSONL), and the message protocol
//! between the page and that worker (`protocol.rs`), with the view types it carries, and the
//! Medical VQA view (`vqa.rs`: files the page read, scored by the function `medhall vqa` calls).
//!
//! It sits on `medhall-core` (the domain) and holds no rule of its own about data: it keeps
//! what was loaded, scored and judged, and answers the frontends' questions with core's
//! functions. It must not depend on web crates, on burn, on the model, on the filesystem or
//! on a frontend (`scripts/check-core-deps.sh`); callers hand it bytes and it hands back
//! values.

pub mod protocol;
pub mod rating;
pub mod session;
pub mod vqa;
