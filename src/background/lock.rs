//! One writer at a time. The worker is single threaded but async: two messages could
//! otherwise interleave read-modify-write cycles of `chrome.storage` and lose an update.
//! Each lock holds no state beyond "someone is inside".

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::{Poll, Waker};

pub struct AsyncLock {
    held: Cell<bool>,
    waiters: RefCell<VecDeque<Waker>>,
}

thread_local! {
    /// Offers and bindings.
    pub static STORAGE: AsyncLock = const { AsyncLock::new() };
    /// The code-pairing poller's actions (stores must land in the order decided).
    pub static CHALLENGE: AsyncLock = const { AsyncLock::new() };
    /// Enterprise enrollment: one attempt per assertion at a time.
    pub static MANAGED: AsyncLock = const { AsyncLock::new() };
}

pub struct Guard(&'static std::thread::LocalKey<AsyncLock>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.with(|l| {
            l.held.set(false);
            if let Some(w) = l.waiters.borrow_mut().pop_front() {
                w.wake();
            }
        });
    }
}

impl AsyncLock {
    const fn new() -> Self {
        Self { held: Cell::new(false), waiters: RefCell::new(VecDeque::new()) }
    }
}

pub async fn lock(which: &'static std::thread::LocalKey<AsyncLock>) -> Guard {
    poll_fn(|cx| {
        which.with(|l| {
            if l.held.get() {
                l.waiters.borrow_mut().push_back(cx.waker().clone());
                Poll::Pending
            } else {
                l.held.set(true);
                Poll::Ready(Guard(which))
            }
        })
    })
    .await
}
