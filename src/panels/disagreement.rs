//! The disagreement view: per sample, a lexical score against a judge score for one model, the
//! rank correlation per split and type with its interval, and the samples of the chosen quadrant
//! ("lexically close, judged unsafe" by default). A point or a listed sample opens its detail.

use crate::panels::charts::chart_size;
use crate::state::{AppState, ask};
use crate::view_state::Tab;
use leptos::prelude::*;
use medhall_app::protocol::{Reply, Request};
use medhall_app::session::{DisagreementQuery, DisagreementView};
use medhall_core::chart::ChartSpec;
use medhall_core::sample::{SampleKey, Split};
use medhall_core::summary::Metric;
use wasm_bindgen::JsCast;

/// The quadrants, as (value, label, lexically close, judged low).
const QUADRANTS: [(&str, &str, bool, bool); 4] = [
    (
        "close-low",
        "lexically close, judged unsafe (score ≤ threshold)",
        true,
        true,
    ),
    (
        "far-high",
        "lexically far, judged fine (score > threshold)",
        false,
        false,
    ),
    ("close-high", "lexically close, judged fine", true, false),
    ("far-low", "lexically far, judged unsafe", false, true),
];

fn open_sample(state: AppState, text: &str) {
    let Some((split, id)) = text.split_once(':') else {
        return;
    };
    let Some(split) = Split::parse(split) else {
        return;
    };
    let key = SampleKey {
        split,
        question_id: id.to_owned(),
    };
    state.view.update(|v| {
        v.sample = Some(key);
        v.tab = Tab::Samples;
    });
}

fn on_point_click(state: AppState, ev: leptos::ev::MouseEvent) {
    let sample = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .and_then(|e| e.get_attribute("data-sample"));
    if let Some(sample) = sample {
        open_sample(state, &sample);
    }
}

fn groups_table(view: &DisagreementView) -> impl IntoView + use<> {
    let rows = view
        .groups
        .iter()
        .map(|g| {
            let rho = g
                .spearman
                .map_or_else(|| "–".to_owned(), |r| format!("{r:.3}"));
            let ci = g
                .spearman_ci95
                .map_or_else(|| "–".to_owned(), |[l, h]| format!("{l:.3} to {h:.3}"));
            let median = g
                .lexical_median
                .map_or_else(|| "–".to_owned(), |m| format!("{m:.3}"));
            let class = if g.group.value.is_some() {
                "type-row"
            } else {
                "split-row"
            };
            view! {
                <tr class=class data-split=g.group.split.as_str() data-type=g.group.value.clone()
                    data-quadrant=g.quadrant.len().to_string()>
                    <td>{g.group.label()}</td>
                    <td>{g.n}</td>
                    <td data-rho=g.spearman.map(|r| r.to_string())>{rho}</td>
                    <td>{ci}</td>
                    <td>{median}</td>
                    <td>{g.quadrant.len()}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-scroll" tabindex="0" role="region" aria-label="Agreement by group">
            <table class="disagreement-groups">
                <thead><tr>
                    <th>"Group"</th><th>"n (both scores)"</th><th>"Spearman ρ"</th>
                    <th>"95% CI (bootstrap)"</th><th>"lexical median"</th><th>"in quadrant"</th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

fn set_threshold(threshold: RwSignal<f64>, text: &str) {
    if let Ok(value) = text.trim().parse::<f64>()
        && value.is_finite()
    {
        threshold.set(value);
    }
}

#[component]
pub(crate) fn DisagreementPanel(state: AppState) -> impl IntoView {
    let model = RwSignal::new(None::<String>);
    let lexical = RwSignal::new("meteor".to_owned());
    let judge = RwSignal::new("risk_level".to_owned());
    let quadrant = RwSignal::new("close-low".to_owned());
    let threshold = RwSignal::new(4.0_f64);
    let result = RwSignal::new(None::<Result<DisagreementView, String>>);
    Effect::new(move |_| {
        if state.view.with(|v| v.tab != Tab::Disagreement) {
            return;
        }
        state.revision.track();
        let (_, _, close, low) = QUADRANTS
            .into_iter()
            .find(|q| q.0 == quadrant.get())
            .unwrap_or(QUADRANTS[0]);
        let query = DisagreementQuery {
            model: model.get(),
            lexical: lexical.get(),
            judge: judge.get(),
            lexically_close: close,
            judged_low: low,
            judge_threshold: threshold.get(),
        };
        ask(
            move |id| Request::Disagreement { id, query },
            move |reply| match reply {
                Reply::Disagreement { view } => result.set(Some(Ok(view))),
                Reply::Error { message } => result.set(Some(Err(message))),
                _ => {}
            },
        );
    });
    let lexical_options = Metric::ALL
        .into_iter()
        .filter(|m| !Metric::JUDGE.contains(m))
        .map(|m| view! { <option value=m.name()>{m.name()}</option> })
        .collect_view();
    let judge_options = Metric::JUDGE
        .into_iter()
        .map(|m| view! { <option value=m.name()>{m.name()}</option> })
        .collect_view();
    let quadrant_options = QUADRANTS
        .into_iter()
        .map(|(value, label, ..)| view! { <option value=value>{label}</option> })
        .collect_view();
    let scatter = move || {
        result.with(|r| match r {
            Some(Ok(view)) => {
                let (width, height) = chart_size(state.window_width.get(), false);
                // Square-ish: the judge axis has eleven values.
                let height = height.max(width * 3 / 5).min(640);
                Some(
                    medhall_charts::render_svg(&view.scatter, width, height)
                        .map_err(|e| e.to_string()),
                )
            }
            _ => None,
        })
    };
    view! {
        <section id="disagreement">
            <h2>"Where lexical scores and the judge disagree"</h2>
            <p class="note">
                "Each point is one answer with both a lexical score (x) and a judge score (y, spread a little so equal scores stay visible; hover for the exact values). "
                "The dashed lines are each split's median lexical score and the judge threshold. Spearman's ρ per group with a 95% bootstrap interval. "
                "Click a point or a listed sample to open it."
            </p>
            <div class="row">
                <label>"Model "
                    <select id="disagreement-model" prop:value=move || result.with(|r| match r { Some(Ok(v)) => v.model.clone(), _ => String::new() })
                        on:change=move |ev| model.set(Some(event_target_value(&ev)).filter(|s| !s.is_empty()))>
                        {move || result.with(|r| match r {
                            Some(Ok(v)) => v.models.iter().map(|m| view! { <option value=m.clone()>{m.clone()}</option> }).collect_view().into_any(),
                            _ => ().into_any(),
                        })}
                    </select>
                </label>
                <label>"Lexical "
                    <select id="disagreement-lexical" prop:value=lexical on:change=move |ev| lexical.set(event_target_value(&ev))>
                        {lexical_options}
                    </select>
                </label>
                <label>"Judge "
                    <select id="disagreement-judge" prop:value=judge on:change=move |ev| judge.set(event_target_value(&ev))>
                        {judge_options}
                    </select>
                </label>
                <label>"Quadrant "
                    <select id="disagreement-quadrant" prop:value=quadrant on:change=move |ev| quadrant.set(event_target_value(&ev))>
                        {quadrant_options}
                    </select>
                </label>
                <label>"Threshold "
                    <input type="number" id="disagreement-threshold" class="range" min="0" max="10" step="1"
                        prop:value=move || threshold.get().to_string()
                        on:change=move |ev| set_threshold(threshold, &event_target_value(&ev))/>
                </label>
            </div>
            {move || scatter().map(|svg| match svg {
                // The SVG is ours (medhall-charts escapes every label and sample id).
                Ok(svg) => view! { <div class="chart scatter" inner_html=svg on:click=move |ev| on_point_click(state, ev)></div> }.into_any(),
                Err(message) => view! { <p class="error">{message}</p> }.into_any(),
            })}
            {move || match result.get() {
                None => view! { <p class="note">"Computing…"</p> }.into_any(),
                Some(Err(message)) => view! { <p class="note disagreement-error">{message}</p> }.into_any(),
                Some(Ok(view)) => {
                    let (lexical_name, judge_name) = match &view.scatter {
                        ChartSpec::Scatter(s) => (s.x_label.clone(), s.y_label.clone()),
                        _ => (String::new(), String::new()),
                    };
                    let shown = view.listed.len();
                    let total = view.in_quadrant;
                    let rows = view.listed.iter().map(|(row, x, y)| {
                        let sample = format!("{}:{}", row.key.split, row.key.question_id);
                        let open = sample.clone();
                        view! {
                            <tr class="quadrant-sample" data-sample=sample tabindex="0"
                                on:click=move |_| open_sample(state, &open)
                                on:keydown={
                                    let open = format!("{}:{}", row.key.split, row.key.question_id);
                                    move |ev: leptos::ev::KeyboardEvent| if ev.key() == "Enter" { open_sample(state, &open) }
                                }>
                                <td>{row.key.split.as_str()}</td>
                                <td>{row.key.question_id.clone()}</td>
                                <td>{row.type_value.clone().unwrap_or_else(|| "unlabelled".to_owned())}</td>
                                <td class="num">{format!("{x:.3}")}</td>
                                <td class="num">{format!("{y}")}</td>
                                <td class="text">{row.question.clone()}</td>
                                <td class="text">{row.answer.clone()}</td>
                            </tr>
                        }
                    }).collect_view();
                    view! {
                        {groups_table(&view)}
                        <h3 id="quadrant-count" data-count=total.to_string()>
                            {format!("{total} sample(s) in the quadrant{}", if shown < total { format!(" (the first {shown} listed)") } else { String::new() })}
                        </h3>
                        <div class="table-scroll" tabindex="0" role="region" aria-label="Samples in the quadrant">
                            <table class="quadrant-list">
                                <thead><tr><th>"split"</th><th>"id"</th><th>"type"</th><th>{lexical_name}</th><th>{judge_name}</th><th>"question"</th><th>"answer"</th></tr></thead>
                                <tbody>{rows}</tbody>
                            </table>
                        </div>
                    }.into_any()
                }
            }}
        </section>
    }
}
