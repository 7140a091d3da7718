//! The Agreement view (issue 30): rating files (dropped, or the sheets rated in this browser)
//! against the judges of loaded runs, per criterion, split and hallucination type: quadratic
//! κ, Spearman's ρ and the judge − human bias with Bland–Altman limits for every pair of
//! raters, Krippendorff's α among the humans and with each judge, 95% bootstrap intervals, the
//! items they disagree on most (each opens in Samples), a human × judge heatmap per criterion,
//! and the signature of every figure. The figures are `Session::agreement`'s, the inputs in the
//! order `medhall agreement --ratings … --judged …` takes them, so the CLI gives the same.

use crate::download::download_text;
use crate::panels::run_models;
use crate::state::{AppState, ask};
use crate::storage;
use crate::view_state::Tab;
use leptos::prelude::*;
use leptos::task::spawn_local;
use medhall_app::protocol::{Reply, Request};
use medhall_app::rating::RatingSheet;
use medhall_app::session::{AgreementQuery, AgreementView, RatingFile};
use medhall_core::agreement::{
    AlphaAgreement, CRITERIA, Estimate, GroupAgreement, PairAgreement, RaterKind, ScoreGrid,
};
use medhall_core::sample::SampleKey;
use medhall_core::stats::StatsConfig;

/// A figure as shown (three decimals), its full value in `data-value` for a reader that checks.
fn estimate_cell(estimate: &Estimate, class: &'static str) -> impl IntoView + use<> {
    let text = estimate
        .value
        .map_or_else(|| "–".to_owned(), |v| format!("{v:.3}"));
    let ci = estimate
        .ci95
        .map(|[low, high]| format!("{low:.3} to {high:.3}"))
        .unwrap_or_default();
    view! {
        <td class=format!("num {class}") data-value=estimate.value.map(|v| v.to_string())
            data-low=estimate.ci95.map(|c| c[0].to_string()) data-high=estimate.ci95.map(|c| c[1].to_string())>
            {text}
            {(!ci.is_empty()).then(|| view! { <span class="ci">{format!(" [{ci}]")}</span> })}
        </td>
    }
}

fn group_label(group: &GroupAgreement) -> String {
    match &group.hallucination_type {
        Some(t) => format!("{} · {} · {t}", group.criterion, group.split.as_str()),
        None => format!("{} · {}", group.criterion, group.split.as_str()),
    }
}

fn pair_row(group: &GroupAgreement, pair: &PairAgreement) -> impl IntoView + use<> {
    let limits = pair
        .limits
        .map(|[low, high]| format!("{low:.2} to {high:.2}"))
        .unwrap_or_else(|| "–".to_owned());
    view! {
        <tr class="agreement-pair" data-criterion=group.criterion.clone() data-split=group.split.as_str()
            data-type=group.hallucination_type.clone() data-first=pair.first.clone() data-second=pair.second.clone()
            title=pair.signature.clone()>
            <td>{group_label(group)}</td>
            <td class="text">{format!("{} vs {}", pair.first, pair.second)}</td>
            <td class="num">{pair.n}</td>
            {estimate_cell(&pair.kappa, "kappa")}
            {estimate_cell(&pair.spearman, "rho")}
            {estimate_cell(&pair.bias, "bias")}
            <td class="num limits">{limits}</td>
        </tr>
    }
}

fn alpha_row(group: &GroupAgreement, alpha: &AlphaAgreement) -> impl IntoView + use<> {
    view! {
        <tr class="agreement-alpha" data-criterion=group.criterion.clone() data-split=group.split.as_str()
            data-type=group.hallucination_type.clone() data-set=alpha.set.clone() title=alpha.signature.clone()>
            <td>{group_label(group)}</td>
            <td class="text">{format!("{} ({})", alpha.set, alpha.members.join(", "))}</td>
            <td class="num">{alpha.units}</td>
            {estimate_cell(&alpha.interval, "alpha-interval")}
            {estimate_cell(&alpha.ordinal, "alpha-ordinal")}
        </tr>
    }
}

/// The count grid as a table: humans' scores down, the judge's across, shaded by count.
fn heatmap(grid: &ScoreGrid) -> impl IntoView + use<> {
    let most = grid
        .counts
        .iter()
        .flatten()
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let head = (1..=10)
        .map(|j| view! { <th scope="col">{j}</th> })
        .collect_view();
    let rows = grid
        .counts
        .iter()
        .enumerate()
        .map(|(h, row)| {
            let cells = row
                .iter()
                .map(|&count| {
                    let shade = f64::from(count) / f64::from(most);
                    view! {
                        <td class="num heat" style=format!("--shade: {:.3}", shade * 0.8)>
                            {(count > 0).then(|| count.to_string())}
                        </td>
                    }
                })
                .collect_view();
            view! { <tr><th scope="row">{h + 1}</th>{cells}</tr> }
        })
        .collect_view();
    let caption = format!(
        "{}: human score (rows) × {} (columns)",
        grid.criterion, grid.judge
    );
    let label = caption.clone();
    view! {
        <div class="table-scroll" tabindex="0" role="region" aria-label=label>
            <table class="heatmap" data-criterion=grid.criterion.clone() data-judge=grid.judge.clone()>
                <caption>{caption}</caption>
                <thead><tr><th scope="col">"h \\ j"</th>{head}</tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

fn open_sample(state: AppState, key: SampleKey) {
    state.view.update(|v| {
        v.sample = Some(key);
        v.tab = Tab::Samples;
    });
}

fn results(state: AppState, view: &AgreementView, criterion: &str) -> impl IntoView + use<> {
    let report = &view.report;
    let shown = |group: &&GroupAgreement| criterion.is_empty() || group.criterion == criterion;
    let pairs = report
        .groups
        .iter()
        .filter(shown)
        .flat_map(|g| g.pairs.iter().map(move |p| pair_row(g, p)))
        .collect_view();
    let alphas = report
        .groups
        .iter()
        .filter(shown)
        .flat_map(|g| g.alphas.iter().map(move |a| alpha_row(g, a)))
        .collect_view();
    let disagreements = report
        .groups
        .iter()
        .filter(shown)
        .filter(|g| g.hallucination_type.is_none())
        .flat_map(|g| {
            g.disagreements.iter().map(move |d| {
                let key = SampleKey {
                    split: d.split,
                    question_id: d.question_id.clone(),
                };
                let ratings = d
                    .ratings
                    .iter()
                    .map(|(rater, score)| format!("{rater} {score}"))
                    .collect::<Vec<_>>()
                    .join(" · ");
                let open = key.clone();
                view! {
                    <tr class="agreement-disagreement" tabindex="0" data-sample=format!("{}:{}", d.split, d.question_id)
                        on:click=move |_| open_sample(state, key.clone())
                        on:keydown=move |ev: leptos::ev::KeyboardEvent| if ev.key() == "Enter" { open_sample(state, open.clone()) }>
                        <td>{g.criterion.clone()}</td>
                        <td>{d.split.as_str()}</td>
                        <td>{d.question_id.clone()}</td>
                        <td>{d.hallucination_type.clone().unwrap_or_else(|| "unlabelled".to_owned())}</td>
                        <td class="num">{d.range}</td>
                        <td class="text">{ratings}</td>
                    </tr>
                }
            })
        })
        .collect_view();
    let grids = report
        .grids
        .iter()
        .filter(|g| criterion.is_empty() || g.criterion == criterion)
        .map(heatmap)
        .collect_view();
    let raters = report
        .raters
        .iter()
        .map(|r| {
            let kind = match r.kind {
                RaterKind::Human => "human",
                RaterKind::Judge => "judge",
            };
            view! {
                <tr class="agreement-rater">
                    <td class="text">{r.name.clone()}</td><td>{kind}</td>
                    <td class="text">{r.label.clone().unwrap_or_default()}</td>
                    <td class="text">{r.sources.join(", ")}</td>
                </tr>
            }
        })
        .collect_view();
    let files = view
        .rating_files
        .iter()
        .map(|f| view! {
            <tr><td class="text">{f.source.clone()}</td><td class="num">{f.lines}</td><td class="num">{f.used}</td><td class="num">{f.rejected}</td></tr>
        })
        .collect_view();
    let judges = view
        .judges
        .iter()
        .map(|j| format!("{} ({})", j.model, j.runs.join(" + ")))
        .collect::<Vec<_>>()
        .join("; ");
    let issues = view
        .issues
        .iter()
        .map(|i| view! { <li>{i.to_string()}</li> })
        .collect_view();
    let warnings = report
        .warnings
        .iter()
        .map(|w| view! { <li>{w.clone()}</li> })
        .collect_view();
    view! {
        <p class="signature">"Signature: "<code id="agreement-signature">{report.signature.clone()}</code></p>
        <p class="note">{format!("Judges: {}", if judges.is_empty() { "none (humans only)".to_owned() } else { judges })}</p>
        {(!view.issues.is_empty()).then(|| view! {
            <details class="issues" open>
                <summary>{format!("{} line(s) left out", view.issues.len())}</summary>
                <ul id="agreement-issues">{issues}</ul>
            </details>
        })}
        {(!report.warnings.is_empty()).then(|| view! { <ul class="warnings">{warnings}</ul> })}
        <div class="table-scroll" tabindex="0" role="region" aria-label="Rating files read">
            <table class="agreement-files">
                <thead><tr><th>"rating file"</th><th>"lines"</th><th>"used"</th><th>"left out"</th></tr></thead>
                <tbody>{files}</tbody>
            </table>
        </div>
        <div class="table-scroll" tabindex="0" role="region" aria-label="Raters">
            <table class="agreement-raters">
                <thead><tr><th>"rater"</th><th>"kind"</th><th>"judge"</th><th>"from"</th></tr></thead>
                <tbody>{raters}</tbody>
            </table>
        </div>
        {report.groups.is_empty().then(|| view! {
            <p class="note" id="agreement-empty">"No item was rated by two raters: nothing to compare yet."</p>
        })}
        <h3>"Pairs of raters"</h3>
        <p class="help">"κ: Cohen's quadratic-weighted kappa on the labels 1–10; ρ: Spearman's; bias: second minus first (judge minus human), with the Bland–Altman 95% limits. Brackets: 95% bootstrap interval over items. Hover a row for its signature."</p>
        <div class="table-scroll" tabindex="0" role="region" aria-label="Agreement of pairs of raters">
            <table class="agreement-pairs">
                <thead><tr><th>"criterion · split · type"</th><th>"raters"</th><th>"n"</th><th>"κ"</th><th>"ρ"</th><th>"bias"</th><th>"limits"</th></tr></thead>
                <tbody>{pairs}</tbody>
            </table>
        </div>
        <h3>"Krippendorff's α"</h3>
        <div class="table-scroll" tabindex="0" role="region" aria-label="Krippendorff's alpha">
            <table class="agreement-alphas">
                <thead><tr><th>"criterion · split · type"</th><th>"raters"</th><th>"items"</th><th>"α interval"</th><th>"α ordinal"</th></tr></thead>
                <tbody>{alphas}</tbody>
            </table>
        </div>
        <h3>"Where they disagree most"</h3>
        <div class="table-scroll" tabindex="0" role="region" aria-label="Items the raters disagree on most">
            <table class="agreement-disagreements">
                <thead><tr><th>"criterion"</th><th>"split"</th><th>"id"</th><th>"type"</th><th>"range"</th><th>"ratings"</th></tr></thead>
                <tbody>{disagreements}</tbody>
            </table>
        </div>
        <h3>"Human × judge scores"</h3>
        <div class="heatmaps">{grids}</div>
    }
}

#[component]
pub(crate) fn AgreementPanel(state: AppState) -> impl IntoView {
    let files = RwSignal::new(Vec::<RatingFile>::new());
    let sheets = RwSignal::new(Vec::<RatingSheet>::new());
    let chosen_sheets = RwSignal::new(Vec::<String>::new());
    let judges = RwSignal::new(Vec::<String>::new());
    let defaults = StatsConfig::default();
    let resamples = RwSignal::new(defaults.bootstrap_resamples.to_string());
    let seed = RwSignal::new(defaults.seed.to_string());
    let top = RwSignal::new("5".to_owned());
    let criterion = RwSignal::new(String::new());
    let result = RwSignal::new(None::<Result<AgreementView, String>>);
    let busy = RwSignal::new(false);
    // The sheets rated in this browser, read again each time the view opens.
    Effect::new(move |_| {
        if state.view.with(|v| v.tab != Tab::Agreement) {
            return;
        }
        spawn_local(async move {
            let Ok(db) = storage::open_ratings().await else {
                return;
            };
            if let Ok((list, _)) = storage::all_sheets(&db).await {
                let rated = list
                    .into_iter()
                    .filter(|s| {
                        s.ratings
                            .iter()
                            .any(|r| r.scores.iter().any(Option::is_some))
                    })
                    .collect();
                sheets.set(rated);
            }
        });
    });
    let judge_models = move || {
        state.runs.with(|runs| {
            run_models(runs, &state.model_names.get())
                .into_iter()
                .filter(|(_, runs)| runs.iter().any(|r| r.with_judge > 0))
                .collect::<Vec<_>>()
        })
    };
    let add_files = move |ev: leptos::ev::Event| {
        let chosen = crate::dom::input_files(&ev);
        spawn_local(async move {
            for file in chosen {
                match crate::dom::file_text(&file).await {
                    Ok(text) => files.update(|list| {
                        let name = file.name();
                        list.retain(|f| f.name != name);
                        list.push(RatingFile { name, text });
                    }),
                    Err(message) => state.message(message),
                }
            }
        });
    };
    let compute = move |_| {
        let parse = |text: String, what: &str| -> Result<u64, String> {
            text.trim()
                .parse::<u64>()
                .map_err(|_| format!("{what}: a whole number (0 or more)"))
        };
        let numbers = (|| {
            Ok::<_, String>((
                u32::try_from(parse(resamples.get_untracked(), "Resamples")?)
                    .map_err(|_| "Resamples: too many".to_owned())?,
                parse(seed.get_untracked(), "Seed")?,
                usize::try_from(parse(top.get_untracked(), "Items listed")?).unwrap_or(usize::MAX),
            ))
        })();
        let (resamples, seed, top) = match numbers {
            Ok(n) => n,
            Err(message) => return result.set(Some(Err(message))),
        };
        let mut ratings = files.get_untracked();
        let chosen = chosen_sheets.get_untracked();
        for sheet in sheets.get_untracked() {
            if chosen.contains(&sheet.id()) {
                ratings.push(RatingFile {
                    name: format!("this browser: {}", sheet.file_name()),
                    text: sheet.to_jsonl(),
                });
            }
        }
        let picked = judges.get_untracked();
        let runs: Vec<u32> = judge_models()
            .into_iter()
            .filter(|(model, _)| picked.contains(model))
            .flat_map(|(_, runs)| runs.into_iter().map(|r| r.id))
            .collect();
        let query = AgreementQuery {
            ratings,
            runs,
            names: state.model_names.get_untracked(),
            resamples,
            seed,
            top,
        };
        busy.set(true);
        ask(
            move |id| Request::Agreement { id, query },
            move |reply| {
                busy.set(false);
                match reply {
                    Reply::Agreement { view } => result.set(Some(Ok(*view))),
                    Reply::Error { message } => result.set(Some(Err(message))),
                    _ => result.set(Some(Err("unexpected reply".to_owned()))),
                }
            },
        );
    };
    let download = move |_| {
        if let Some(Ok(view)) = result.get_untracked() {
            let sent = serde_json::to_string_pretty(&view)
                .map_err(|e| e.to_string())
                .and_then(|text| download_text("agreement.json", "application/json", &text));
            state.report(sent);
        }
    };
    view! {
        <section id="agreement">
            <h2>"Does the judge agree with clinicians?"</h2>
            <p class="note">
                "Rating files (exported from Rate, or written by hand as `medhall agreement --ratings` reads them) against the judges of loaded runs. "
                "The same statistics compare two judges: tick two models with judge scores for the same questions."
            </p>
            <div class="form" id="agreement-setup">
                <label for="agreement-ratings">"Rating files"</label>
                <div class="field">
                    <input id="agreement-ratings" type="file" multiple accept=".jsonl,.json,.txt" on:change=add_files/>
                    <ul class="agreement-files-chosen">
                        {move || files.get().into_iter().map(|f| {
                            let name = f.name.clone();
                            view! {
                                <li>{f.name.clone()}" "
                                    <button class="remove-file" on:click=move |_| files.update(|l| l.retain(|x| x.name != name))>"Remove"</button>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                </div>
                <Show when=move || sheets.with(|s| !s.is_empty())>
                    <span class="label" id="agreement-sheets-label">"Rated here"</span>
                    <div class="field" role="group" aria-labelledby="agreement-sheets-label">
                        {move || sheets.get().into_iter().map(|sheet| {
                            let id = sheet.id();
                            let toggle = id.clone();
                            let checked = move || chosen_sheets.with(|c| c.contains(&id));
                            view! {
                                <label class="check-line">
                                    <input type="checkbox" class="agreement-sheet" prop:checked=checked
                                        on:change=move |ev| {
                                            let on = event_target_checked(&ev);
                                            chosen_sheets.update(|c| {
                                                c.retain(|x| *x != toggle);
                                                if on { c.push(toggle.clone()); }
                                            });
                                        }/>
                                    <span>{format!("{} · plan {} · {} of {} complete", sheet.rater, sheet.plan.id.chars().take(8).collect::<String>(), sheet.completed(), sheet.ratings.len())}</span>
                                </label>
                            }
                        }).collect_view()}
                    </div>
                </Show>
                <span class="label" id="agreement-judges-label">"Judges"</span>
                <div class="field" role="group" aria-labelledby="agreement-judges-label">
                    {move || {
                        let models = judge_models();
                        if models.is_empty() {
                            return view! { <p class="help">"No loaded run has judge scores (load judge-eval files on Data)."</p> }.into_any();
                        }
                        models.into_iter().map(|(model, runs)| {
                            let name = model.clone();
                            let checked = move || judges.with(|j| j.contains(&model));
                            let files = runs.iter().map(|r| r.name.clone()).collect::<Vec<_>>().join(" + ");
                            view! {
                                <label class="check-line">
                                    <input type="checkbox" class="agreement-judge" data-model=name.clone() prop:checked=checked
                                        on:change=move |ev| {
                                            let on = event_target_checked(&ev);
                                            judges.update(|j| {
                                                j.retain(|x| *x != name);
                                                if on { j.push(name.clone()); }
                                            });
                                        }/>
                                    <span>{files}</span>
                                </label>
                            }
                        }).collect_view().into_any()
                    }}
                </div>
                <label for="agreement-resamples">"Resamples"</label>
                <div class="field">
                    <input id="agreement-resamples" type="number" min="0" step="1" aria-describedby="agreement-resamples-help"
                        prop:value=resamples on:change=move |ev| resamples.set(event_target_value(&ev))/>
                    <p class="help" id="agreement-resamples-help">"Bootstrap resamples over items for the 95% intervals (0: none)."</p>
                </div>
                <label for="agreement-seed">"Seed"</label>
                <div class="field">
                    <input id="agreement-seed" type="number" min="0" step="1" prop:value=seed on:change=move |ev| seed.set(event_target_value(&ev))/>
                </div>
                <label for="agreement-top">"Items listed"</label>
                <div class="field">
                    <input id="agreement-top" type="number" min="0" step="1" aria-describedby="agreement-top-help"
                        prop:value=top on:change=move |ev| top.set(event_target_value(&ev))/>
                    <p class="help" id="agreement-top-help">"The most disagreeing items per criterion and split."</p>
                </div>
                <div class="field action">
                    <button id="agreement-compute" class="primary" on:click=compute disabled=move || busy.get()>"Compute agreement"</button>
                    <Show when=move || result.with(|r| matches!(r, Some(Ok(_))))>
                        <button id="agreement-download" on:click=download>"Download JSON"</button>
                    </Show>
                </div>
            </div>
            <Show when=move || result.with(|r| matches!(r, Some(Ok(_))))>
                <div class="row">
                    <label>"Criterion "
                        <select id="agreement-criterion" prop:value=criterion on:change=move |ev| criterion.set(event_target_value(&ev))>
                            <option value="">"all four"</option>
                            {CRITERIA.iter().map(|c| view! { <option value=*c>{*c}</option> }).collect_view()}
                        </select>
                    </label>
                </div>
            </Show>
            {move || match result.get() {
                None => None,
                Some(Err(message)) => Some(view! { <p class="error" id="agreement-error" role="alert">{message}</p> }.into_any()),
                Some(Ok(view)) => Some(results(state, &view, &criterion.get()).into_any()),
            }}
        </section>
    }
}
