//! The summary table: a row per model (its positive and negative files together, paired as the
//! leaderboard pairs them), each metric's mean for the positive (P) and negative (N) split side
//! by side as the benchmark's table has them, with the intervals on hover; each model's rows per
//! hallucination type open under it.

use crate::format_mean;
use crate::state::AppState;
use leptos::prelude::*;
use medhall_app::session::{ModelRow, model_summaries};
use medhall_core::sample::Split;
use medhall_core::summary::Metric;

const SPLITS: [(Split, &str); 2] = [(Split::Positive, "P"), (Split::Negative, "N")];

/// One split's cell of one metric: the mean, its interval and count on hover, and `data-*`
/// naming the run (file) and split it comes from.
fn metric_cell(row: &ModelRow, split: Split, metric: Metric) -> AnyView {
    let Some(cell) = row.cell(split) else {
        return view! { <td class="none" data-split=split.as_str()>"–"</td> }.into_any();
    };
    let Some(m) = cell
        .group
        .metrics
        .iter()
        .find(|m| m.metric == metric.name())
    else {
        return view! { <td class="none" data-split=split.as_str()>"–"</td> }.into_any();
    };
    let title = match m.ci95 {
        Some([low, high]) => format!(
            "{} {} = {} (95% CI {low:.4} to {high:.4}; n = {}; {})",
            m.metric, split, m.mean, m.n, cell.run_name
        ),
        None => format!(
            "{} {} = {} (n = {}; {})",
            m.metric, split, m.mean, m.n, cell.run_name
        ),
    };
    view! {
        <td data-run=cell.run_name.clone() data-split=split.as_str() data-metric=metric.name()
            data-type=cell.group.value.clone() data-value=m.mean.to_string() title=title>
            {format_mean(metric.name(), m.mean)}
        </td>
    }
    .into_any()
}

fn counts(row: &ModelRow) -> String {
    let n = |split| {
        row.cell(split)
            .map_or("–".to_owned(), |c| c.group.samples.to_string())
    };
    format!("{} / {}", n(Split::Positive), n(Split::Negative))
}

fn cells(row: &ModelRow) -> AnyView {
    Metric::ALL
        .iter()
        .flat_map(|&metric| SPLITS.iter().map(move |&(split, _)| (metric, split)))
        .map(|(metric, split)| metric_cell(row, split, metric))
        .collect_view()
        .into_any()
}

#[component]
pub(crate) fn SummaryTable(state: AppState) -> impl IntoView {
    let open = RwSignal::new(Vec::<String>::new());
    let header = Metric::ALL
        .iter()
        .map(|m| view! { <th colspan="2" scope="colgroup">{m.name()}</th> })
        .collect_view();
    let split_header = Metric::ALL
        .iter()
        .flat_map(|_| SPLITS.iter())
        .map(|(split, letter)| view! { <th scope="col" title=split.as_str()>{*letter}</th> })
        .collect_view();
    let models = move || model_summaries(&state.summaries.get(), &state.model_names.get());
    view! {
        <section id="summary">
            <h2>"Means per model"</h2>
            <p class="note">{move || if state.intervals.get() {
                "A model is its positive (P: non-hallucination) and negative (N: hallucination) files, paired by name as on the Leaderboard (rename files there to pair them). Hover a mean for its 95% bootstrap interval, count and file; open a model for its means per hallucination type."
            } else {
                "95% intervals are being computed…"
            }}</p>
            {move || state.summaries.with(Vec::is_empty).then(|| view! {
                <p class="empty">"No scored runs yet: load the demo or your prediction files on Data."</p>
            })}
            <div class="table-scroll" tabindex="0" role="region" aria-label="Summary by model">
            <table class="summary">
                <thead>
                    <tr><th rowspan="2" scope="col">"Model"</th><th rowspan="2" scope="col">"n (P / N)"</th>{header}</tr>
                    <tr>{split_header}</tr>
                </thead>
                <tbody>
                {move || models().into_iter().flat_map(|model| {
                    let name = model.model.clone();
                    let files = model.runs.iter().map(|(_, n)| n.clone()).collect::<Vec<_>>().join(", ");
                    let has_types = !model.types.is_empty();
                    let toggle_name = name.clone();
                    let expanded = {
                        let name = name.clone();
                        move || open.with(|o| o.contains(&name))
                    };
                    let head = view! {
                        <tr class="model-row" data-model=name.clone()>
                            <th scope="row" class="model">
                                <span class="model-name">{name.clone()}</span>
                                <span class="files">{files}</span>
                                {has_types.then(|| {
                                    let expanded = expanded.clone();
                                    let label = name.clone();
                                    view! {
                                        <button class="expand" aria-expanded=move || expanded().to_string()
                                            on:click=move |_| open.update(|o| {
                                                if let Some(at) = o.iter().position(|n| *n == toggle_name) {
                                                    o.remove(at);
                                                } else {
                                                    o.push(toggle_name.clone());
                                                }
                                            })>
                                            <span aria-hidden="true">{let expanded = expanded.clone(); move || if expanded() { "▾" } else { "▸" }}</span>
                                            " per type"<span class="visually-hidden">{format!(" of {label}")}</span>
                                        </button>
                                    }
                                })}
                            </th>
                            <td>{counts(&model.all)}</td>
                            {cells(&model.all)}
                        </tr>
                    }.into_any();
                    let types = model.types.into_iter().map(move |row| {
                        let expanded = expanded.clone();
                        view! {
                            <tr class="type-row" data-model=name.clone() hidden=move || !expanded()>
                                <th scope="row" class="type">{row.value.clone().unwrap_or_default()}</th>
                                <td>{counts(&row)}</td>
                                {cells(&row)}
                            </tr>
                        }.into_any()
                    }).collect::<Vec<_>>();
                    std::iter::once(head).chain(types).collect::<Vec<_>>()
                }).collect_view()}
                </tbody>
            </table>
            </div>
        </section>
    }
}
