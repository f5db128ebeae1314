//! One writer at a time for the stored offer book and bindings. The worker is single
//! threaded but async: two messages could otherwise interleave read-modify-write cycles
//! of `chrome.storage` and lose an update. Holds no state beyond "someone is writing".

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::{Poll, Waker};

thread_local! {
    static HELD: Cell<bool> = const { Cell::new(false) };
    static WAITERS: RefCell<VecDeque<Waker>> = const { RefCell::new(VecDeque::new()) };
}

pub struct Guard(());

impl Drop for Guard {
    fn drop(&mut self) {
        HELD.set(false);
        if let Some(w) = WAITERS.with_borrow_mut(VecDeque::pop_front) {
            w.wake();
        }
    }
}

pub async fn lock() -> Guard {
    poll_fn(|cx| {
        if HELD.get() {
            WAITERS.with_borrow_mut(|w| w.push_back(cx.waker().clone()));
            Poll::Pending
        } else {
            HELD.set(true);
            Poll::Ready(Guard(()))
        }
    })
    .await
}
