//! The push-based front door: bytes in, records and per-row errors out, any format.

use super::FileFormat;
use super::columns::{ColumnMap, Lookup};
use super::csv::CsvParser;
use super::json::JsonLinesParser;
use super::json_array::JsonArrayParser;
use super::lines::{DEFAULT_MAX_LINE_LEN, UTF8_BOM};
use super::record::{FieldError, RecordError, SampleRecord};

/// What a whole parse came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseSummary {
    /// `None` when the input held nothing but whitespace and no format was asked for.
    pub format: Option<FileFormat>,
    pub bytes: u64,
    pub lines: u64,
    pub records: u64,
    pub errors: u64,
}

/// Parses a results or reference file fed in chunks of any size.
///
/// The format is sniffed from the first byte that is not whitespace (after an optional BOM):
/// `{` is JSON Lines, `[` a JSON array, anything else CSV with a header row. Each row comes out
/// as a record or as one error; a bad row never stops the rest of the file.
#[derive(Debug)]
pub struct RecordParser {
    source: String,
    lookup: Lookup,
    hint: Option<FileFormat>,
    delimiter: u8,
    max_line_len: usize,
    stage: Stage,
    bytes: u64,
    /// Newlines of the leading whitespace, before the format's parser took over.
    newlines_before_stage: u64,
    last_byte: Option<u8>,
    records: u64,
    errors: u64,
}

#[derive(Debug)]
enum Stage {
    Sniffing(Sniffer),
    JsonLines(JsonLinesParser),
    JsonArray(JsonArrayParser),
    // csv-core's reader carries its DFA tables inline.
    Csv(Box<CsvParser>),
}

impl RecordParser {
    /// `source_name` names the input in errors; a `.tsv` name also makes CSV tab-separated.
    pub fn new(source_name: impl Into<String>, columns: ColumnMap) -> Self {
        let source = source_name.into();
        let delimiter = FileFormat::csv_delimiter_for_name(&source);
        Self {
            source,
            lookup: columns.lookup(),
            hint: None,
            delimiter,
            max_line_len: DEFAULT_MAX_LINE_LEN,
            stage: Stage::Sniffing(Sniffer::default()),
            bytes: 0,
            newlines_before_stage: 0,
            last_byte: None,
            records: 0,
            errors: 0,
        }
    }

    /// Asks for a format instead of sniffing one. The content still decides between the two
    /// JSON formats: a `.json` file whose first byte is `{` is JSON Lines.
    pub fn with_format(mut self, format: FileFormat) -> Self {
        self.hint = Some(format);
        self
    }

    /// The CSV field separator (default: tab for `.tsv` sources, else comma).
    pub fn with_csv_delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = delimiter;
        self
    }

    /// The longest line (JSONL), element (JSON array) or record (CSV) kept; longer ones are
    /// reported and skipped. Default 64 MiB.
    pub fn with_max_line_len(mut self, max_line_len: usize) -> Self {
        self.max_line_len = max_line_len;
        self
    }

    /// The format in use, once the first content byte has been seen.
    pub fn format(&self) -> Option<FileFormat> {
        match self.stage {
            Stage::Sniffing(_) => None,
            Stage::JsonLines(_) => Some(FileFormat::JsonLines),
            Stage::JsonArray(_) => Some(FileFormat::JsonArray),
            Stage::Csv(_) => Some(FileFormat::Csv),
        }
    }

    /// `\n` bytes so far. Each stage counts its own while scanning, which saves a pass over
    /// the bytes (a tenth of the JSON Lines parse time).
    fn newlines(&self) -> u64 {
        match &self.stage {
            Stage::Sniffing(sniffer) => sniffer.newlines,
            Stage::JsonLines(parser) => self.newlines_before_stage + parser.newlines(),
            Stage::JsonArray(parser) => self.newlines_before_stage + parser.newlines(),
            Stage::Csv(parser) => self.newlines_before_stage + parser.newlines(),
        }
    }

    pub fn push(&mut self, chunk: &[u8], sink: &mut dyn FnMut(Result<SampleRecord, RecordError>)) {
        if chunk.is_empty() {
            return;
        }
        self.bytes += chunk.len() as u64;
        self.last_byte = chunk.last().copied();
        let Self {
            source,
            lookup,
            hint,
            delimiter,
            max_line_len,
            stage,
            newlines_before_stage,
            records,
            errors,
            ..
        } = self;
        let mut out = Output {
            source,
            lookup,
            sink,
            records,
            errors,
        };
        if let Stage::Sniffing(sniffer) = stage {
            let Some(start) = sniffer.scan(chunk) else {
                return;
            };
            let first = start.replay.first().or(chunk.get(start.rest_from)).copied();
            let format = resolve_format(*hint, first.unwrap_or(b' '));
            let replay = if format == FileFormat::Csv {
                // The header line's own leading whitespace, e.g. a TSV's empty first column.
                [sniffer.line_whitespace.as_slice(), start.replay].concat()
            } else {
                start.replay.to_vec()
            };
            *newlines_before_stage = sniffer.newlines;
            *stage = start_stage(format, sniffer.newlines + 1, *delimiter, *max_line_len);
            stage.feed(&replay, &mut out);
            stage.feed(&chunk[start.rest_from..], &mut out);
        } else {
            stage.feed(chunk, &mut out);
        }
    }

    pub fn finish(
        mut self,
        sink: &mut dyn FnMut(Result<SampleRecord, RecordError>),
    ) -> ParseSummary {
        let Self {
            source,
            lookup,
            hint,
            delimiter,
            max_line_len,
            stage,
            records,
            errors,
            ..
        } = &mut self;
        let mut out = Output {
            source,
            lookup,
            sink,
            records,
            errors,
        };
        if let Stage::Sniffing(sniffer) = stage {
            // Only a BOM cut short can still be content; whitespace alone is an empty file.
            if sniffer.bom_matched > 0 && !sniffer.bom_done {
                let replay = &UTF8_BOM[..sniffer.bom_matched];
                let format = resolve_format(*hint, UTF8_BOM[0]);
                *stage = start_stage(format, 1, *delimiter, *max_line_len);
                stage.feed(replay, &mut out);
            }
        }
        match stage {
            Stage::Sniffing(_) => {}
            Stage::JsonLines(parser) => parser.finish(&mut out),
            Stage::JsonArray(parser) => parser.finish(&mut out),
            Stage::Csv(parser) => parser.finish(&mut out),
        }
        let unterminated = self.last_byte.is_some_and(|byte| byte != b'\n');
        ParseSummary {
            format: self.format().or(self.hint),
            bytes: self.bytes,
            lines: self.newlines() + u64::from(unterminated),
            records: self.records,
            errors: self.errors,
        }
    }
}

/// Parses a whole file held in memory.
pub fn parse_bytes(
    source_name: impl Into<String>,
    bytes: &[u8],
    columns: &ColumnMap,
) -> (Vec<SampleRecord>, Vec<RecordError>, ParseSummary) {
    let mut parser = RecordParser::new(source_name, columns.clone());
    let mut records = Vec::new();
    let mut errors = Vec::new();
    let mut sink = |row: Result<SampleRecord, RecordError>| match row {
        Ok(record) => records.push(record),
        Err(error) => errors.push(error),
    };
    parser.push(bytes, &mut sink);
    let summary = parser.finish(&mut sink);
    (records, errors, summary)
}

fn resolve_format(hint: Option<FileFormat>, first: u8) -> FileFormat {
    let sniffed = match first {
        b'{' => FileFormat::JsonLines,
        b'[' => FileFormat::JsonArray,
        _ => FileFormat::Csv,
    };
    match hint {
        None => sniffed,
        Some(FileFormat::Csv) => FileFormat::Csv,
        // A name says JSON; only the content can say which kind.
        Some(json) if sniffed == FileFormat::Csv => json,
        Some(_) => sniffed,
    }
}

fn start_stage(format: FileFormat, first_line: u64, delimiter: u8, max_len: usize) -> Stage {
    match format {
        FileFormat::JsonLines => Stage::JsonLines(JsonLinesParser::new(first_line, max_len)),
        FileFormat::JsonArray => Stage::JsonArray(JsonArrayParser::new(first_line, max_len)),
        FileFormat::Csv => Stage::Csv(Box::new(CsvParser::new(first_line, delimiter, max_len))),
    }
}

impl Stage {
    fn feed(&mut self, bytes: &[u8], out: &mut Output<'_>) {
        if bytes.is_empty() {
            return;
        }
        match self {
            Stage::Sniffing(_) => {}
            Stage::JsonLines(parser) => parser.push(bytes, out),
            Stage::JsonArray(parser) => parser.push(bytes, out),
            Stage::Csv(parser) => parser.push(bytes, out),
        }
    }
}

/// Reads past a BOM and leading whitespace to the first content byte, keeping only counts
/// (and the whitespace of the current line, for CSV), so memory stays bounded.
#[derive(Debug, Default)]
struct Sniffer {
    bom_matched: usize,
    bom_done: bool,
    newlines: u64,
    line_whitespace: Vec<u8>,
}

/// Where content starts: `replay` (bytes held back from earlier chunks) then `chunk[rest_from..]`.
struct ContentStart {
    replay: &'static [u8],
    rest_from: usize,
}

impl Sniffer {
    fn scan(&mut self, chunk: &[u8]) -> Option<ContentStart> {
        let mut at = 0;
        if !self.bom_done {
            while at < chunk.len() && self.bom_matched < UTF8_BOM.len() {
                if chunk[at] != UTF8_BOM[self.bom_matched] {
                    break;
                }
                self.bom_matched += 1;
                at += 1;
            }
            if self.bom_matched == UTF8_BOM.len() {
                self.bom_done = true;
            } else if at == chunk.len() {
                return None;
            } else {
                // Not a BOM after all: the bytes matched so far are content.
                self.bom_done = true;
                if self.bom_matched > 0 {
                    return Some(ContentStart {
                        replay: &UTF8_BOM[..self.bom_matched],
                        rest_from: at,
                    });
                }
            }
        }
        while at < chunk.len() {
            match chunk[at] {
                b'\n' => {
                    self.newlines += 1;
                    self.line_whitespace.clear();
                }
                byte @ (b' ' | b'\t' | b'\r') => {
                    // Only a header line's indentation is replayed; beyond this it is noise.
                    if self.line_whitespace.len() < 1024 {
                        self.line_whitespace.push(byte);
                    }
                }
                _ => {
                    return Some(ContentStart {
                        replay: &[],
                        rest_from: at,
                    });
                }
            }
            at += 1;
        }
        None
    }
}

/// Where the format parsers put rows: the caller's sink, with counting and error building.
pub(crate) struct Output<'a> {
    pub(crate) source: &'a str,
    pub(crate) lookup: &'a Lookup,
    sink: &'a mut dyn FnMut(Result<SampleRecord, RecordError>),
    records: &'a mut u64,
    errors: &'a mut u64,
}

impl Output<'_> {
    pub(crate) fn emit(&mut self, row: Result<SampleRecord, RecordError>) {
        match row {
            Ok(_) => *self.records += 1,
            Err(_) => *self.errors += 1,
        }
        (self.sink)(row);
    }

    pub(crate) fn emit_draft(&mut self, line: u64, row: Result<SampleRecord, FieldError>) {
        let row = row
            .map_err(|error| RecordError::new(self.source, line, Some(error.field), error.message));
        self.emit(row);
    }

    pub(crate) fn error(&mut self, line: u64, message: impl Into<String>) {
        self.emit(Err(RecordError::new(
            self.source,
            line,
            None,
            message.into(),
        )));
    }

    pub(crate) fn field_error(&mut self, line: u64, field: &str, message: impl Into<String>) {
        let error = RecordError::new(self.source, line, Some(field.to_owned()), message.into());
        self.emit(Err(error));
    }
}
