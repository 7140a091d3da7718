//! A JSON array of row objects, read element by element as the bytes arrive.
//!
//! Element boundaries are found by tracking strings, escapes and nesting, so memory is bounded
//! by one element and each element is deserialised on its own: a broken element costs one
//! error and the next one still loads. When the array's own structure is broken (not closed,
//! content after `]`), that is one error and the rest is dropped.

use super::json::parse_json_row;
use super::lines::count_newlines;
use super::parser::Output;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before the opening `[`.
    Open,
    /// Between elements; `after_comma` is false right after `[`.
    BeforeElement {
        after_comma: bool,
    },
    InElement,
    /// After the closing `]`: only whitespace may follow.
    Closed,
    /// Structure broken and reported: the rest is ignored.
    Broken,
}

#[derive(Debug)]
pub(crate) struct JsonArrayParser {
    state: State,
    first_line: u64,
    /// Line of the next byte.
    line: u64,
    element: Vec<u8>,
    element_line: u64,
    element_len: u64,
    oversized: bool,
    depth: u64,
    in_string: bool,
    escaped: bool,
    max_len: usize,
    /// Whether the last byte seen was a newline, so that an error at the end of the input
    /// names the last line, not the empty one after it.
    ends_with_newline: bool,
}

impl JsonArrayParser {
    pub(crate) fn new(first_line: u64, max_len: usize) -> Self {
        Self {
            state: State::Open,
            first_line,
            line: first_line,
            element: Vec::new(),
            element_line: first_line,
            element_len: 0,
            oversized: false,
            depth: 0,
            in_string: false,
            escaped: false,
            max_len,
            ends_with_newline: false,
        }
    }

    pub(crate) fn push(&mut self, chunk: &[u8], out: &mut Output<'_>) {
        if let Some(&last) = chunk.last() {
            self.ends_with_newline = last == b'\n';
        }
        let mut at = 0;
        while at < chunk.len() {
            let byte = chunk[at];
            match self.state {
                State::Open => {
                    at += 1;
                    match byte {
                        b'[' => self.state = State::BeforeElement { after_comma: false },
                        b'\n' => self.line += 1,
                        b' ' | b'\t' | b'\r' => {}
                        _ => self.broken(out, "expected `[` to open a JSON array"),
                    }
                }
                State::BeforeElement { after_comma } => match byte {
                    b'\n' => {
                        self.line += 1;
                        at += 1;
                    }
                    b' ' | b'\t' | b'\r' => at += 1,
                    b']' => {
                        at += 1;
                        if after_comma {
                            out.error(self.line, "expected an array element after `,`, found `]`");
                        }
                        self.state = State::Closed;
                    }
                    b',' => {
                        at += 1;
                        out.error(self.line, "expected an array element, found `,`");
                        self.state = State::BeforeElement { after_comma: true };
                    }
                    _ => self.start_element(),
                },
                State::InElement => at = self.scan_element(chunk, at, out),
                State::Closed => {
                    at += 1;
                    match byte {
                        b'\n' => self.line += 1,
                        b' ' | b'\t' | b'\r' => {}
                        _ => self.broken(out, "unexpected content after the array's closing `]`"),
                    }
                }
                State::Broken => {
                    self.line += count_newlines(&chunk[at..]);
                    return;
                }
            }
        }
    }

    pub(crate) fn newlines(&self) -> u64 {
        self.line - self.first_line
    }

    pub(crate) fn finish(&mut self, out: &mut Output<'_>) {
        match self.state {
            State::Open | State::Closed | State::Broken => {}
            State::BeforeElement { .. } => out.error(
                self.last_line(),
                "unexpected end of input: the JSON array is not closed",
            ),
            State::InElement => out.error(
                self.element_line,
                "unexpected end of input inside an array element: the JSON array is not closed",
            ),
        }
        self.state = State::Broken;
    }

    /// The line of the input's last byte (the line counter names the next byte's line).
    fn last_line(&self) -> u64 {
        if self.ends_with_newline {
            self.line.saturating_sub(1).max(self.first_line)
        } else {
            self.line
        }
    }

    fn broken(&mut self, out: &mut Output<'_>, message: &str) {
        out.error(self.line, message);
        self.state = State::Broken;
    }

    fn start_element(&mut self) {
        self.state = State::InElement;
        self.element.clear();
        self.element_line = self.line;
        self.element_len = 0;
        self.oversized = false;
        self.depth = 0;
        self.in_string = false;
        self.escaped = false;
    }

    /// Scans from `start` to the end of the element or of the chunk; returns where it stopped.
    fn scan_element(&mut self, chunk: &[u8], start: usize, out: &mut Output<'_>) -> usize {
        let mut at = start;
        let mut end = None;
        while at < chunk.len() {
            let byte = chunk[at];
            if byte == b'\n' {
                // Raw newlines inside strings are invalid JSON, but they still start a line.
                self.line += 1;
            }
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if byte == b'\\' {
                    self.escaped = true;
                } else if byte == b'"' {
                    self.in_string = false;
                }
            } else {
                match byte {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth = self.depth.saturating_add(1),
                    // A stray `}` stays in the element and fails its parse.
                    b'}' => self.depth = self.depth.saturating_sub(1),
                    b']' if self.depth > 0 => self.depth -= 1,
                    b']' | b',' if self.depth == 0 => {
                        end = Some(byte);
                        break;
                    }
                    _ => {}
                }
            }
            at += 1;
        }
        self.append(&chunk[start..at]);
        if let Some(delimiter) = end {
            self.finish_element(out);
            self.state = if delimiter == b',' {
                State::BeforeElement { after_comma: true }
            } else {
                State::Closed
            };
            at += 1;
        }
        at
    }

    fn append(&mut self, bytes: &[u8]) {
        self.element_len = self.element_len.saturating_add(bytes.len() as u64);
        if self.oversized {
            return;
        }
        if self.element.len() + bytes.len() > self.max_len {
            self.oversized = true;
            self.element = Vec::new();
        } else {
            self.element.extend_from_slice(bytes);
        }
    }

    fn finish_element(&mut self, out: &mut Output<'_>) {
        if self.oversized {
            let message = format!(
                "array element is {} bytes long, over the limit of {}; skipped",
                self.element_len, self.max_len
            );
            out.error(self.element_line, message);
        } else {
            let row = parse_json_row(
                out.source,
                out.lookup,
                self.element.trim_ascii_end(),
                self.element_line,
                true,
            );
            out.emit(row);
        }
        if self.element.capacity() > 1 << 20 {
            self.element = Vec::new();
        }
    }
}
