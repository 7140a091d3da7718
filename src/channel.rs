//! A single-threaded channel whose receiving end is a future: how the page's async code waits
//! for a worker's replies and events, instead of a hand-made JS promise at each call site.
//! The page runs on one thread, so it is `Rc`/`RefCell` inside; the waker is the executor's
//! (`wasm_bindgen_futures::spawn_local`). Platform-free, so its tests run natively.

// Only the page's wasm code uses it; natively it is built for its tests.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

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

#[cfg(test)]
mod tests {
    use super::channel;
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Wake, Waker};

    /// A waker that counts its wakes.
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn values_come_in_order_then_none_once_every_sender_is_gone() {
        let mut cx = Context::from_waker(Waker::noop());
        let (first, receiver) = channel();
        let second = first.clone();
        first.send(1);
        second.send(2);
        assert_eq!(pin!(receiver.recv()).poll(&mut cx), Poll::Ready(Some(1)));
        assert_eq!(pin!(receiver.recv()).poll(&mut cx), Poll::Ready(Some(2)));
        let mut next = pin!(receiver.recv());
        assert_eq!(next.as_mut().poll(&mut cx), Poll::Pending);
        drop(first);
        assert_eq!(
            next.as_mut().poll(&mut cx),
            Poll::Pending,
            "a sender is left"
        );
        second.send(3);
        assert_eq!(next.as_mut().poll(&mut cx), Poll::Ready(Some(3)));
        drop(second);
        assert_eq!(pin!(receiver.recv()).poll(&mut cx), Poll::Ready(None));
    }

    #[test]
    fn close_keeps_what_was_queued_and_drops_what_comes_after() {
        let mut cx = Context::from_waker(Waker::noop());
        let (sender, receiver) = channel();
        sender.send("kept");
        sender.close();
        sender.send("dropped");
        assert_eq!(
            pin!(receiver.recv()).poll(&mut cx),
            Poll::Ready(Some("kept"))
        );
        assert_eq!(pin!(receiver.recv()).poll(&mut cx), Poll::Ready(None));
    }

    #[test]
    fn a_waiting_receiver_is_woken_by_a_value_and_by_the_close() {
        let wakes = Arc::new(Wakes(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let (sender, receiver) = channel::<u8>();
        let mut next = pin!(receiver.recv());
        assert!(next.as_mut().poll(&mut cx).is_pending());
        sender.send(7);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        assert_eq!(next.as_mut().poll(&mut cx), Poll::Ready(Some(7)));
        let mut last = pin!(receiver.recv());
        assert!(last.as_mut().poll(&mut cx).is_pending());
        drop(sender);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 2);
        assert_eq!(last.as_mut().poll(&mut cx), Poll::Ready(None));
    }
}
