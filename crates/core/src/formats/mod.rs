//! Results and reference files: JSON Lines, a JSON array, or CSV/TSV with a header row,
//! parsed incrementally from bytes the caller hands in (a file read, a network stream).
//!
//! Memory is bounded by one line (or element, or record) whatever the file size; every
//! malformed row is one `RecordError` and the rest of the file still loads. Which field holds
//! the question id, the answer, the reference… is a `ColumnMap` with sensible defaults for the
//! MedHallTune files and the common prediction formats. Nothing here touches the filesystem,
//! threads or clocks, so it runs unchanged in a browser worker.

mod columns;
mod csv;
mod json;
mod json_array;
mod lines;
mod parser;
mod record;

#[cfg(test)]
mod tests;

pub use columns::{ColumnMap, Role};
pub use lines::{DEFAULT_MAX_LINE_LEN, Line, LineSplitter};
pub use parser::{ParseSummary, RecordParser, parse_bytes};
pub use record::{RecordError, SampleRecord};

/// How a file is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileFormat {
    /// One JSON object per line (`.jsonl`, `.ndjson`; also what the official files are).
    JsonLines,
    /// One JSON array of objects (`.json`).
    JsonArray,
    /// A header row, then one row per sample (`.csv`; `.tsv` is the same with tabs).
    Csv,
}

impl FileFormat {
    /// The format a file name's extension states, if any. Query strings and fragments of URLs
    /// are ignored. Content sniffing still tells a `.json` JSON Lines file from an array.
    pub fn from_name(name: &str) -> Option<FileFormat> {
        match extension(name).as_deref() {
            Some("jsonl" | "ndjson") => Some(FileFormat::JsonLines),
            Some("json") => Some(FileFormat::JsonArray),
            Some("csv" | "tsv") => Some(FileFormat::Csv),
            _ => None,
        }
    }

    /// The CSV field separator a file name implies: tab for `.tsv`, else comma.
    pub fn csv_delimiter_for_name(name: &str) -> u8 {
        if extension(name).as_deref() == Some("tsv") {
            b'\t'
        } else {
            b','
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FileFormat::JsonLines => "jsonl",
            FileFormat::JsonArray => "json",
            FileFormat::Csv => "csv",
        }
    }
}

fn extension(name: &str) -> Option<String> {
    let path = name.split(['?', '#']).next().unwrap_or(name);
    let base = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let (_, extension) = base.rsplit_once('.')?;
    Some(extension.to_ascii_lowercase())
}
