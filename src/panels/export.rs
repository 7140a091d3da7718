//! Exports (summary, per-sample scores) and clearing local data.

use crate::download::download_text;
use crate::state::{AppState, DB, ask, send};
use crate::storage;
use leptos::prelude::*;
use leptos::task::spawn_local;
use medhall_app::protocol::{Reply, Request};
use medhall_app::session::ExportKind;

pub(crate) fn export(state: AppState, kind: ExportKind, run: Option<u32>) {
    ask(
        move |id| Request::Export { id, kind, run },
        move |reply| match reply {
            Reply::Export { export } => {
                if let Err(error) = download_text(&export.file_name, &export.mime, &export.text) {
                    state.message(error);
                }
            }
            Reply::Error { message } => state.message(message),
            _ => {}
        },
    );
}

#[component]
pub(crate) fn ExportPanel(state: AppState) -> impl IntoView {
    let clear = move |_| {
        state.report(send(&Request::Clear, None));
        state.jobs.set(Vec::new());
        state.summaries.set(Vec::new());
        state.view.update(|v| v.set = None);
        spawn_local(async move {
            let Some(db) = DB.with(|d| d.borrow().clone()) else {
                return;
            };
            let cleared = match storage::clear(&db).await {
                Ok(()) => crate::panels::judge::clear_kept_verdicts().await,
                Err(error) => Err(error),
            };
            let cleared = match cleared {
                Ok(()) => crate::panels::bertscore::clear_kept_bertscores().await,
                Err(error) => Err(error),
            };
            match cleared {
                Ok(()) => state.message("Local data cleared.".to_owned()),
                Err(error) => state.message(format!("Could not clear local data: {error}")),
            }
        });
    };
    view! {
        <section id="export">
            <h2>"Export"</h2>
            <div class="row">
                <button on:click=move |_| export(state, ExportKind::SummaryJson, None)>"Summary (JSON)"</button>
                <button on:click=move |_| export(state, ExportKind::SummaryCsv, None)>"Summary (CSV)"</button>
                {move || state.runs.get().into_iter().map(|run| {
                    let id = run.id;
                    view! { <button on:click=move |_| export(state, ExportKind::PerSample, Some(id))>{format!("Per-sample scores: {}", run.name)}</button> }
                }).collect_view()}
            </div>
            <p class="note signature">"Metric signature (in every export): " {move || state.signature.get()}</p>
            <button class="danger" id="clear-local" on:click=clear>"Clear local data"</button>
            <p class="note">"Removes every stored file, URL, run and kept judge verdict from this browser."</p>
        </section>
    }
}
