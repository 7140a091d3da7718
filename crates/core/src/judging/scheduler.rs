//! Which judge request to send next, without doing any I/O: the CLI's threads and the page's
//! fetches drive the same state machine, handing it the time and each request's outcome.
//!
//! Rules:
//! - at most `concurrency` requests in flight, never more;
//! - a sample is finished when a reply with text came back (kept, whatever the text says: an
//!   unreadable verdict is paid for and reported, not silently asked again);
//! - a retryable failure (429, 5xx, timeout, dropped connection, an unreadable response body) is
//!   asked again after an exponential backoff with jitter, or after the server's `Retry-After`,
//!   which also pauses every new request until then (the endpoint is rate limiting all of us);
//! - after `max_attempts` attempts a sample is failed with its last reason;
//! - a request the endpoint refuses as such (400, 413, 422) fails its sample at once;
//! - a refusal of everything (401, 403, 404: key, model or URL) stops sending; replies still in
//!   flight are accepted;
//! - `stop()` (the user's) stops sending too; what is not sent stays pending for a later run.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedulerConfig {
    pub concurrency: usize,
    pub max_attempts: u32,
    /// How long the transport waits for one reply.
    pub timeout_ms: u64,
    /// The first retry's delay; each further one doubles, up to `max_delay_ms`.
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
    /// The longest `Retry-After` honoured (a server asking for an hour is asked again sooner).
    pub max_retry_after_ms: u64,
    pub seed: u64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            concurrency: 8,
            max_attempts: 5,
            timeout_ms: 120_000,
            base_delay_ms: 1_000,
            max_delay_ms: 60_000,
            max_retry_after_ms: 900_000,
            // Fixed: the jitter only spreads retries; it changes no result.
            seed: 0x5eed_0f0f_1dce_4a11,
        }
    }
}

/// How one attempt ended, as the transport classified it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A reply with text, written where it belongs: the sample is finished.
    Finished,
    /// Worth asking again later.
    Retry {
        reason: String,
        retry_after_ms: Option<u64>,
    },
    /// This sample's request is refused as such; asking again would not help.
    Fail { reason: String },
    /// Every request will be refused (key, model or URL): stop sending.
    Abort { reason: String },
}

/// One request to send now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dispatch {
    pub item: usize,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub timeout_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    Send(Dispatch),
    /// Nothing may be sent before this time (a backoff or `Retry-After`), unless a reply comes.
    WaitUntil(u64),
    /// The concurrency limit is reached, or only replies are awaited.
    WaitForReply,
    /// Nothing more will be sent: every sample finished or failed, or the run stopped.
    Done,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemState {
    Pending,
    InFlight,
    Finished,
    Failed(String),
}

#[derive(Clone, Debug)]
struct Slot {
    state: ItemState,
    attempts: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub finished: usize,
    pub failed: usize,
    pub pending: usize,
    pub in_flight: usize,
    /// Attempts that were retried so far.
    pub retries: usize,
}

#[derive(Clone, Debug)]
pub struct Scheduler {
    config: SchedulerConfig,
    slots: Vec<Slot>,
    fresh: VecDeque<usize>,
    /// (due time, item), earliest first.
    retries: BinaryHeap<Reverse<(u64, usize)>>,
    in_flight: usize,
    retried: usize,
    paused_until: u64,
    rng: u64,
    aborted: Option<String>,
    stopped: bool,
}

impl Scheduler {
    /// A scheduler for items `0..items`, sent in that order.
    pub fn new(items: usize, config: SchedulerConfig) -> Self {
        let config = SchedulerConfig {
            concurrency: config.concurrency.max(1),
            max_attempts: config.max_attempts.max(1),
            ..config
        };
        Self {
            config,
            slots: vec![
                Slot {
                    state: ItemState::Pending,
                    attempts: 0,
                };
                items
            ],
            fresh: (0..items).collect(),
            retries: BinaryHeap::new(),
            in_flight: 0,
            retried: 0,
            paused_until: 0,
            rng: config.seed | 1,
            aborted: None,
            stopped: false,
        }
    }

    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    /// Marks an item finished before anything is sent (it is already in the output).
    pub fn mark_finished(&mut self, item: usize) {
        if let Some(slot) = self.slots.get_mut(item)
            && slot.state == ItemState::Pending
        {
            slot.state = ItemState::Finished;
        }
    }

    /// The user's stop: nothing more is sent; replies in flight are still accepted.
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// Why sending stopped for everyone, if it did.
    pub fn aborted(&self) -> Option<&str> {
        self.aborted.as_deref()
    }

    pub fn state(&self, item: usize) -> Option<&ItemState> {
        self.slots.get(item).map(|slot| &slot.state)
    }

    pub fn attempts(&self, item: usize) -> u32 {
        self.slots.get(item).map_or(0, |slot| slot.attempts)
    }

    pub fn counts(&self) -> Counts {
        let mut counts = Counts {
            retries: self.retried,
            ..Counts::default()
        };
        for slot in &self.slots {
            match slot.state {
                ItemState::Pending => counts.pending += 1,
                ItemState::InFlight => counts.in_flight += 1,
                ItemState::Finished => counts.finished += 1,
                ItemState::Failed(_) => counts.failed += 1,
            }
        }
        counts
    }

    /// Failed items with their reasons, in item order.
    pub fn failures(&self) -> impl Iterator<Item = (usize, &str)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| match &slot.state {
                ItemState::Failed(reason) => Some((i, reason.as_str())),
                _ => None,
            })
    }

    fn pending(&self, item: usize) -> bool {
        self.slots[item].state == ItemState::Pending
    }

    fn dispatch(&mut self, item: usize) -> Next {
        let slot = &mut self.slots[item];
        slot.state = ItemState::InFlight;
        slot.attempts += 1;
        self.in_flight += 1;
        Next::Send(Dispatch {
            item,
            attempt: slot.attempts,
            timeout_ms: self.config.timeout_ms,
        })
    }

    fn idle(&self) -> Next {
        if self.in_flight > 0 {
            Next::WaitForReply
        } else {
            Next::Done
        }
    }

    /// What to do now. Call it again after each `Send` until it answers something else.
    pub fn next(&mut self, now_ms: u64) -> Next {
        if self.stopped || self.aborted.is_some() {
            return self.idle();
        }
        if self.in_flight >= self.config.concurrency {
            return Next::WaitForReply;
        }
        // Drop entries of items that are no longer pending (marked finished before sending).
        while let Some(&Reverse((_, item))) = self.retries.peek() {
            if self.pending(item) {
                break;
            }
            self.retries.pop();
        }
        while let Some(&item) = self.fresh.front() {
            if self.pending(item) {
                break;
            }
            self.fresh.pop_front();
        }
        let anything = !self.fresh.is_empty() || !self.retries.is_empty();
        if !anything {
            return self.idle();
        }
        if now_ms < self.paused_until {
            return Next::WaitUntil(self.paused_until);
        }
        if let Some(&Reverse((due, item))) = self.retries.peek()
            && due <= now_ms
        {
            self.retries.pop();
            return self.dispatch(item);
        }
        if let Some(item) = self.fresh.pop_front() {
            return self.dispatch(item);
        }
        match self.retries.peek() {
            Some(&Reverse((due, _))) => Next::WaitUntil(due),
            None => self.idle(),
        }
    }

    /// The outcome of an item's attempt. Returns false (and changes nothing) for an item that
    /// was not in flight.
    pub fn report(&mut self, item: usize, outcome: Outcome, now_ms: u64) -> bool {
        let Some(slot) = self.slots.get(item) else {
            return false;
        };
        if slot.state != ItemState::InFlight {
            return false;
        }
        let attempts = slot.attempts;
        self.in_flight -= 1;
        let state = match outcome {
            Outcome::Finished => ItemState::Finished,
            Outcome::Fail { reason } => ItemState::Failed(reason),
            Outcome::Abort { reason } => {
                self.aborted.get_or_insert_with(|| reason.clone());
                ItemState::Failed(reason)
            }
            Outcome::Retry {
                reason,
                retry_after_ms,
            } => {
                if attempts >= self.config.max_attempts {
                    ItemState::Failed(format!("{reason} (gave up after {attempts} attempts)"))
                } else {
                    let delay = match retry_after_ms {
                        Some(wait) => {
                            let wait = wait.min(self.config.max_retry_after_ms);
                            self.paused_until = self.paused_until.max(now_ms + wait);
                            wait
                        }
                        None => self.backoff(attempts),
                    };
                    self.retried += 1;
                    self.retries.push(Reverse((now_ms + delay, item)));
                    ItemState::Pending
                }
            }
        };
        self.slots[item].state = state;
        true
    }

    /// Exponential backoff with jitter: a uniform draw in [d/2, d], d = base·2^(attempt−1).
    fn backoff(&mut self, attempts: u32) -> u64 {
        let exponent = attempts.saturating_sub(1).min(30);
        let full = self
            .config
            .base_delay_ms
            .saturating_mul(1u64 << exponent)
            .min(self.config.max_delay_ms);
        let half = full / 2;
        half + self.random() % (full - half + 1)
    }

    /// xorshift64*: enough to spread retries.
    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(concurrency: usize, max_attempts: u32) -> SchedulerConfig {
        SchedulerConfig {
            concurrency,
            max_attempts,
            timeout_ms: 1_000,
            base_delay_ms: 100,
            max_delay_ms: 1_000,
            max_retry_after_ms: 5_000,
            seed: 7,
        }
    }

    fn sends(scheduler: &mut Scheduler, now: u64) -> Vec<usize> {
        let mut items = Vec::new();
        while let Next::Send(dispatch) = scheduler.next(now) {
            items.push(dispatch.item);
        }
        items
    }

    #[test]
    fn never_more_than_the_concurrency_in_flight() {
        let mut s = Scheduler::new(10, config(3, 2));
        assert_eq!(sends(&mut s, 0), [0, 1, 2]);
        assert_eq!(s.next(0), Next::WaitForReply);
        assert!(s.report(1, Outcome::Finished, 5));
        assert_eq!(sends(&mut s, 5), [3]);
        assert!(!s.report(1, Outcome::Finished, 5), "not in flight any more");
        assert!(!s.report(99, Outcome::Finished, 5));
        assert_eq!(s.counts().in_flight, 3);
    }

    #[test]
    fn retries_back_off_then_fail_after_the_attempt_limit() {
        let mut s = Scheduler::new(1, config(4, 3));
        assert_eq!(sends(&mut s, 0), [0]);
        let retry = || Outcome::Retry {
            reason: "HTTP 500".into(),
            retry_after_ms: None,
        };
        s.report(0, retry(), 0);
        let Next::WaitUntil(first) = s.next(0) else {
            panic!("a backoff")
        };
        assert!((50..=100).contains(&first), "first backoff {first}");
        assert_eq!(s.next(first - 1), Next::WaitUntil(first));
        assert_eq!(sends(&mut s, first), [0]);
        s.report(0, retry(), first);
        let Next::WaitUntil(second) = s.next(first) else {
            panic!("a backoff")
        };
        assert!((100..=200).contains(&(second - first)), "doubles");
        assert_eq!(sends(&mut s, second), [0]);
        assert_eq!(s.attempts(0), 3);
        s.report(0, retry(), second);
        assert_eq!(
            s.state(0),
            Some(&ItemState::Failed(
                "HTTP 500 (gave up after 3 attempts)".into()
            ))
        );
        assert_eq!(s.next(second), Next::Done);
        assert_eq!(s.counts().retries, 2);
    }

    #[test]
    fn retry_after_pauses_every_new_request() {
        let mut s = Scheduler::new(4, config(2, 5));
        assert_eq!(sends(&mut s, 0), [0, 1]);
        s.report(
            0,
            Outcome::Retry {
                reason: "429".into(),
                retry_after_ms: Some(2_000),
            },
            10,
        );
        assert_eq!(s.next(10), Next::WaitUntil(2_010));
        s.report(1, Outcome::Finished, 20);
        assert_eq!(s.next(1_000), Next::WaitUntil(2_010));
        assert_eq!(sends(&mut s, 2_010), [0, 2]);
        // A Retry-After past the cap is shortened to it.
        s.report(
            2,
            Outcome::Retry {
                reason: "429".into(),
                retry_after_ms: Some(3_600_000),
            },
            2_020,
        );
        assert_eq!(s.next(2_020), Next::WaitUntil(7_020));
    }

    #[test]
    fn refusals_fail_one_sample_or_stop_everything() {
        let mut s = Scheduler::new(5, config(2, 5));
        assert_eq!(sends(&mut s, 0), [0, 1]);
        s.report(
            0,
            Outcome::Fail {
                reason: "400".into(),
            },
            1,
        );
        assert_eq!(sends(&mut s, 1), [2]);
        s.report(
            1,
            Outcome::Abort {
                reason: "401".into(),
            },
            2,
        );
        assert_eq!(s.aborted(), Some("401"));
        assert_eq!(s.next(2), Next::WaitForReply, "item 2 is still in flight");
        s.report(2, Outcome::Finished, 3);
        assert_eq!(s.next(3), Next::Done);
        let counts = s.counts();
        assert_eq!(
            (counts.finished, counts.failed, counts.pending),
            (1, 2, 2),
            "unsent samples stay pending"
        );
        assert_eq!(s.failures().map(|(i, _)| i).collect::<Vec<_>>(), [0, 1]);
    }

    #[test]
    fn finished_items_are_skipped_and_stop_stops_sending() {
        let mut s = Scheduler::new(4, config(8, 1));
        s.mark_finished(0);
        s.mark_finished(2);
        assert_eq!(sends(&mut s, 0), [1, 3]);
        s.stop();
        s.report(1, Outcome::Finished, 1);
        assert_eq!(s.next(1), Next::WaitForReply);
        s.report(3, Outcome::Finished, 1);
        assert_eq!(s.next(1), Next::Done);
        assert_eq!(s.counts().finished, 4);
    }
}
