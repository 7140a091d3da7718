//! CSV (and TSV) with a header row, on csv-core's push-based reader: quoted fields, embedded
//! newlines, `""` escapes and CRLF come from csv-core; header mapping, line numbers and
//! per-row errors are ours.

use super::columns::Role;
use super::lines::count_newlines;
use super::parser::Output;
use super::record::{Draft, Origin, Value};
use csv_core::{ReadRecordResult, Reader, ReaderBuilder};
use std::borrow::Cow;

/// More columns than any results table has; bounds the field-end buffer.
const MAX_FIELDS: usize = 1 << 16;

#[derive(Debug)]
struct Column {
    /// The header text, trimmed; empty for an unnamed column, whose cells are dropped.
    name: String,
    role: Option<(Role, u8)>,
}

#[derive(Debug)]
enum Header {
    Pending,
    Ready(Vec<Column>),
    /// Unreadable header, reported once: no row can be mapped, so the rest is ignored.
    Failed,
}

#[derive(Debug)]
pub(crate) struct CsvParser {
    reader: Reader,
    started: bool,
    /// Unescaped bytes of the current record, and the end of each field in it.
    buffer: Vec<u8>,
    buffer_len: usize,
    ends: Vec<usize>,
    ends_len: usize,
    /// The current record went over the limit; its bytes are being dropped.
    oversized: bool,
    /// Newlines inside the current record's dropped bytes, to still know where it started.
    dropped_newlines: u64,
    first_line: u64,
    /// Line of the next unread byte.
    line: u64,
    header: Header,
    max_len: usize,
}

impl CsvParser {
    pub(crate) fn new(first_line: u64, delimiter: u8, max_len: usize) -> Self {
        Self {
            reader: ReaderBuilder::new().delimiter(delimiter).build(),
            started: false,
            buffer: Vec::new(),
            buffer_len: 0,
            ends: Vec::new(),
            ends_len: 0,
            oversized: false,
            dropped_newlines: 0,
            first_line,
            line: first_line,
            header: Header::Pending,
            max_len,
        }
    }

    pub(crate) fn push(&mut self, mut chunk: &[u8], out: &mut Output<'_>) {
        if !self.started && !chunk.is_empty() {
            // csv-core drops a BOM only when its first call holds 3 bytes, which would make the
            // result depend on chunking. The file's own BOM is already gone; a first call of one
            // byte makes csv-core keep any other.
            self.started = true;
            self.read(&chunk[..1], out);
            chunk = &chunk[1..];
        }
        self.read(chunk, out);
    }

    pub(crate) fn newlines(&self) -> u64 {
        self.line - self.first_line
    }

    pub(crate) fn finish(&mut self, out: &mut Output<'_>) {
        // An empty input tells csv-core the data has ended; it then hands out the last record.
        // Each pass either grows a buffer (bounded) or ends, so this terminates.
        for _ in 0..64 {
            self.make_room();
            let (result, _, written, ends) = self.reader.read_record(
                &[],
                &mut self.buffer[self.buffer_len..],
                &mut self.ends[self.ends_len..],
            );
            self.buffer_len += written;
            self.ends_len += ends;
            match result {
                ReadRecordResult::Record => self.record(false, out),
                ReadRecordResult::OutputFull | ReadRecordResult::OutputEndsFull => {}
                ReadRecordResult::InputEmpty | ReadRecordResult::End => return,
            }
        }
    }

    fn read(&mut self, mut input: &[u8], out: &mut Output<'_>) {
        // An empty input would mean end of data to csv-core.
        while !input.is_empty() {
            self.make_room();
            let (result, read, written, ends) = self.reader.read_record(
                input,
                &mut self.buffer[self.buffer_len..],
                &mut self.ends[self.ends_len..],
            );
            let consumed = &input[..read];
            self.line += count_newlines(consumed);
            let ended_by_newline = consumed.last() == Some(&b'\n');
            input = &input[read..];
            self.buffer_len += written;
            self.ends_len += ends;
            match result {
                ReadRecordResult::Record => self.record(ended_by_newline, out),
                ReadRecordResult::InputEmpty
                | ReadRecordResult::OutputFull
                | ReadRecordResult::OutputEndsFull => {}
                ReadRecordResult::End => return,
            }
        }
    }

    /// Grows the buffers before csv-core needs them, or starts dropping an over-long record.
    fn make_room(&mut self) {
        if self.buffer_len == self.buffer.len() {
            if self.buffer_len > self.max_len {
                self.drop_record_bytes();
            } else {
                // `min` last: a limit below the starting size wins.
                let size = (self.buffer.len() * 2)
                    .max(4096)
                    .min(self.max_len.saturating_add(1));
                self.buffer.resize(size, 0);
            }
        }
        if self.ends_len == self.ends.len() {
            if self.ends_len >= MAX_FIELDS {
                self.drop_record_bytes();
            } else {
                let size = (self.ends.len() * 2).clamp(64, MAX_FIELDS);
                self.ends.resize(size, 0);
            }
        }
    }

    fn drop_record_bytes(&mut self) {
        self.oversized = true;
        self.dropped_newlines += count_newlines(&self.buffer[..self.buffer_len]);
        self.buffer_len = 0;
        self.ends_len = 0;
    }

    fn record(&mut self, ended_by_newline: bool, out: &mut Output<'_>) {
        // csv-core copies newlines inside quoted fields and consumes the record's own `\n`
        // (with `\r\n` it stops at the `\r`), so the record started this many lines back.
        let inside = self.dropped_newlines + count_newlines(&self.buffer[..self.buffer_len]);
        let start = self
            .line
            .saturating_sub(inside + u64::from(ended_by_newline));
        if self.oversized {
            let limit = format!(
                "over the limit of {} bytes or {MAX_FIELDS} fields",
                self.max_len
            );
            let message = if matches!(self.header, Header::Pending) {
                self.header = Header::Failed;
                format!("header row is {limit}; no row can be read")
            } else {
                format!("record is {limit}; skipped")
            };
            out.error(start, message);
        } else {
            self.map_record(start, out);
        }
        self.buffer_len = 0;
        self.ends_len = 0;
        self.oversized = false;
        self.dropped_newlines = 0;
        if self.buffer.len() > 1 << 20 {
            self.buffer = Vec::new();
        }
    }

    fn map_record(&mut self, line: u64, out: &mut Output<'_>) {
        let ends = &self.ends[..self.ends_len];
        let buffer = &self.buffer[..self.buffer_len];
        let cells = ends.iter().scan(0, |start, &end| {
            let cell = buffer.get(*start..end).unwrap_or_default();
            *start = end;
            Some(cell)
        });
        match &self.header {
            Header::Failed => {}
            Header::Pending => {
                let mut columns = Vec::with_capacity(ends.len());
                for (index, cell) in cells.enumerate() {
                    let Ok(name) = std::str::from_utf8(cell) else {
                        let message = format!(
                            "header column {} is not valid UTF-8; no row can be read",
                            index + 1
                        );
                        out.error(line, message);
                        self.header = Header::Failed;
                        return;
                    };
                    let name = name.trim().to_owned();
                    let role = if name.is_empty() {
                        None
                    } else {
                        out.lookup.csv_header(&name)
                    };
                    columns.push(Column { name, role });
                }
                self.header = Header::Ready(columns);
            }
            Header::Ready(columns) => {
                if ends.len() != columns.len() {
                    let message = format!(
                        "expected {} fields as in the header, found {}",
                        columns.len(),
                        ends.len()
                    );
                    out.error(line, message);
                    return;
                }
                let mut draft = Draft::new(Origin::Csv);
                for (column, cell) in columns.iter().zip(cells) {
                    if cell.is_empty() || column.name.is_empty() {
                        continue;
                    }
                    let Ok(text) = std::str::from_utf8(cell) else {
                        out.field_error(line, &column.name, "not valid UTF-8");
                        return;
                    };
                    draft.offer(
                        Cow::Borrowed(column.name.as_str()),
                        column.role,
                        Value::Str(Cow::Borrowed(text)),
                    );
                }
                let row = draft.finish(line);
                out.emit_draft(line, row);
            }
        }
    }
}
