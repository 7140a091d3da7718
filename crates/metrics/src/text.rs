//! Python's notions of whitespace and lowercase, because the official evaluation is Python:
//! where Python and Rust disagree, Python wins.

use std::borrow::Cow;

/// `str.isspace()` of CPython 3.11: Unicode `White_Space` plus U+001C..U+001F, which Python
/// counts as whitespace (they are bidirectional class B/S) and Rust's `char::is_whitespace` does not.
pub fn is_python_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Tokens of Python's `str.split()` with no arguments: runs of whitespace separate, no empty tokens.
pub fn python_split(text: &str) -> impl Iterator<Item = &str> {
    text.split(is_python_whitespace)
        .filter(|token| !token.is_empty())
}

/// Python's `str.lower()`: full Unicode lowercase mapping with the final-sigma rule, which Rust's
/// `str::to_lowercase` also implements. Borrowed when nothing changes (the usual ASCII case).
pub fn python_lower(text: &str) -> Cow<'_, str> {
    if text
        .bytes()
        .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
    {
        Cow::Borrowed(text)
    } else if text.is_ascii() {
        Cow::Owned(text.to_ascii_lowercase())
    } else {
        Cow::Owned(text.to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_matches_python_whitespace_set() {
        // The complete list printed by CPython 3.11: [c for c in range(0x110000) if chr(c).isspace()].
        let python: [u32; 29] = [
            0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000,
            0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028,
            0x2029, 0x202f, 0x205f, 0x3000,
        ];
        let ours: Vec<u32> = (0..=0x10ffffu32)
            .filter_map(char::from_u32)
            .filter(|&c| is_python_whitespace(c))
            .map(u32::from)
            .collect();
        assert_eq!(ours, python);
    }

    #[test]
    fn split_collapses_runs_and_edges() {
        let tokens: Vec<&str> = python_split("\u{1f} a\u{a0}\u{a0}b\u{3000}c \n").collect();
        assert_eq!(tokens, ["a", "b", "c"]);
        assert_eq!(python_split(" \t ").count(), 0);
        // Zero-width space is not whitespace in Python either.
        assert_eq!(python_split("a\u{200b}b").count(), 1);
    }

    #[test]
    fn lower_matches_python_special_cases() {
        assert_eq!(python_lower("ABC"), "abc");
        assert!(matches!(python_lower("abc"), Cow::Borrowed(_)));
        assert_eq!(python_lower("\u{130}"), "i\u{307}");
        assert_eq!(python_lower("\u{212a}"), "k");
        // Final sigma, as Python: 'ΟΔΟΣ'.lower() == 'οδος'
        assert_eq!(python_lower("ΟΔΟΣ"), "οδος");
        assert_eq!(python_lower("µM ±β"), "µm ±β");
    }
}
