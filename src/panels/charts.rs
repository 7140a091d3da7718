//! Charts: the chart picker, the chart, its downloads and embed snippet, and the embed view.

use crate::dom::{copy_text, page_url};
use crate::download::{download_png, download_text};
use crate::panels::metric_options;
use crate::panels::{Messages, RunPairPicker};
use crate::state::{AppState, ChartView};
use crate::view_state::Tab;
use leptos::prelude::*;
use medhall_core::chart::ChartKind;
use medhall_core::sample::Split;
use wasm_bindgen::JsCast;

/// The size of an embedded chart's iframe content (the snippet's width and height).
pub(crate) const CHART_WIDTH: u32 = 760;
pub(crate) const CHART_HEIGHT: u32 = 420;

/// Width of the navigation beside the views on a wide window (style/main.css: `.app`).
const SIDEBAR_PX: u32 = 200;
/// Below this window width the navigation sits above the views.
const NARROW_PX: u32 = 900;

/// The chart's size for a window `width` CSS pixels wide: the view's width less its padding,
/// between 320 and 1,100 pixels, and 55% as high (at least 300). An embed fills its frame.
pub(crate) fn chart_size(width: u32, embedded: bool) -> (u32, u32) {
    let narrow = width < NARROW_PX;
    let side = if embedded || narrow { 0 } else { SIDEBAR_PX };
    // main's padding: 2 rem a side, 0.8 rem on a narrow window (style/main.css).
    let padding = if embedded || narrow { 28 } else { 64 };
    let w = width.saturating_sub(side + padding).clamp(320, 1100);
    // A phone-sized chart stacks its legend in one column: give the plot room above it.
    (w, (w * 55 / 100).max(if narrow { 380 } else { 300 }))
}

/// The chart as SVG at the size the window gives it now.
pub(crate) fn chart_svg(state: AppState) -> Option<Result<String, String>> {
    let ChartView::Ready(spec) = state.chart.get() else {
        return None;
    };
    let (width, height) = chart_size(state.window_width.get(), state.embedded);
    Some(medhall_charts::render_svg(&spec, width, height).map_err(|e| e.to_string()))
}

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
    state.view.update(|v| v.tab = Tab::Samples);
}

#[component]
pub(crate) fn ChartBody(state: AppState) -> impl IntoView {
    view! {
        {move || match state.chart.get() {
            ChartView::Waiting(text) => view! { <p class="note chart-empty">{text}</p> }.into_any(),
            ChartView::Failed(text) => view! { <p class="error chart-error">{text}</p> }.into_any(),
            ChartView::Ready(_) => match chart_svg(state) {
                // The SVG is ours (medhall-charts escapes every label, run names included).
                Some(Ok(svg)) => view! {
                    <div class="chart" inner_html=svg on:click=move |ev| filter_from_click(state, ev)></div>
                }.into_any(),
                Some(Err(text)) => view! { <p class="error chart-error">{text}</p> }.into_any(),
                None => ().into_any(),
            },
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
        if let Some(Ok(svg)) = untrack(|| chart_svg(state)) {
            let name = state
                .view
                .with_untracked(|v| format!("medhall-{}-{}.svg", v.chart, v.metric));
            if let Err(error) = download_text(&name, "image/svg+xml", &svg) {
                state.message(error);
            }
        }
    };
    let download_png_click = move |_| {
        if let Some(Ok(svg)) = untrack(|| chart_svg(state)) {
            let name = state
                .view
                .with_untracked(|v| format!("medhall-{}-{}.png", v.chart, v.metric));
            let (width, height) = chart_size(state.window_width.get_untracked(), state.embedded);
            if let Err(error) = download_png(&svg, &name, width, height) {
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

/// Run A and run B of the paired chart: the view (and the URL) takes the pair once both are
/// chosen.
#[component]
pub(crate) fn PairPicker(state: AppState) -> impl IntoView {
    view! {
        <RunPairPicker state=state ids=["pair-a", "pair-b"] labels=["A ", " minus B "]
            empty=["(first run)", "(second run)"]
            current=Signal::derive(move || state.view.with(|v| v.pair.clone()))
            pick=Callback::new(move |pair| state.view.update(|v| v.pair = pair))/>
    }
}
