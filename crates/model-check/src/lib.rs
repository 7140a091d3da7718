//! What the model check needs besides the model itself, kept out of the scoring core: the
//! images zip reader (random access by central directory, stored/deflated entries, ZIP64), the
//! image index that finds a question's image by file name in a dropped folder or zip, and the
//! model worker's message protocol (requests and events as JSON text).
//!
//! Used by the page (`src/panels/`), the model worker (`crates/model-worker`) and the CLI
//! (`medhall answer`). Like the core, it has no web crates, no burn and no filesystem: callers
//! hand it bytes.

pub mod image_files;
pub mod model_protocol;
pub mod zip;
