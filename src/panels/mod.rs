//! The page's panels, one file each.

pub(crate) mod charts;
pub(crate) mod compare;
pub(crate) mod data;
pub(crate) mod disagreement;
pub(crate) mod export;
pub(crate) mod leaderboard;
pub(crate) mod runs;
pub(crate) mod samples;
pub(crate) mod summary;

use crate::state::AppState;
use leptos::prelude::*;
use medhall_core::summary::Metric;

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
