//! MedHall Lens web app (Leptos, client-side rendering): the page's main thread.
//!
//! It owns the UI only: what to show, the URL state, local persistence and downloads. Parsing,
//! scoring, statistics and chart specs happen in the scoring worker (`crates/worker`, running
//! `medhall-core`), so the page stays responsive; charts are rendered here from the worker's
//! specs by `medhall-charts` (plotters measures text with the DOM, so not in a worker).
//! User text (answers, questions, rationales, file names) is always rendered as text.

pub mod manifest;
pub mod view_state;

#[cfg(target_arch = "wasm32")]
mod download;
#[cfg(target_arch = "wasm32")]
mod model_check;
#[cfg(target_arch = "wasm32")]
mod storage;
#[cfg(target_arch = "wasm32")]
mod ui;
#[cfg(target_arch = "wasm32")]
mod worker_client;

#[cfg(target_arch = "wasm32")]
pub use ui::App;

/// Formats a mean for display; the exact value is in the cell's `data-value`.
pub fn format_mean(metric: &str, value: f64) -> String {
    if metric.starts_with("rouge") || metric == "meteor" || metric == "bleu" {
        format!("{value:.4}")
    } else {
        format!("{value:.2}")
    }
}

/// "3 malformed lines (2, 7, 9)": the lines that could not be read, as a sentence part.
pub fn describe_lines(count: u64, lines: &[u64]) -> String {
    let shown: Vec<String> = lines.iter().take(20).map(u64::to_string).collect();
    let more = if (lines.len() as u64) < count || lines.len() > 20 {
        ", …"
    } else {
        ""
    };
    let noun = if count == 1 { "line" } else { "lines" };
    format!("{count} malformed {noun} ({}{more})", shown.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_listed_and_elided() {
        assert_eq!(describe_lines(1, &[3]), "1 malformed line (3)");
        assert_eq!(describe_lines(60, &[1, 2]), "60 malformed lines (1, 2, …)");
    }

    #[test]
    fn means_are_rounded_per_metric_family() {
        assert_eq!(format_mean("meteor", 0.383_712), "0.3837");
        assert_eq!(format_mean("risk_level", 7.3891), "7.39");
    }
}
