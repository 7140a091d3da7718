//! Chunk-fed line splitting with bounded memory.
//!
//! Bytes arrive in whatever pieces the network or the file reader hands over, so a line (or a
//! UTF-8 character, or a `\r\n`) may straddle chunks. Only the current unfinished line is kept;
//! lines wholly inside a chunk are handed out without copying.

/// Longest line accepted by default: far above any real answer, far below the memory of a tab.
pub const DEFAULT_MAX_LINE_LEN: usize = 64 << 20;

/// What the splitter hands out: a line's bytes, or the news that a line was too long to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A complete line without its `\n` or `\r\n` (and without a leading BOM on line 1).
    Text { number: u64, bytes: &'a [u8] },
    /// A line longer than the limit; its bytes were dropped. `len` excludes the newline.
    TooLong { number: u64, len: u64 },
}

#[derive(Clone, Debug)]
pub struct LineSplitter {
    max_line_len: usize,
    partial: Vec<u8>,
    /// Number of the line being read.
    number: u64,
    /// Length so far of the current line once it is over the limit (`partial` is then empty).
    overflow: Option<u64>,
    /// True until line 1 is handed out: only the start of a file may carry a BOM.
    at_file_start: bool,
    newlines: u64,
}

impl Default for LineSplitter {
    fn default() -> Self {
        Self::new()
    }
}

impl LineSplitter {
    /// A splitter at the start of a file: line 1, a UTF-8 BOM is dropped.
    pub fn new() -> Self {
        Self {
            max_line_len: DEFAULT_MAX_LINE_LEN,
            partial: Vec::new(),
            number: 1,
            overflow: None,
            at_file_start: true,
            newlines: 0,
        }
    }

    /// A splitter picking up mid-file at line `number`; no BOM is expected there.
    pub fn starting_at(number: u64) -> Self {
        Self {
            number,
            at_file_start: false,
            ..Self::new()
        }
    }

    pub fn with_max_line_len(mut self, max_line_len: usize) -> Self {
        self.max_line_len = max_line_len;
        self
    }

    pub fn push<F: FnMut(Line<'_>)>(&mut self, mut chunk: &[u8], sink: &mut F) {
        while let Some(end) = find_byte(b'\n', chunk) {
            let piece = &chunk[..end];
            if self.partial.is_empty() && self.overflow.is_none() {
                if piece.len() > self.max_line_len {
                    self.overflow = Some(0);
                    self.append(piece);
                    self.finish_line(sink);
                } else {
                    self.emit(piece, sink);
                }
            } else {
                self.append(piece);
                self.finish_line(sink);
            }
            chunk = &chunk[end + 1..];
            self.newlines += 1;
        }
        self.append(chunk);
    }

    /// Number of `\n` bytes pushed so far.
    pub fn newlines(&self) -> u64 {
        self.newlines
    }

    /// Hands out a last line that has no newline.
    pub fn finish<F: FnMut(Line<'_>)>(&mut self, sink: &mut F) {
        if !self.partial.is_empty() || self.overflow.is_some() {
            self.finish_line(sink);
        }
    }

    fn append(&mut self, piece: &[u8]) {
        if let Some(len) = &mut self.overflow {
            *len = len.saturating_add(piece.len() as u64);
        } else if self.partial.len() + piece.len() > self.max_line_len {
            self.overflow = Some((self.partial.len() + piece.len()) as u64);
            // Give the memory back now: the point of the limit is not to hold it.
            self.partial = Vec::new();
        } else {
            self.partial.extend_from_slice(piece);
        }
    }

    fn finish_line<F: FnMut(Line<'_>)>(&mut self, sink: &mut F) {
        if let Some(len) = self.overflow.take() {
            sink(Line::TooLong {
                number: self.number,
                len,
            });
            self.number += 1;
            self.at_file_start = false;
            return;
        }
        let partial = std::mem::take(&mut self.partial);
        self.emit(&partial, sink);
        self.partial = partial;
        self.partial.clear();
        // A huge line should not pin its buffer for the rest of the file.
        if self.partial.capacity() > 1 << 20 {
            self.partial = Vec::new();
        }
    }

    fn emit<F: FnMut(Line<'_>)>(&mut self, mut bytes: &[u8], sink: &mut F) {
        if let Some(without) = bytes.strip_suffix(b"\r") {
            bytes = without;
        }
        if self.at_file_start {
            self.at_file_start = false;
            if let Some(without) = bytes.strip_prefix(UTF8_BOM) {
                bytes = without;
            }
        }
        sink(Line::Text {
            number: self.number,
            bytes,
        });
        self.number += 1;
    }
}

pub(crate) const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// First position of `needle`, eight bytes at a time: core has no memchr, and a plain
/// `position` loop is the slowest part of splitting megabytes of long lines.
pub(crate) fn find_byte(needle: u8, haystack: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let pattern = ONES.wrapping_mul(u64::from(needle));
    let mut words = haystack.chunks_exact(8);
    let mut offset = 0;
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let x = u64::from_le_bytes(bytes) ^ pattern;
        // Classic "has zero byte": the lowest flagged byte is always a true match.
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&byte| byte == needle)
        .map(|at| offset + at)
}

/// Number of `\n` bytes. Counting into a `u8` per 16-byte block is the form the compiler
/// vectorises; a plain `filter().count()` runs at a third of the speed.
pub(crate) fn count_newlines(bytes: &[u8]) -> u64 {
    let mut blocks = bytes.chunks_exact(16);
    let mut total = 0;
    for block in &mut blocks {
        let in_block = block
            .iter()
            .fold(0u8, |n, &byte| n + u8::from(byte == b'\n'));
        total += u64::from(in_block);
    }
    total
        + blocks
            .remainder()
            .iter()
            .filter(|&&byte| byte == b'\n')
            .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Eq)]
    enum Owned {
        Text(u64, Vec<u8>),
        TooLong(u64, u64),
    }

    fn split_in_chunks(input: &[u8], chunk: usize, splitter: LineSplitter) -> Vec<Owned> {
        let mut splitter = splitter;
        let mut out = Vec::new();
        let mut sink = |line: Line<'_>| {
            out.push(match line {
                Line::Text { number, bytes } => Owned::Text(number, bytes.to_vec()),
                Line::TooLong { number, len } => Owned::TooLong(number, len),
            })
        };
        for piece in input.chunks(chunk.max(1)) {
            splitter.push(piece, &mut sink);
        }
        splitter.finish(&mut sink);
        out
    }

    fn text(number: u64, bytes: &str) -> Owned {
        Owned::Text(number, bytes.as_bytes().to_vec())
    }

    #[test]
    fn find_byte_agrees_with_position() {
        let hay: Vec<u8> = (0..200u32).map(|i| (i * 7 % 251) as u8).collect();
        for needle in [0u8, 1, 10, 128, 250, 255] {
            for start in 0..20 {
                let slice = &hay[start..];
                assert_eq!(
                    find_byte(needle, slice),
                    slice.iter().position(|&b| b == needle),
                    "needle {needle} start {start}"
                );
            }
        }
        // A byte just above the needle next to a match must not hide it (borrow propagation).
        assert_eq!(
            find_byte(b'\n', b"\x0b\x0a\x0b\x0b\x0b\x0b\x0b\x0b\x0b"),
            Some(1)
        );
        assert_eq!(find_byte(0x80, &[0x81, 0x81, 0x80, 0, 0, 0, 0, 0]), Some(2));
    }

    #[test]
    fn crlf_bom_and_last_line_without_newline_in_every_chunking() {
        let input = "\u{feff}first\r\nsecond é\n\nthird\r\nlast µ".as_bytes();
        let expected = vec![
            text(1, "first"),
            text(2, "second é"),
            text(3, ""),
            text(4, "third"),
            text(5, "last µ"),
        ];
        for chunk in 1..=input.len() {
            assert_eq!(
                split_in_chunks(input, chunk, LineSplitter::new()),
                expected,
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn bom_only_counts_at_file_start() {
        let input = b"\xEF\xBB\xBFa\n\xEF\xBB\xBFb\n";
        let lines = split_in_chunks(input, 1, LineSplitter::new());
        assert_eq!(
            lines,
            vec![text(1, "a"), Owned::Text(2, b"\xEF\xBB\xBFb".to_vec())]
        );
        let lines = split_in_chunks(input, 64, LineSplitter::starting_at(7));
        assert_eq!(lines[0], Owned::Text(7, b"\xEF\xBB\xBFa".to_vec()));
    }

    #[test]
    fn over_long_lines_are_reported_and_skipped_in_every_chunking() {
        let input = b"short\n0123456789abcdef\nok\r\n0123456789";
        let expected = vec![
            text(1, "short"),
            Owned::TooLong(2, 16),
            text(3, "ok"),
            Owned::TooLong(4, 10),
        ];
        for chunk in 1..=input.len() {
            let splitter = LineSplitter::new().with_max_line_len(8);
            assert_eq!(
                split_in_chunks(input, chunk, splitter),
                expected,
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn memory_stays_bounded_by_the_limit() {
        let mut splitter = LineSplitter::new().with_max_line_len(1000);
        let mut lines = 0;
        let chunk = [b'x'; 4096];
        for _ in 0..100 {
            splitter.push(&chunk, &mut |_| lines += 1);
            assert!(splitter.partial.capacity() <= 1000);
        }
        splitter.push(b"\n", &mut |line| {
            assert_eq!(
                line,
                Line::TooLong {
                    number: 1,
                    len: 409_600
                }
            );
            lines += 1;
        });
        assert_eq!(lines, 1);
    }

    #[test]
    fn empty_input_has_no_lines() {
        assert_eq!(split_in_chunks(b"", 1, LineSplitter::new()), vec![]);
        assert_eq!(
            split_in_chunks(b"\n", 1, LineSplitter::new()),
            vec![text(1, "")]
        );
    }
}
