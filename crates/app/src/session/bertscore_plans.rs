//! B.Score plans: the pairs a run's B.Score needs, and kept chunks of values given back, each
//! applied only to a chunk of exactly the pairs it was computed with.

use super::Session;
use medhall_core::dataset::join_one;
use medhall_core::identity::{bertscore_chunk_hash, pair_hash, run_identity};
use medhall_core::sample::{SampleKey, Split};
use serde::{Deserialize, Serialize};

/// One pair B.Score scores: bert_score's candidate is the reference answer and its reference
/// the run's answer (eval.py's `score(cands=gpt4_answers, refs=answers)`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BertScoreItem {
    pub key: SampleKey,
    /// [`pair_hash`] of the two texts.
    pub pair: String,
    pub candidate: String,
    pub reference: String,
    /// The run holds its value under the signature asked for.
    pub done: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BertScoreSplit {
    pub split: Split,
    /// In the run's order.
    pub items: Vec<BertScoreItem>,
}

/// What B.Score asks for one run (see [`Session::bertscore_plan`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BertScorePlan {
    pub run: u32,
    pub run_name: String,
    /// As [`JudgePlan::identity`](super::JudgePlan::identity): values kept in the browser follow the run's content.
    pub identity: String,
    pub splits: Vec<BertScoreSplit>,
    /// Samples without a reference answer: they get no B.Score.
    pub without_reference: usize,
}

/// One chunk of B.Score values kept as it was computed (the page's IndexedDB): `f1[k]` is the
/// F1 of the pair at `start + k` of `split` in [`Session::bertscore_plan`]'s order, computed
/// together with exactly the pairs [`bertscore_chunk_hash`] `chunk` names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BertScoreChunk {
    pub split: Split,
    pub start: usize,
    pub chunk: String,
    pub f1: Vec<f64>,
}

impl Session {
    /// What B.Score asks for run `run`: per split, its samples with a reference in the run's
    /// order (bert_score's chunks of pairs follow that order, as `medhall score --bertscore`
    /// scores them), each marked done when the run holds its value under `signature`.
    pub fn bertscore_plan(&self, run: u32, signature: &str) -> Result<BertScorePlan, String> {
        let state = self
            .runs
            .iter()
            .find(|r| r.id == run)
            .ok_or_else(|| format!("no run with id {run}"))?;
        let same = state.bertscore.signature.as_deref() == Some(signature);
        let mut splits = Vec::new();
        let mut without_reference = 0;
        for split in Split::ALL {
            let mut items = Vec::new();
            for prediction in state
                .run
                .predictions()
                .iter()
                .filter(|p| p.key.split == split)
            {
                let (reference, _) = join_one(prediction, &self.references, &self.types);
                let Some(reference) = reference else {
                    without_reference += 1;
                    continue;
                };
                items.push(BertScoreItem {
                    key: prediction.key.clone(),
                    pair: pair_hash(reference, &prediction.answer),
                    candidate: reference.to_owned(),
                    reference: prediction.answer.clone(),
                    done: same
                        && state
                            .bertscore
                            .value(&prediction.key, reference, &prediction.answer)
                            .is_some(),
                });
            }
            if !items.is_empty() {
                splits.push(BertScoreSplit { split, items });
            }
        }
        Ok(BertScorePlan {
            run,
            run_name: state.name.clone(),
            identity: run_identity(&state.run),
            splits,
            without_reference,
        })
    }

    /// Gives run `run` the B.Score values of kept chunks (see [`BertScoreChunk`]) under
    /// `signature`: a chunk counts only where the run's pairs at its place are exactly the pairs
    /// it was computed with (bert_score's padding makes a pair's F1 depend on its neighbours),
    /// else it waits for the next reference shard (values kept in the browser come back before
    /// the shards have loaded). Then as [`Session::apply_bertscore`]; returns how many values
    /// applied now.
    pub fn apply_bertscore_chunks(
        &mut self,
        run: u32,
        signature: &str,
        chunks: &[BertScoreChunk],
    ) -> Result<usize, String> {
        let plan = self.bertscore_plan(run, signature)?;
        let mut scores = Vec::new();
        let mut waiting = Vec::new();
        for chunk in chunks {
            let Some(split) = plan.splits.iter().find(|s| s.split == chunk.split) else {
                waiting.push(chunk.clone());
                continue;
            };
            let Some(items) = chunk
                .start
                .checked_add(chunk.f1.len())
                .and_then(|end| split.items.get(chunk.start..end))
            else {
                waiting.push(chunk.clone());
                continue;
            };
            let same = bertscore_chunk_hash(
                items
                    .iter()
                    .map(|i| (i.candidate.as_str(), i.reference.as_str())),
            ) == chunk.chunk;
            if same {
                scores.extend(
                    items
                        .iter()
                        .zip(&chunk.f1)
                        .map(|(item, &f1)| (item.key.clone(), item.pair.clone(), f1)),
                );
            } else {
                waiting.push(chunk.clone());
            }
        }
        let applied = self.apply_bertscore(run, signature, scores)?;
        if let Some(state) = self.runs.iter_mut().find(|r| r.id == run) {
            state.bertscore.waiting.extend(waiting);
        }
        Ok(applied)
    }

    /// Offers each run's waiting chunks again (after a reference shard loaded).
    pub(super) fn retry_waiting_bertscore_chunks(&mut self) {
        let waiting: Vec<(u32, String, Vec<BertScoreChunk>)> = self
            .runs
            .iter_mut()
            .filter(|r| !r.bertscore.waiting.is_empty())
            .filter_map(|r| {
                let signature = r.bertscore.signature.clone()?;
                Some((r.id, signature, std::mem::take(&mut r.bertscore.waiting)))
            })
            .collect();
        for (run, signature, chunks) in waiting {
            // The run and its signature exist: this cannot fail.
            let _ = self.apply_bertscore_chunks(run, &signature, &chunks);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::LoadTarget;
    use crate::session::test_support::{REFS, RUN, load, scored_session};
    use medhall_core::metrics::lexical::LexicalScorer;
    use medhall_core::metrics::wordnet::WordNet;

    #[test]
    fn kept_bertscore_chunks_apply_only_to_the_same_pairs() {
        let mut session = scored_session();
        let plan = session.bertscore_plan(7, "bertscore:a").expect("plan");
        let items = plan.splits[0].items.clone();
        let split = plan.splits[0].split;
        let hash = |items: &[BertScoreItem]| {
            bertscore_chunk_hash(
                items
                    .iter()
                    .map(|i| (i.candidate.as_str(), i.reference.as_str())),
            )
        };
        // Computed beside another neighbour: the same first pair, another chunk.
        let other = bertscore_chunk_hash([
            (items[0].candidate.as_str(), items[0].reference.as_str()),
            ("another", "pair"),
        ]);
        let stale = BertScoreChunk {
            split,
            start: 0,
            chunk: other,
            f1: vec![0.5, 0.6],
        };
        assert_eq!(
            session.apply_bertscore_chunks(7, "bertscore:a", std::slice::from_ref(&stale)),
            Ok(0)
        );
        // Out of range: skipped, not an error.
        let beyond = BertScoreChunk {
            start: 1,
            chunk: hash(&items),
            ..stale.clone()
        };
        assert_eq!(
            session.apply_bertscore_chunks(7, "bertscore:a", &[beyond]),
            Ok(0)
        );
        let same = BertScoreChunk {
            chunk: hash(&items),
            ..stale
        };
        assert_eq!(
            session.apply_bertscore_chunks(7, "bertscore:a", std::slice::from_ref(&same)),
            Ok(2)
        );
        let plan = session.bertscore_plan(7, "bertscore:a").expect("plan");
        assert!(plan.splits[0].items.iter().all(|i| i.done));

        // Offered before the reference shard has loaded (a reload): applied once it has.
        let mut early = Session::default();
        let run = LoadTarget::Run {
            run: 7,
            name: "model-a.negative.jsonl".to_owned(),
        };
        load(&mut early, 2, run, "model-a.negative.jsonl", RUN);
        assert_eq!(
            early.apply_bertscore_chunks(7, "bertscore:a", &[same]),
            Ok(0)
        );
        load(
            &mut early,
            1,
            LoadTarget::Shard,
            "refs.negative.jsonl",
            REFS,
        );
        let mut scorer = LexicalScorer::new(WordNet::embedded());
        while early.score_step(&mut scorer, 2) > 0 {}
        let plan = early.bertscore_plan(7, "bertscore:a").expect("plan");
        assert!(plan.splits[0].items.iter().all(|i| i.done));
        let bert = early.summaries(true)[0].groups[0]
            .metrics
            .iter()
            .find(|m| m.metric == "bertscore")
            .map(|m| m.n);
        assert_eq!(bert, Some(2));
    }
}
