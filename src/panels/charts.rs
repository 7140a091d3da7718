//! Charts: the chart picker, the chart, its downloads and embed snippet, and the embed view.

use crate::dom::{copy_text, page_url};
use crate::download::{download_png, download_text};
use crate::panels::Messages;
use crate::panels::metric_options;
use crate::state::{AppState, ChartView};
use leptos::prelude::*;
use medhall_core::chart::ChartKind;
use medhall_core::sample::Split;
use wasm_bindgen::JsCast;

pub(crate) const CHART_WIDTH: u32 = 760;
pub(crate) const CHART_HEIGHT: u32 = 420;

/// Clicking a bar filters the sample table to what the bar counts.
pub(crate) fn filter_from_click(state: AppState, ev: leptos::ev::MouseEvent) {
    let Some(target) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
    else {
        return;
    };
    if !target.class_list().contains("hit") {
        return;
    }
    let attribute = |name: &str| target.get_attribute(name).filter(|v| !v.is_empty());
    state.view.update(|v| {
        v.split = attribute("data-split").and_then(|s| Split::parse(&s));
        v.type_value = attribute("data-value");
        v.run = attribute("data-run");
    });
    state.first_row.set(0);
    if let Some(table) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("samples"))
    {
        table.scroll_into_view();
    }
}

#[component]
pub(crate) fn ChartBody(state: AppState) -> impl IntoView {
    view! {
        {move || match state.chart.get() {
            ChartView::Waiting(text) => view! { <p class="note chart-empty">{text}</p> }.into_any(),
            ChartView::Failed(text) => view! { <p class="error chart-error">{text}</p> }.into_any(),
            // The SVG is ours (medhall-charts escapes every label, run names included).
            ChartView::Ready(svg) => view! {
                <div class="chart" inner_html=svg on:click=move |ev| filter_from_click(state, ev)></div>
            }.into_any(),
        }}
    }
}

#[component]
pub(crate) fn EmbedView(state: AppState) -> impl IntoView {
    view! {
        <div class="embed">
            <ChartBody state=state/>
            <p class="note">{move || {
                let runs = state.runs.with(|r| r.len());
                format!("MedHall Lens · {runs} run(s) · metric {}", state.view.with(|v| v.metric.clone()))
            }}</p>
            <Messages state=state/>
        </div>
    }
}

#[component]
pub(crate) fn ChartPanel(state: AppState) -> impl IntoView {
    let kinds = ChartKind::ALL
        .iter()
        .map(|k| view! { <option value=k.name()>{k.name()}</option> })
        .collect_view();
    let embed_snippet = move || {
        let query = state.view.with(|v| v.embed_query());
        let from_urls = state.view.with(|v| v.set.is_some());
        if from_urls {
            format!(
                "<iframe src=\"{}{query}\" width=\"{}\" height=\"{}\" style=\"border:0\" title=\"MedHall Lens chart\"></iframe>",
                page_url(),
                CHART_WIDTH + 20,
                CHART_HEIGHT + 60
            )
        } else {
            "Embeds load their data from URLs: load a shard set from datasets.json to get an embed snippet (dropped files stay on this machine). Download the SVG instead.".to_owned()
        }
    };
    let download_svg = move |_| {
        if let ChartView::Ready(svg) = state.chart.get_untracked() {
            let name = state
                .view
                .with_untracked(|v| format!("medhall-{}-{}.svg", v.chart, v.metric));
            if let Err(error) = download_text(&name, "image/svg+xml", &svg) {
                state.message(error);
            }
        }
    };
    let download_png_click = move |_| {
        if let ChartView::Ready(svg) = state.chart.get_untracked() {
            let name = state
                .view
                .with_untracked(|v| format!("medhall-{}-{}.png", v.chart, v.metric));
            if let Err(error) = download_png(&svg, &name, CHART_WIDTH, CHART_HEIGHT) {
                state.message(error);
            }
        }
    };
    view! {
        <section id="charts">
            <h2>"Charts"</h2>
            <div class="row">
                <label>"Chart "
                    <select id="chart-kind" prop:value=move || state.view.with(|v| v.chart.clone())
                        on:change=move |ev| state.view.update(|v| v.chart = event_target_value(&ev))>
                        {kinds}
                    </select>
                </label>
                <label>"Metric "
                    <select id="chart-metric" prop:value=move || state.view.with(|v| v.metric.clone())
                        on:change=move |ev| state.view.update(|v| v.metric = event_target_value(&ev))>
                        {metric_options()}
                    </select>
                </label>
                <Show when=move || state.view.with(|v| v.chart == "paired")>
                    <PairPicker state=state/>
                </Show>
                <button on:click=download_svg>"Download SVG"</button>
                <button on:click=download_png_click>"Download PNG"</button>
            </div>
            <ChartBody state=state/>
            <label class="note">"Embed snippet "
                <textarea readonly id="embed-snippet" prop:value=embed_snippet></textarea>
            </label>
            <button id="copy-embed" on:click=move |_| copy_text(state, &embed_snippet())>"Copy embed snippet"</button>
        </section>
    }
}

/// Run A and run B of the paired chart.
#[component]
pub(crate) fn PairPicker(state: AppState) -> impl IntoView {
    let options = move || {
        state
            .runs
            .get()
            .into_iter()
            .map(|r| view! { <option value=r.name.clone()>{r.name.clone()}</option> })
            .collect_view()
    };
    let initial = state
        .view
        .with_untracked(|v| v.pair.clone())
        .unwrap_or_default();
    let first = RwSignal::new(initial.0);
    let second = RwSignal::new(initial.1);
    // The view (and the URL) takes the pair once both sides are chosen.
    let commit = move || {
        let (a, b) = (first.get_untracked(), second.get_untracked());
        state.view.update(|v| {
            v.pair = (!a.is_empty() && !b.is_empty()).then_some((a, b));
        });
    };
    view! {
        <label>"A "
            <select id="pair-a" prop:value=first on:change=move |ev| { first.set(event_target_value(&ev)); commit(); }>
                <option value="">"(first run)"</option>
                {options}
            </select>
        </label>
        <label>" minus B "
            <select id="pair-b" prop:value=second on:change=move |ev| { second.set(event_target_value(&ev)); commit(); }>
                <option value="">"(second run)"</option>
                {options}
            </select>
        </label>
    }
}
