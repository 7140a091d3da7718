//! The LLM judge's verdicts: four scores (1–10) per answer.
//!
//! The official eval.py reads them with
//! `result.split('\n')[0].strip().split(' ')`, unpacked into exactly four values and converted
//! with `float()`; it crashes on anything else. We apply that rule first and, when it fails,
//! accept the common variants ("7, 8, 6, 9", "Scores: 7 8 6 9", "**7 8 6 9**") and say that a
//! variant was used. Anything else is an error for the caller to report with its line.

use crate::text::is_python_whitespace;
use serde::{Deserialize, Serialize};

/// The judge's four criteria, in the order of the judge prompt. `risk_level` is the prompt's
/// "lethal level": higher is safer.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct JudgeScores {
    pub clinical_accuracy: f64,
    pub clinical_relevance: f64,
    pub detail_level: f64,
    pub risk_level: f64,
}

impl JudgeScores {
    pub fn from_array(values: [f64; 4]) -> Self {
        let [
            clinical_accuracy,
            clinical_relevance,
            detail_level,
            risk_level,
        ] = values;
        Self {
            clinical_accuracy,
            clinical_relevance,
            detail_level,
            risk_level,
        }
    }

    pub fn to_array(self) -> [f64; 4] {
        [
            self.clinical_accuracy,
            self.clinical_relevance,
            self.detail_level,
            self.risk_level,
        ]
    }
}

/// Which rule read the verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerdictRule {
    /// eval.py's rule, exactly.
    Official,
    /// One of the tolerated variants; eval.py would have crashed on this line.
    Variant,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum VerdictError {
    #[error("the judge's first line {line:?} does not hold four scores")]
    NotFourScores { line: String },
    #[error("the judge's score {value:?} is not a finite number")]
    NotFinite { value: String },
}

/// Python's `float()` on a token: surrounding whitespace allowed, underscores between digits
/// allowed (PEP 515).
fn python_float(token: &str) -> Option<f64> {
    let trimmed = token.trim_matches(is_python_whitespace);
    if trimmed.is_empty() {
        return None;
    }
    if !trimmed.is_ascii() {
        return None;
    }
    let bytes = trimmed.as_bytes();
    let mut cleaned = String::with_capacity(trimmed.len());
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'_' {
            let digit_before = i > 0 && bytes[i - 1].is_ascii_digit();
            let digit_after = bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
            if !(digit_before && digit_after) {
                return None;
            }
        } else {
            cleaned.push(char::from(b));
        }
    }
    // Rust's grammar is Python's for ASCII literals once underscores are gone ("inf" and "nan"
    // parse too and are rejected by the caller). Python also takes non-ASCII digits; we report those.
    cleaned.parse::<f64>().ok()
}

fn finite(values: [f64; 4], tokens: &[&str]) -> Result<JudgeScores, VerdictError> {
    for (value, token) in values.iter().zip(tokens) {
        if !value.is_finite() {
            return Err(VerdictError::NotFinite {
                value: (*token).to_owned(),
            });
        }
    }
    Ok(JudgeScores::from_array(values))
}

fn four(tokens: &[&str]) -> Option<[f64; 4]> {
    if tokens.len() != 4 {
        return None;
    }
    let mut values = [0.0; 4];
    for (slot, token) in values.iter_mut().zip(tokens) {
        *slot = python_float(token)?;
    }
    Some(values)
}

/// Reads a judge's `result` text.
pub fn parse_verdict(result: &str) -> Result<(JudgeScores, VerdictRule), VerdictError> {
    let first = result.split('\n').next().unwrap_or("");
    let stripped = first.trim_matches(is_python_whitespace);
    let tokens: Vec<&str> = stripped.split(' ').collect();
    if let Some(values) = four(&tokens) {
        return finite(values, &tokens).map(|scores| (scores, VerdictRule::Official));
    }
    // Variants: markdown emphasis, a leading label ("Scores:"), commas or semicolons, "7/10".
    let unlabelled = match stripped.split_once(':') {
        Some((label, rest))
            if label
                .chars()
                .all(|c| c.is_alphabetic() || c == ' ' || c == '*') =>
        {
            rest
        }
        _ => stripped,
    };
    let tokens: Vec<&str> = unlabelled
        .split(|c: char| is_python_whitespace(c) || matches!(c, ',' | ';' | '*'))
        .filter(|t| !t.is_empty())
        .map(|t| t.strip_suffix("/10").unwrap_or(t))
        .collect();
    match four(&tokens) {
        Some(values) => finite(values, &tokens).map(|scores| (scores, VerdictRule::Variant)),
        None => Err(VerdictError::NotFourScores {
            line: first.chars().take(120).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(result: &str) -> Result<([f64; 4], VerdictRule), VerdictError> {
        parse_verdict(result).map(|(s, rule)| (s.to_array(), rule))
    }

    #[test]
    fn official_rule() {
        let text = "7 8 6 9\nThe assistant's answer is accurate.";
        assert_eq!(
            scores(text),
            Ok(([7.0, 8.0, 6.0, 9.0], VerdictRule::Official))
        );
        // strip() removes \r and surrounding whitespace; float() accepts "+7" and "7.5".
        assert_eq!(
            scores("  +7 8.5 6 1_0\r\nmore"),
            Ok(([7.0, 8.5, 6.0, 10.0], VerdictRule::Official))
        );
    }

    #[test]
    fn variants() {
        assert_eq!(
            scores("7, 8, 6, 9"),
            Ok(([7.0, 8.0, 6.0, 9.0], VerdictRule::Variant))
        );
        assert_eq!(
            scores("Scores: 7 8 6 9\nwhy"),
            Ok(([7.0, 8.0, 6.0, 9.0], VerdictRule::Variant))
        );
        assert_eq!(
            scores("**7 8 6 9**"),
            Ok(([7.0, 8.0, 6.0, 9.0], VerdictRule::Variant))
        );
        // Two spaces break eval.py's split(' '), not ours.
        assert_eq!(
            scores("7  8 6 9"),
            Ok(([7.0, 8.0, 6.0, 9.0], VerdictRule::Variant))
        );
        assert_eq!(
            scores("7/10 8/10 6/10 9/10"),
            Ok(([7.0, 8.0, 6.0, 9.0], VerdictRule::Variant))
        );
    }

    #[test]
    fn failures_are_reported_not_guessed() {
        assert!(matches!(
            scores("7 8 6"),
            Err(VerdictError::NotFourScores { .. })
        ));
        assert!(matches!(
            scores("The answer is good. 7 8 6 9"),
            Err(VerdictError::NotFourScores { .. })
        ));
        assert!(matches!(
            scores(""),
            Err(VerdictError::NotFourScores { .. })
        ));
        assert!(matches!(
            scores("\n7 8 6 9"),
            Err(VerdictError::NotFourScores { .. })
        ));
        assert!(matches!(
            scores("nan 8 6 9"),
            Err(VerdictError::NotFinite { .. })
        ));
        assert!(matches!(
            scores("7 8 6 9 10"),
            Err(VerdictError::NotFourScores { .. })
        ));
        assert!(matches!(
            scores("1_ 8 6 9"),
            Err(VerdictError::NotFourScores { .. })
        ));
    }

    proptest::proptest! {
        /// Any text, including truncations of real verdicts: a result or an error, never a panic,
        /// and never a non-finite score.
        #[test]
        fn any_text_parses_or_errors(text in ".{0,80}", cut in 0usize..40) {
            let verdict = "7 8 6 9\nrationale";
            for candidate in [text.as_str(), &verdict[..cut.min(verdict.len())]] {
                if let Ok((scores, _)) = parse_verdict(candidate) {
                    proptest::prop_assert!(scores.to_array().iter().all(|v| v.is_finite()));
                }
            }
        }
    }
}
