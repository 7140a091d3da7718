//! The leaderboard view: the benchmark's published leaderboard with the loaded runs placed in it
//! (a model's positive and negative files as one row, renamable), ranks per column, the runs'
//! intervals, sortable; copied as Markdown or LaTeX; embeddable (`?embed=leaderboard`).

use crate::dom::{copy_text, page_url};
use crate::panels::Messages;
use crate::state::{AppState, ask};
use crate::view_state::{EMBED_LEADERBOARD, Tab};
use leptos::prelude::*;
use medhall_app::protocol::{Reply, Request};
use medhall_app::session::LeaderboardView;
use medhall_core::leaderboard::{self, Column, Row};
use medhall_core::sample::Split;

/// How the table is ordered: the leaderboard's own order, or best first in one column and split.
type SortKey = Option<(Column, Split)>;

/// Asks the worker for the leaderboard whenever the data or the row names change, while `active`.
fn follow_leaderboard(
    state: AppState,
    names: RwSignal<Vec<(u32, String)>>,
    active: impl Fn() -> bool + 'static,
) -> RwSignal<Option<Result<LeaderboardView, String>>> {
    let board = RwSignal::new(None);
    Effect::new(move |_| {
        if !active() {
            return;
        }
        state.revision.track();
        let names = names.get();
        ask(
            move |id| Request::Leaderboard { id, names },
            move |reply| match reply {
                Reply::Leaderboard { board: view } => board.set(Some(Ok(view))),
                Reply::Error { message } => board.set(Some(Err(message))),
                _ => {}
            },
        );
    });
    board
}

fn sorted(view: &LeaderboardView, sort: SortKey) -> Vec<Row> {
    let mut rows = view.rows.clone();
    if let Some((column, split)) = sort {
        leaderboard::sort_by(&mut rows, column, split);
    }
    rows
}

fn split_letter(split: Split) -> &'static str {
    match split {
        Split::Positive => "P",
        Split::Negative => "N",
    }
}

/// One cell: the value to two decimals (as published); its rank, interval or why it is missing
/// in the tooltip and `data-*`.
fn cell_view(row: &Row, column: Column, split: Split) -> impl IntoView + use<> {
    let cell = row.cell(column, split).clone();
    let title = match (cell.value, &cell.missing) {
        (Some(value), _) => {
            let rank = cell.rank.map(|r| format!("rank {r}")).unwrap_or_default();
            match cell.ci95 {
                Some([low, high]) => format!("{value:.4}, 95% CI {low:.4} to {high:.4}; {rank}"),
                None if row.is_run => format!("{value:.4}; {rank}; interval not computed yet"),
                None => format!("{value:.2} (published, no interval); {rank}"),
            }
        }
        (None, Some(reason)) => reason.clone(),
        (None, None) => String::new(),
    };
    let text = cell
        .value
        .map_or_else(|| "–".to_owned(), |v| format!("{v:.2}"));
    let top = cell.rank == Some(1);
    view! {
        <td class:missing=cell.value.is_none() class:best=top title=title
            data-column=column.metric() data-split=split.as_str()
            data-value=cell.value.map(|v| v.to_string())
            data-rank=cell.rank.map(|r| r.to_string())>
            {text}
        </td>
    }
}

/// The table itself (also what `?embed=leaderboard` shows).
fn table_view(rows: Vec<Row>, sort: Option<RwSignal<SortKey>>) -> impl IntoView {
    let heads = Column::ALL
        .into_iter()
        .map(|column| view! { <th colspan="2" scope="colgroup">{column.title()}</th> })
        .collect_view();
    let sub_heads = Column::ALL
        .into_iter()
        .flat_map(|column| Split::ALL.map(move |split| (column, split)))
        .map(|(column, split)| {
            let label = split_letter(split);
            match sort {
                Some(sort) => {
                    let key = Some((column, split));
                    let aria = move || {
                        if sort.get() == key {
                            "descending"
                        } else {
                            "none"
                        }
                    };
                    view! {
                        <th scope="col" aria-sort=aria>
                            <button class="sort" data-column=column.metric() data-split=split.as_str()
                                title=format!("Sort by {} ({split}), best first", column.title())
                                on:click=move |_| sort.update(|s| *s = if *s == key { None } else { key })>
                                {label}
                            </button>
                        </th>
                    }
                    .into_any()
                }
                None => view! { <th scope="col">{label}</th> }.into_any(),
            }
        })
        .collect_view();
    let body = rows
        .into_iter()
        .map(|row| {
            let cells = Column::ALL
                .into_iter()
                .flat_map(|column| Split::ALL.map(move |split| (column, split)))
                .map(|(column, split)| cell_view(&row, column, split))
                .collect_view();
            view! {
                <tr class:run-row=row.is_run data-model=row.model.clone() data-group=row.group.clone()>
                    <th scope="row" class="model">{row.model.clone()}</th>
                    <td class="group">{row.group.clone()}</td>
                    {cells}
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-scroll" tabindex="0" role="region" aria-label="Leaderboard table">
            <table class="leaderboard">
                <thead>
                    <tr><th rowspan="2" scope="col">"Model"</th><th rowspan="2" scope="col">"Group"</th>{heads}</tr>
                    <tr>{sub_heads}</tr>
                </thead>
                <tbody>{body}</tbody>
            </table>
        </div>
    }
}

/// Why the runs' cells are empty, once per run and reason.
fn missing_notes(rows: &[Row]) -> Vec<String> {
    let mut notes = Vec::new();
    for row in rows.iter().filter(|r| r.is_run) {
        for column in Column::ALL {
            for split in Split::ALL {
                if let Some(reason) = &row.cell(column, split).missing {
                    let note = format!("{}: {} ({split}): {reason}", row.model, column.title());
                    if !notes.contains(&note) {
                        notes.push(note);
                    }
                }
            }
        }
    }
    notes
}

#[component]
pub(crate) fn LeaderboardPanel(state: AppState) -> impl IntoView {
    let names = state.model_names;
    let board = follow_leaderboard(state, names, move || {
        state.view.with(|v| v.tab == Tab::Leaderboard)
    });
    let sort = RwSignal::new(None::<(Column, Split)>);
    let copy_kind = RwSignal::new("markdown".to_owned());
    let copy_text_now = move || {
        board.with(|b| match b {
            Some(Ok(view)) => {
                let rows = sorted(view, sort.get());
                if copy_kind.get() == "latex" {
                    leaderboard::to_latex(&rows)
                } else {
                    leaderboard::to_markdown(&rows)
                }
            }
            _ => String::new(),
        })
    };
    let embed_snippet = move || {
        if state.view.with(|v| v.set.is_some()) {
            let query = state
                .view
                .with(|v| v.embed_query_of(EMBED_LEADERBOARD.to_owned()));
            format!(
                "<iframe src=\"{}{query}\" width=\"100%\" height=\"900\" style=\"border:0\" title=\"MedHall Lens leaderboard\"></iframe>",
                page_url()
            )
        } else {
            "Embeds load their data from URLs: load a shard set from datasets.json to get an embed snippet (dropped files stay on this machine). Copy the table as Markdown or LaTeX instead.".to_owned()
        }
    };
    let rename = move |run: u32, model: String| {
        names.update(|n| {
            n.retain(|(id, _)| *id != run);
            n.push((run, model));
        });
    };
    view! {
        <section id="leaderboard">
            <h2>"Leaderboard"</h2>
            {move || match board.get() {
                None => view! { <p class="note">"Reading the leaderboard…"</p> }.into_any(),
                Some(Err(message)) => view! { <p class="error">{message}</p> }.into_any(),
                Some(Ok(view)) => {
                    let runs = view.rows.iter().filter(|r| r.is_run).count();
                    let notes = missing_notes(&view.rows);
                    let members = view.members.clone();
                    view! {
                        <p class="note leaderboard-source">
                            {format!(
                                "The benchmark's published leaderboard ({} models; {}) with your runs ({runs}) placed in it. \
                                 P: non-hallucination (positive) questions, N: hallucination (negative) questions. \
                                 Published rows have no intervals; hover a run's value for its 95% bootstrap interval and rank. \
                                 Click P or N under a column to sort by it.",
                                view.rows.len() - runs, view.source
                            )}
                        </p>
                        {(view.pending > 0).then(|| view! {
                            <p class="note">{format!("{} run(s) still loading or being scored are not in the table yet.", view.pending)}</p>
                        })}
                        {view.notes.iter().map(|n| view! { <p class="note">{n.clone()}</p> }).collect_view()}
                        {(!view.judge_notes.is_empty()).then(|| view! {
                            <ul class="note judge-notes">
                                {view.judge_notes.iter().map(|n| view! { <li>{n.clone()}</li> }).collect_view()}
                            </ul>
                        })}
                        {move || table_view(board.with(|b| match b {
                            Some(Ok(view)) => sorted(view, sort.get()),
                            _ => Vec::new(),
                        }), Some(sort))}
                        {(!notes.is_empty()).then(|| view! {
                            <details class="missing-notes">
                                <summary>{format!("Why some of your runs' cells are empty ({})", notes.len())}</summary>
                                <ul>{notes.into_iter().map(|n| view! { <li>{n}</li> }).collect_view()}</ul>
                            </details>
                        })}
                        {(!members.is_empty()).then(|| view! {
                            <details class="row-names">
                                <summary>"Which files form each row"</summary>
                                <p class="note">"A model's positive and negative files form one row, paired by their names. Give files the same row name to pair them, or different names to list them apart."</p>
                                <table class="members">
                                    <thead><tr><th>"File (run)"</th><th>"Row"</th></tr></thead>
                                    <tbody>
                                    {members.into_iter().map(|m| {
                                        let run = m.run;
                                        view! {
                                            <tr data-run-id=run>
                                                <td>{m.run_name.clone()}</td>
                                                <td><input type="text" class="row-name" aria-label=format!("Row of {}", m.run_name)
                                                    prop:value=m.model.clone()
                                                    on:change=move |ev| rename(run, event_target_value(&ev))/></td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                    </tbody>
                                </table>
                            </details>
                        })}
                    }
                    .into_any()
                }
            }}
            <div class="row">
                <label>"Copy as "
                    <select id="leaderboard-format" prop:value=copy_kind on:change=move |ev| copy_kind.set(event_target_value(&ev))>
                        <option value="markdown">"Markdown"</option>
                        <option value="latex">"LaTeX (booktabs)"</option>
                    </select>
                </label>
                <button id="copy-leaderboard" on:click=move |_| copy_text(state, &copy_text_now())>"Copy table"</button>
            </div>
            <textarea readonly id="leaderboard-text" class="snippet" aria-label="The table as text" prop:value=copy_text_now></textarea>
            <label class="note">"Embed snippet "
                <textarea readonly id="leaderboard-embed" class="snippet" prop:value=embed_snippet></textarea>
            </label>
        </section>
    }
}

/// `?embed=leaderboard`: the table alone, for an iframe.
#[component]
pub(crate) fn LeaderboardEmbed(state: AppState) -> impl IntoView {
    let names = state.model_names;
    let board = follow_leaderboard(state, names, || true);
    view! {
        <div class="embed">
            {move || match board.get() {
                Some(Ok(view)) => {
                    let rows = view.rows.clone();
                    view! {
                        {table_view(rows, None)}
                        <p class="note">{format!("MedHall Lens · MedHallTune leaderboard ({}) · P: non-hallucination, N: hallucination", view.source)}</p>
                    }
                    .into_any()
                }
                Some(Err(message)) => view! { <p class="error">{message}</p> }.into_any(),
                None => view! { <p class="note">"Reading the leaderboard…"</p> }.into_any(),
            }}
            <Messages state=state/>
        </div>
    }
}
