//! Many runs at once: models × (split, hallucination type) for one metric, each cell's mean with
//! its interval and colour scaled to the metric, and each model's paired difference against a
//! baseline model with p-values adjusted for the number of comparisons (Benjamini–Hochberg).

use crate::format_mean;
use crate::panels::metric_options;
use crate::state::{AppState, ask};
use crate::view_state::Tab;
use leptos::prelude::*;
use medhall_app::protocol::{Reply, Request};
use medhall_app::session::{MatrixQuery, MatrixView};
use medhall_core::compare::MatrixCell;
use medhall_core::summary::Metric;

/// A significance level for the cell colours of differences (the adjusted p-value is shown).
const ALPHA: f64 = 0.05;

/// The cell's background as a fraction of the way from the metric's low end to its high end;
/// style/main.css mixes the theme's background with its shade colour by it, so the text keeps
/// its contrast in the light and the dark theme.
fn shade(metric: &str, mean: f64) -> String {
    let high = if Metric::from_name(metric).is_some_and(|m| Metric::JUDGE.contains(&m)) {
        10.0
    } else {
        1.0
    };
    format!("--shade: {:.3}", (mean / high).clamp(0.0, 1.0))
}

fn cell_view(metric: &str, cell: &MatrixCell) -> impl IntoView + use<> {
    let Some(mean) = cell.mean else {
        return view! { <td class="none" title="no sample with this metric">"–"</td> }.into_any();
    };
    let title = match cell.ci95 {
        Some([low, high]) => format!("{mean:.4} (95% CI {low:.4} to {high:.4}; n = {})", cell.n),
        None => format!("{mean:.4} (n = {})", cell.n),
    };
    let difference = cell.difference.as_ref().map(|d| {
        let class = if d.p_adjusted < ALPHA {
            if d.mean_difference < 0.0 {
                "difference worse"
            } else {
                "difference better"
            }
        } else {
            "difference"
        };
        let ci = d
            .ci95
            .map(|[l, h]| format!(", 95% CI {l:+.4} to {h:+.4}"))
            .unwrap_or_default();
        let title = format!(
            "minus the baseline on the {} samples both answered: {:+.4}{ci}; p = {:.4}, adjusted p = {:.4}",
            d.n, d.mean_difference, d.p_value, d.p_adjusted
        );
        view! {
            <span class=class title=title data-difference=d.mean_difference.to_string()
                data-p=d.p_value.to_string() data-p-adjusted=d.p_adjusted.to_string()>
                {format!("Δ {:+.3} · p̃ {:.3}", d.mean_difference, d.p_adjusted)}
            </span>
        }
    });
    view! {
        <td style=shade(metric, mean) title=title data-value=mean.to_string()>
            <span class="mean">{format_mean(metric, mean)}</span>
            {difference}
        </td>
    }
    .into_any()
}

#[component]
pub(crate) fn ComparePanel(state: AppState) -> impl IntoView {
    let metric = RwSignal::new("meteor".to_owned());
    let baseline = RwSignal::new(None::<String>);
    let result = RwSignal::new(None::<Result<MatrixView, String>>);
    Effect::new(move |_| {
        if state.view.with(|v| v.tab != Tab::Compare) {
            return;
        }
        state.revision.track();
        let query = MatrixQuery {
            metric: metric.get(),
            baseline: baseline.get(),
        };
        ask(
            move |id| Request::Matrix { id, query },
            move |reply| match reply {
                Reply::Matrix { view } => result.set(Some(Ok(view))),
                Reply::Error { message } => result.set(Some(Err(message))),
                _ => {}
            },
        );
    });
    view! {
        <section id="compare">
            <h2>"Compare runs"</h2>
            <p class="note">
                "Each model (a model's positive and negative files together) by split and hallucination type. "
                "A cell shows the mean (hover: 95% bootstrap interval and n), shaded by its value, and its paired difference "
                "against the baseline on the samples both answered, with the adjusted p-value p̃."
            </p>
            <div class="row">
                <label>"Metric "
                    <select id="compare-metric" prop:value=metric on:change=move |ev| metric.set(event_target_value(&ev))>
                        {metric_options()}
                    </select>
                </label>
                <label>"Baseline "
                    <select id="compare-baseline"
                        prop:value=move || result.with(|r| match r { Some(Ok(v)) => v.matrix.baseline.clone(), _ => String::new() })
                        on:change=move |ev| baseline.set(Some(event_target_value(&ev)).filter(|s| !s.is_empty()))>
                        {move || result.with(|r| match r {
                            Some(Ok(v)) => v.models.iter().map(|m| view! { <option value=m.clone()>{m.clone()}</option> }).collect_view().into_any(),
                            _ => ().into_any(),
                        })}
                    </select>
                </label>
            </div>
            {move || match result.get() {
                None => view! { <p class="note">"Computing…"</p> }.into_any(),
                Some(Err(message)) => view! { <p class="note compare-error">{message}</p> }.into_any(),
                Some(Ok(view)) => {
                    let matrix = view.matrix;
                    let heads = matrix.groups.iter().map(|g| view! { <th scope="col">{g.label()}</th> }).collect_view();
                    let metric_name = matrix.metric.clone();
                    let rows = matrix.runs.iter().zip(&matrix.cells).map(|(name, cells)| {
                        let is_baseline = *name == matrix.baseline;
                        let cells = cells.iter().map(|c| cell_view(&metric_name, c)).collect_view();
                        view! {
                            <tr class:baseline=is_baseline data-model=name.clone()>
                                <th scope="row">{name.clone()}{is_baseline.then_some(" (baseline)")}</th>
                                {cells}
                            </tr>
                        }
                    }).collect_view();
                    view! {
                        {view.warnings.into_iter().map(|w| view! { <p class="warning compare-warning">{w}</p> }).collect_view()}
                        <div class="table-scroll" tabindex="0" role="region" aria-label="Comparison table">
                            <table class="matrix">
                                <thead><tr><th scope="col">"Model"</th>{heads}</tr></thead>
                                <tbody>{rows}</tbody>
                            </table>
                        </div>
                        <p class="note adjustment">{format!(
                            "p̃: {}. Differences with p̃ < {ALPHA} are marked (green: above the baseline, red: below).",
                            matrix.adjustment
                        )}</p>
                    }.into_any()
                }
            }}
        </section>
    }
}
