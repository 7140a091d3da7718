//! One judge run, without I/O: what the CLI's request threads and the page's fetches both
//! drive, so the two cannot behave differently. The frontend owns the transport (HTTP or
//! `fetch`) and the storage (an append-only JSONL file or IndexedDB); the run owns every rule:
//!
//! - resume: a sample the output already answers is finished before anything is sent (which
//!   replies count as answers is [`asks_again`](super::plan::asks_again));
//! - what to send when: the [`Scheduler`] (concurrency, backoff, `Retry-After`, attempt
//!   limit, a refusal of every request), and the request body for this run's model;
//! - what a response means ([`read_response`]): a reply with a body is [`Finished`] and must be
//!   written by the frontend *before* it reports [`JudgeRun::kept`]; only then does the sample
//!   count as done, so a crash between the two asks again rather than losing a paid reply
//!   silently;
//! - which kept replies are unreadable (a verdict that is not four scores, a type reply naming
//!   no type): kept, counted and reported, never asked again unasked;
//! - the totals (replies kept now, unreadable, tokens the endpoint counted) and how the run
//!   ended ([`Ending`]).

use super::messages::ChatMessage;
use super::openai::{ChatReply, Response, Usage, chat_request_body, read_response};
use super::provenance::JudgeIdentity;
use super::scheduler::{Counts, Next, Outcome, Scheduler, SchedulerConfig};
use super::types::parse_type_reply;
use crate::sample::SampleKey;

/// What the replies of a run are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunKind {
    /// The benchmark judge's verdicts (four scores on the first line).
    Verdicts,
    /// Hallucination types of negative questions (one type name).
    TypeLabels,
}

/// A reply that came back for `item`: the frontend writes it where it belongs, then calls
/// [`JudgeRun::kept`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    pub item: usize,
    pub key: SampleKey,
    pub reply: ChatReply,
    /// Why the reply cannot be read as this run's answer, when it cannot (it is kept all the
    /// same: it was paid for).
    pub unreadable: Option<String>,
}

/// How far a run is, for a progress line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunProgress {
    pub counts: Counts,
    /// Samples this run asks (finished before it started included).
    pub total: usize,
    /// Samples already answered in the output when the run started (not asked).
    pub resumed: usize,
    /// Replies written by this run.
    pub kept_now: usize,
    /// Of those, the unreadable ones.
    pub unreadable_now: usize,
    /// Tokens the endpoint counted for this run's replies.
    pub usage: Usage,
}

impl RunProgress {
    /// One line with the counts, as both frontends show them.
    pub fn line(&self, prices: Option<(f64, f64)>) -> String {
        let c = self.counts;
        let mut text = format!(
            "judged {}/{} · in flight {} · failed {} · retries {} · unreadable {} · tokens {} in / {} out",
            c.finished,
            self.total,
            c.in_flight,
            c.failed,
            c.retries,
            self.unreadable_now,
            self.usage.prompt_tokens,
            self.usage.completion_tokens,
        );
        if let Some((price_in, price_out)) = prices {
            text.push_str(&format!(
                " · ${:.2} so far",
                self.usage.cost(price_in, price_out)
            ));
        }
        text
    }
}

/// How a run ended (or stands, while replies are still awaited).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Every sample has its reply.
    Complete,
    /// Every request would be refused (key, model or URL); `left` samples are not done.
    Aborted { reason: String, left: usize },
    /// Some samples failed (their reasons are in [`JudgeRun::failures`]) or were not sent
    /// (the user stopped): a rerun asks for these only.
    Incomplete { failed: usize, not_sent: usize },
}

impl Ending {
    /// What to tell the user, the same words for the CLI and the page.
    pub fn message(&self) -> String {
        match self {
            Ending::Complete => "every sample has its reply".to_owned(),
            Ending::Aborted { reason, left } => {
                format!("stopped: {reason}; {left} samples not done, a rerun asks for them only")
            }
            Ending::Incomplete { failed, not_sent } => format!(
                "{} samples not done ({failed} failed, {not_sent} not sent); a rerun asks for \
                 them only",
                failed + not_sent
            ),
        }
    }
}

/// One judge run over `keys` (item `i` is `keys[i]`), asking `judge`.
#[derive(Clone, Debug)]
pub struct JudgeRun {
    kind: RunKind,
    judge: JudgeIdentity,
    keys: Vec<SampleKey>,
    scheduler: Scheduler,
    resumed: usize,
    kept_now: usize,
    unreadable_now: usize,
    usage: Usage,
}

impl JudgeRun {
    pub fn new(
        kind: RunKind,
        judge: JudgeIdentity,
        keys: Vec<SampleKey>,
        config: SchedulerConfig,
    ) -> Self {
        let scheduler = Scheduler::new(keys.len(), config);
        Self {
            kind,
            judge,
            keys,
            scheduler,
            resumed: 0,
            kept_now: 0,
            unreadable_now: 0,
            usage: Usage::default(),
        }
    }

    /// Marks the samples the output already answers (`answered(item, key)`) as finished, so
    /// they are never sent; returns how many. Call it before the first [`JudgeRun::next`].
    pub fn resume(&mut self, mut answered: impl FnMut(usize, &SampleKey) -> bool) -> usize {
        let mut resumed = 0;
        for (item, key) in self.keys.iter().enumerate() {
            if answered(item, key) {
                self.scheduler.mark_finished(item);
                resumed += 1;
            }
        }
        self.resumed += resumed;
        resumed
    }

    pub fn judge(&self) -> &JudgeIdentity {
        &self.judge
    }

    pub fn kind(&self) -> RunKind {
        self.kind
    }

    pub fn key(&self, item: usize) -> Option<&SampleKey> {
        self.keys.get(item)
    }

    pub fn config(&self) -> &SchedulerConfig {
        self.scheduler.config()
    }

    /// What to do now (see [`Scheduler::next`]); for `Send`, the body is
    /// [`JudgeRun::request_body`] of that item's messages.
    pub fn next(&mut self, now_ms: u64) -> Next {
        self.scheduler.next(now_ms)
    }

    /// The request for one item: its messages for this run's model, nothing else (agent.py's
    /// request).
    pub fn request_body(&self, messages: &[ChatMessage]) -> String {
        chat_request_body(&self.judge.model, messages)
    }

    /// An HTTP response to `item`'s request. A reply is returned to be written; anything else
    /// is reported to the scheduler here (retried, failed, or stopping the run).
    pub fn response(
        &mut self,
        item: usize,
        status: u16,
        retry_after_ms: Option<u64>,
        body: &[u8],
        now_ms: u64,
    ) -> Option<Finished> {
        match read_response(status, retry_after_ms, body) {
            Response::Reply(reply) => {
                let key = self.keys.get(item)?;
                let unreadable = match self.kind {
                    RunKind::Verdicts => reply.unreadable_reason(),
                    RunKind::TypeLabels => reply.empty_reason().or_else(|| {
                        parse_type_reply(&reply.content)
                            .is_none()
                            .then(|| "the reply names no type".to_owned())
                    }),
                };
                Some(Finished {
                    item,
                    key: key.clone(),
                    reply,
                    unreadable,
                })
            }
            Response::Problem(outcome) => {
                self.scheduler.report(item, outcome, now_ms);
                None
            }
        }
    }

    /// No response came back for `item` (a timeout, a dropped connection): asked again later.
    pub fn no_response(&mut self, item: usize, reason: String, now_ms: u64) {
        self.report(
            item,
            Outcome::Retry {
                reason,
                retry_after_ms: None,
            },
            now_ms,
        );
    }

    /// Reports an attempt the frontend classified itself (e.g. the page's "the browser could
    /// not reach the endpoint at all").
    pub fn report(&mut self, item: usize, outcome: Outcome, now_ms: u64) {
        self.scheduler.report(item, outcome, now_ms);
    }

    /// The reply of `finished` is written: its sample is done, its tokens counted.
    pub fn kept(&mut self, finished: &Finished, now_ms: u64) {
        if self
            .scheduler
            .report(finished.item, Outcome::Finished, now_ms)
        {
            self.kept_now += 1;
            if finished.unreadable.is_some() {
                self.unreadable_now += 1;
            }
            if let Some(usage) = finished.reply.usage {
                self.usage.add(usage);
            }
        }
    }

    /// The user's stop: nothing more is sent; replies in flight are still accepted.
    pub fn stop(&mut self) {
        self.scheduler.stop();
    }

    pub fn progress(&self) -> RunProgress {
        RunProgress {
            counts: self.scheduler.counts(),
            total: self.keys.len(),
            resumed: self.resumed,
            kept_now: self.kept_now,
            unreadable_now: self.unreadable_now,
            usage: self.usage,
        }
    }

    /// Failed samples with their last reason, in item order.
    pub fn failures(&self) -> impl Iterator<Item = (usize, &SampleKey, &str)> {
        self.scheduler
            .failures()
            .filter_map(|(item, reason)| Some((item, self.keys.get(item)?, reason)))
    }

    pub fn ending(&self) -> Ending {
        let counts = self.scheduler.counts();
        let left = counts.failed + counts.pending + counts.in_flight;
        if let Some(reason) = self.scheduler.aborted() {
            return Ending::Aborted {
                reason: reason.to_owned(),
                left,
            };
        }
        if left == 0 {
            Ending::Complete
        } else {
            Ending::Incomplete {
                failed: counts.failed,
                not_sent: counts.pending + counts.in_flight,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Split;

    fn keys(n: usize) -> Vec<SampleKey> {
        (0..n)
            .map(|i| SampleKey {
                split: Split::Positive,
                question_id: i.to_string(),
            })
            .collect()
    }

    fn run(kind: RunKind, n: usize) -> JudgeRun {
        let config = SchedulerConfig {
            concurrency: 2,
            max_attempts: 2,
            base_delay_ms: 10,
            ..SchedulerConfig::default()
        };
        JudgeRun::new(kind, JudgeIdentity::current("m", "host"), keys(n), config)
    }

    fn completion(content: &str, prompt: u64, completion: u64) -> Vec<u8> {
        serde_json::json!({
            "model": "m-2024",
            "choices": [{"message": {"content": content}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion},
        })
        .to_string()
        .into_bytes()
    }

    fn send(run: &mut JudgeRun, now: u64) -> usize {
        match run.next(now) {
            Next::Send(dispatch) => dispatch.item,
            other => panic!("expected a request, got {other:?}"),
        }
    }

    #[test]
    fn resumed_samples_are_never_sent() {
        let mut r = run(RunKind::Verdicts, 3);
        assert_eq!(r.resume(|item, _| item != 1), 2);
        assert_eq!(send(&mut r, 0), 1);
        assert_eq!(r.next(0), Next::WaitForReply);
        let finished = r
            .response(1, 200, None, &completion("8 7 6 5\nok", 10, 3), 1)
            .expect("a reply");
        r.kept(&finished, 1);
        assert_eq!(r.next(1), Next::Done);
        assert_eq!(r.ending(), Ending::Complete);
        let p = r.progress();
        assert_eq!((p.total, p.resumed, p.kept_now), (3, 2, 1));
    }

    #[test]
    fn a_reply_counts_only_once_kept() {
        let mut r = run(RunKind::Verdicts, 1);
        let item = send(&mut r, 0);
        let finished = r
            .response(item, 200, None, &completion("8 7 6 5", 10, 3), 1)
            .expect("a reply");
        assert_eq!(
            r.progress().counts.finished,
            0,
            "not done before it is written"
        );
        assert_eq!(r.progress().usage, Usage::default());
        assert_eq!(
            r.ending(),
            Ending::Incomplete {
                failed: 0,
                not_sent: 1
            }
        );
        r.kept(&finished, 2);
        assert_eq!(r.progress().counts.finished, 1);
        assert_eq!(r.progress().usage.prompt_tokens, 10);
        assert_eq!(finished.reply.model.as_deref(), Some("m-2024"));
        // Reported twice (a frontend's bug): counted once.
        r.kept(&finished, 3);
        assert_eq!(r.progress().kept_now, 1);
        assert_eq!(r.progress().usage.completion_tokens, 3);
    }

    #[test]
    fn unreadable_replies_are_kept_and_counted_by_kind() {
        let mut verdicts = run(RunKind::Verdicts, 2);
        let a = send(&mut verdicts, 0);
        let b = send(&mut verdicts, 0);
        let refused = serde_json::json!({
            "choices": [{"message": {"content": null, "refusal": "no"}}],
        })
        .to_string();
        let fa = verdicts
            .response(a, 200, None, refused.as_bytes(), 1)
            .expect("a refusal is a reply");
        let fb = verdicts
            .response(b, 200, None, &completion("great answer", 1, 1), 1)
            .expect("a reply");
        assert!(
            fa.unreadable
                .as_deref()
                .is_some_and(|r| r.contains("refused"))
        );
        assert!(fb.unreadable.is_some(), "no four scores");
        verdicts.kept(&fa, 2);
        verdicts.kept(&fb, 2);
        assert_eq!(verdicts.ending(), Ending::Complete);
        assert_eq!(verdicts.progress().unreadable_now, 2);

        let mut types = run(RunKind::TypeLabels, 2);
        let a = send(&mut types, 0);
        let b = send(&mut types, 0);
        let fa = types
            .response(a, 200, None, &completion("Object manipulation", 1, 1), 1)
            .expect("a reply");
        let fb = types
            .response(b, 200, None, &completion("I am not sure.", 1, 1), 1)
            .expect("a reply");
        assert_eq!(fa.unreadable, None);
        assert_eq!(fb.unreadable.as_deref(), Some("the reply names no type"));
    }

    #[test]
    fn problems_go_to_the_scheduler_and_the_ending_says_what_is_left() {
        let mut r = run(RunKind::Verdicts, 3);
        let a = send(&mut r, 0);
        let b = send(&mut r, 0);
        assert_eq!(r.response(a, 400, None, b"{}", 1), None);
        r.no_response(b, "no reply within 1 s".into(), 1);
        assert_eq!(r.progress().counts.failed, 1);
        assert_eq!(r.progress().counts.retries, 1);
        let failures: Vec<_> = r
            .failures()
            .map(|(i, k, why)| (i, k.question_id.clone(), why.to_owned()))
            .collect();
        assert_eq!(failures, vec![(a, a.to_string(), "HTTP 400".to_owned())]);
        r.stop();
        assert_eq!(r.next(1_000_000), Next::Done);
        assert_eq!(
            r.ending(),
            Ending::Incomplete {
                failed: 1,
                not_sent: 2
            }
        );
        assert!(r.ending().message().contains("3 samples not done"));

        let mut refused = run(RunKind::Verdicts, 2);
        let a = send(&mut refused, 0);
        assert_eq!(refused.response(a, 401, None, b"", 1), None);
        match refused.ending() {
            Ending::Aborted { reason, left } => {
                assert!(reason.contains("401"), "{reason}");
                assert_eq!(left, 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_body_asks_this_runs_model() {
        let r = run(RunKind::Verdicts, 1);
        let body = r.request_body(&[ChatMessage {
            role: "user".into(),
            content: "q".into(),
        }]);
        let value: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(value["model"], "m");
        assert_eq!(
            value.as_object().map(|o| o.len()),
            Some(2),
            "model and messages only"
        );
    }
}
