//! The B.Score values kept in this browser (IndexedDB, one item per chunk of pairs): given back
//! to the session after a reload, and skipped by a computation that finds them.

use super::driver::Driver;
use crate::state::{ask_future, send_request};
use crate::storage::{self, StoredBertScores};
use medhall_app::protocol::{Reply, Request};
use medhall_app::session::{BertScoreChunk, BertScoreItem, BertScorePlan};
use medhall_core::identity::bertscore_chunk_hash;
use web_sys::IdbDatabase;

/// Removes every kept B.Score value (the page's "Clear local data").
pub(crate) async fn clear_kept_bertscores() -> Result<(), String> {
    storage::clear_bertscores(&storage::open_bertscores().await?).await
}

/// Chunks kept in this browser for a run under `signature`, as the session takes them (it
/// applies each only where the run's pairs are the chunk's).
fn kept_chunks(kept: &[StoredBertScores], signature: &str) -> Vec<BertScoreChunk> {
    kept.iter()
        .filter(|c| c.signature == signature && !c.chunk.is_empty())
        .filter_map(|c| {
            let split = medhall_core::sample::Split::ALL
                .into_iter()
                .find(|s| s.as_str() == c.split)?;
            Some(BertScoreChunk {
                split,
                start: c.start as usize,
                chunk: c.chunk.clone(),
                f1: c.values.iter().map(|(_, _, f1)| *f1).collect(),
            })
        })
        .collect()
}

/// `bertscore_chunk_hash` of plan items.
pub(super) fn chunk_hash_of(items: &[BertScoreItem]) -> String {
    bertscore_chunk_hash(
        items
            .iter()
            .map(|i| (i.candidate.as_str(), i.reference.as_str())),
    )
}

async fn identity_of(run: u32) -> Result<String, String> {
    match ask_future(move |id| Request::RunIdentity { id, run }).await {
        Reply::RunIdentity { identity } => Ok(identity),
        Reply::Error { message } => Err(message),
        _ => Err("unexpected reply to a run's identity".to_owned()),
    }
}

/// Gives the session what this browser kept for `run` (under the signature it computed with
/// last), so a reload shows B.Score without computing it again. Returns how many values were
/// given. Asks the worker for the run's identity only: a plan carries every pair's texts.
pub(super) async fn restore_run(driver: &Driver, run: u32) -> Result<usize, String> {
    let identity = identity_of(run).await?;
    let kept = storage::bertscores_of(&driver.db().await?, &identity).await?;
    let Some(latest) = kept.iter().max_by(|a, b| a.saved_at.total_cmp(&b.saved_at)) else {
        return Ok(0);
    };
    let signature = latest.signature.clone();
    let chunks = kept_chunks(&kept, &signature);
    // Offered, not yet applied: the session applies a chunk only where its pairs are the run's.
    let count = chunks.iter().map(|c| c.f1.len()).sum();
    if count > 0 {
        send_request(&Request::BertScoreChunks {
            run,
            signature,
            chunks,
        })?;
    }
    Ok(count)
}

/// Gives the session the chunks kept under `signature` that it has not taken yet (a run loaded
/// again under another id) and marks their pairs done in `plan`: each counts only for exactly
/// its pairs. Returns how many pairs were newly done.
pub(super) async fn offer_kept(
    db: &IdbDatabase,
    plan: &mut BertScorePlan,
    run: u32,
    signature: &str,
) -> Result<usize, String> {
    let Ok(kept) = storage::bertscores_of(db, &plan.identity).await else {
        return Ok(0);
    };
    let chunks = kept_chunks(&kept, signature);
    let mut given = 0;
    for chunk in &chunks {
        let Some(split) = plan.splits.iter_mut().find(|s| s.split == chunk.split) else {
            continue;
        };
        let end = chunk.start.saturating_add(chunk.f1.len());
        let Some(items) = split.items.get_mut(chunk.start..end) else {
            continue;
        };
        if chunk_hash_of(items) == chunk.chunk {
            given += items.iter().filter(|i| !i.done).count();
            items.iter_mut().for_each(|i| i.done = true);
        }
    }
    if given > 0 {
        send_request(&Request::BertScoreChunks {
            run,
            signature: signature.to_owned(),
            chunks,
        })?;
    }
    Ok(given)
}
