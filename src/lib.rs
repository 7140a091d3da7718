//! MedHall Lens web app (Leptos, client-side rendering): the page's main thread.
//!
//! It owns the UI only: what to show, the URL state, local persistence and downloads. Parsing,
//! scoring, statistics and chart specs happen in the scoring worker (`crates/worker`, running
//! `medhall-core`), so the page stays responsive; charts are rendered here from the worker's
//! specs by `medhall-charts` (plotters measures text with the DOM, so not in a worker).
//! User text (answers, questions, rationales, file names) is always rendered as text.

pub mod manifest;
pub mod view_state;

use medhall_core::url_policy::Endpoint;

mod channel;
#[cfg(target_arch = "wasm32")]
mod dom;
#[cfg(target_arch = "wasm32")]
mod download;
#[cfg(target_arch = "wasm32")]
#[cfg(target_arch = "wasm32")]
mod loading;
#[cfg(target_arch = "wasm32")]
mod model_worker_client;
#[cfg(target_arch = "wasm32")]
mod panels;
#[cfg(target_arch = "wasm32")]
mod state;
#[cfg(target_arch = "wasm32")]
mod storage;
#[cfg(target_arch = "wasm32")]
mod ui;
#[cfg(target_arch = "wasm32")]
mod worker_client;
#[cfg(target_arch = "wasm32")]
mod worker_port;

#[cfg(target_arch = "wasm32")]
pub use ui::App;

/// Formats a mean for display; the exact value is in the cell's `data-value`.
pub fn format_mean(metric: &str, value: f64) -> String {
    if metric.starts_with("rouge")
        || metric == "meteor"
        || metric == "bleu"
        || metric == "bertscore"
    {
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

/// Whether the page may send judge requests to `endpoint`: its Content-Security-Policy allows
/// https URLs and local servers (http://localhost, http://127.0.0.1) only. The host is the one
/// a browser reads (`url_policy`).
pub fn check_judge_endpoint(endpoint: &str) -> Result<(), String> {
    let parsed = Endpoint::parse(endpoint).map_err(|refused| {
        format!(
            "{refused}. The endpoint must be an https:// URL (or http://localhost / \
             http://127.0.0.1), such as https://api.openai.com/v1."
        )
    })?;
    if parsed.allowed_by_page_csp() {
        return Ok(());
    }
    Err(format!(
        "{:?} goes to {} over plain http://, which is allowed for local servers only \
         (http://localhost or http://127.0.0.1); use https:// for other hosts.",
        endpoint.trim(),
        parsed.host_label()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judge_endpoints_follow_the_csp() {
        assert!(check_judge_endpoint("https://api.openai.com/v1").is_ok());
        assert!(check_judge_endpoint(" http://localhost:11434/v1 ").is_ok());
        assert!(check_judge_endpoint("http://127.0.0.1:8000/v1").is_ok());
        assert!(check_judge_endpoint("http://127.0.0.1").is_ok());
        assert!(check_judge_endpoint("http://example.org/v1").is_err());
        assert!(check_judge_endpoint("http://localhost.example.org/v1").is_err());
        assert!(check_judge_endpoint("ftp://localhost/v1").is_err());
        assert!(check_judge_endpoint("https://").is_err());
        // The host a browser reads, not the one a string split finds.
        assert!(check_judge_endpoint("http://localhost@evil.example/v1").is_err());
        assert!(check_judge_endpoint("http://evil.example\\@127.0.0.1/v1").is_err());
        assert!(check_judge_endpoint("http://evil.example\\@localhost:8000/v1").is_err());
        assert!(check_judge_endpoint("HTTP://LOCALHOST:8000/v1").is_ok());
        let error = check_judge_endpoint("http://evil.example\\@localhost/v1").expect_err("remote");
        assert!(error.contains("goes to evil.example"), "{error}");
    }

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
