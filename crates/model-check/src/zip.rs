//! Reading single files out of a zip archive without reading the whole archive.
//!
//! Sans-IO: each step says which byte range it needs next and parses the bytes it is given, so the
//! browser can feed it `Blob` slices and the CLI file seeks. The steps: [`tail_range`] →
//! [`find_directory`] (→ [`parse_zip64_record`] when the ZIP64 end record lies outside the tail)
//! → [`parse_directory`]; then per entry [`ZipEntry::header_range`] → [`ZipEntry::data_range`] →
//! [`ZipEntry::extract`]. [`read_directory`] and [`read_entry`] chain them over `Read + Seek`.
//!
//! Stored and deflated entries are read, ZIP64 included; encrypted entries, other compression
//! methods and split archives are refused with an error. Every read is bounds-checked and every
//! offset from the file is added with overflow checks: no input makes this module panic.

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;

/// Length of a local file header before its name and extra field.
pub const LOCAL_HEADER_LEN: u64 = 30;
/// The largest entry read, compressed or not: a bound on what a corrupt size can make us allocate.
pub const MAX_ENTRY_SIZE: u64 = 256 << 20;

const END_LEN: usize = 22;
const ZIP64_LOCATOR_LEN: usize = 20;
const ZIP64_RECORD_LEN: u64 = 56;
const CENTRAL_LEN: usize = 46;
const MAX_COMMENT_LEN: u64 = 65535;

const END_SIG: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_RECORD_SIG: u32 = 0x0606_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;
const ZIP64_EXTRA_ID: u16 = 0x0001;

const FLAG_ENCRYPTED: u16 = 1;
const METHOD_STORED: u16 = 0;
const METHOD_DEFLATE: u16 = 8;

/// One file or folder in the central directory. Sizes and offset are the ZIP64 values where the
/// entry has them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZipEntry {
    pub name: String,
    pub method: u16,
    pub flags: u16,
    pub crc32: u32,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    pub local_header_offset: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    #[error("not a zip archive: no end-of-central-directory record in its last {scanned} bytes")]
    NoEndRecord { scanned: u64 },
    #[error("split (multi-part) zip archives are not supported")]
    MultiDisk,
    #[error("no {what} signature at byte {offset}: the archive is corrupt")]
    BadSignature { what: &'static str, offset: u64 },
    #[error("the {what} at byte {offset} is cut short: the archive is truncated or corrupt")]
    Truncated { what: &'static str, offset: u64 },
    #[error(
        "the central directory (bytes {offset}..+{size}) does not lie before byte {limit}, where the end records start (truncated archive, or data prepended to it?)"
    )]
    DirectoryOutOfRange { offset: u64, size: u64, limit: u64 },
    #[error("got {got} bytes for a central directory of {expected} bytes")]
    DirectoryLength { expected: u64, got: u64 },
    #[error("the central directory ends after {found} of its {declared} entries")]
    MissingEntries { declared: u64, found: u64 },
    #[error(
        "entry {name}: its ZIP64 extra field is too short for the sizes and offset it stands for"
    )]
    Zip64Extra { name: String },
    #[error("entry {name}: no local header signature at byte {offset}: the archive is corrupt")]
    BadLocalHeader { name: String, offset: u64 },
    #[error("entry {name}: its data range overflows 64-bit offsets (corrupt sizes or offset)")]
    Overflow { name: String },
    #[error(
        "entry {name} is {size} bytes; entries over {} MiB are not read",
        MAX_ENTRY_SIZE >> 20
    )]
    TooLarge { name: String, size: u64 },
    #[error("entry {name} is encrypted; encrypted entries are not supported")]
    Encrypted { name: String },
    #[error(
        "entry {name} uses compression method {method} ({}); only stored (0) and deflate (8) are supported",
        method_name(*.method)
    )]
    UnsupportedMethod { name: String, method: u16 },
    #[error("entry {name}: got {got} bytes of data, the directory says {expected}")]
    DataLength {
        name: String,
        expected: u64,
        got: u64,
    },
    #[error("entry {name}: the deflate data is corrupt ({reason})")]
    Inflate { name: String, reason: String },
    #[error("entry {name} holds more than the {declared} bytes its directory entry declares")]
    LargerThanDeclared { name: String, declared: u64 },
    #[error("entry {name} holds {got} bytes, its directory entry declares {declared}")]
    SizeMismatch {
        name: String,
        declared: u64,
        got: u64,
    },
    #[error("entry {name}: CRC-32 {got:08x} does not match the directory's {expected:08x}")]
    Crc {
        name: String,
        expected: u32,
        got: u32,
    },
    #[error("cannot read {what} at byte {offset}: {error}")]
    Io {
        what: String,
        offset: u64,
        error: std::io::Error,
    },
}

/// Where the central directory lies, as the end record (or ZIP64 end record) says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryRange {
    pub offset: u64,
    pub size: u64,
    pub entries: u64,
}

/// What [`find_directory`] found: the directory, or the bytes of the ZIP64 end record it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectoryLookup {
    Found(DirectoryRange),
    NeedZip64Record(Range<u64>),
}

fn method_name(method: u16) -> &'static str {
    match method {
        0 => "stored",
        1 => "shrink",
        6 => "implode",
        8 => "deflate",
        9 => "deflate64",
        12 => "bzip2",
        14 => "LZMA",
        93 => "Zstandard",
        95 => "xz",
        96 => "JPEG",
        98 => "PPMd",
        99 => "AES-encrypted",
        _ => "unknown",
    }
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

/// The archive's last bytes that can hold the end record, its comment and the ZIP64 locator and
/// end record: what [`find_directory`] wants.
pub fn tail_range(archive_len: u64) -> Range<u64> {
    let most = END_LEN as u64 + MAX_COMMENT_LEN + ZIP64_LOCATOR_LEN as u64 + ZIP64_RECORD_LEN;
    archive_len.saturating_sub(most)..archive_len
}

/// Position of the end record in `tail`: the last signature whose comment runs exactly to the
/// end, else (trailing bytes after the comment) the last whose comment fits.
fn find_end_record(tail: &[u8]) -> Option<usize> {
    let last = tail.len().checked_sub(END_LEN)?;
    let mut fits = None;
    for at in (0..=last).rev() {
        if u32_at(tail, at) != Some(END_SIG) {
            continue;
        }
        let comment = usize::from(u16_at(tail, at + 20)?);
        let end = at + END_LEN + comment;
        if end == tail.len() {
            return Some(at);
        }
        if end < tail.len() && fits.is_none() {
            fits = Some(at);
        }
    }
    fits
}

fn checked_range(range: DirectoryRange, limit: u64) -> Result<DirectoryRange, ZipError> {
    match range.offset.checked_add(range.size) {
        Some(end) if end <= limit => Ok(range),
        _ => Err(ZipError::DirectoryOutOfRange {
            offset: range.offset,
            size: range.size,
            limit,
        }),
    }
}

/// Finds the central directory from the archive's last bytes (`tail`, which starts at byte
/// `tail_start` and runs to the end of the archive; [`tail_range`] says which). A ZIP64 archive's
/// end record is parsed here when it lies inside `tail`; otherwise its range is returned.
pub fn find_directory(tail: &[u8], tail_start: u64) -> Result<DirectoryLookup, ZipError> {
    let at = find_end_record(tail).ok_or(ZipError::NoEndRecord {
        scanned: tail.len() as u64,
    })?;
    let end_offset = tail_start
        .checked_add(at as u64)
        .ok_or(ZipError::Truncated {
            what: "end-of-central-directory record",
            offset: tail_start,
        })?;
    let field16 = |i| u16_at(tail, at + i).unwrap_or_default();
    let field32 = |i| u32_at(tail, at + i).unwrap_or_default();
    // The ZIP64 locator sits right before the end record.
    if let Some(locator_at) = at.checked_sub(ZIP64_LOCATOR_LEN)
        && u32_at(tail, locator_at) == Some(ZIP64_LOCATOR_SIG)
    {
        let record_offset = u64_at(tail, locator_at + 8).unwrap_or_default();
        let record_disk = u32_at(tail, locator_at + 4).unwrap_or_default();
        let disks = u32_at(tail, locator_at + 16).unwrap_or_default();
        if record_disk != 0 || disks > 1 {
            return Err(ZipError::MultiDisk);
        }
        let locator_offset = end_offset.saturating_sub(ZIP64_LOCATOR_LEN as u64);
        let record_end = record_offset
            .checked_add(ZIP64_RECORD_LEN)
            .filter(|&end| end <= locator_offset)
            .ok_or(ZipError::BadSignature {
                what: "ZIP64 end-of-central-directory record",
                offset: record_offset,
            })?;
        let record = record_offset
            .checked_sub(tail_start)
            .and_then(|start| usize::try_from(start).ok())
            .and_then(|start| tail.get(start..start.checked_add(ZIP64_RECORD_LEN as usize)?));
        return match record {
            Some(bytes) => {
                let range = parse_zip64_record(bytes).map_err(|e| at_offset(e, record_offset))?;
                checked_range(range, record_offset).map(DirectoryLookup::Found)
            }
            None => Ok(DirectoryLookup::NeedZip64Record(record_offset..record_end)),
        };
    }
    if field16(4) != 0 || field16(6) != 0 || field16(8) != field16(10) {
        return Err(ZipError::MultiDisk);
    }
    let range = DirectoryRange {
        offset: u64::from(field32(16)),
        size: u64::from(field32(12)),
        entries: u64::from(field16(10)),
    };
    checked_range(range, end_offset).map(DirectoryLookup::Found)
}

/// Puts the archive offset into an error about bytes parsed at offset 0.
fn at_offset(error: ZipError, base: u64) -> ZipError {
    match error {
        ZipError::BadSignature { what, offset } => ZipError::BadSignature {
            what,
            offset: offset.saturating_add(base),
        },
        ZipError::Truncated { what, offset } => ZipError::Truncated {
            what,
            offset: offset.saturating_add(base),
        },
        other => other,
    }
}

/// Parses a ZIP64 end-of-central-directory record (at least its first 56 bytes). Offsets in
/// errors are relative to `bytes`.
pub fn parse_zip64_record(bytes: &[u8]) -> Result<DirectoryRange, ZipError> {
    const WHAT: &str = "ZIP64 end-of-central-directory record";
    if bytes.len() < ZIP64_RECORD_LEN as usize {
        return Err(ZipError::Truncated {
            what: WHAT,
            offset: 0,
        });
    }
    if u32_at(bytes, 0) != Some(ZIP64_RECORD_SIG) {
        return Err(ZipError::BadSignature {
            what: WHAT,
            offset: 0,
        });
    }
    let field32 = |i| u32_at(bytes, i).unwrap_or_default();
    let field64 = |i| u64_at(bytes, i).unwrap_or_default();
    if field32(16) != 0 || field32(20) != 0 || field64(24) != field64(32) {
        return Err(ZipError::MultiDisk);
    }
    Ok(DirectoryRange {
        offset: field64(48),
        size: field64(40),
        entries: field64(32),
    })
}

/// Parses the central directory: `bytes` are exactly the `range.size` bytes at `range.offset`.
/// Names are read as UTF-8 (lossily where they are not), whatever the language flag says.
pub fn parse_directory(bytes: &[u8], range: &DirectoryRange) -> Result<Vec<ZipEntry>, ZipError> {
    if bytes.len() as u64 != range.size {
        return Err(ZipError::DirectoryLength {
            expected: range.size,
            got: bytes.len() as u64,
        });
    }
    let mut entries = Vec::new();
    let mut at = 0usize;
    for found in 0..range.entries {
        if at == bytes.len() {
            return Err(ZipError::MissingEntries {
                declared: range.entries,
                found,
            });
        }
        let (entry, next) =
            parse_central_entry(bytes, at).map_err(|e| at_offset(e, range.offset))?;
        entries.push(entry);
        at = next;
    }
    Ok(entries)
}

/// One central directory entry at `at`; returns it and where the next one starts.
fn parse_central_entry(bytes: &[u8], at: usize) -> Result<(ZipEntry, usize), ZipError> {
    const WHAT: &str = "central directory entry";
    let truncated = ZipError::Truncated {
        what: WHAT,
        offset: at as u64,
    };
    let Some(header) = bytes.get(at..).and_then(|rest| rest.get(..CENTRAL_LEN)) else {
        return Err(truncated);
    };
    if u32_at(header, 0) != Some(CENTRAL_SIG) {
        return Err(ZipError::BadSignature {
            what: WHAT,
            offset: at as u64,
        });
    }
    let field16 = |i| u16_at(header, i).unwrap_or_default();
    let field32 = |i| u32_at(header, i).unwrap_or_default();
    let name_len = usize::from(field16(28));
    let extra_len = usize::from(field16(30));
    let comment_len = usize::from(field16(32));
    let name_start = at + CENTRAL_LEN;
    let extra_start = name_start + name_len;
    let next = extra_start + extra_len + comment_len;
    let (Some(name), Some(extra)) = (
        bytes.get(name_start..extra_start),
        bytes.get(extra_start..extra_start + extra_len),
    ) else {
        return Err(truncated);
    };
    if next > bytes.len() {
        return Err(truncated);
    }
    let mut entry = ZipEntry {
        name: String::from_utf8_lossy(name).into_owned(),
        method: field16(10),
        flags: field16(8),
        crc32: field32(16),
        compressed_size: u64::from(field32(20)),
        uncompressed_size: u64::from(field32(24)),
        local_header_offset: u64::from(field32(42)),
    };
    apply_zip64_extra(&mut entry, extra)?;
    Ok((entry, next))
}

/// Replaces the 0xFFFFFFFF fields with the ZIP64 extra field's values (in the order the format
/// lists them). Without a ZIP64 field the values stand as they are.
fn apply_zip64_extra(entry: &mut ZipEntry, mut extra: &[u8]) -> Result<(), ZipError> {
    const MARKER: u64 = 0xFFFF_FFFF;
    while let (Some(id), Some(len)) = (u16_at(extra, 0), u16_at(extra, 2)) {
        let Some(data) = extra.get(4..4 + usize::from(len)) else {
            // A malformed extra field: the rest is unreadable, and nothing we need was found.
            return Ok(());
        };
        if id == ZIP64_EXTRA_ID {
            let mut values = data.chunks_exact(8).map(|b| {
                let mut word = [0u8; 8];
                word.copy_from_slice(b);
                u64::from_le_bytes(word)
            });
            for field in [
                &mut entry.uncompressed_size,
                &mut entry.compressed_size,
                &mut entry.local_header_offset,
            ] {
                if *field == MARKER {
                    *field = values.next().ok_or_else(|| ZipError::Zip64Extra {
                        name: entry.name.clone(),
                    })?;
                }
            }
            return Ok(());
        }
        extra = extra.get(4 + usize::from(len)..).unwrap_or_default();
    }
    Ok(())
}

impl ZipEntry {
    /// A folder entry: its name ends with a slash.
    pub fn is_dir(&self) -> bool {
        self.name.ends_with('/') || self.name.ends_with('\\')
    }

    /// The bytes [`ZipEntry::data_range`] needs: the local header's fixed part.
    pub fn header_range(&self) -> Range<u64> {
        self.local_header_offset..self.local_header_offset.saturating_add(LOCAL_HEADER_LEN)
    }

    /// Where the entry's (compressed) data lies, from its local header (the bytes at
    /// [`ZipEntry::header_range`]), whose name and extra field lengths can differ from the
    /// central directory's.
    pub fn data_range(&self, local_header: &[u8]) -> Result<Range<u64>, ZipError> {
        if u32_at(local_header, 0) != Some(LOCAL_SIG) {
            return Err(ZipError::BadLocalHeader {
                name: self.name.clone(),
                offset: self.local_header_offset,
            });
        }
        let (Some(name_len), Some(extra_len)) =
            (u16_at(local_header, 26), u16_at(local_header, 28))
        else {
            return Err(ZipError::Truncated {
                what: "local header",
                offset: self.local_header_offset,
            });
        };
        self.check_size(self.compressed_size)?;
        let start = self
            .local_header_offset
            .checked_add(LOCAL_HEADER_LEN + u64::from(name_len) + u64::from(extra_len));
        match start.and_then(|start| Some(start..start.checked_add(self.compressed_size)?)) {
            Some(range) => Ok(range),
            None => Err(ZipError::Overflow {
                name: self.name.clone(),
            }),
        }
    }

    fn check_size(&self, size: u64) -> Result<usize, ZipError> {
        usize::try_from(size)
            .ok()
            .filter(|_| size <= MAX_ENTRY_SIZE)
            .ok_or_else(|| ZipError::TooLarge {
                name: self.name.clone(),
                size,
            })
    }

    /// The entry's contents from its data (the bytes at [`ZipEntry::data_range`]), checked
    /// against the declared size and CRC-32.
    pub fn extract(&self, data: &[u8]) -> Result<Vec<u8>, ZipError> {
        let name = || self.name.clone();
        if self.flags & FLAG_ENCRYPTED != 0 {
            return Err(ZipError::Encrypted { name: name() });
        }
        if self.method != METHOD_STORED && self.method != METHOD_DEFLATE {
            return Err(ZipError::UnsupportedMethod {
                name: name(),
                method: self.method,
            });
        }
        if data.len() as u64 != self.compressed_size {
            return Err(ZipError::DataLength {
                name: name(),
                expected: self.compressed_size,
                got: data.len() as u64,
            });
        }
        let limit = self.check_size(self.uncompressed_size)?;
        let contents = if self.method == METHOD_STORED {
            data.to_vec()
        } else {
            inflate(data, limit).map_err(|error| match error {
                None => ZipError::LargerThanDeclared {
                    name: name(),
                    declared: self.uncompressed_size,
                },
                Some(reason) => ZipError::Inflate {
                    name: name(),
                    reason,
                },
            })?
        };
        if contents.len() as u64 != self.uncompressed_size {
            return Err(if contents.len() > limit {
                ZipError::LargerThanDeclared {
                    name: name(),
                    declared: self.uncompressed_size,
                }
            } else {
                ZipError::SizeMismatch {
                    name: name(),
                    declared: self.uncompressed_size,
                    got: contents.len() as u64,
                }
            });
        }
        let crc = crc32fast::hash(&contents);
        if crc != self.crc32 {
            return Err(ZipError::Crc {
                name: name(),
                expected: self.crc32,
                got: crc,
            });
        }
        Ok(contents)
    }
}

/// Raw deflate with at most `limit` bytes out: `Err(None)` when there is more, `Err(Some(why))`
/// when the stream is corrupt.
fn inflate(data: &[u8], limit: usize) -> Result<Vec<u8>, Option<String>> {
    use miniz_oxide::inflate::{TINFLStatus, decompress_to_vec_with_limit};
    if data.is_empty() {
        return Err(Some("no data".to_owned()));
    }
    decompress_to_vec_with_limit(data, limit).map_err(|e| match e.status {
        TINFLStatus::HasMoreOutput => None,
        TINFLStatus::FailedCannotMakeProgress | TINFLStatus::NeedsMoreInput => {
            Some("the stream ends early".to_owned())
        }
        status => Some(format!("{status:?}")),
    })
}

fn io_error(what: impl Into<String>, offset: u64) -> impl FnOnce(std::io::Error) -> ZipError {
    move |error| ZipError::Io {
        what: what.into(),
        offset,
        error,
    }
}

/// Reads `range` from `reader`, refusing short reads; allocates as the bytes arrive, so a corrupt
/// range cannot make it allocate more than the file holds.
fn read_range<R: Read + Seek>(
    reader: &mut R,
    range: Range<u64>,
    what: &str,
) -> Result<Vec<u8>, ZipError> {
    reader
        .seek(SeekFrom::Start(range.start))
        .map_err(io_error(what, range.start))?;
    let len = range.end.saturating_sub(range.start);
    let mut bytes = Vec::new();
    reader
        .by_ref()
        .take(len)
        .read_to_end(&mut bytes)
        .map_err(io_error(what, range.start))?;
    if (bytes.len() as u64) < len {
        return Err(ZipError::Io {
            what: what.to_owned(),
            offset: range.start,
            error: std::io::ErrorKind::UnexpectedEof.into(),
        });
    }
    Ok(bytes)
}

/// The central directory of the archive in `reader`, read with two or three seeks.
pub fn read_directory<R: Read + Seek>(reader: &mut R) -> Result<Vec<ZipEntry>, ZipError> {
    let len = reader
        .seek(SeekFrom::End(0))
        .map_err(io_error("the archive's length", 0))?;
    let tail = tail_range(len);
    let tail_start = tail.start;
    let tail = read_range(reader, tail, "the archive's end")?;
    let range = match find_directory(&tail, tail_start)? {
        DirectoryLookup::Found(range) => range,
        DirectoryLookup::NeedZip64Record(record) => {
            let start = record.start;
            let bytes = read_range(reader, record, "the ZIP64 end-of-central-directory record")?;
            let range = parse_zip64_record(&bytes).map_err(|e| at_offset(e, start))?;
            checked_range(range, start)?
        }
    };
    let bytes = read_range(
        reader,
        range.offset..range.offset.saturating_add(range.size),
        "the central directory",
    )?;
    parse_directory(&bytes, &range)
}

/// One entry's contents, read with two seeks.
pub fn read_entry<R: Read + Seek>(reader: &mut R, entry: &ZipEntry) -> Result<Vec<u8>, ZipError> {
    let header = read_range(
        reader,
        entry.header_range(),
        &format!("the local header of {}", entry.name),
    )?;
    let data = entry.data_range(&header)?;
    let bytes = read_range(reader, data, &format!("the data of {}", entry.name))?;
    entry.extract(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use medhall_metrics::stats::SplitMix64;
    use std::io::Cursor;

    /// Written by scripts/gen_zip_fixture.py, with their contents listed in images.json.
    const ARCHIVES: [(&str, &[u8]); 2] = [
        ("images.zip", include_bytes!("../tests/fixtures/images.zip")),
        (
            "images-zip64.zip",
            include_bytes!("../tests/fixtures/images-zip64.zip"),
        ),
    ];
    const MANIFEST: &str = include_str!("../tests/fixtures/images.json");

    /// The files' names and contents, and the directory entries' names.
    fn manifest() -> (Vec<(String, Vec<u8>)>, Vec<String>) {
        let json: serde_json::Value = serde_json::from_str(MANIFEST).expect("manifest");
        let hex = |text: &str| -> Vec<u8> {
            (0..text.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
                .collect()
        };
        let files = json["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| {
                let name = f["name"].as_str().expect("name").to_owned();
                (name, hex(f["hex"].as_str().expect("hex")))
            })
            .collect();
        let dirs = json["directories"]
            .as_array()
            .expect("directories")
            .iter()
            .map(|d| d.as_str().expect("name").to_owned())
            .collect();
        (files, dirs)
    }

    /// Every entry read through the sans-IO steps, over `archive`'s bytes in memory.
    fn read_all_sans_io(archive: &[u8]) -> Result<Vec<(ZipEntry, Vec<u8>)>, ZipError> {
        let slice = |range: Range<u64>| -> &[u8] {
            let start = usize::try_from(range.start).unwrap_or(usize::MAX);
            let end = usize::try_from(range.end).unwrap_or(usize::MAX);
            archive
                .get(start..end.min(archive.len()))
                .unwrap_or_default()
        };
        let tail = tail_range(archive.len() as u64);
        let range = match find_directory(slice(tail.clone()), tail.start)? {
            DirectoryLookup::Found(range) => range,
            DirectoryLookup::NeedZip64Record(record) => parse_zip64_record(slice(record))?,
        };
        let directory = slice(range.offset..range.offset.saturating_add(range.size));
        let mut read = Vec::new();
        for entry in parse_directory(directory, &range)? {
            let data = entry.data_range(slice(entry.header_range()))?;
            let contents = entry.extract(slice(data))?;
            read.push((entry, contents));
        }
        Ok(read)
    }

    fn read_all(archive: &[u8]) -> Result<Vec<(ZipEntry, Vec<u8>)>, ZipError> {
        let mut reader = Cursor::new(archive);
        let entries = read_directory(&mut reader)?;
        let mut read = Vec::new();
        for entry in entries {
            let contents = read_entry(&mut reader, &entry)?;
            read.push((entry, contents));
        }
        Ok(read)
    }

    fn fixture_entry(archive: &[u8], name: &str) -> (ZipEntry, Vec<u8>) {
        read_all(archive)
            .expect("fixture reads")
            .into_iter()
            .find(|(e, _)| e.name == name)
            .expect("entry in fixture")
    }

    #[test]
    fn every_fixture_entry_reads_back_as_written() {
        let (files, dirs) = manifest();
        for (archive_name, archive) in ARCHIVES {
            let read = read_all(archive).expect(archive_name);
            assert_eq!(read.len(), files.len() + dirs.len(), "{archive_name}");
            for (name, contents) in &files {
                let (entry, got) = read
                    .iter()
                    .find(|(e, _)| &e.name == name)
                    .unwrap_or_else(|| panic!("{archive_name}: no {name}"));
                assert!(!entry.is_dir());
                assert_eq!(got, contents, "{archive_name}: {name}");
            }
            for dir in &dirs {
                assert!(
                    read.iter()
                        .any(|(e, c)| &e.name == dir && e.is_dir() && c.is_empty())
                );
            }
            // Both compression methods, and the UTF-8 name flag on the non-ASCII name.
            assert!(
                read.iter()
                    .any(|(e, _)| e.method == 0 && e.uncompressed_size > 0)
            );
            assert!(
                read.iter()
                    .any(|(e, _)| e.method == 8 && e.uncompressed_size > 0)
            );
            let (accented, _) = fixture_entry(archive, "images/l\u{e9}sion_\u{fc}.jpg");
            assert_ne!(accented.flags & 0x800, 0);
        }
    }

    #[test]
    fn the_sans_io_steps_read_what_read_entry_reads() {
        for (archive_name, archive) in ARCHIVES {
            let steps = read_all_sans_io(archive).expect(archive_name);
            assert_eq!(steps, read_all(archive).expect(archive_name));
        }
    }

    #[test]
    fn a_zip64_end_record_is_used_inside_the_tail_or_asked_for() {
        let (_, archive) = ARCHIVES[1];
        let len = archive.len() as u64;
        // The classic end record holds only the "see ZIP64" markers.
        let tail_start = tail_range(len).start;
        let Ok(DirectoryLookup::Found(range)) = find_directory(archive, tail_start) else {
            panic!("the ZIP64 record lies inside the tail");
        };
        assert_eq!(range.entries, 8);
        assert!(range.offset > 0 && range.offset + range.size < len);
        // A tail with only the locator and end record: the record is asked for.
        let comment = b"ZIP64 fixture".len();
        let short = archive.len() - comment - 22 - 20;
        let lookup = find_directory(&archive[short..], short as u64).expect("lookup");
        let DirectoryLookup::NeedZip64Record(record) = lookup else {
            panic!("expected NeedZip64Record, got {lookup:?}");
        };
        assert_eq!(record, short as u64 - 56..short as u64);
        let bytes = &archive[record.start as usize..record.end as usize];
        assert_eq!(parse_zip64_record(bytes).expect("record"), range);
    }

    #[test]
    fn a_truncated_archive_is_an_error_at_every_length() {
        for (archive_name, archive) in ARCHIVES {
            for len in 0..archive.len() {
                let cut = &archive[..len];
                assert!(read_all(cut).is_err(), "{archive_name} cut at {len}");
                assert!(
                    read_all_sans_io(cut).is_err(),
                    "{archive_name} cut at {len}"
                );
            }
        }
    }

    #[test]
    fn flipped_bytes_give_an_error_or_the_right_contents() {
        let mut rng = SplitMix64::new(7);
        for (archive_name, archive) in ARCHIVES {
            let good = read_all(archive).expect(archive_name);
            for _ in 0..4000 {
                let mut bytes = archive.to_vec();
                for _ in 0..1 + rng.below(3) {
                    let at = rng.below(bytes.len());
                    bytes[at] ^= 1 + rng.below(255) as u8;
                }
                for result in [read_all(&bytes), read_all_sans_io(&bytes)] {
                    let Ok(read) = result else { continue };
                    for (entry, contents) in read {
                        assert_eq!(contents.len() as u64, entry.uncompressed_size);
                        assert_eq!(crc32fast::hash(&contents), entry.crc32);
                        // An entry whose directory record survived must read as before.
                        let same = good.iter().find(|(e, _)| {
                            ZipEntry {
                                name: e.name.clone(),
                                ..entry.clone()
                            } == *e
                        });
                        if let Some((_, expected)) = same {
                            assert_eq!(&contents, expected, "{archive_name}: {}", entry.name);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn bad_contents_and_unreadable_entries_are_errors() {
        let (_, archive) = ARCHIVES[0];
        let (deflated, contents) = fixture_entry(archive, "images/pmc_2_0.png");
        let (stored, _) = fixture_entry(archive, "images/pmc_1_0.jpg");
        let data_of = |entry: &ZipEntry| {
            let header = &archive[entry.header_range().start as usize..][..30];
            let range = entry.data_range(header).expect("data range");
            archive[range.start as usize..range.end as usize].to_vec()
        };
        let data = data_of(&deflated);
        assert_eq!(deflated.extract(&data).expect("extract"), contents);

        let changed = |change: &dyn Fn(&mut ZipEntry)| {
            let mut entry = deflated.clone();
            change(&mut entry);
            entry.extract(&data).expect_err("an error").to_string()
        };
        let message = changed(&|e| e.crc32 ^= 1);
        assert!(
            message.contains("CRC-32") && message.contains("pmc_2_0.png"),
            "{message}"
        );
        let message = changed(&|e| e.flags |= 1);
        assert!(message.contains("encrypted"), "{message}");
        let message = changed(&|e| e.method = 12);
        assert!(message.contains("method 12 (bzip2)"), "{message}");
        let message = changed(&|e| e.uncompressed_size -= 1);
        assert!(message.contains("more than the 1469 bytes"), "{message}");
        let message = changed(&|e| e.uncompressed_size += 1);
        assert!(message.contains("holds 1470 bytes"), "{message}");
        let message = changed(&|e| e.uncompressed_size = 1 << 40);
        assert!(message.contains("entries over 256 MiB"), "{message}");
        let message = changed(&|e| e.compressed_size += 1);
        assert!(message.contains("got 148 bytes of data"), "{message}");

        let mut corrupt = data.clone();
        corrupt[0] ^= 0xff;
        let error = deflated.extract(&corrupt).expect_err("corrupt deflate");
        assert!(
            matches!(
                error,
                ZipError::Inflate { .. }
                    | ZipError::Crc { .. }
                    | ZipError::SizeMismatch { .. }
                    | ZipError::LargerThanDeclared { .. }
            ),
            "{error}"
        );

        // A stored entry declared shorter than its data.
        let mut short = stored.clone();
        short.uncompressed_size -= 1;
        let error = short
            .extract(&data_of(&stored))
            .expect_err("longer than declared");
        assert!(
            matches!(error, ZipError::LargerThanDeclared { .. }),
            "{error}"
        );

        // Local headers: a wrong signature, offsets that overflow, sizes over the cap.
        let header = &archive[stored.header_range().start as usize..][..30];
        let error = stored.data_range(&header[1..]).expect_err("bad signature");
        assert!(
            error.to_string().contains("pmc_1_0.jpg: no local header"),
            "{error}"
        );
        assert!(stored.data_range(&header[..29]).is_err());
        let far = ZipEntry {
            local_header_offset: u64::MAX - 10,
            ..stored.clone()
        };
        assert_eq!(far.header_range(), u64::MAX - 10..u64::MAX);
        assert!(matches!(
            far.data_range(header),
            Err(ZipError::Overflow { .. })
        ));
        let huge = ZipEntry {
            compressed_size: u64::MAX,
            ..stored.clone()
        };
        assert!(matches!(
            huge.data_range(header),
            Err(ZipError::TooLarge { .. })
        ));
    }

    #[test]
    fn not_a_zip_and_inconsistent_directories_are_errors() {
        for bytes in [&b""[..], b"PK", b"hello, world: not an archive at all"] {
            let error = read_all(bytes).expect_err("not a zip");
            assert!(
                error.to_string().starts_with("not a zip archive"),
                "{error}"
            );
        }
        let (_, archive) = ARCHIVES[0];
        let tail = tail_range(archive.len() as u64);
        assert_eq!(tail, 0..archive.len() as u64);
        assert_eq!(tail_range(1 << 20), (1 << 20) - 65_633..1 << 20);
        let Ok(DirectoryLookup::Found(range)) = find_directory(archive, 0) else {
            panic!("directory");
        };
        let directory = &archive[range.offset as usize..][..range.size as usize];
        assert!(matches!(
            parse_directory(&directory[1..], &range),
            Err(ZipError::DirectoryLength { .. })
        ));
        let more = DirectoryRange {
            entries: range.entries + 1,
            ..range.clone()
        };
        assert!(matches!(
            parse_directory(directory, &more),
            Err(ZipError::MissingEntries { found: 8, .. })
        ));
        // An end record whose directory would run past it.
        let mut bytes = archive.to_vec();
        let end = bytes.len() - 22 - b"MedHall Lens zip fixture".len();
        bytes[end + 12] = 0xff;
        let error = read_all(&bytes).expect_err("directory past the end record");
        assert!(
            matches!(error, ZipError::DirectoryOutOfRange { .. }),
            "{error}"
        );
        // A comment that runs past the end of the archive is not an end record.
        let error = read_all(&archive[..archive.len() - 1]).expect_err("short comment");
        assert!(matches!(error, ZipError::NoEndRecord { .. }), "{error}");
    }
}
