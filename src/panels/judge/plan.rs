//! The judge panel's plan (asked of the scoring worker) and the verdicts this browser kept
//! for it (IndexedDB): applied to the run and marked judged, so a reload asks none again.

use super::{JudgeHost, State};
use crate::storage::{self, StoredVerdict};
use leptos::prelude::*;
use leptos::task::spawn_local;
use medhall_app::protocol::{Reply, Request};
use medhall_app::session::{JudgePlan, TYPE_PLAN_RUN};
use medhall_core::judging::plan::CostEstimate;
use medhall_core::judging::provenance::{JudgeIdentity, SampleReply};
use std::collections::HashMap;
use web_sys::IdbDatabase;

/// The plan as the panel shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct PlanView {
    pub(super) run_name: String,
    pub(super) calibration: Vec<String>,
    pub(super) items: usize,
    pub(super) judged: usize,
    pub(super) restored: usize,
    /// What the requests still to send will cost (the CLI's `--dry-run` estimate).
    pub(super) estimate: CostEstimate,
    /// Type labels: their replies are a word each and are not estimated.
    pub(super) types: bool,
    pub(super) issues: Vec<String>,
    pub(super) issue_total: u64,
}

pub(super) fn view_of(state: State, plan: &JudgePlan) -> PlanView {
    let restored = state.with_value(|s| s.restored_of(&plan.identity));
    let to_send = plan.items.iter().filter(|i| !i.judged);
    PlanView {
        run_name: plan.run_name.clone(),
        calibration: plan.calibration.clone(),
        items: plan.items.len(),
        judged: plan.items.iter().filter(|i| i.judged).count(),
        restored,
        estimate: CostEstimate::of(to_send.map(|item| (&item.messages[..], item.reply_chars))),
        types: plan.run == TYPE_PLAN_RUN,
        issues: plan.issues.first.iter().map(ToString::to_string).collect(),
        issue_total: plan.issues.total(),
    }
}

/// What the panel asks the endpoint for.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Asked {
    /// The judge's verdicts for a run, calibrated by these runs (absent: the llava-med ones).
    Verdicts {
        run: u32,
        calibration: Option<Vec<u32>>,
        /// Ask again for samples whose verdict is unreadable (`--retry-unreadable`).
        retry_unreadable: bool,
    },
    /// The hallucination types of the loaded negative questions (`Session::type_plan`).
    Types,
}

/// Asks the worker for the plan, then applies what this browser kept for it.
pub(super) fn ask_plan(
    state: State,
    host: JudgeHost,
    what: Asked,
    plan_view: RwSignal<Option<Result<PlanView, String>>>,
) {
    let asked = state.with_value(|s| {
        s.plan_asked.set(s.plan_asked.get().wrapping_add(1));
        s.plan_asked.get()
    });
    let current = move || state.with_value(|s| s.plan_asked.get()) == asked;
    state.with_value(|s| *s.plan.borrow_mut() = None);
    plan_view.set(None);
    (host.ask)(
        Box::new(move |id| match what {
            Asked::Verdicts {
                run,
                calibration,
                retry_unreadable,
            } => Request::JudgePlan {
                id,
                run,
                calibration,
                retry_unreadable,
            },
            Asked::Types => Request::TypePlan { id },
        }),
        Box::new(move |reply| match reply {
            Reply::JudgePlan { plan } if current() => spawn_local(async move {
                let (plan, error) = restore_kept(state, host, plan).await;
                if !current() {
                    return;
                }
                let view = view_of(state, &plan);
                state.with_value(|s| *s.plan.borrow_mut() = Some(plan));
                plan_view.set(Some(Ok(view)));
                if let Some(error) = error {
                    plan_view.set(Some(Err(error)));
                }
            }),
            Reply::Error { message } if current() => plan_view.set(Some(Err(message))),
            _ => {}
        }),
    );
}

pub(super) async fn verdict_db(state: State) -> Result<IdbDatabase, String> {
    if let Some(db) = state.with_value(|s| s.db.borrow().clone()) {
        return Ok(db);
    }
    let db = storage::open_verdicts().await?;
    state.with_value(|s| *s.db.borrow_mut() = Some(db.clone()));
    Ok(db)
}

/// Removes every kept verdict (the page's "Clear local data").
pub async fn clear_kept_verdicts() -> Result<(), String> {
    let db = storage::open_verdicts().await?;
    storage::clear_verdicts(&db).await
}

/// Verdicts kept in this browser for the plan's run and not on the run yet: applied to the run
/// (so its judge columns show) and marked judged (so they are not asked again).
async fn restore_kept(
    state: State,
    host: JudgeHost,
    mut plan: JudgePlan,
) -> (JudgePlan, Option<String>) {
    let kept = match verdict_db(state).await {
        Ok(db) => storage::verdicts_of(&db, &plan.identity).await,
        Err(error) => Err(error),
    };
    let kept = match kept {
        Ok(kept) => kept,
        Err(error) => {
            return (
                plan,
                Some(format!("Kept verdicts could not be read: {error}")),
            );
        }
    };
    // One verdict a sample (the first kept, when several judges answered it), each handed
    // over under the judge that gave it: the run's judge columns then name every judge.
    let mut by_key: HashMap<(String, String), StoredVerdict> = HashMap::new();
    for verdict in kept {
        by_key
            .entry((verdict.split.clone(), verdict.question_id.clone()))
            .or_insert(verdict);
    }
    let mut by_judge: Vec<(JudgeIdentity, Vec<SampleReply>)> = Vec::new();
    let mut restored = 0;
    for item in plan.items.iter_mut().filter(|i| !i.judged) {
        let lookup = (
            item.key.split.as_str().to_owned(),
            item.key.question_id.clone(),
        );
        if let Some(verdict) = by_key.get(&lookup) {
            let judge = verdict.judge();
            let reply = verdict.reply(item.key.clone());
            match by_judge.iter_mut().find(|(j, _)| *j == judge) {
                Some((_, replies)) => replies.push(reply),
                None => by_judge.push((judge, vec![reply])),
            }
            item.judged = true;
            restored += 1;
        }
    }
    state.with_value(|s| {
        *s.restored
            .borrow_mut()
            .entry(plan.identity.clone())
            .or_insert(0) += restored;
    });
    let mut error = None;
    for (judge, replies) in by_judge {
        if let Err(message) = (host.send)(&replies_request(plan.run, replies, &judge)) {
            error = Some(message);
        }
    }
    (plan, error)
}

/// The request that hands replies to the worker: verdicts for a run, filed under their judge,
/// or type labels (each with the model that gave it).
pub(super) fn replies_request(
    run: u32,
    replies: Vec<SampleReply>,
    judge: &JudgeIdentity,
) -> Request {
    if run == TYPE_PLAN_RUN {
        Request::TypeLabels {
            labels: replies
                .into_iter()
                .map(|reply| (reply.key, reply.text, judge.model.clone()))
                .collect(),
        }
    } else {
        Request::JudgeVerdicts {
            run,
            verdicts: replies,
            judge: judge.clone(),
        }
    }
}
