//! The results files: dropped runs, their names, issues and removal.

use crate::describe_lines;
use crate::dom::{files_of, input_files};
use crate::loading::load_results_file;
use crate::state::{AppState, DB, send};
use crate::storage::{self, Stored};
use leptos::prelude::*;
use leptos::task::spawn_local;
use medhall_app::protocol::Request;

#[component]
pub(crate) fn RunsPanel(state: AppState) -> impl IntoView {
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        let files = ev.data_transfer().and_then(|d| d.files());
        for file in files_of(files) {
            load_results_file(state, file);
        }
    };
    view! {
        <section id="runs">
            <h2>"Results files"</h2>
            <div class="drop" on:dragover=move |ev: leptos::ev::DragEvent| ev.prevent_default() on:drop=on_drop>
                <label for="results-input">"Drop results files here or choose them"</label>
                <input type="file" id="results-input" multiple aria-describedby="results-input-help"
                    on:change=move |ev| for file in input_files(&ev) { load_results_file(state, file) }/>
                <p class="help" id="results-input-help">"Official predictions JSONL, judge-eval JSONL, CSV or JSON: one file per run."</p>
            </div>
            <div class="table-scroll" tabindex="0" role="region" aria-label="Results files table">
            <table class="runs">
                <thead><tr><th>"Run"</th><th>"Samples"</th><th>"Scored"</th><th>"Judge"</th><th>"Issues"</th><th><span class="visually-hidden">"Remove"</span></th></tr></thead>
                <tbody>
                {move || state.runs.get().into_iter().map(|run| {
                    let id = run.id;
                    let malformed = run.issues.counts.get(&medhall_core::dataset::IssueKind::Malformed).copied().unwrap_or(0);
                    let issues = if malformed > 0 {
                        format!("{} issue(s); {}", run.issues.total(), describe_lines(malformed, &run.issues.malformed_lines()))
                    } else {
                        format!("{} issue(s)", run.issues.total())
                    };
                    let listed: Vec<String> = run.issues.first.iter().map(ToString::to_string).collect();
                    let shown = listed.len() as u64;
                    let total = run.issues.total();
                    let issue_cell = if total == 0 {
                        view! { <span>{issues}</span> }.into_any()
                    } else {
                        view! {
                            <details>
                                <summary>{issues}</summary>
                                <ul class="issue-list">
                                    {listed.into_iter().map(|line| view! { <li>{line}</li> }).collect_view()}
                                </ul>
                                {(total > shown).then(|| view! {
                                    <p class="note">{format!("The first {shown} are listed (up to 50 of each kind), out of {total}.")}</p>
                                })}
                            </details>
                        }.into_any()
                    };
                    // Which judge gave the verdicts: named, and a mix flagged (never blended).
                    let mixed = run.judges.is_mixed();
                    let judge_note = (!run.judges.judges.is_empty()).then(|| {
                        let names: Vec<String> = run.judges.judges.iter()
                            .map(|(label, n)| if mixed { format!("{label}: {n}") } else { label.clone() })
                            .collect();
                        view! {
                            <div class=if mixed { "judge-names mixed" } else { "judge-names" }>
                                {mixed.then_some("Mixed judges: ")}{names.join("; ")}
                            </div>
                        }
                    });
                    view! {
                        <tr data-run-id=id>
                            <td><input class="run-name" aria-label=format!("Name of run {}", run.name) prop:value=run.name.clone()
                                on:change=move |ev| {
                                    let name = event_target_value(&ev);
                                    state.report(send(&Request::RenameRun { run: id, name: name.clone() }, None));
                                    rename_stored(state, id, name);
                                }/></td>
                            <td>{run.predictions}</td>
                            <td>{run.scored}</td>
                            <td class="judge-cell">{run.with_judge}{judge_note}</td>
                            <td class="issues">{issue_cell}</td>
                            <td><button on:click=move |_| remove_run(state, id) aria-label=format!("Remove {}", run.name)>"Remove"</button></td>
                        </tr>
                    }
                }).collect_view()}
                </tbody>
            </table>
            </div>
        </section>
    }
}

pub(crate) fn rename_stored(state: AppState, run: u32, name: String) {
    if state.embedded {
        return;
    }
    spawn_local(async move {
        let Some(db) = DB.with(|d| d.borrow().clone()) else {
            return;
        };
        let Ok((items, _)) = storage::all(&db).await else {
            return;
        };
        for (mut stored, file) in items {
            if let Stored::Run {
                run: id, name: old, ..
            } = &mut stored.item
                && *id == run
            {
                *old = name.clone();
                if let Err(error) = storage::put(&db, &stored, file.as_ref()).await {
                    state.message(format!("Not saved locally: {error}"));
                }
            }
        }
    });
}

pub(crate) fn remove_run(state: AppState, run: u32) {
    state.report(send(&Request::RemoveRun { run }, None));
    spawn_local(async move {
        let Some(db) = DB.with(|d| d.borrow().clone()) else {
            return;
        };
        if let Err(error) = storage::delete(&db, &format!("run:{run}")).await {
            state.message(format!("Could not remove the local copy: {error}"));
        }
    });
}
