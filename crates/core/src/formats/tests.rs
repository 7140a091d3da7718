//! Whole-parser tests: fixtures in every chunking, broken rows, limits, the real MedHallTune
//! files when present, and property tests that nothing ever panics.

use super::*;
use crate::sample::Split;
use proptest::prelude::*;

type Parsed = (Vec<SampleRecord>, Vec<RecordError>, ParseSummary);

macro_rules! fixture {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!("../../tests/fixtures/formats/", $name)).as_slice(),
        )
    };
}

const FIXTURES: [(&str, &[u8]); 8] = [
    fixture!("judge_eval.jsonl"),
    fixture!("predictions.jsonl"),
    fixture!("bom_crlf.jsonl"),
    fixture!("renamed.csv"),
    fixture!("array.json"),
    fixture!("broken.jsonl"),
    fixture!("broken_array.json"),
    fixture!("tabs.tsv"),
];

fn fixture(name: &str) -> &'static [u8] {
    FIXTURES
        .iter()
        .find(|(fixture, _)| *fixture == name)
        .map(|(_, bytes)| *bytes)
        .expect("a fixture listed in FIXTURES")
}

fn renamed_columns() -> ColumnMap {
    let mut columns = ColumnMap::default();
    columns.set(Role::Answer, "model output");
    columns
}

fn columns_for(name: &str) -> ColumnMap {
    if name.ends_with(".csv") {
        renamed_columns()
    } else {
        ColumnMap::default()
    }
}

/// Feeds `bytes` in pieces cut at `cuts` (sorted offsets).
fn parse_cut(parser: RecordParser, bytes: &[u8], cuts: &[usize]) -> Parsed {
    let mut parser = parser;
    let mut records = Vec::new();
    let mut errors = Vec::new();
    let mut sink = |row: Result<SampleRecord, RecordError>| match row {
        Ok(record) => records.push(record),
        Err(error) => errors.push(error),
    };
    let mut start = 0;
    for &cut in cuts.iter().chain([bytes.len()].iter()) {
        let cut = cut.clamp(start, bytes.len());
        parser.push(&bytes[start..cut], &mut sink);
        start = cut;
    }
    let summary = parser.finish(&mut sink);
    (records, errors, summary)
}

fn parse_chunked(name: &str, bytes: &[u8], columns: &ColumnMap, chunk: usize) -> Parsed {
    let cuts: Vec<usize> = (chunk..bytes.len()).step_by(chunk.max(1)).collect();
    parse_cut(RecordParser::new(name, columns.clone()), bytes, &cuts)
}

fn parse_fixture(name: &str) -> Parsed {
    parse_bytes(name, fixture(name), &columns_for(name))
}

fn assert_no_errors(parsed: &Parsed) {
    assert!(parsed.1.is_empty(), "unexpected errors: {:#?}", parsed.1);
    assert_eq!(parsed.2.errors, 0);
}

#[test]
fn judge_eval_rows_load_with_roles_and_fields() {
    let parsed = parse_fixture("judge_eval.jsonl");
    assert_no_errors(&parsed);
    let (records, _, summary) = parsed;
    assert_eq!(
        summary,
        ParseSummary {
            format: Some(FileFormat::JsonLines),
            bytes: fixture("judge_eval.jsonl").len() as u64,
            lines: 5,
            records: 5,
            errors: 0,
        }
    );
    let ids: Vec<_> = records.iter().map(|r| r.question_id.as_deref()).collect();
    assert_eq!(ids, [Some("0"), Some("2"), Some("3"), Some("4"), Some("7")]);
    assert_eq!(
        records.iter().map(|r| r.line).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    let first = &records[0];
    assert_eq!(first.image.as_deref(), Some("case_001_FIG1.jpg"));
    assert_eq!(
        first.question.as_deref(),
        Some("What does the chest x-ray show in the left midlung?")
    );
    assert_eq!(
        first.reference.as_deref(),
        Some("A large airspace consolidation with a cavitary appearance.")
    );
    assert_eq!(
        first.answer.as_deref(),
        Some("A homogeneous opacity in the left midlung.")
    );
    assert_eq!(
        first.judge_text.as_deref(),
        Some(
            "5 5 5 6\n\nThe answer misses the \"cavitary\" appearance; it\u{2019}s partly correct."
        )
    );
    assert_eq!(first.split, None);
    assert_eq!(first.judge_columns, [None; 4]);
    let names: Vec<&str> = first.fields.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["text", "fig_caption"]);
    assert_eq!(
        first.field("text"),
        Some("What does the chest x-ray show in the left midlung?\n<image>")
    );
    assert_eq!(
        records[2].answer.as_deref(),
        Some("Yes, roughly 7 \u{b5}m \u{1F52C}.")
    );
}

#[test]
fn prediction_rows_keep_categorical_fields_and_string_ids() {
    let parsed = parse_fixture("predictions.jsonl");
    assert_no_errors(&parsed);
    let (records, _, summary) = parsed;
    assert_eq!(summary.lines, 5);
    assert_eq!(summary.records, 3);
    assert_eq!(
        records.iter().map(|r| r.line).collect::<Vec<_>>(),
        [1, 3, 5]
    );
    assert_eq!(records[0].question_id.as_deref(), Some("1"));
    assert_eq!(
        records[0].answer.as_deref(),
        Some("No muscle tear is visible — only the fracture.")
    );
    assert_eq!(
        records[0].field("hallucination_type"),
        Some("nonexistent object")
    );
    let second = &records[1];
    assert_eq!(second.question_id.as_deref(), Some("neg-2"));
    assert_eq!(
        second.answer.as_deref(),
        Some("Não há sinais de infecção 😀.")
    );
    assert_eq!(
        second.fields,
        [
            (
                "hallucination_type".into(),
                "clinical knowledge distortion".into()
            ),
            ("modality".into(), "CT".into()),
            ("score_hint".into(), "0.5".into()),
            ("reviewed".into(), "true".into()),
        ]
    );
    // An empty answer is still an answer (the scorer decides what it is worth).
    assert_eq!(records[2].answer.as_deref(), Some(""));
}

#[test]
fn bom_and_crlf_are_invisible() {
    let parsed = parse_fixture("bom_crlf.jsonl");
    assert_no_errors(&parsed);
    let (records, _, summary) = parsed;
    assert_eq!(summary.lines, 2);
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].line, 1);
    assert_eq!(records[0].question_id.as_deref(), Some("10"));
    assert_eq!(records[0].answer.as_deref(), Some("Oui é"));
    assert_eq!(records[1].reference.as_deref(), Some("No"));
}

#[test]
fn csv_with_quotes_newlines_crlf_and_a_renamed_answer_column() {
    let parsed = parse_fixture("renamed.csv");
    assert_no_errors(&parsed);
    let (records, _, summary) = parsed;
    assert_eq!(summary.format, Some(FileFormat::Csv));
    assert_eq!(summary.lines, 8);
    assert_eq!(
        records.iter().map(|r| r.line).collect::<Vec<_>>(),
        [2, 3, 5, 8]
    );
    let first = &records[0];
    assert_eq!(first.question_id.as_deref(), Some("1"));
    assert_eq!(first.image.as_deref(), Some("img_a.jpg"));
    assert_eq!(
        first.question.as_deref(),
        Some("Is there a mass, or a cyst?")
    );
    assert_eq!(
        first.answer.as_deref(),
        Some("A cyst, 2 cm, benign-looking.")
    );
    assert_eq!(first.split, Some(Split::Negative));
    assert_eq!(first.judge_columns, [None, None, None, Some(7.0)]);
    assert_eq!(
        first.fields,
        [("Hallucination_Type".into(), "nonexistent object".into())]
    );
    let second = &records[1];
    assert_eq!(
        second.answer.as_deref(),
        Some("Line one\r\nline two with \"quotes\"")
    );
    assert_eq!(second.judge_columns[3], Some(8.5));
    assert!(
        second.fields.is_empty(),
        "empty cells are skipped: {:?}",
        second.fields
    );
    let third = &records[2];
    assert_eq!(
        third.question_id.as_deref(),
        Some("3"),
        "CSV ids are trimmed"
    );
    assert_eq!(third.question.as_deref(), Some("Multi\nline\nquestion"));
    assert_eq!(third.answer.as_deref(), Some("Ünïcödé answer"));
    assert_eq!(third.split, Some(Split::Positive));
    assert_eq!(third.judge_columns[3], None);
    assert_eq!(records[3].split, Some(Split::Negative));

    // Without the override, "Model Output" is just a field.
    let (records, errors, _) =
        parse_bytes("renamed.csv", fixture("renamed.csv"), &ColumnMap::default());
    assert!(errors.is_empty());
    assert_eq!(records[0].answer, None);
    assert_eq!(
        records[0].field("Model Output"),
        Some("A cyst, 2 cm, benign-looking.")
    );
}

#[test]
fn tsv_is_read_with_tabs_by_its_name() {
    let parsed = parse_fixture("tabs.tsv");
    assert_no_errors(&parsed);
    let (records, _, _) = parsed;
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].answer.as_deref(), Some("A, with comma"));
    assert_eq!(
        records[0].judge_columns,
        [Some(6.0), Some(7.0), Some(5.0), Some(8.0)]
    );
    assert_eq!(records[1].question_id.as_deref(), Some("q2"));
}

#[test]
fn csv_row_errors_name_line_and_column() {
    let csv = b"id,answer,risk_level,split\n1,a,7,pos\n2,b\n3,c,high,neg\n4,\"d\xff\",1,neg\n5,e,2,maybe\n6,f,3,neg\n";
    let (records, errors, summary) = parse_bytes("r.csv", csv, &ColumnMap::default());
    assert_eq!(records.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 7]);
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 4, "{shown:#?}");
    assert_eq!(
        shown[0],
        "r.csv:3: expected 4 fields as in the header, found 2"
    );
    assert_eq!(
        shown[1],
        "r.csv:4: field `risk_level`: expected a number, found \"high\""
    );
    assert_eq!(shown[2], "r.csv:5: field `answer`: not valid UTF-8");
    assert!(
        shown[3].starts_with("r.csv:6: field `split`: unknown split"),
        "{}",
        shown[3]
    );
    assert_eq!((summary.records, summary.errors), (2, 4));
}

#[test]
fn json_array_elements_load_with_their_start_lines() {
    let parsed = parse_fixture("array.json");
    assert_no_errors(&parsed);
    let (records, _, summary) = parsed;
    assert_eq!(summary.format, Some(FileFormat::JsonArray));
    assert_eq!(
        records.iter().map(|r| r.line).collect::<Vec<_>>(),
        [2, 9, 19]
    );
    assert_eq!(
        records[0].question.as_deref(),
        Some("Q five, with [brackets] and {braces}?")
    );
    assert_eq!(records[0].answer.as_deref(), Some("A \"five\" \\ done"));
    assert_eq!(records[1].question_id.as_deref(), Some("6"));
    assert_eq!(records[1].answer.as_deref(), Some("A six ]"));
    assert_eq!(
        records[1].judge_columns,
        [Some(6.0), Some(7.5), Some(5.0), Some(9.0)]
    );
    assert_eq!(
        records[2].answer.as_deref(),
        Some("A seven, ok \"}, {\" end \\")
    );
}

#[test]
fn a_broken_array_element_is_one_error_and_the_next_loads() {
    let (records, errors, summary) = parse_fixture("broken_array.json");
    assert_eq!(records.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 4]);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 3);
    assert!(
        errors[0]
            .message
            .starts_with("invalid JSON: expected value"),
        "{}",
        errors[0]
    );
    assert_eq!(summary.errors, 1);
}

#[test]
fn a_broken_array_structure_is_one_error_for_the_rest() {
    let columns = ColumnMap::default();
    let (records, errors, _) = parse_bytes(
        "a.json",
        b"[{\"id\": 1},\n {\"id\": 2}, {\"id\": [3}, {\"id\": 4}",
        &columns,
    );
    assert_eq!(records.len(), 2);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].line, 2);
    assert!(errors[0].message.contains("not closed"), "{}", errors[0]);

    let (records, errors, _) = parse_bytes("a.json", b"[{\"id\": 1}] {\"id\": 2}\n]", &columns);
    assert_eq!(records.len(), 1);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].message.contains("after the array's closing"),
        "{}",
        errors[0]
    );

    let (records, errors, _) = parse_bytes("a.json", b"[1, {\"id\": 2}, , {\"id\": 3},]", &columns);
    assert_eq!(records.len(), 2);
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert!(messages[0].contains("expected a JSON object"));
    assert!(messages[1].contains("found `,`"));
    assert!(messages[2].contains("found `]`"));

    let (records, errors, summary) = parse_bytes("a.json", b" [ ]\n", &columns);
    assert!(records.is_empty() && errors.is_empty());
    assert_eq!(summary.format, Some(FileFormat::JsonArray));
}

#[test]
fn broken_lines_are_one_error_each_and_the_rest_loads() {
    let (records, errors, summary) = parse_fixture("broken.jsonl");
    let ids: Vec<_> = records
        .iter()
        .map(|r| r.question_id.as_deref().unwrap_or("?"))
        .collect();
    assert_eq!(ids, ["1", "3", "5", "9"]);
    assert_eq!(
        records.iter().map(|r| r.line).collect::<Vec<_>>(),
        [1, 3, 5, 9]
    );
    let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [2, 4, 6, 7, 8]);
    assert!(errors.iter().all(|e| e.source == "broken.jsonl"));
    assert!(
        errors[0]
            .to_string()
            .starts_with("broken.jsonl:2: invalid JSON: EOF while parsing")
    );
    assert_eq!(
        errors[1].to_string(),
        "broken.jsonl:4: field `answer`: expected a string, found a number"
    );
    assert!(
        errors[2].message.contains("expected a JSON object"),
        "{}",
        errors[2]
    );
    assert_eq!(
        errors[3].to_string(),
        "broken.jsonl:7: invalid UTF-8 at column 40"
    );
    assert_eq!(errors[4].field.as_deref(), Some("question_id"));
    assert_eq!((summary.lines, summary.records, summary.errors), (9, 4, 5));
}

#[test]
fn every_chunking_yields_identical_results() {
    for (name, bytes) in FIXTURES {
        let columns = columns_for(name);
        let whole = parse_bytes(name, bytes, &columns);
        assert!(!whole.0.is_empty(), "{name} has records");
        for chunk in [1, 2, 3, 7, 64, bytes.len()] {
            assert_eq!(
                parse_chunked(name, bytes, &columns, chunk),
                whole,
                "{name} in {chunk}s"
            );
        }
        // Two pieces cut at every offset: inside every multi-byte character, between every
        // `\r` and `\n`, inside the BOM.
        for cut in 0..=bytes.len() {
            let parser = RecordParser::new(name, columns.clone());
            assert_eq!(
                parse_cut(parser, bytes, &[cut]),
                whole,
                "{name} cut at {cut}"
            );
        }
    }
}

#[test]
fn fixtures_cut_inside_multibyte_characters_are_exercised() {
    let bytes = fixture("predictions.jsonl");
    let emoji = "😀".as_bytes();
    let at = bytes
        .windows(emoji.len())
        .position(|w| w == emoji)
        .expect("the emoji is there");
    let whole = parse_fixture("predictions.jsonl");
    for inner in 1..emoji.len() {
        let parser = RecordParser::new("predictions.jsonl", ColumnMap::default());
        assert_eq!(
            parse_cut(parser, bytes, &[at + inner, at + inner + 1]),
            whole
        );
    }
}

#[test]
fn over_long_rows_are_reported_and_skipped() {
    let long = "x".repeat(200);
    let jsonl = format!(
        "{{\"id\": 1}}\n{{\"id\": 2, \"answer\": \"{long}\"}}\r\n{{\"id\": 3}}\n{{\"id\": 4, \"answer\": \"{long}\"}}"
    );
    let array = format!("[{{\"id\": 1}}, {{\"id\": 2, \"answer\": \"{long}\"}},\n {{\"id\": 3}}]");
    let csv = format!("id,answer\n1,a\n2,\"{long}\"\n3,c\n");
    let cases = [
        ("l.jsonl", jsonl, vec![1, 3], vec![2, 4]),
        ("a.json", array, vec![1, 2], vec![1]),
        ("c.csv", csv, vec![2, 4], vec![3]),
    ];
    for (name, text, record_lines, error_lines) in cases {
        for chunk in [1, 5, 64, text.len()] {
            let parser = RecordParser::new(name, ColumnMap::default()).with_max_line_len(100);
            let cuts: Vec<usize> = (chunk..text.len()).step_by(chunk).collect();
            let (records, errors, _) = parse_cut(parser, text.as_bytes(), &cuts);
            assert_eq!(
                records.iter().map(|r| r.line).collect::<Vec<_>>(),
                record_lines,
                "{name}"
            );
            assert_eq!(
                errors.iter().map(|e| e.line).collect::<Vec<_>>(),
                error_lines,
                "{name}"
            );
            assert!(
                errors.iter().all(|e| e.message.contains("over the limit")),
                "{errors:#?}"
            );
        }
    }
}

/// Found by the property tests: a limit below the CSV buffer's starting size panicked.
#[test]
fn a_limit_below_the_starting_buffer_size_is_honoured() {
    for format in FORMATS {
        check_chunk_invariance(b"\0", format, &[], 8);
    }
    let parser = RecordParser::new("c.csv", ColumnMap::default()).with_max_line_len(8);
    let (records, errors, _) = parse_cut(parser, b"id,answer\n1,a\n22,bbbbbbbbb\n3,c", &[]);
    assert_eq!(records.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 4]);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 3);
}

#[test]
fn question_ids_from_integers_and_strings_are_the_same_text() {
    let (records, errors, _) = parse_bytes(
        "ids.jsonl",
        b"{\"question_id\": 5}\n{\"question_id\": \"5\"}\n{\"id\": 18446744073709551615}\n{\"qid\": -2}\n{\"question_id\": true}\n",
        &ColumnMap::default(),
    );
    let ids: Vec<_> = records.iter().map(|r| r.question_id.clone()).collect();
    assert_eq!(
        ids,
        [
            Some("5".into()),
            Some("5".into()),
            Some("18446744073709551615".into()),
            Some("-2".into())
        ]
    );
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 5);
    assert_eq!(errors[0].field.as_deref(), Some("question_id"));
}

#[test]
fn formats_come_from_content_and_names() {
    assert_eq!(
        FileFormat::from_name("run.JSONL"),
        Some(FileFormat::JsonLines)
    );
    assert_eq!(
        FileFormat::from_name("a/b.ndjson"),
        Some(FileFormat::JsonLines)
    );
    assert_eq!(
        FileFormat::from_name("https://x.org/r.json?token=a.csv"),
        Some(FileFormat::JsonArray)
    );
    assert_eq!(FileFormat::from_name("t.tsv"), Some(FileFormat::Csv));
    assert_eq!(FileFormat::from_name("README"), None);
    assert_eq!(FileFormat::csv_delimiter_for_name("t.TSV"), b'\t');
    assert_eq!(FileFormat::csv_delimiter_for_name("t.csv"), b',');

    let jsonl = b"\n\n  {\"id\": 1}\n{\"id\": 2}\n";
    let parse_as = |format: FileFormat, bytes: &[u8]| {
        let parser = RecordParser::new("x", ColumnMap::default()).with_format(format);
        parse_cut(parser, bytes, &[])
    };
    // A `.json` name with JSON Lines content is JSON Lines.
    let (records, errors, summary) = parse_as(FileFormat::JsonArray, jsonl);
    assert!(errors.is_empty());
    assert_eq!(summary.format, Some(FileFormat::JsonLines));
    assert_eq!(records.iter().map(|r| r.line).collect::<Vec<_>>(), [3, 4]);
    // An explicit CSV stays CSV.
    let (_, _, summary) = parse_as(FileFormat::Csv, jsonl);
    assert_eq!(summary.format, Some(FileFormat::Csv));
    // Nothing but whitespace: no format, no rows, no errors.
    let (records, errors, summary) = parse_bytes("e", b" \r\n\t\n", &ColumnMap::default());
    assert!(records.is_empty() && errors.is_empty());
    assert_eq!((summary.format, summary.lines, summary.bytes), (None, 2, 5));
    let (_, _, summary) = parse_bytes("e", b"", &ColumnMap::default());
    assert_eq!(
        summary,
        ParseSummary {
            format: None,
            bytes: 0,
            lines: 0,
            records: 0,
            errors: 0
        }
    );
    // A BOM alone is an empty file; a BOM cut short is content.
    let (records, errors, _) = parse_bytes("e", b"\xEF\xBB\xBF", &ColumnMap::default());
    assert!(records.is_empty() && errors.is_empty());
    let (_, _, summary) = parse_bytes("e", b"\xEF\xBB", &ColumnMap::default());
    assert_eq!(summary.format, Some(FileFormat::Csv));
}

#[test]
fn csv_lines_count_blank_lines_and_crlf() {
    let csv = b"\r\nid,answer\r\n\r\n1,a\r\n\n\n2,\"b\r\nb\"\r\n3,c";
    for chunk in 1..=csv.len() {
        let (records, errors, summary) = parse_chunked("c.csv", csv, &ColumnMap::default(), chunk);
        assert!(errors.is_empty(), "{errors:#?}");
        assert_eq!(
            records.iter().map(|r| r.line).collect::<Vec<_>>(),
            [4, 7, 9],
            "chunk {chunk}"
        );
        assert_eq!(records[1].answer.as_deref(), Some("b\r\nb"));
        assert_eq!(summary.lines, 9);
    }
}

#[test]
fn leading_whitespace_of_a_tsv_header_is_kept() {
    let tsv = b"\n\tid\tanswer\nx\t1\ta\n";
    let (records, errors, _) = parse_bytes("t.tsv", tsv, &ColumnMap::default());
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(records[0].line, 3);
    assert_eq!(records[0].question_id.as_deref(), Some("1"));
}

/// Real files: `../shared/medhalltune/` next to the repository (skipped when absent, unless
/// `MEDHALL_REQUIRE_DATA=1`).
#[test]
fn real_medhalltune_files_load_without_errors() {
    let Some(dir) = medhall_reference_stack::shared_data() else {
        return;
    };
    let files = [
        ("val.positive.references.jsonl", 1110),
        ("val.negative.references.jsonl", 1128),
        ("val.positive.questions.jsonl", 1110),
        ("val.negative.questions.jsonl", 1128),
        ("llava-med-v1.5-7b.positive.gpt4o-eval.jsonl", 1110),
        ("llava-med-v1.5-7b.negative.gpt4o-eval.jsonl", 1128),
    ];
    for (name, expected) in files {
        let bytes = std::fs::read(dir.join(name)).expect("a readable MedHallTune file");
        let (records, errors, summary) = parse_bytes(name, &bytes, &ColumnMap::default());
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        assert_eq!(records.len(), expected, "{name}");
        assert_eq!(summary.lines, expected as u64, "{name}");
        assert!(
            records
                .iter()
                .all(|r| r.question_id.is_some() && r.question.is_some()),
            "{name}"
        );
        if name.contains("eval") {
            assert!(records.iter().all(|r| r.answer.is_some()
                && r.reference.is_some()
                && r.judge_text.is_some()
                && r.field("fig_caption").is_some()));
        }
        let chunked = parse_chunked(name, &bytes, &ColumnMap::default(), 4093);
        assert_eq!(chunked.0, records, "{name} in chunks");
    }

    let bytes = std::fs::read(dir.join("llava-med-v1.5-7b.positive.gpt4o-eval.jsonl"))
        .expect("a readable MedHallTune file");
    let (records, _, _) = parse_bytes("eval.jsonl", &bytes, &ColumnMap::default());
    let first = &records[0];
    assert_eq!(first.line, 1);
    assert_eq!(first.question_id.as_deref(), Some("0"));
    assert_eq!(first.image.as_deref(), Some("34760421_FIG1.jpg"));
    assert_eq!(
        first.question.as_deref(),
        Some("What does the chest x-ray reveal about the left midlung?")
    );
    assert_eq!(
        first.reference.as_deref(),
        Some(
            "The chest x-ray reveals a large airspace consolidation in the left midlung that has a cavitary appearance."
        )
    );
    assert!(
        first
            .answer
            .as_deref()
            .is_some_and(|a| a.starts_with("The chest x-ray shows a homogenous opacity"))
    );
    assert!(
        first
            .judge_text
            .as_deref()
            .is_some_and(|t| t.starts_with("5 5 5 6\n\nThe AI assistant"))
    );
    assert_eq!(
        first.field("text"),
        Some("What does the chest x-ray reveal about the left midlung?\n<image>")
    );
    assert!(
        first
            .field("fig_caption")
            .is_some_and(|c| c.starts_with("Initial chest x-ray showing"))
    );
    assert_eq!(first.fields.len(), 2);
}

/// Parse speed on the two judge-eval files (the CLI's benchmark input). Run with
/// `cargo test --release -p medhall-core formats::tests::throughput -- --ignored --nocapture`.
#[cfg(not(target_arch = "wasm32"))]
#[test]
#[ignore = "a measurement, not a check; run in release"]
fn throughput_on_real_files() {
    let Some(dir) = medhall_reference_stack::shared_data() else {
        return;
    };
    let files: Vec<Vec<u8>> = ["positive", "negative"]
        .iter()
        .map(|split| {
            let name = format!("llava-med-v1.5-7b.{split}.gpt4o-eval.jsonl");
            std::fs::read(dir.join(name)).expect("a readable MedHallTune file")
        })
        .collect();
    let total: usize = files.iter().map(Vec::len).sum();
    let columns = ColumnMap::default();
    for (label, chunk) in [("whole file", usize::MAX), ("64 KiB chunks", 64 << 10)] {
        let rounds = 30;
        let mut best = f64::INFINITY;
        for _ in 0..rounds {
            let started = std::time::Instant::now();
            let mut records = 0;
            for bytes in &files {
                let mut parser = RecordParser::new("eval.jsonl", columns.clone());
                let mut sink = |row: Result<SampleRecord, RecordError>| {
                    records += usize::from(row.is_ok());
                };
                for piece in bytes.chunks(chunk.min(bytes.len())) {
                    parser.push(piece, &mut sink);
                }
                parser.finish(&mut sink);
            }
            assert_eq!(records, 2238);
            best = best.min(started.elapsed().as_secs_f64());
        }
        eprintln!(
            "{label}: {:.2} MB in {:.2} ms (best of {rounds}) = {:.0} MB/s",
            total as f64 / 1e6,
            best * 1e3,
            total as f64 / 1e6 / best
        );
    }
}

#[test]
fn every_truncation_of_every_fixture_parses_without_panic() {
    for (name, bytes) in FIXTURES {
        let columns = columns_for(name);
        for end in 0..=bytes.len() {
            let (records, errors, summary) = parse_bytes(name, &bytes[..end], &columns);
            assert_eq!(summary.records, records.len() as u64);
            assert_eq!(summary.errors, errors.len() as u64);
            assert_eq!(summary.bytes, end as u64);
        }
    }
}

#[test]
fn an_unclosed_array_is_reported_on_its_last_line() {
    // Found by the chunking property test in CI: "[\n" reported its error on line 2 of a
    // one-line file, because the counter names the line of the next byte.
    for (bytes, line, lines) in [
        (&b"[\n"[..], 1, 1),
        (b"[", 1, 1),
        (b"[\n\n", 2, 2),
        (b"[\n{\"a\": 1},\n", 2, 2),
    ] {
        let (_, errors, summary) = parse_bytes("u.json", bytes, &ColumnMap::default());
        assert_eq!(summary.lines, lines, "{bytes:?}");
        assert_eq!(errors.len(), 1, "{bytes:?}");
        assert_eq!(errors[0].line, line, "{bytes:?}: {}", errors[0]);
        assert!(
            errors[0].to_string().contains("not closed"),
            "{}",
            errors[0]
        );
    }
}

const FORMATS: [Option<FileFormat>; 4] = [
    None,
    Some(FileFormat::JsonLines),
    Some(FileFormat::JsonArray),
    Some(FileFormat::Csv),
];

/// Parses with the given format hint and limit, whole and in the given cuts, and checks that
/// both agree and that the summary counts what came out.
fn check_chunk_invariance(bytes: &[u8], format: Option<FileFormat>, cuts: &[usize], limit: usize) {
    let make = || {
        let parser = RecordParser::new("p.csv", ColumnMap::default()).with_max_line_len(limit);
        match format {
            Some(format) => parser.with_format(format),
            None => parser,
        }
    };
    let whole = parse_cut(make(), bytes, &[]);
    let mut cuts = cuts.to_vec();
    cuts.sort_unstable();
    let pieces = parse_cut(make(), bytes, &cuts);
    assert_eq!(pieces, whole);
    assert_eq!(whole.2.records, whole.0.len() as u64);
    assert_eq!(whole.2.errors, whole.1.len() as u64);
    for record in &whole.0 {
        assert!(record.line >= 1 && record.line <= whole.2.lines.max(1));
    }
    for error in &whole.1 {
        assert!(
            error.line >= 1 && error.line <= whole.2.lines.max(1),
            "{error}"
        );
    }
}

/// Bytes that make parsers branch: structure, quotes, escapes, newlines, BOM and UTF-8 pieces.
fn tricky_bytes() -> impl Strategy<Value = Vec<u8>> {
    const ALPHABET: &[u8] = b"{}[]\",:\\\n\r \tab1-.e0nutrl\xEF\xBB\xBF\xC3\xA9\xFF";
    prop::collection::vec(prop::sample::select(ALPHABET), 0..200)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_in_any_chunking_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        cuts in prop::collection::vec(0usize..300, 0..8),
        format in 0usize..4,
        limit in prop::sample::select(vec![8usize, 40, DEFAULT_MAX_LINE_LEN]),
    ) {
        check_chunk_invariance(&bytes, FORMATS[format], &cuts, limit);
    }

    #[test]
    fn structured_noise_in_any_chunking_never_panics(
        bytes in tricky_bytes(),
        cuts in prop::collection::vec(0usize..200, 0..8),
        format in 0usize..4,
        limit in prop::sample::select(vec![8usize, 40, DEFAULT_MAX_LINE_LEN]),
    ) {
        check_chunk_invariance(&bytes, FORMATS[format], &cuts, limit);
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in 0usize..FIXTURES.len(),
        mutations in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cuts in prop::collection::vec(0usize..2000, 0..6),
        format in 0usize..4,
    ) {
        let mut bytes = FIXTURES[which].1.to_vec();
        for (at, byte) in mutations {
            let at = at.index(bytes.len());
            bytes[at] = byte;
        }
        check_chunk_invariance(&bytes, FORMATS[format], &cuts, DEFAULT_MAX_LINE_LEN);
        check_chunk_invariance(&bytes, FORMATS[format], &cuts, 64);
    }
}
