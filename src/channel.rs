//! A single-threaded channel whose receiving end is a future: how the page's async code waits
//! for a worker's replies and events, instead of a hand-made JS promise at each call site.
//! The page runs on one thread, so it is `Rc`/`RefCell` inside; the waker is the executor's
//! (`wasm_bindgen_futures::spawn_local`).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

struct Shared<T> {
    queue: VecDeque<T>,
    waker: Option<Waker>,
    closed: bool,
    senders: usize,
}

/// The sending end; the channel closes when the last sender is dropped (or on `close`).
pub(crate) struct Sender<T>(Rc<RefCell<Shared<T>>>);

/// The receiving end.
pub(crate) struct Receiver<T>(Rc<RefCell<Shared<T>>>);

pub(crate) fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Rc::new(RefCell::new(Shared {
        queue: VecDeque::new(),
        waker: None,
        closed: false,
        senders: 1,
    }));
    (Sender(shared.clone()), Receiver(shared))
}

impl<T> Sender<T> {
    /// Queues `value` for the receiver (dropped if the channel is closed).
    pub(crate) fn send(&self, value: T) {
        let waker = {
            let mut shared = self.0.borrow_mut();
            if shared.closed {
                return;
            }
            shared.queue.push_back(value);
            shared.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Closes the channel: the receiver gets what was queued, then `None`.
    pub(crate) fn close(&self) {
        let waker = {
            let mut shared = self.0.borrow_mut();
            shared.closed = true;
            shared.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.0.borrow_mut().senders += 1;
        Sender(self.0.clone())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let last = {
            let mut shared = self.0.borrow_mut();
            shared.senders -= 1;
            shared.senders == 0
        };
        if last {
            self.close();
        }
    }
}

impl<T> Receiver<T> {
    /// The next value, or `None` once the channel is closed and empty.
    pub(crate) async fn recv(&self) -> Option<T> {
        poll_fn(|cx| {
            let mut shared = self.0.borrow_mut();
            if let Some(value) = shared.queue.pop_front() {
                Poll::Ready(Some(value))
            } else if shared.closed {
                Poll::Ready(None)
            } else {
                shared.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}
