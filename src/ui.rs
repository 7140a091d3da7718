//! The page: its header, navigation and panels, and the effects that keep the chart, the sample
//! table and the detail pane in step with the view and the data.

use crate::bertscore_panel::BertScorePanel;
use crate::dom::{location_search, replace_query};
use crate::judge_panel::{JudgeHost, JudgePanel};
use crate::loading::{fetch_manifest, load_results_file, load_set, restore};
use crate::model_check::{Host, ModelPanel};
use crate::panels::Messages;
use crate::panels::charts::{CHART_HEIGHT, CHART_WIDTH, ChartPanel, EmbedView};
use crate::panels::data::DataPanel;
use crate::panels::export::ExportPanel;
use crate::panels::runs::RunsPanel;
use crate::panels::samples::{SamplePanel, VISIBLE_ROWS};
use crate::panels::summary::SummaryTable;
use crate::state::{AppState, ChartView, DB, WORKER, ask, ask_boxed, send_request};
use crate::storage;
use crate::view_state::ViewState;
use crate::worker_client::WorkerClient;
use leptos::prelude::*;
use leptos::task::spawn_local;
use medhall_core::protocol::{ChartQuery, Reply, Request};
use medhall_core::session::RowQuery;

#[component]
pub fn App() -> impl IntoView {
    let view_state = ViewState::from_query(&location_search());
    // An image base on this page's own origin requests nothing from elsewhere.
    let page_host = web_sys::window()
        .and_then(|w| w.location().host().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let image_base_allowed = view_state
        .image_base
        .as_deref()
        .is_none_or(|base| crate::view_state::url_host(base).is_none_or(|host| host == page_host));
    let embedded = view_state.embed.is_some();
    let state = AppState {
        view: RwSignal::new(view_state),
        runs: RwSignal::new(Vec::new()),
        summaries: RwSignal::new(Vec::new()),
        intervals: RwSignal::new(false),
        jobs: RwSignal::new(Vec::new()),
        scoring: RwSignal::new(None),
        references: RwSignal::new((0, 0)),
        worker_memory: RwSignal::new(0),
        signature: RwSignal::new(String::new()),
        manifest: RwSignal::new(None),
        messages: RwSignal::new(Vec::new()),
        chart: RwSignal::new(ChartView::Waiting("No scored run yet.".to_owned())),
        rows: RwSignal::new(None),
        first_row: RwSignal::new(0),
        detail: RwSignal::new(None),
        revision: RwSignal::new(0),
        scored_revision: RwSignal::new(0),
        embedded,
        image_base_allowed: RwSignal::new(image_base_allowed),
    };

    match WorkerClient::start(
        move |event| state.on_event(event),
        move |reason| state.on_crash(reason),
    ) {
        Ok(client) => WORKER.with(|w| *w.borrow_mut() = Some(client)),
        Err(error) => state.message(error),
    }

    // Start-up: the manifest, then local data (or, in an embed, the set the URL names).
    spawn_local(async move {
        let manifest = fetch_manifest().await;
        let requested = state.view.with_untracked(|v| v.set.clone());
        if let (Ok(manifest), Some(id)) = (&manifest, &requested) {
            match manifest.set(id) {
                Some(set) if embedded => load_set(state, set),
                Some(_) => {}
                None => state.message(format!("datasets.json has no shard set `{id}`")),
            }
        }
        state.manifest.set(Some(manifest));
        match storage::open().await {
            Ok(db) => {
                DB.with(|d| *d.borrow_mut() = Some(db.clone()));
                if !embedded || requested.is_none() {
                    restore(state, &db).await;
                }
            }
            Err(error) => state.message(format!("Local storage unavailable: {error}")),
        }
    });

    // The URL follows the view.
    Effect::new(move |_| {
        let query = state.view.with(|v| v.to_query());
        replace_query(&query);
    });

    // The chart follows the view and the data.
    Effect::new(move |_| {
        let (chart, metric) = state.view.with(|v| {
            (
                v.embed.clone().unwrap_or_else(|| v.chart.clone()),
                v.metric.clone(),
            )
        });
        state.revision.track();
        if state.summaries.with(Vec::is_empty) {
            state
                .chart
                .set(ChartView::Waiting("No scored run yet.".to_owned()));
            return;
        }
        // The paired chart compares the two runs the view names (else the first two that share
        // questions).
        let pair = state.view.with(|v| v.pair.clone());
        let runs = match (&pair, chart.as_str()) {
            (Some((a, b)), "paired") => state.runs.with(|runs| {
                [a, b]
                    .iter()
                    .filter_map(|name| runs.iter().find(|r| &r.name == *name).map(|r| r.id))
                    .collect()
            }),
            _ => Vec::new(),
        };
        let query = ChartQuery {
            kind: chart,
            metric,
            runs,
        };
        ask(
            move |id| Request::Chart { id, query },
            move |reply| {
                let view = match reply {
                    Reply::Chart { spec } => {
                        match medhall_charts::render_svg(&spec, CHART_WIDTH, CHART_HEIGHT) {
                            Ok(svg) => ChartView::Ready(svg),
                            Err(error) => ChartView::Failed(error.to_string()),
                        }
                    }
                    Reply::Error { message } => ChartView::Failed(message),
                    _ => ChartView::Failed("unexpected reply".to_owned()),
                };
                state.chart.set(view);
            },
        );
    });

    // The table page follows the filters, the scroll position and the data.
    Effect::new(move |_| {
        if embedded {
            return;
        }
        let view = state.view.get();
        let first = state.first_row.get();
        state.revision.track();
        state.scored_revision.track();
        state.runs.track();
        let run = view.run.as_ref().and_then(|name| {
            state
                .runs
                .with_untracked(|runs| runs.iter().find(|r| &r.name == name).map(|r| r.id))
        });
        let query = RowQuery {
            search: view.search.clone(),
            split: view.split,
            type_value: view.type_value.clone(),
            run,
            metric: (view.min.is_some() || view.max.is_some()).then(|| view.metric.clone()),
            min: view.min,
            max: view.max,
            offset: first,
            limit: VISIBLE_ROWS + 8,
        };
        ask(
            move |id| Request::Rows { id, query },
            move |reply| {
                if let Reply::Rows { page } = reply {
                    state.rows.set(Some(page));
                }
            },
        );
    });

    // The detail pane follows the selected sample.
    Effect::new(move |_| {
        let Some(key) = state.view.with(|v| v.sample.clone()) else {
            state.detail.set(None);
            return;
        };
        state.revision.track();
        ask(
            move |id| Request::Detail { id, key },
            move |reply| {
                if let Reply::Detail { detail } = reply {
                    state.detail.set(detail);
                }
            },
        );
    });

    if embedded {
        return view! { <EmbedView state=state/> }.into_any();
    }
    view! {
        <header>
            <h1>"MedHall Lens"</h1>
            <p class="note">
                "Scores medical VLM answers for the MedHallTune benchmark with the official metrics "
                "(rouge_score 0.1.2; NLTK 3.10.4 METEOR with WordNet 3.0 and BLEU), and charts imported "
                "GPT-4o judge scores. Everything runs in this page: your files never leave your machine; "
                "the page only requests URLs you choose or that datasets.json lists."
            </p>
        </header>
        <Messages state=state/>
        <DataPanel state=state/>
        <RunsPanel state=state/>
        <JudgePanel host=JudgeHost {
            ask: ask_boxed,
            send: send_request,
            runs: Signal::derive(move || state.runs.get()),
            references: Signal::derive(move || state.references.get().0),
        }/>
        <SummaryTable state=state/>
        <BertScorePanel state=state/>
        <ChartPanel state=state/>
        <SamplePanel state=state/>
        <ExportPanel state=state/>
        <ModelPanel host=Host {
            ask: ask_boxed,
            add_run: Callback::new(move |file| load_results_file(state, file)),
            image_base: Signal::derive(move || state.allowed_image_base()),
        }/>
    }
    .into_any()
}
