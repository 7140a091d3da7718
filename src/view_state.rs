//! The shareable view: everything that changes what the page shows lives in the URL query, so
//! a link reproduces the view and `?embed=<chart>` renders one chart for an iframe.

use medhall_core::chart::ChartKind;
use medhall_core::sample::{SampleKey, Split};

fn is_chart(name: &str) -> bool {
    ChartKind::from_name(name).is_some()
}

/// The page's views, one per navigation entry; `?tab=` names the one shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    /// Reference shards, results files, loads in progress.
    Data,
    /// Means per run and split, charts, exports.
    Results,
    /// The benchmark's published leaderboard with the loaded runs placed in it.
    Leaderboard,
    /// Lexical scores against the judge's, per sample.
    Disagreement,
    /// Many runs × slices, paired differences against a baseline.
    Compare,
    /// Medical VQA (VQA-RAD, SLAKE, PathVQA) scored as LLaVA-Med does, from its own files.
    Vqa,
    /// The sample table and one sample's detail.
    Samples,
    /// Running the GPT-4o judge on an endpoint.
    Judge,
    /// The quick in-browser model check.
    Model,
    /// Blind human ratings of a sample of answers.
    Rate,
    /// Human ratings against the judges.
    Agreement,
}

impl Tab {
    pub const ALL: [Tab; 11] = [
        Tab::Data,
        Tab::Results,
        Tab::Leaderboard,
        Tab::Disagreement,
        Tab::Compare,
        Tab::Vqa,
        Tab::Samples,
        Tab::Judge,
        Tab::Model,
        Tab::Rate,
        Tab::Agreement,
    ];

    /// The name in the URL and in `data-tab`.
    pub fn name(self) -> &'static str {
        match self {
            Tab::Data => "data",
            Tab::Results => "results",
            Tab::Leaderboard => "leaderboard",
            Tab::Disagreement => "disagreement",
            Tab::Compare => "compare",
            Tab::Vqa => "vqa",
            Tab::Samples => "samples",
            Tab::Judge => "judge",
            Tab::Model => "model",
            Tab::Rate => "rate",
            Tab::Agreement => "agreement",
        }
    }

    /// The navigation's label.
    pub fn label(self) -> &'static str {
        match self {
            Tab::Data => "Data",
            Tab::Results => "Results",
            Tab::Leaderboard => "Leaderboard",
            Tab::Disagreement => "Disagreement",
            Tab::Compare => "Compare runs",
            Tab::Vqa => "Medical VQA",
            Tab::Samples => "Samples",
            Tab::Judge => "Judge",
            Tab::Model => "Model check",
            Tab::Rate => "Rate",
            Tab::Agreement => "Agreement",
        }
    }

    pub fn from_name(name: &str) -> Option<Tab> {
        Tab::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// What `?embed=` may name besides a chart kind.
pub const EMBED_LEADERBOARD: &str = "leaderboard";

fn is_embed(name: &str) -> bool {
    is_chart(name) || name == EMBED_LEADERBOARD
}

#[derive(Clone, Debug, PartialEq)]
pub struct ViewState {
    /// The view shown. A link without `tab=` opens the samples when it names a sample, else the
    /// data (links made before the navigation keep working).
    pub tab: Tab,
    pub chart: String,
    pub metric: String,
    /// Shard set of the manifest to load (the demo, or the upstream validation split).
    pub set: Option<String>,
    /// `Some(chart)` renders only that chart; `Some("leaderboard")` only the leaderboard table.
    pub embed: Option<String>,
    pub search: String,
    pub split: Option<Split>,
    pub type_value: Option<String>,
    pub run: Option<String>,
    pub sample: Option<SampleKey>,
    pub image_base: Option<String>,
    /// The two runs of the paired chart (A minus B), by name.
    pub pair: Option<(String, String)>,
    /// "Runs disagree": the sample table shows these two runs' answers side by side, those whose
    /// `metric` differs most first (run names).
    pub disagree: Option<(String, String)>,
    /// Range of the chart's metric that the sample table keeps.
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Default for ViewState {
    fn default() -> Self {
        Self {
            tab: Tab::Data,
            chart: "by-type".to_owned(),
            metric: "meteor".to_owned(),
            set: None,
            embed: None,
            search: String::new(),
            split: None,
            type_value: None,
            run: None,
            sample: None,
            image_base: None,
            pair: None,
            disagree: None,
            min: None,
            max: None,
        }
    }
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn sample_key(text: &str) -> Option<SampleKey> {
    let (split, id) = text.split_once(':')?;
    Some(SampleKey {
        split: Split::parse(split)?,
        question_id: id.to_owned(),
    })
}

impl ViewState {
    /// Reads `?a=b&…` (with or without the `?`). Unknown keys and bad values are ignored.
    pub fn from_query(query: &str) -> ViewState {
        let mut state = ViewState::default();
        let mut tab = None;
        for pair in query.trim_start_matches('?').split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value);
            match key {
                "chart" if is_chart(&value) => state.chart = value,
                "metric" if !value.is_empty() => state.metric = value,
                "set" if !value.is_empty() => state.set = Some(value),
                "embed" if is_embed(&value) => state.embed = Some(value),
                "tab" => tab = Tab::from_name(&value),
                "q" => state.search = value,
                "split" => state.split = Split::parse(&value),
                "type" if !value.is_empty() => state.type_value = Some(value),
                "run" if !value.is_empty() => state.run = Some(value),
                "sample" => state.sample = sample_key(&value),
                "images" if !value.is_empty() => state.image_base = Some(value),
                "pair" => {
                    state.pair = value
                        .split_once('|')
                        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
                        .map(|(a, b)| (a.to_owned(), b.to_owned()))
                }
                "disagree" => {
                    state.disagree = value
                        .split_once('|')
                        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
                        .map(|(a, b)| (a.to_owned(), b.to_owned()))
                }
                "min" => state.min = value.parse().ok().filter(|x: &f64| x.is_finite()),
                "max" => state.max = value.parse().ok().filter(|x: &f64| x.is_finite()),
                _ => {}
            }
        }
        state.tab = tab.unwrap_or(if state.sample.is_some() {
            Tab::Samples
        } else {
            Tab::Data
        });
        state
    }

    /// The query string (starting with `?`, or empty) that [`ViewState::from_query`] reads back.
    pub fn to_query(&self) -> String {
        let defaults = ViewState::default();
        let mut parts = Vec::new();
        let mut add = |key: &str, value: &str| parts.push(format!("{key}={}", encode(value)));
        if let Some(embed) = &self.embed {
            add("embed", embed);
        }
        if self.tab != defaults.tab && self.embed.is_none() {
            add("tab", self.tab.name());
        }
        if self.chart != defaults.chart {
            add("chart", &self.chart);
        }
        if self.metric != defaults.metric {
            add("metric", &self.metric);
        }
        if let Some(set) = &self.set {
            add("set", set);
        }
        if !self.search.is_empty() {
            add("q", &self.search);
        }
        if let Some(split) = self.split {
            add("split", split.as_str());
        }
        if let Some(value) = &self.type_value {
            add("type", value);
        }
        if let Some(run) = &self.run {
            add("run", run);
        }
        if let Some(key) = &self.sample {
            add("sample", &format!("{}:{}", key.split, key.question_id));
        }
        if let Some(base) = &self.image_base {
            add("images", base);
        }
        if let Some((a, b)) = &self.pair {
            add("pair", &format!("{a}|{b}"));
        }
        if let Some((a, b)) = &self.disagree {
            add("disagree", &format!("{a}|{b}"));
        }
        if let Some(min) = self.min {
            add("min", &min.to_string());
        }
        if let Some(max) = self.max {
            add("max", &max.to_string());
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }

    /// The query of an embed of the current chart.
    pub fn embed_query(&self) -> String {
        self.embed_query_of(self.chart.clone())
    }

    /// The query of an embed of `what`: a chart kind, or [`EMBED_LEADERBOARD`].
    pub fn embed_query_of(&self, what: String) -> String {
        ViewState {
            tab: Tab::Data,
            disagree: None,
            embed: Some(what),
            search: String::new(),
            sample: None,
            min: None,
            max: None,
            ..self.clone()
        }
        .to_query()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_query() {
        let state = ViewState {
            tab: Tab::Compare,
            chart: "gap".to_owned(),
            metric: "rougeL".to_owned(),
            set: Some("demo".to_owned()),
            embed: None,
            search: "left lung & <b>".to_owned(),
            split: Some(Split::Negative),
            type_value: Some("object manipulation".to_owned()),
            run: Some("model a.jsonl".to_owned()),
            sample: Some(SampleKey {
                split: Split::Positive,
                question_id: "12".to_owned(),
            }),
            image_base: Some("https://example.org/img/".to_owned()),
            pair: Some(("run a".to_owned(), "run|b".to_owned())),
            disagree: Some(("model a.jsonl".to_owned(), "model b".to_owned())),
            min: Some(0.25),
            max: None,
        };
        let query = state.to_query();
        assert!(!query.contains(' ') && !query.contains('<'));
        assert_eq!(ViewState::from_query(&query), state);
        assert_eq!(ViewState::default().to_query(), "");
    }

    #[test]
    fn bad_values_fall_back_to_defaults() {
        let state = ViewState::from_query("?chart=pie&embed=nope&split=maybe&sample=x&%zz=1");
        assert_eq!(state, ViewState::default());
        assert_eq!(decode("a%2"), "a%2");
        assert_eq!(decode("%C3%A9+x"), "é x");
    }

    #[test]
    fn embed_query_names_the_chart() {
        let state = ViewState {
            chart: "judge".to_owned(),
            set: Some("demo".to_owned()),
            ..ViewState::default()
        };
        assert_eq!(state.embed_query(), "?embed=judge&chart=judge&set=demo");
        assert_eq!(
            state.embed_query_of(EMBED_LEADERBOARD.to_owned()),
            "?embed=leaderboard&chart=judge&set=demo"
        );
        assert_eq!(
            ViewState::from_query("?embed=leaderboard").embed.as_deref(),
            Some(EMBED_LEADERBOARD)
        );
    }

    #[test]
    fn the_tab_is_kept_in_the_url_and_old_links_open_a_sensible_one() {
        for tab in Tab::ALL {
            let state = ViewState {
                tab,
                ..ViewState::default()
            };
            assert_eq!(ViewState::from_query(&state.to_query()).tab, tab);
        }
        assert_eq!(ViewState::from_query("?tab=nope").tab, Tab::Data);
        assert_eq!(
            ViewState::from_query("?sample=positive:3").tab,
            Tab::Samples
        );
        assert_eq!(
            ViewState::from_query("?sample=positive:3&tab=results").tab,
            Tab::Results
        );
    }
}
