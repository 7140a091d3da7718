//! MedHall Lens web app (Leptos, client-side rendering).
//!
//! For now one page: score an answer against a reference with the official metrics, computed by
//! `medhall-core` compiled to WebAssembly, in the browser. Streaming shards, results files,
//! charts and the worker come with the app issue. This crate holds UI only: every rule lives in
//! `medhall-core`.

use leptos::prelude::*;
use medhall_core::metrics::lexical::{LexicalScorer, LexicalScores};
use medhall_core::metrics::wordnet::WordNet;
use medhall_core::signature::signature;
use medhall_core::stats::StatsConfig;

/// A bundled demo pair (written for this page; not benchmark data).
const DEMO_REFERENCE: &str = "The chest x-ray reveals a large airspace consolidation in the left midlung with a cavitary appearance.";
const DEMO_ANSWER: &str =
    "The chest X-ray shows a large consolidation in the left mid lung, which appears cavitated.";

fn score(reference: &str, answer: &str) -> LexicalScores {
    LexicalScorer::new(WordNet::embedded()).score(reference, answer)
}

#[component]
pub fn App() -> impl IntoView {
    let (reference, set_reference) = signal(DEMO_REFERENCE.to_owned());
    let (answer, set_answer) = signal(DEMO_ANSWER.to_owned());
    let scores = Memo::new(move |_| reference.with(|r| answer.with(|a| score(r, a))));
    let rows = move || {
        let s = scores.get();
        [
            ("rouge1", s.rouge1),
            ("rouge2", s.rouge2),
            ("rougeL", s.rouge_l),
            ("meteor", s.meteor),
            ("bleu", s.bleu),
        ]
        .into_iter()
        .map(|(name, value)| {
            view! {
                <tr>
                    <th>{name}</th>
                    <td data-metric=name data-value=value.to_string()>{format!("{value:.4}")}</td>
                </tr>
            }
        })
        .collect_view()
    };
    view! {
        <h1>"MedHall Lens"</h1>
        <p class="note">
            "Scores a model's answer against the reference as the MedHallTune evaluation does "
            "(rouge_score 0.1.2 with stemming; NLTK 3.10.4 METEOR with WordNet 3.0 and BLEU with smoothing method1). "
            "Everything runs in this page; nothing is sent anywhere. Results files, shards and charts are not built yet."
        </p>
        <label>"Reference answer"
            <textarea prop:value=reference on:input=move |ev| set_reference.set(event_target_value(&ev))></textarea>
        </label>
        <label>"Model answer"
            <textarea prop:value=answer on:input=move |ev| set_answer.set(event_target_value(&ev))></textarea>
        </label>
        <table>{rows}</table>
        <p class="note">"Signature: " {signature(&StatsConfig::default())}</p>
    }
}
