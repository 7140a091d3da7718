//! The Rate view (issue 30): a clinician rates a seeded sample of one model's answers on the
//! benchmark's four criteria, with the judge instruction's own wording and 1–10 scales, blind:
//! the judge's scores and the runs behind the answers are shown only once the rater finishes.
//! The sample is drawn by the scoring worker (`Session::rating_plan`, what `medhall rate-plan`
//! draws) or read from a plan file, so several raters rate the same items. Keyboard first;
//! every change is kept in IndexedDB (`sheet.rs`), and the ratings export as the JSONL lines
//! `medhall agreement --ratings` and the Agreement view read.

mod sheet;

use crate::download::download_text;
use crate::panels::run_models;
use crate::state::{AppState, ask};
use crate::view_state::Tab;
use leptos::prelude::*;
use leptos::task::spawn_local;
use medhall_app::protocol::{Reply, Request};
use medhall_app::rating::RatingSheet;
use medhall_app::session::{JudgedItem, RatePlanQuery};
use medhall_core::agreement::{CRITERIA, PlanItem, PlanQuery, RatingPlan, rubric};
use medhall_core::sample::Split;
use sheet::Rating;
use web_sys::File;

/// The setup form's choices.
#[derive(Clone, Copy)]
struct Setup {
    rater: RwSignal<String>,
    /// `loaded` (a sample of a loaded model's answers) or `file` (a plan file).
    source: RwSignal<String>,
    model: RwSignal<String>,
    per_split: RwSignal<String>,
    seed: RwSignal<String>,
    split: RwSignal<String>,
    show_reference: RwSignal<bool>,
    error: RwSignal<Option<String>>,
}

impl Setup {
    fn query(&self, state: AppState) -> Result<RatePlanQuery, String> {
        let model = self.model.get_untracked();
        let runs: Vec<u32> = state.runs.with_untracked(|runs| {
            run_models(runs, &state.model_names.get_untracked())
                .into_iter()
                .find(|(name, _)| *name == model)
                .map(|(_, runs)| runs.iter().map(|r| r.id).collect())
                .unwrap_or_default()
        });
        if runs.is_empty() {
            return Err("Choose the model whose answers are rated.".to_owned());
        }
        let per_split = self
            .per_split
            .get_untracked()
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or("Items per split: a whole number from 1 to 10000.")?;
        let seed = self
            .seed
            .get_untracked()
            .trim()
            .parse::<u64>()
            .map_err(|_| "Seed: a whole number (0 or more).")?;
        Ok(RatePlanQuery {
            runs,
            plan: PlanQuery {
                per_split,
                seed,
                split: Split::parse(&self.split.get_untracked()),
                hallucination_type: None,
                show_reference: self.show_reference.get_untracked(),
            },
        })
    }
}

/// Asks the worker for the plan the form describes.
fn draw_plan(state: AppState, setup: Setup, then: impl FnOnce(RatingPlan) + 'static) {
    let query = match setup.query(state) {
        Ok(query) => query,
        Err(message) => return setup.error.set(Some(message)),
    };
    setup.error.set(None);
    ask(
        move |id| Request::RatingPlan { id, query },
        move |reply| match reply {
            Reply::RatingPlan { plan } => then(plan),
            Reply::Error { message } => setup.error.set(Some(message)),
            _ => setup.error.set(Some("unexpected reply".to_owned())),
        },
    );
}

async fn read_plan(file: File) -> Result<RatingPlan, String> {
    let name = file.name();
    let text = crate::dom::file_text(&file).await?;
    RatingPlan::from_json(text.as_bytes()).map_err(|e| format!("{name}: {e}"))
}

fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

#[component]
pub(crate) fn RatePanel(state: AppState) -> impl IntoView {
    let rating = Rating::new(state);
    let setup = Setup {
        rater: RwSignal::new(String::new()),
        source: RwSignal::new("loaded".to_owned()),
        model: RwSignal::new(String::new()),
        per_split: RwSignal::new(medhall_core::agreement::plan::DEFAULT_PER_SPLIT.to_string()),
        seed: RwSignal::new("0".to_owned()),
        split: RwSignal::new(String::new()),
        show_reference: RwSignal::new(true),
        error: RwSignal::new(None),
    };
    let on_key = window_event_listener(leptos::ev::keydown, move |ev| rating.on_key(&ev));
    on_cleanup(move || on_key.remove());
    view! {
        <section id="rate">
            <h2>"Rate answers blind"</h2>
            {move || match rating.sheet.with(|s| s.as_ref().map(|s| s.finished)) {
                None => view! { <SetupForm state=state rating=rating setup=setup/> }.into_any(),
                Some(false) => view! { <RatingForm state=state rating=rating/> }.into_any(),
                Some(true) => view! { <Revealed state=state rating=rating/> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn SetupForm(state: AppState, rating: Rating, setup: Setup) -> impl IntoView {
    let models = move || {
        state.runs.with(|runs| {
            run_models(runs, &state.model_names.get())
                .into_iter()
                .map(|(name, _)| name)
                .collect::<Vec<_>>()
        })
    };
    // The first model until one is chosen.
    Effect::new(move |_| {
        let names = models();
        let chosen = setup.model.get();
        if !names.contains(&chosen) {
            // Set only when it changes: setting a signal notifies even when the value is equal.
            let first = names.first().cloned().unwrap_or_default();
            if first != chosen {
                setup.model.set(first);
            }
        }
    });
    let plan_file = RwSignal::new_local(None::<File>);
    let rater_ok = move || !setup.rater.get().trim().is_empty();
    let start = move |_| {
        let rater = setup.rater.get_untracked();
        if rater.trim().is_empty() {
            return setup.error.set(Some(
                "Type your name first: it goes into every rating line.".to_owned(),
            ));
        }
        if setup.source.get_untracked() == "file" {
            let Some(file) = plan_file.get_untracked() else {
                return setup.error.set(Some("Choose the plan file.".to_owned()));
            };
            spawn_local(async move {
                match read_plan(file).await {
                    Ok(plan) => {
                        setup.error.set(None);
                        rating.open(RatingSheet::new(plan, &rater));
                    }
                    Err(message) => setup.error.set(Some(message)),
                }
            });
        } else {
            draw_plan(state, setup, move |plan| {
                rating.open(RatingSheet::new(plan, &rater))
            });
        }
    };
    let download_plan = move |_| {
        draw_plan(state, setup, move |plan| {
            let name = format!("rating-plan-{}.json", short_id(&plan.id));
            let sent = serde_json::to_string_pretty(&plan)
                .map_err(|e| e.to_string())
                .and_then(|text| download_text(&name, "application/json", &text));
            state.report(sent);
        });
    };
    let model_options = move || {
        models()
            .into_iter()
            .map(|m| view! { <option value=m.clone()>{m.clone()}</option> })
            .collect_view()
    };
    let from_file = move || setup.source.get() == "file";
    view! {
        <p class="note">
            "A seeded sample of one model's answers, rated on the benchmark's four criteria with the judge's own rubric. "
            "The judge's scores and the model's runs stay hidden until you finish. Choosing the model here shows its name; "
            "for fully blind rating, one person downloads the plan and the raters rate that file."
        </p>
        <div class="form" id="rate-setup">
            <label for="rate-rater">"Your name"</label>
            <div class="field">
                <input id="rate-rater" type="text" autocomplete="name" aria-describedby="rate-rater-help"
                    prop:value=setup.rater on:input=move |ev| setup.rater.set(event_target_value(&ev))/>
                <p class="help" id="rate-rater-help">"Written into each rating line, so several raters' files can be merged."</p>
            </div>
            <label for="rate-source">"Items"</label>
            <div class="field">
                <select id="rate-source" prop:value=setup.source on:change=move |ev| setup.source.set(event_target_value(&ev))>
                    <option value="loaded">"A sample of a loaded model's answers"</option>
                    <option value="file">"A rating plan file"</option>
                </select>
            </div>
            <Show when=from_file>
                <label for="rate-plan-file">"Plan file"</label>
                <div class="field">
                    <input id="rate-plan-file" type="file" accept=".json,application/json" aria-describedby="rate-plan-help"
                        on:change=move |ev| plan_file.set(crate::dom::input_files(&ev).into_iter().next())/>
                    <p class="help" id="rate-plan-help">"From “Download the plan” here or `medhall rate-plan`; its id is checked against its items."</p>
                </div>
            </Show>
            <Show when=move || !from_file()>
                <label for="rate-model">"Model"</label>
                <div class="field">
                    <select id="rate-model" prop:value=setup.model on:change=move |ev| setup.model.set(event_target_value(&ev))>
                        {model_options}
                    </select>
                </div>
                <label for="rate-per-split">"Items per split"</label>
                <div class="field">
                    <input id="rate-per-split" type="number" min="1" max="10000" step="1"
                        prop:value=setup.per_split on:change=move |ev| setup.per_split.set(event_target_value(&ev))/>
                </div>
                <label for="rate-split">"Splits"</label>
                <div class="field">
                    <select id="rate-split" prop:value=setup.split on:change=move |ev| setup.split.set(event_target_value(&ev))>
                        <option value="">"both"</option>
                        <option value="positive">"positive (non-hallucination) only"</option>
                        <option value="negative">"negative (hallucination) only"</option>
                    </select>
                </div>
                <label for="rate-seed">"Seed"</label>
                <div class="field">
                    <input id="rate-seed" type="number" min="0" step="1" aria-describedby="rate-seed-help"
                        prop:value=setup.seed on:change=move |ev| setup.seed.set(event_target_value(&ev))/>
                    <p class="help" id="rate-seed-help">"The same seed and answers draw the same items (the plan id says so)."</p>
                </div>
                <div class="field check">
                    <label>
                        <input id="rate-show-reference" type="checkbox" prop:checked=setup.show_reference
                            on:change=move |ev| setup.show_reference.set(event_target_checked(&ev))/>
                        "Show the reference answer beside the model's"
                    </label>
                </div>
            </Show>
            <div class="field action">
                <button id="rate-start" class="primary" on:click=start disabled=move || !rater_ok()>"Start rating"</button>
                <Show when=move || !from_file()>
                    <button id="rate-download-plan" on:click=download_plan>"Download the plan"</button>
                </Show>
            </div>
        </div>
        {move || setup.error.get().map(|e| view! { <p class="error" id="rate-error" role="alert">{e}</p> })}
        <StoredSheets rating=rating/>
    }
}

/// The sheets this browser keeps: resume, or delete.
#[component]
fn StoredSheets(rating: Rating) -> impl IntoView {
    view! {
        <Show when=move || rating.stored.with(|s| !s.is_empty())>
            <h3>"Sheets in this browser"</h3>
            <ul class="stored-sheets">
                {move || rating.stored.get().into_iter().map(|sheet| {
                    let label = format!(
                        "{} · plan {} · {} of {} rated{}",
                        sheet.rater,
                        short_id(&sheet.plan.id),
                        sheet.completed(),
                        sheet.ratings.len(),
                        if sheet.finished { " · finished" } else { "" }
                    );
                    let id = sheet.id();
                    let shown_id = id.clone();
                    let open = sheet.clone();
                    view! {
                        <li class="stored-sheet" data-sheet=shown_id>
                            <span>{label}</span>
                            <button class="resume-sheet" on:click=move |_| rating.open(open.clone())>
                                {if sheet.finished { "Open" } else { "Resume" }}
                            </button>
                            <button class="delete-sheet" on:click=move |_| {
                                let sure = web_sys::window()
                                    .and_then(|w| w.confirm_with_message("Delete these ratings from this browser? Export them first if you need them.").ok())
                                    .unwrap_or(false);
                                if sure {
                                    rating.delete(id.clone());
                                }
                            }>"Delete"</button>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </Show>
    }
}

fn export(state: AppState, sheet: &RatingSheet) {
    state.report(download_text(
        &sheet.file_name(),
        "application/x-ndjson",
        &sheet.to_jsonl(),
    ));
}

/// What the rater sees of an item: no split, no type, no run, no judge.
fn item_view(state: AppState, item: &PlanItem) -> impl IntoView + use<> {
    let image = item.image.clone().map(|name| {
        match state
            .allowed_image_base()
            .and_then(|base| base.image_url(&name))
        {
            Some(src) => {
                view! { <img class="sample-image" src=src alt="the question's image"/> }.into_any()
            }
            None => view! {
                <p class="note rate-image-name">
                    {format!("Image: {name} (set an image base URL on Samples to see it here)")}
                </p>
            }
            .into_any(),
        }
    });
    let field = |title: &'static str, class: &'static str, text: Option<String>| {
        text.map(|text| {
            view! {
                <div class=format!("rate-field {class}")>
                    <h4>{title}</h4>
                    <p class="text">{text}</p>
                </div>
            }
        })
    };
    view! {
        <div class="rate-item">
            {image}
            {field("Caption", "rate-caption", item.caption.clone())}
            {field("Question", "rate-question", item.question.clone())}
            {field("Model's answer", "rate-answer", Some(item.answer.clone()))}
            {field("Reference answer", "rate-reference", item.reference.clone())}
        </div>
    }
}

#[component]
fn RatingForm(state: AppState, rating: Rating) -> impl IntoView {
    let criteria = rubric();
    let current = move || {
        rating.sheet.with(|s| {
            s.as_ref()
                .map(|s| (s.position, s.criterion, s.ratings.len(), s.completed()))
        })
    };
    let item = move || {
        rating.sheet.with(|s| {
            s.as_ref()
                .and_then(|s| s.plan.items.get(s.position).cloned())
        })
    };
    let scores = move || {
        rating.sheet.with(|s| {
            s.as_ref()
                .and_then(|s| s.ratings.get(s.position).map(|r| r.scores))
                .unwrap_or_default()
        })
    };
    let note = move || {
        rating.sheet.with(|s| {
            s.as_ref()
                .and_then(|s| s.ratings.get(s.position).map(|r| r.note.clone()))
                .unwrap_or_default()
        })
    };
    let all_complete = move || {
        rating
            .sheet
            .with(|s| s.as_ref().is_some_and(RatingSheet::all_complete))
    };
    let criterion_views = criteria
        .into_iter()
        .enumerate()
        .map(|(index, criterion)| {
            let legend_id = format!("rate-criterion-{index}");
            let labelled_by = legend_id.clone();
            let field = CRITERIA.get(index).copied().unwrap_or_default();
            let buttons = (1..=10u8)
                .map(|score| {
                    let pressed = move || scores().get(index).copied().flatten() == Some(score);
                    view! {
                        <button class="score" data-score=score.to_string()
                            aria-pressed=move || pressed().to_string()
                            on:click=move |_| rating.change(|sheet, time| sheet.score_criterion(index, score, time))>
                            {score.to_string()}
                        </button>
                    }
                })
                .collect_view();
            let bands = criterion
                .bands
                .iter()
                .map(|(band, text)| view! { <li><strong>{band.clone()}</strong>": "{text.clone()}</li> })
                .collect_view();
            let is_current = move || current().is_some_and(|(_, c, ..)| c == index);
            view! {
                <div class="criterion" role="group" aria-labelledby=labelled_by data-criterion=field
                    class:current=is_current>
                    <div class="criterion-head">
                        <span class="criterion-title" id=legend_id>{criterion.title.clone()}</span>
                        <span class="criterion-score">{move || scores().get(index).copied().flatten().map_or_else(|| "not scored".to_owned(), |s| s.to_string())}</span>
                    </div>
                    <div class="scores">{buttons}</div>
                    <details class="rubric">
                        <summary>"What the scores mean"</summary>
                        <ul>{bands}</ul>
                    </details>
                </div>
            }
        })
        .collect_view();
    view! {
        <div id="rate-sheet">
            {move || current().map(|(position, _, total, complete)| view! {
                <p class="rate-progress" id="rate-progress" aria-live="polite"
                    data-position=position.to_string() data-complete=complete.to_string()>
                    {format!("Item {} of {total} · {complete} complete", position + 1)}
                </p>
                <progress max=total.to_string() value=complete.to_string() aria-label="Items complete"></progress>
            })}
            {move || item().map(|item| item_view(state, &item))}
            <div class="criteria">{criterion_views}</div>
            <div class="form">
                <label for="rate-note">"Note (optional)"</label>
                <div class="field">
                    <textarea id="rate-note" rows="2" prop:value=note
                        on:change=move |ev| {
                            let text = event_target_value(&ev);
                            rating.change(|sheet, _| sheet.set_note(&text));
                        }></textarea>
                </div>
            </div>
            <p class="help keys-help">
                "Keys: 1–9 and 0 (for 10) score the highlighted criterion and move to the next; ↑ ↓ another criterion; "
                "n, → or Enter the next item; p or ← the previous one."
            </p>
            <div class="row actions">
                <button id="rate-prev" on:click=move |_| rating.change(|sheet, _| sheet.go_to(sheet.position.saturating_sub(1)))>"Previous"</button>
                <button id="rate-next" on:click=move |_| rating.change(|sheet, _| sheet.go_to(sheet.position + 1))>"Next"</button>
                <button id="rate-finish" class="primary" disabled=move || !all_complete() on:click=move |_| rating.finish()>
                    "Finish and show the judge"
                </button>
                <button id="rate-export" on:click=move |_| {
                    if let Some(sheet) = rating.sheet.get_untracked() { export(state, &sheet) }
                }>"Export ratings so far"</button>
                <button id="rate-close" on:click=move |_| rating.close()>"Close (kept in this browser)"</button>
            </div>
        </div>
    }
}

/// A finished sheet: the rater's scores beside the judges' and the runs the answers came from.
#[component]
fn Revealed(state: AppState, rating: Rating) -> impl IntoView {
    let rows = move || {
        let sheet = rating.sheet.get()?;
        let judged = rating.judged.get();
        let rows = sheet
            .plan
            .items
            .iter()
            .zip(&sheet.ratings)
            .map(|(item, rated)| {
                let key = item.key();
                let theirs: Vec<JudgedItem> = match &judged {
                    Some(Ok(items)) => items.iter().filter(|j| j.key == key).cloned().collect(),
                    _ => Vec::new(),
                };
                let mine = rated
                    .scores
                    .iter()
                    .map(|s| s.map_or_else(|| "–".to_owned(), |s| s.to_string()))
                    .collect::<Vec<_>>()
                    .join(" ");
                let judge = if theirs.is_empty() {
                    "no verdict loaded".to_owned()
                } else {
                    theirs
                        .iter()
                        .map(|j| {
                            let s: Vec<String> = j.scores.iter().map(|s| format!("{s}")).collect();
                            format!("{} ({}, {})", s.join(" "), j.judge, j.run)
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                };
                view! {
                    <tr class="revealed-item" data-split=item.split.as_str() data-id=item.question_id.clone()>
                        <td>{item.split.as_str()}</td>
                        <td>{item.question_id.clone()}</td>
                        <td class="num">{mine}</td>
                        <td class="text">{judge}</td>
                        <td class="text">{rated.note.clone()}</td>
                    </tr>
                }
            })
            .collect_view();
        Some((sheet, rows))
    };
    view! {
        {move || rows().map(|(sheet, rows)| {
            let for_export = sheet.clone();
            view! {
                <p class="note" id="rate-finished">
                    {format!("{} rated {} items of plan {}. Your scores, then the judge's (clinical accuracy, relevance, detail, risk), with the judge and the run the answer came from:", sheet.rater, sheet.completed(), short_id(&sheet.plan.id))}
                </p>
                <div class="row actions">
                    <button id="rate-export" class="primary" on:click=move |_| export(state, &for_export)>"Export ratings (JSONL)"</button>
                    <button id="rate-agreement" on:click=move |_| state.view.update(|v| v.tab = Tab::Agreement)>"Agreement with the judge"</button>
                    <button id="rate-close" on:click=move |_| rating.close()>"Close"</button>
                </div>
                {move || match rating.judged.get() {
                    Some(Err(message)) => Some(view! { <p class="error">{message}</p> }),
                    _ => None,
                }}
                <div class="table-scroll" tabindex="0" role="region" aria-label="Your scores and the judge's">
                    <table class="revealed">
                        <thead><tr><th>"split"</th><th>"id"</th><th>"yours"</th><th>"judge (judge, run)"</th><th>"note"</th></tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
            }
        })}
    }
}
