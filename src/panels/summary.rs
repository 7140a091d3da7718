//! The summary table: means per run, split and type, with their intervals.

use crate::format_mean;
use crate::state::AppState;
use leptos::prelude::*;
use medhall_core::summary::Metric;

#[component]
pub(crate) fn SummaryTable(state: AppState) -> impl IntoView {
    let header = Metric::ALL
        .iter()
        .map(|m| view! { <th>{m.name()}</th> })
        .collect_view();
    view! {
        <section id="summary">
            <h2>"Means per run and split"</h2>
            <p class="note">{move || if state.intervals.get() {
                "Hover a mean for its 95% bootstrap interval and count."
            } else {
                "95% intervals are being computed…"
            }}</p>
            <div class="table-scroll">
            <table class="summary">
                <thead><tr><th>"Run"</th><th>"Split"</th><th>"Group"</th><th>"n"</th>{header}</tr></thead>
                <tbody>
                {move || state.summaries.get().into_iter().flat_map(|summary| {
                    let name = summary.name.clone();
                    summary.groups.into_iter().map(move |group| {
                        let split = group.split.as_str();
                        let type_value = group.value.clone();
                        let cells = Metric::ALL.iter().map(|metric| {
                            let found = group.metrics.iter().find(|m| m.metric == metric.name()).cloned();
                            match found {
                                Some(m) => {
                                    let title = match m.ci95 {
                                        Some([low, high]) => format!("{} = {} (95% CI {low:.4} to {high:.4}; n = {})", m.metric, m.mean, m.n),
                                        None => format!("{} = {} (n = {})", m.metric, m.mean, m.n),
                                    };
                                    view! {
                                        <td data-run=name.clone() data-split=split data-metric=metric.name()
                                            data-type=type_value.clone() data-value=m.mean.to_string() title=title>
                                            {format_mean(metric.name(), m.mean)}
                                        </td>
                                    }.into_any()
                                }
                                None => view! { <td class="none">"–"</td> }.into_any(),
                            }
                        }).collect_view();
                        let class = if group.value.is_some() { "type-row" } else { "split-row" };
                        view! {
                            <tr class=class>
                                <td>{name.clone()}</td>
                                <td>{split}</td>
                                <td>{group.value.clone().unwrap_or_else(|| "all".to_owned())}</td>
                                <td>{group.samples}</td>
                                {cells}
                            </tr>
                        }
                    }).collect::<Vec<_>>()
                }).collect_view()}
                </tbody>
            </table>
            </div>
        </section>
    }
}
