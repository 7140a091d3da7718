//! The page: its header, navigation and panels, and the effects that keep the chart, the sample
//! table and the detail pane in step with the view and the data.

use crate::dom::{location_search, replace_query};
use crate::loading::{fetch_manifest, load_results_file, load_set, restore};
use crate::panels::Messages;
use crate::panels::agreement::AgreementPanel;
use crate::panels::bertscore::BertScorePanel;
use crate::panels::charts::{ChartPanel, EmbedView};
use crate::panels::compare::ComparePanel;
use crate::panels::data::DataPanel;
use crate::panels::disagreement::DisagreementPanel;
use crate::panels::export::ExportPanel;
use crate::panels::judge::{JudgeHost, JudgePanel};
use crate::panels::leaderboard::{LeaderboardEmbed, LeaderboardPanel};
use crate::panels::model_check::{Host, ModelPanel};
use crate::panels::rate::RatePanel;
use crate::panels::runs::RunsPanel;
use crate::panels::samples::{SamplePanel, VISIBLE_ROWS};
use crate::panels::start::{EmptyState, StartPanel};
use crate::panels::summary::SummaryTable;
use crate::panels::vqa::VqaPanel;
use crate::state::{AppState, ChartView, DB, WORKER, ask, ask_boxed, send_request};
use crate::storage;
use crate::view_state::{EMBED_LEADERBOARD, Tab, ViewState};
use crate::worker_client::WorkerClient;
use leptos::prelude::*;
use leptos::task::spawn_local;
use medhall_app::protocol::{ChartQuery, Reply, Request};
use medhall_app::session::RowQuery;
use wasm_bindgen::JsCast;

#[component]
pub fn App() -> impl IntoView {
    let view_state = ViewState::from_query(&location_search());
    // An image base that resolves to this page's own origin requests nothing from elsewhere.
    let page_url = crate::dom::page_url();
    let image_base_allowed = view_state.image_base.as_deref().is_none_or(|base| {
        medhall_core::url_policy::ImageBase::resolve(&page_url, base)
            .is_ok_and(|base| base.is_page_origin())
    });
    let embedded = view_state.embed.is_some();
    let state = AppState {
        view: RwSignal::new(view_state),
        runs: RwSignal::new(Vec::new()),
        summaries: RwSignal::new(Vec::new()),
        model_names: RwSignal::new(Vec::new()),
        intervals: RwSignal::new(false),
        jobs: RwSignal::new(Vec::new()),
        scoring: RwSignal::new(None),
        references: RwSignal::new((0, 0)),
        worker_memory: RwSignal::new(0),
        signature: RwSignal::new(String::new()),
        manifest: RwSignal::new(None),
        messages: RwSignal::new(Vec::new()),
        chart: RwSignal::new(ChartView::Waiting("No scored run yet.".to_owned())),
        window_width: RwSignal::new(window_width()),
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
        if chart == EMBED_LEADERBOARD {
            return;
        }
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
                    Reply::Chart { spec } => ChartView::Ready(spec),
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
        let id_of = |name: &String| {
            state
                .runs
                .with_untracked(|runs| runs.iter().find(|r| &r.name == name).map(|r| r.id))
        };
        let run = view.run.as_ref().and_then(id_of);
        let disagree = view
            .disagree
            .as_ref()
            .and_then(|(a, b)| Some((id_of(a)?, id_of(b)?, view.metric.clone())));
        let query = RowQuery {
            search: view.search.clone(),
            split: view.split,
            type_value: view.type_value.clone(),
            run,
            metric: (view.min.is_some() || view.max.is_some()).then(|| view.metric.clone()),
            min: view.min,
            max: view.max,
            disagree,
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
        if state
            .view
            .with_untracked(|v| v.embed.as_deref() == Some(EMBED_LEADERBOARD))
        {
            return view! { <LeaderboardEmbed state=state/> }.into_any();
        }
        return view! { <EmbedView state=state/> }.into_any();
    }
    // A view holding a collapsed panel (the judge, the model check) opens it when shown: the
    // tab is the user's action that starts it (its toggle handler starts the model worker).
    Effect::new(move |_| {
        let id = match state.view.with(|v| v.tab) {
            Tab::Judge => "judge",
            Tab::Model => "model-check",
            _ => return,
        };
        let details = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.query_selector(&format!("#{id} > details")).ok().flatten())
            .and_then(|e| e.dyn_into::<web_sys::HtmlDetailsElement>().ok());
        if let Some(details) = details
            && !details.open()
        {
            details.set_open(true);
        }
    });

    // Charts follow the window's width.
    let on_resize = window_event_listener(leptos::ev::resize, move |_| {
        let width = window_width();
        if width != state.window_width.get_untracked() {
            state.window_width.set(width);
        }
    });
    on_cleanup(move || on_resize.remove());

    let panel = move |tab: Tab, body: AnyView| {
        view! {
            <div class="view" role="tabpanel" id=format!("view-{}", tab.name())
                aria-labelledby=format!("tab-{}", tab.name())
                hidden=move || state.view.with(|v| v.tab != tab)>
                {body}
            </div>
        }
    };
    view! {
        <div class="app">
            <header>
                <h1>"MedHall Lens"</h1>
                <p class="note tagline">
                    "MedHallTune scoring with the official metrics (rouge_score 0.1.2; NLTK 3.10.4 METEOR "
                    "with WordNet 3.0 and BLEU) and the GPT-4o judge's scores. Everything runs in this page: "
                    "your files never leave your machine; the page only requests URLs you choose or that "
                    "datasets.json lists."
                </p>
            </header>
            <Navigation state=state/>
            <main>
                <Messages state=state/>
                {panel(Tab::Data, view! {
                    <StartPanel state=state/>
                    <DataPanel state=state/>
                    <RunsPanel state=state/>
                }.into_any())}
                {panel(Tab::Results, view! {
                    <EmptyState state=state text="No runs yet: load the demo or your prediction files on Data."/>
                    <SummaryTable state=state/>
                    <BertScorePanel state=state/>
                    <ChartPanel state=state/>
                    <ExportPanel state=state/>
                }.into_any())}
                {panel(Tab::Leaderboard, view! {
                    <EmptyState state=state text="None of your runs is in the table yet: load your prediction files (or the demo) on Data to place a model among the published ones below."/>
                    <LeaderboardPanel state=state/>
                }.into_any())}
                {panel(Tab::Disagreement, view! {
                    <EmptyState state=state text="No runs yet: this view needs a run with judge scores (the demo's model B has them). Load the demo or your judge-eval files on Data."/>
                    <DisagreementPanel state=state/>
                }.into_any())}
                {panel(Tab::Compare, view! {
                    <EmptyState state=state text="No runs yet: this view compares two or more models split by split. Load the demo (two models) or your prediction files on Data."/>
                    <ComparePanel state=state/>
                }.into_any())}
                {panel(Tab::Vqa, view! {
                    <VqaPanel state=state/>
                }.into_any())}
                {panel(Tab::Samples, view! {
                    <EmptyState state=state text="No samples yet: load the demo or your prediction files on Data; each answer is then a row here."/>
                    <SamplePanel state=state/>
                }.into_any())}
                {panel(Tab::Judge, view! {
                    <EmptyState state=state text="No runs yet: load your prediction files (or the demo) on Data; the judge then scores the run you choose."/>
                    <JudgePanel host=JudgeHost {
                        ask: ask_boxed,
                        send: send_request,
                        runs: Signal::derive(move || state.runs.get()),
                        references: Signal::derive(move || state.references.get().0),
                        open_data: Callback::new(move |()| state.view.update(|v| v.tab = Tab::Data)),
                    }/>
                }.into_any())}
                {panel(Tab::Model, view! {
                    <EmptyState state=state
                        text="No questions yet: the model check answers loaded benchmark questions. Load the demo or the MedHallTune validation references on Data."
                        missing=Signal::derive(move || state.references.get().0 == 0)/>
                    <ModelPanel host=Host {
                        ask: ask_boxed,
                        add_run: Callback::new(move |file| load_results_file(state, file)),
                        image_base: Signal::derive(move || state.allowed_image_base().map(|base| base.href().to_owned())),
                    }/>
                }.into_any())}
                {panel(Tab::Rate, view! {
                    <EmptyState state=state text="No answers to rate yet: load a model's prediction files (or the demo) on Data, or start from a rating plan file below."/>
                    <RatePanel state=state/>
                }.into_any())}
                {panel(Tab::Agreement, view! {
                    <AgreementPanel state=state/>
                }.into_any())}
            </main>
        </div>
    }
    .into_any()
}

fn window_width() -> u32 {
    web_sys::window()
        .and_then(|w| w.inner_width().ok())
        .and_then(|w| w.as_f64())
        .map_or(1024, |w| w.max(0.0) as u32)
}

/// The views' tab list: a click or Enter opens a view; the arrow keys, Home and End move between
/// tabs (the WAI-ARIA tabs pattern: only the selected tab is in the Tab order).
#[component]
fn Navigation(state: AppState) -> impl IntoView {
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let current = state.view.with_untracked(|v| v.tab);
        let index = Tab::ALL.iter().position(|t| *t == current).unwrap_or(0);
        let last = Tab::ALL.len() - 1;
        let next = match ev.key().as_str() {
            "ArrowRight" | "ArrowDown" => (index + 1) % Tab::ALL.len(),
            "ArrowLeft" | "ArrowUp" => (index + last) % Tab::ALL.len(),
            "Home" => 0,
            "End" => last,
            _ => return,
        };
        ev.prevent_default();
        let tab = Tab::ALL[next];
        state.view.update(|v| v.tab = tab);
        if let Some(button) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id(&format!("tab-{}", tab.name())))
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = button.focus();
        }
    };
    // What each view holds now, beside its name, so a user sees where results went.
    let badge = move |tab: Tab| match tab {
        Tab::Data => {
            let (references, _) = state.references.get();
            (references > 0).then(|| format!("{references} refs"))
        }
        Tab::Results | Tab::Samples => {
            let runs = state.runs.with(Vec::len);
            (runs > 0).then(|| format!("{runs} run{}", if runs == 1 { "" } else { "s" }))
        }
        _ => None,
    };
    view! {
        <nav class="tabs" role="tablist" aria-label="Views" aria-orientation="vertical" on:keydown=on_key>
            {Tab::ALL.into_iter().map(|tab| {
                let selected = move || state.view.with(|v| v.tab == tab);
                view! {
                    <button role="tab" class="tab" id=format!("tab-{}", tab.name()) data-tab=tab.name()
                        aria-controls=format!("view-{}", tab.name())
                        aria-selected=move || selected().to_string()
                        tabindex=move || if selected() { "0" } else { "-1" }
                        on:click=move |_| state.view.update(|v| v.tab = tab)>
                        <span class="tab-label">{tab.label()}</span>
                        <span class="badge">{move || badge(tab)}</span>
                    </button>
                }
            }).collect_view()}
        </nav>
    }
}
