//! Medical VQA (issue 32): LLaVA-Med's test files and models' answer files, picked here and
//! scored in the scoring worker by the function `medhall vqa` calls (`medhall_app::vqa`), shown
//! as the CLI's table per model, the paired comparison of two chosen models and the chart. It
//! is independent of the runs loaded on Data. Every text from a file is rendered as text.

use crate::panels::charts::chart_size;
use crate::state::{AppState, ask};
use crate::view_state::Tab;
use leptos::prelude::*;
use leptos::task::spawn_local;
use medhall_app::protocol::{Reply, Request};
use medhall_app::vqa::{VqaFile, VqaModel, VqaQuery, VqaView, closed_rules};
use medhall_core::compare::Difference;
use medhall_core::stats::StatsConfig;
use medhall_core::vqa_data::{DatasetSummary, Estimate, dataset_from_path};
use web_sys::File;

/// Issues listed at most (the count says how many there are).
const ISSUES_SHOWN: usize = 200;

/// The name a picked file is scored under: its path inside a picked folder
/// (`vqa_rad/test.json`, paired with datasets as `medhall vqa` pairs paths), else its name.
fn file_name(file: &File) -> String {
    js_sys::Reflect::get(file, &"webkitRelativePath".into())
        .ok()
        .and_then(|v| v.as_string())
        .filter(|path| !path.is_empty())
        .unwrap_or_else(|| file.name())
}

async fn read_files(files: Vec<File>) -> Result<Vec<VqaFile>, String> {
    let mut read = Vec::with_capacity(files.len());
    for file in files {
        let name = file_name(&file);
        let text = crate::dom::file_text(&file).await?;
        read.push(VqaFile {
            name,
            text,
            dataset: None,
        });
    }
    Ok(read)
}

/// Reads the files the input holds, then hands them to `done`; clears the input so the same
/// file can be picked again.
fn pick_files(state: AppState, ev: &leptos::ev::Event, done: impl FnOnce(Vec<VqaFile>) + 'static) {
    let files = crate::dom::input_files(ev);
    if let Some(input) = ev
        .target()
        .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlInputElement>(t).ok())
    {
        input.set_value("");
    }
    if files.is_empty() {
        return;
    }
    spawn_local(async move {
        match read_files(files).await {
            Ok(read) => done(read),
            Err(message) => state.message(message),
        }
    });
}

/// The estimate's mean and interval as fractions, for `data-*` (full precision).
fn estimate_attributes(estimate: Option<&Estimate>) -> (String, String) {
    match estimate {
        Some(e) => (
            e.mean.to_string(),
            e.ci95
                .map(|[low, high]| format!("{low} {high}"))
                .unwrap_or_default(),
        ),
        None => (String::new(), String::new()),
    }
}

/// One model's table: `medhall vqa`'s cells, as text, each mean cell with its exact value.
fn model_table(
    index: usize,
    label: &str,
    rows: &[Vec<String>],
    datasets: &[DatasetSummary],
) -> impl IntoView + use<> {
    let head = rows.first().map(|row| {
        row.iter()
            .map(|cell| view! { <th scope="col">{cell.clone()}</th> })
            .collect_view()
    });
    let body = rows
        .iter()
        .skip(1)
        .zip(datasets)
        .map(|(row, summary)| {
            let cells = row
                .iter()
                .enumerate()
                .map(|(column, cell)| {
                    let estimate = match column {
                        2 => summary.open_recall.as_ref(),
                        4 => summary.closed_accuracy.as_ref(),
                        5 => summary.open_accuracy.as_ref(),
                        _ => None,
                    };
                    let (mean, ci) = estimate_attributes(estimate);
                    if column == 0 {
                        view! { <th scope="row">{cell.clone()}</th> }.into_any()
                    } else {
                        view! { <td data-mean=mean data-ci=ci>{cell.clone()}</td> }.into_any()
                    }
                })
                .collect_view();
            view! { <tr data-dataset=summary.dataset.clone()>{cells}</tr> }
        })
        .collect_view();
    view! {
        <div class="table-scroll" tabindex="0" role="region" aria-label=format!("Medical VQA table of model {}: {label}", index + 1)>
            <table class="vqa-table" data-model-index=index.to_string() data-model=label.to_owned()>
                <thead><tr>{head}</tr></thead>
                <tbody>{body}</tbody>
            </table>
        </div>
    }
}

fn difference_attributes(difference: Option<&Difference>) -> [String; 3] {
    match difference {
        Some(d) => [
            d.mean_difference.to_string(),
            d.p_value.to_string(),
            d.p_adjusted.to_string(),
        ],
        None => Default::default(),
    }
}

fn results_view(view: VqaView, width: u32) -> impl IntoView + use<> {
    let tables = view
        .models
        .iter()
        .enumerate()
        .map(|(index, model)| {
            let pairing = model
                .files
                .iter()
                .map(|f| match &f.dataset {
                    Some(dataset) => format!("{} → {dataset}", f.file),
                    None => format!("{} → by question id", f.file),
                })
                .collect::<Vec<_>>()
                .join("; ");
            view! {
                <h3>{format!("Model {}: {}", index + 1, model.label)}</h3>
                <p class="note">{format!(
                    "{} predictions, {} scored ({pairing})",
                    model.predictions, model.scored
                )}</p>
                {model_table(index, &model.label, &model.rows, &model.datasets)}
            }
        })
        .collect_view();
    let comparison = view.comparison.map(|c| {
        let head = c
            .rows
            .first()
            .map(|row| row.iter().map(|cell| view! { <th scope="col">{cell.clone()}</th> }).collect_view());
        let body = c
            .rows
            .iter()
            .skip(1)
            .zip(&c.datasets)
            .map(|(row, compared)| {
                let cells = row
                    .iter()
                    .enumerate()
                    .map(|(column, cell)| {
                        let difference = match column {
                            1 => compared.open_recall.as_ref(),
                            2 => compared.closed_accuracy.as_ref(),
                            3 => compared.open_accuracy.as_ref(),
                            _ => None,
                        };
                        let [mean, p, adjusted] = difference_attributes(difference);
                        if column == 0 {
                            view! { <th scope="row">{cell.clone()}</th> }.into_any()
                        } else {
                            view! { <td data-difference=mean data-p=p data-p-adjusted=adjusted>{cell.clone()}</td> }.into_any()
                        }
                    })
                    .collect_view();
                view! { <tr data-dataset=compared.dataset.clone()>{cells}</tr> }
            })
            .collect_view();
        view! {
            <h3>{format!("{} − {}", c.model, c.baseline)}</h3>
            <p class="note">"Paired on the questions both answered, in percentage points: mean difference [95% bootstrap interval], the two-sided sign-flip p and p adjusted by Benjamini–Hochberg over this comparison's p-values, n questions."</p>
            <div class="table-scroll" tabindex="0" role="region" aria-label="Medical VQA paired comparison">
                <table class="vqa-comparison" data-baseline=c.baseline.clone() data-model=c.model.clone()>
                    <thead><tr>{head}</tr></thead>
                    <tbody>{body}</tbody>
                </table>
            </div>
        }
    });
    let (chart_width, chart_height) = chart_size(width, false);
    let chart = match medhall_charts::render_svg(&view.chart, chart_width, chart_height) {
        // The SVG is ours (medhall-charts escapes every label, model names included).
        Ok(svg) => view! { <div class="chart vqa-chart" inner_html=svg></div> }.into_any(),
        Err(error) => view! { <p class="error chart-error">{error.to_string()}</p> }.into_any(),
    };
    let issue_count = view.issues.len();
    let issues = (issue_count > 0).then(|| {
        let items = view
            .issues
            .iter()
            .take(ISSUES_SHOWN)
            .map(|issue| view! { <li>{issue.to_string()}</li> })
            .collect_view();
        let more = (issue_count > ISSUES_SHOWN)
            .then(|| view! { <li>{format!("… and {} more", issue_count - ISSUES_SHOWN)}</li> });
        view! {
            <details class="vqa-issues" open>
                <summary>{format!(
                    "{issue_count} issue{} (file:line: field: message); the rest is scored",
                    if issue_count == 1 { "" } else { "s" }
                )}</summary>
                <ul>{items}{more}</ul>
            </details>
        }
    });
    view! {
        {issues}
        <p class="note">{format!("{} questions in the test files.", view.questions)}</p>
        {tables}
        {comparison}
        {chart}
        <p class="note signature vqa-signature">{format!("signature: {}", view.signature)}</p>
    }
}

/// The files of one list (the test files, or one model's answer files), each with the dataset
/// its rows without one belong to: typed here, else `placeholder(name)`.
fn file_list(
    files: Vec<VqaFile>,
    id: &'static str,
    placeholder: impl Fn(&str) -> String + 'static,
    set_dataset: impl Fn(usize, Option<String>) + Copy + 'static,
    remove: impl Fn(usize) + Copy + 'static,
) -> impl IntoView {
    let items = files
        .into_iter()
        .enumerate()
        .map(|(at, file)| {
            let input_id = format!("{id}-dataset-{at}");
            let hint = placeholder(&file.name);
            view! {
                <li>
                    <span class="file">{file.name.clone()}</span>
                    " "
                    <label for=input_id.clone()>"dataset "</label>
                    <input type="text" id=input_id size="12" placeholder=hint
                        prop:value=file.dataset.clone().unwrap_or_default()
                        on:change=move |ev| {
                            let text = event_target_value(&ev).trim().to_owned();
                            set_dataset(at, (!text.is_empty()).then_some(text));
                        }/>
                    " "
                    <button on:click=move |_| remove(at) aria-label=format!("Remove {}", file.name)>"Remove"</button>
                </li>
            }
        })
        .collect_view();
    view! { <ul class="vqa-files">{items}</ul> }
}

#[component]
pub(crate) fn VqaPanel(state: AppState) -> impl IntoView {
    let references = RwSignal::new(Vec::<VqaFile>::new());
    let models = RwSignal::new(Vec::<VqaModel>::new());
    let rule = RwSignal::new(closed_rules()[0].0.to_owned());
    let baseline = RwSignal::new(0_usize);
    let compared = RwSignal::new(1_usize);
    let result = RwSignal::new(None::<Result<VqaView, String>>);
    let computing = RwSignal::new(false);
    // Replies come in request order; only the latest request's is shown.
    let asked = StoredValue::new(0_u32);
    let open = Memo::new(move |_| state.view.with(|v| v.tab == Tab::Vqa));

    Effect::new(move |_| {
        if !open.get() {
            return;
        }
        let references = references.get();
        let models = models.get();
        if references.is_empty() || models.is_empty() {
            // A reply still on its way is for files no longer picked.
            asked.set_value(asked.get_value().wrapping_add(1));
            computing.set(false);
            result.set(None);
            return;
        }
        let count = models.len();
        let (b, c) = (baseline.get(), compared.get());
        let pair = (count >= 2 && b < count && c < count && b != c).then_some((b, c));
        let query = VqaQuery {
            references,
            models,
            rule: rule.get(),
            stats: StatsConfig::default(),
            pair,
        };
        let ticket = asked.get_value().wrapping_add(1);
        asked.set_value(ticket);
        computing.set(true);
        ask(
            move |id| Request::Vqa { id, query },
            move |reply| {
                if asked.get_value() != ticket {
                    return;
                }
                computing.set(false);
                match reply {
                    Reply::Vqa { view } => result.set(Some(Ok(*view))),
                    Reply::Error { message } => result.set(Some(Err(message))),
                    _ => result.set(Some(Err("unexpected reply".to_owned()))),
                }
            },
        );
    });

    let rules = closed_rules()
        .into_iter()
        .map(|(name, signature)| view! { <option value=name>{format!("{name} ({signature})")}</option> })
        .collect_view();
    let model_options = move || {
        models
            .get()
            .iter()
            .enumerate()
            .map(|(at, m)| view! { <option value=at.to_string()>{format!("{}: {}", at + 1, m.label)}</option> })
            .collect_view()
    };
    let remove_model = move |at: usize| {
        models.update(|m| {
            if at < m.len() {
                m.remove(at);
            }
        });
        baseline.set(0);
        compared.set(1);
    };

    view! {
        <section id="vqa">
            <h2>"Medical VQA"</h2>
            <p class="note">
                "The paper's other table: zero-shot VQA-RAD, SLAKE and PathVQA, scored as LLaVA-Med v1.0's run_eval_batch.py scores them "
                "(the same code as medhall vqa): per dataset the open and closed counts, open recall, closed accuracy under the chosen rule "
                "and open accuracy, in percent with 95% bootstrap intervals (1,000 resamples, seed 12345, as medhall vqa's defaults). "
                "These files are separate from the runs on Data and stay in this page."
            </p>
            <div class="form">
                <label for="vqa-references">"Test files"</label>
                <div class="field">
                    <input type="file" id="vqa-references" multiple aria-describedby="vqa-references-help"
                        on:change=move |ev| pick_files(state, &ev, move |read| references.update(|r| r.extend(read)))/>
                    <p class="help" id="vqa-references-help">
                        "LLaVA-Med's test.json (id, image, conversations, answer_type), one per dataset, or CSV/JSON/JSONL with question_id, answer, answer_type (and dataset). "
                        "A file's dataset is its folder's name as medhall vqa takes it from the path (else its name without extension): type another below."
                    </p>
                    {move || file_list(
                        references.get(),
                        "vqa-reference",
                        dataset_from_path,
                        move |at, dataset| references.update(|r| if let Some(f) = r.get_mut(at) { f.dataset = dataset; }),
                        move |at| references.update(|r| if at < r.len() { r.remove(at); }),
                    )}
                </div>
                <label for="vqa-model">"Add a model"</label>
                <div class="field">
                    <input type="file" id="vqa-model" multiple aria-describedby="vqa-model-help"
                        on:change=move |ev| pick_files(state, &ev, move |read| {
                            let label = read.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(",");
                            models.update(|m| m.push(VqaModel { label, files: read }));
                        })/>
                    <p class="help" id="vqa-model-help">
                        "One model's answer files (LLaVA-Med's answer JSONL with question_id and text, or CSV/JSON/JSONL), picked together, as one "
                        "medhall vqa argument a.jsonl,b.jsonl. An answer file is paired with the dataset its name (or folder) names, as run_eval_batch.py pairs them; "
                        "type a dataset where it names none."
                    </p>
                </div>
            </div>
            <ol class="vqa-models">
                {move || models.get().into_iter().enumerate().map(|(index, model)| {
                    let label_id = format!("vqa-model-label-{index}");
                    view! {
                        <li>
                            <label for=label_id.clone()>"Model name "</label>
                            <input type="text" id=label_id prop:value=model.label.clone()
                                on:change=move |ev| {
                                    let text = event_target_value(&ev);
                                    models.update(|m| if let Some(m) = m.get_mut(index) { m.label = text; });
                                }/>
                            " "
                            <button on:click=move |_| remove_model(index)>"Remove model"</button>
                            {file_list(
                                model.files,
                                "vqa-answers",
                                |_| "from its name".to_owned(),
                                move |at, dataset| models.update(|m| if let Some(f) = m.get_mut(index).and_then(|m| m.files.get_mut(at)) { f.dataset = dataset; }),
                                move |at| models.update(|m| {
                                    if let Some(model) = m.get_mut(index) && at < model.files.len() {
                                        model.files.remove(at);
                                    }
                                    m.retain(|model| !model.files.is_empty());
                                }),
                            )}
                        </li>
                    }
                }).collect_view()}
            </ol>
            <div class="row">
                <label>"Closed rule "
                    <select id="vqa-rule" prop:value=rule on:change=move |ev| rule.set(event_target_value(&ev))>
                        {rules}
                    </select>
                </label>
                <Show when=move || models.with(|m| m.len() >= 2)>
                    <label>"Compare "
                        <select id="vqa-compared" prop:value=move || compared.get().to_string()
                            on:change=move |ev| if let Ok(at) = event_target_value(&ev).parse() { compared.set(at) }>
                            {model_options}
                        </select>
                    </label>
                    <label>" with "
                        <select id="vqa-baseline" prop:value=move || baseline.get().to_string()
                            on:change=move |ev| if let Ok(at) = event_target_value(&ev).parse() { baseline.set(at) }>
                            {model_options}
                        </select>
                    </label>
                </Show>
            </div>
            <p class="note vqa-status" role="status">{move || {
                if computing.get() {
                    "Scoring…".to_owned()
                } else if references.with(Vec::is_empty) || models.with(Vec::is_empty) {
                    "Pick a test file and at least one model's answer files to see the table.".to_owned()
                } else {
                    String::new()
                }
            }}</p>
            {move || match result.get() {
                None => ().into_any(),
                Some(Err(message)) => view! { <p class="error vqa-error">{message}</p> }.into_any(),
                Some(Ok(view)) => results_view(view, state.window_width.get()).into_any(),
            }}
        </section>
    }
}
