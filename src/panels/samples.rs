//! The sample table (virtual scrolling, filters) and the detail pane of one sample.

use crate::panels::{RunPairPicker, metric_options};
use crate::state::AppState;
use leptos::prelude::*;
use medhall_app::session::RowView;
use medhall_core::sample::Split;
use medhall_core::summary::Metric;
use wasm_bindgen::JsCast;

pub(crate) const ROW_HEIGHT: f64 = 30.0;
pub(crate) const VISIBLE_ROWS: usize = 16;

/// A row's value of `metric` (rows carry the metrics in `Metric::ALL` order).
pub(crate) fn metric_cell(row: &RowView, metric: Metric) -> String {
    let value = Metric::ALL
        .iter()
        .position(|m| *m == metric)
        .and_then(|i| row.metrics.get(i).copied().flatten());
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.3}"))
}

#[component]
pub(crate) fn SamplePanel(state: AppState) -> impl IntoView {
    let on_scroll = move |ev: leptos::ev::Event| {
        if let Some(element) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        {
            let first = (f64::from(element.scroll_top()) / ROW_HEIGHT).floor() as usize;
            if first != state.first_row.get_untracked() {
                state.first_row.set(first);
            }
        }
    };
    let row_view = move |row: RowView, index: usize| {
        let key = row.key.clone();
        let top = format!("top:{}px", index as f64 * ROW_HEIGHT);
        let run_name = state.runs.with_untracked(|runs| {
            runs.iter()
                .find(|r| r.id == row.run)
                .map(|r| r.name.clone())
                .unwrap_or_default()
        });
        view! {
            <div class="sample-row" style=top on:click=move |_| {
                let key = key.clone();
                state.view.update(|v| v.sample = Some(key));
            }>
                <span class="c-run">{run_name}</span>
                <span class="c-split">{row.key.split.as_str()}</span>
                <span class="c-id">{row.key.question_id.clone()}</span>
                <span class="c-type">{row.type_value.clone().unwrap_or_else(|| "unlabelled".to_owned())}</span>
                <span class="c-text">{row.question.clone()}</span>
                <span class="c-text">{row.answer.clone()}</span>
                <span class="c-num">{metric_cell(&row, Metric::Meteor)}</span>
                <span class="c-num">{metric_cell(&row, Metric::RougeL)}</span>
                <span class="c-num">{metric_cell(&row, Metric::ClinicalAccuracy)}</span>
            </div>
        }
    };
    view! {
        <section id="samples">
            <h2>"Samples"</h2>
            <div class="row filters">
                <input type="search" placeholder="Search questions and answers" id="sample-search" aria-label="Search questions and answers"
                    prop:value=move || state.view.with(|v| v.search.clone())
                    on:input=move |ev| { state.view.update(|v| v.search = event_target_value(&ev)); state.first_row.set(0); }/>
                <select aria-label="Split" prop:value=move || state.view.with(|v| v.split.map(|s| s.as_str().to_owned()).unwrap_or_default())
                    on:change=move |ev| { let value = event_target_value(&ev); state.view.update(|v| v.split = Split::parse(&value)); state.first_row.set(0); }>
                    <option value="">"both splits"</option>
                    <option value="positive">"positive (non-hallucination)"</option>
                    <option value="negative">"negative (hallucination)"</option>
                </select>
                <input type="text" placeholder="type (e.g. unlabelled)" aria-label="Hallucination type"
                    prop:value=move || state.view.with(|v| v.type_value.clone().unwrap_or_default())
                    on:change=move |ev| { let value = event_target_value(&ev); state.view.update(|v| v.type_value = Some(value).filter(|s| !s.is_empty())); state.first_row.set(0); }/>
                <select aria-label="Run" prop:value=move || state.view.with(|v| v.run.clone().unwrap_or_default())
                    on:change=move |ev| { let value = event_target_value(&ev); state.view.update(|v| v.run = Some(value).filter(|s| !s.is_empty())); state.first_row.set(0); }>
                    <option value="">"all runs"</option>
                    {move || state.runs.get().into_iter().map(|r| view! { <option value=r.name.clone()>{r.name.clone()}</option> }).collect_view()}
                </select>
                <label class="note">{move || format!("{} from ", state.view.with(|v| v.metric.clone()))}
                    <input type="number" step="any" class="range" id="metric-min" aria-label="Lowest value"
                        prop:value=move || state.view.with(|v| v.min.map(|x| x.to_string()).unwrap_or_default())
                        on:change=move |ev| { let value = event_target_value(&ev); state.view.update(|v| v.min = value.trim().parse().ok()); state.first_row.set(0); }/>
                    " to "
                    <input type="number" step="any" class="range" id="metric-max" aria-label="Highest value"
                        prop:value=move || state.view.with(|v| v.max.map(|x| x.to_string()).unwrap_or_default())
                        on:change=move |ev| { let value = event_target_value(&ev); state.view.update(|v| v.max = value.trim().parse().ok()); state.first_row.set(0); }/>
                </label>
                <button on:click=move |_| { state.view.update(|v| { v.search.clear(); v.split = None; v.type_value = None; v.run = None; v.min = None; v.max = None; v.disagree = None; }); state.first_row.set(0); }>"Clear filters"</button>
            </div>
            <DisagreeFilter state=state/>
            <p class="note" id="matching-rows">{move || state.rows.with(|r| r.as_ref().map(|p| format!("{} matching rows", p.total)).unwrap_or_default())}</p>
            <div class="table-scroll" tabindex="0" role="region" aria-label="Samples table"><div class="sample-grid">
            <div class="sample-head"><span class="c-run">"run"</span><span class="c-split">"split"</span><span class="c-id">"id"</span><span class="c-type">"type"</span><span class="c-text">"question"</span><span class="c-text">"answer"</span><span class="c-num">"METEOR"</span><span class="c-num">"ROUGE-L"</span><span class="c-num">"accuracy"</span></div>
            <div class="sample-table" tabindex="0" role="region" aria-label="Sample rows" on:scroll=on_scroll style=format!("height:{}px", ROW_HEIGHT * VISIBLE_ROWS as f64)>
                <div class="sample-space" style=move || format!("height:{}px", state.rows.with(|r| r.as_ref().map_or(0, |p| p.total)) as f64 * ROW_HEIGHT)>
                    {move || state.rows.get().map(|page| {
                        let offset = page.offset;
                        page.rows.into_iter().enumerate().map(|(i, row)| row_view(row, offset + i)).collect_view()
                    })}
                </div>
            </div>
            </div></div>
            <DetailPane state=state/>
        </section>
    }
}

/// "Runs disagree": two runs' answers to the same questions side by side, those whose metric
/// differs most first.
#[component]
fn DisagreeFilter(state: AppState) -> impl IntoView {
    view! {
        <div class="row disagree-filter">
            <RunPairPicker state=state ids=["disagree-a", "disagree-b"] labels=["Runs disagree: ", " and "]
                empty=["(a run)", "(another run)"]
                current=Signal::derive(move || state.view.with(|v| v.disagree.clone()))
                pick=Callback::new(move |pair| {
                    state.view.update(|v| v.disagree = pair);
                    state.first_row.set(0);
                })/>
            <label>" on "
                <select id="sample-metric" prop:value=move || state.view.with(|v| v.metric.clone())
                    on:change=move |ev| { state.view.update(|v| v.metric = event_target_value(&ev)); state.first_row.set(0); }>
                    {metric_options()}
                </select>
            </label>
            <span class="note">{move || state.view.with(|v| v.disagree.as_ref().map(|_| format!(
                "the questions both answered, their two answers one above the other, those whose {} differs most first", v.metric
            )).unwrap_or_default())}</span>
        </div>
    }
}

#[component]
pub(crate) fn DetailPane(state: AppState) -> impl IntoView {
    let image_base = RwSignal::new(
        state
            .view
            .with_untracked(|v| v.image_base.clone().unwrap_or_default()),
    );
    view! {
        <div class="detail">
            <label class="note">"Image base URL (optional; images are requested only if you set one) "
                <input type="url" prop:value=image_base on:change=move |ev| {
                    let value = event_target_value(&ev);
                    image_base.set(value.clone());
                    // Typed by the user: the host is their choice.
                    state.image_base_allowed.set(true);
                    state.view.update(|v| v.image_base = Some(value).filter(|s| !s.is_empty()));
                }/>
            </label>
            {move || {
                let base = state.view.with(|v| v.image_base.clone()).unwrap_or_default();
                match state.image_base() {
                    None => None,
                    // Nothing is requested from a base the page cannot use; the text says why.
                    Some(Err(refused)) => Some(view! {
                        <p class="note image-base-refused">{format!("No images are loaded: the image base URL {refused}.")}</p>
                    }.into_any()),
                    Some(Ok(_)) if state.image_base_allowed.get() => None,
                    Some(Ok(resolved)) => {
                        let host = resolved.host_label();
                        let href = resolved.href().to_owned();
                        Some(view! {
                            <p class="note image-base-confirm">
                                {format!("This link sets the image base URL to “{base}”, which the browser reads as {href}. Nothing is requested from {host} until you allow it: opening a sample would then load its image from there (and tell {host} which samples you open). ")}
                                <button class="allow-image-base" on:click=move |_| state.image_base_allowed.set(true)>{format!("Load images from {host}")}</button>
                            </p>
                        }.into_any())
                    }
                }
            }}
            {move || state.detail.get().map(|detail| {
                let image = detail.image.clone().and_then(|name| {
                    state.allowed_image_base().and_then(|base| base.image_url(&name))
                });
                let answers = detail.answers.iter().map(|answer| {
                    let metrics = Metric::ALL.iter().zip(&answer.metrics).map(|(m, v)| {
                        view! { <li>{format!("{}: {}", m.name(), v.map_or("–".to_owned(), |v| v.to_string()))}</li> }
                    }).collect_view();
                    view! {
                        <div class="answer">
                            <h4>{answer.run_name.clone()}</h4>
                            <p class="answer-text">{answer.answer.clone()}</p>
                            <ul class="metrics">{metrics}</ul>
                            {answer.judge_by.clone().map(|by| view! { <p class="judge-by">{format!("Judged by {by}")}</p> })}
                            {answer.judge_text.clone().map(|text| view! { <pre class="judge">{text}</pre> })}
                        </div>
                    }
                }).collect_view();
                view! {
                    <div class="detail-body" data-sample=format!("{}:{}", detail.key.split, detail.key.question_id)>
                        <h3>{format!("{} question {}", detail.key.split, detail.key.question_id)}</h3>
                        <p><strong>"Type: "</strong>{detail.type_value.clone().unwrap_or_else(|| "unlabelled".to_owned())}</p>
                        <p><strong>"Question: "</strong>{detail.question.clone().unwrap_or_default()}</p>
                        <p><strong>"Reference: "</strong>{detail.reference.clone().unwrap_or_default()}</p>
                        {image.map(|src| view! { <img class="sample-image" src=src alt="the question's image"/> })}
                        <div class="answers">{answers}</div>
                    </div>
                }
            })}
        </div>
    }
}
