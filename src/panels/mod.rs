//! The page's panels: one module each, a folder for a panel that drives a worker or an
//! endpoint (its view in `mod.rs`, the driver beside it).

pub(crate) mod agreement;
pub(crate) mod bertscore;
pub(crate) mod charts;
pub(crate) mod compare;
pub(crate) mod data;
pub(crate) mod disagreement;
pub(crate) mod export;
pub(crate) mod judge;
pub(crate) mod leaderboard;
pub(crate) mod model_check;
pub(crate) mod rate;
pub(crate) mod runs;
pub(crate) mod samples;
pub(crate) mod start;
pub(crate) mod summary;
pub(crate) mod vqa;

use crate::state::AppState;
use leptos::prelude::*;
use medhall_app::session::{RunInfo, model_of};
use medhall_core::summary::Metric;

/// The loaded runs grouped by model (`session::model_of`, with the names the user gave), in
/// run-list order: a model's positive and negative files are one model.
pub(crate) fn run_models(runs: &[RunInfo], names: &[(u32, String)]) -> Vec<(String, Vec<RunInfo>)> {
    let mut models: Vec<(String, Vec<RunInfo>)> = Vec::new();
    for run in runs {
        let model = model_of(names, run.id, &run.name);
        match models.iter_mut().find(|(m, _)| *m == model) {
            Some((_, list)) => list.push(run.clone()),
            None => models.push((model, vec![run.clone()])),
        }
    }
    models
}

pub(crate) fn metric_options() -> impl IntoView {
    Metric::ALL
        .iter()
        .map(|m| {
            let name = m.name();
            view! { <option value=name>{name}</option> }
        })
        .collect_view()
}

/// What went wrong, until dismissed.
#[component]
pub(crate) fn Messages(state: AppState) -> impl IntoView {
    view! {
        <Show when=move || state.messages.with(|m| !m.is_empty())>
            <div class="messages" role="alert">
                {move || {
                    state
                        .messages
                        .get()
                        .into_iter()
                        .map(|m| view! { <p>{m}</p> })
                        .collect_view()
                }}
                <button on:click=move |_| state.messages.set(Vec::new())>"Dismiss"</button>
            </div>
        </Show>
    }
}

/// Two runs picked by name, for a view that compares two runs: `pick` is called with the pair
/// once both are chosen and differ (`None` until then), and when `current` (what the view
/// holds) is cleared elsewhere, the choices follow.
#[component]
pub(crate) fn RunPairPicker(
    state: AppState,
    /// The two selects' ids.
    ids: [&'static str; 2],
    /// The text before each select.
    labels: [&'static str; 2],
    /// Each select's empty choice.
    empty: [&'static str; 2],
    current: Signal<Option<(String, String)>>,
    pick: Callback<Option<(String, String)>>,
) -> impl IntoView {
    let options = move || {
        state
            .runs
            .get()
            .into_iter()
            .map(|r| view! { <option value=r.name.clone()>{r.name.clone()}</option> })
            .collect_view()
    };
    let initial = current.get_untracked().unwrap_or_default();
    let first = RwSignal::new(initial.0);
    let second = RwSignal::new(initial.1);
    let commit = move || {
        let (a, b) = (first.get_untracked(), second.get_untracked());
        pick.run((!a.is_empty() && !b.is_empty() && a != b).then_some((a, b)));
    };
    // Only a pair that was set and is no longer: while one run is chosen and not yet the
    // other, there is no pair either.
    Effect::new(move |was_set: Option<bool>| {
        let set = current.with(Option::is_some);
        if was_set == Some(true) && !set {
            first.set(String::new());
            second.set(String::new());
        }
        set
    });
    let [first_id, second_id] = ids;
    let [first_label, second_label] = labels;
    let [first_empty, second_empty] = empty;
    view! {
        <label>{first_label}
            <select id=first_id prop:value=first on:change=move |ev| { first.set(event_target_value(&ev)); commit(); }>
                <option value="">{first_empty}</option>
                {options}
            </select>
        </label>
        <label>{second_label}
            <select id=second_id prop:value=second on:change=move |ev| { second.set(event_target_value(&ev)); commit(); }>
                <option value="">{second_empty}</option>
                {options}
            </select>
        </label>
    }
}
