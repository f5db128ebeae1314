//! One writer at a time. The worker is single threaded but async: two messages could
//! otherwise interleave read-modify-write cycles of `chrome.storage` and lose an update.
//! Each lock holds no state beyond "someone is inside".
//!
//! futures-intrusive's fair local mutex, not a hand-made one: waiters take the lock in the
//! order they asked (a burst of offers is decided before the describes it started write
//! back, e2e hostile.test.mjs), and a waiter that is woken but dropped before it takes the
//! lock (an abandoned message handler) passes the wake-up on. The hand-made lock this
//! replaced lost that wake-up, and every later waiter hung with the lock free (the test
//! below fails on it). futures-util's mutex passes the wake-up on too, but is not fair.

use futures_intrusive::sync::{LocalMutex, LocalMutexGuard};

pub type Lock = &'static std::thread::LocalKey<&'static LocalMutex<()>>;
pub type Guard = LocalMutexGuard<'static, ()>;

/// A fair lock that lives as long as the worker (one per kind, never dropped).
fn new_lock() -> &'static LocalMutex<()> {
    Box::leak(Box::new(LocalMutex::new((), true)))
}

thread_local! {
    /// Offers and bindings.
    pub static STORAGE: &'static LocalMutex<()> = new_lock();
    /// The code-pairing poller's actions (stores must land in the order decided).
    pub static CHALLENGE: &'static LocalMutex<()> = new_lock();
    /// Enterprise enrollment: one attempt per assertion at a time.
    pub static MANAGED: &'static LocalMutex<()> = new_lock();
    /// Only for the tests.
    #[cfg(test)]
    static TEST: &'static LocalMutex<()> = new_lock();
}

/// Waits for `which`, first come first served; held until the guard drops.
pub async fn lock(which: Lock) -> Guard {
    which.with(|m| *m).lock().await
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;

    /// Remembers whether it was woken.
    #[derive(Default)]
    struct Flag(AtomicBool);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Flag>, Waker) {
        let flag = Arc::new(Flag::default());
        (flag.clone(), Waker::from(flag))
    }

    /// A waiter that is woken for the lock but dropped before it takes it (its message
    /// handler was abandoned) must pass the lock on: the next waiter gets woken.
    #[wasm_bindgen_test]
    fn a_waiter_dropped_after_its_wake_up_passes_the_lock_on() {
        let (_, idle) = waker();
        let mut cx = Context::from_waker(&idle);
        let Poll::Ready(first) = pin!(lock(&TEST)).poll(&mut cx) else { panic!("a free lock is taken at once") };

        let mut second = Box::pin(lock(&TEST));
        let (second_woken, w) = waker();
        assert!(second.as_mut().poll(&mut Context::from_waker(&w)).is_pending());
        let mut third = pin!(lock(&TEST));
        let (third_woken, w) = waker();
        let mut third_cx = Context::from_waker(&w);
        assert!(third.as_mut().poll(&mut third_cx).is_pending());

        drop(first);
        assert!(second_woken.0.load(Ordering::SeqCst), "the first in line is woken");
        drop(second);
        assert!(third_woken.0.load(Ordering::SeqCst), "the wake-up passes to the next in line");
        assert!(third.as_mut().poll(&mut third_cx).is_ready(), "and the lock is free for it");
    }

    /// First come, first served: a waiter never jumps the queue, not even one that asks
    /// while the first in line has been woken and not yet run.
    #[wasm_bindgen_test]
    fn waiters_take_the_lock_in_the_order_they_asked() {
        let (_, idle) = waker();
        let mut cx = Context::from_waker(&idle);
        let Poll::Ready(first) = pin!(lock(&TEST)).poll(&mut cx) else { panic!("a free lock is taken at once") };
        let mut second = pin!(lock(&TEST));
        assert!(second.as_mut().poll(&mut cx).is_pending());
        let mut third = pin!(lock(&TEST));
        assert!(third.as_mut().poll(&mut cx).is_pending());
        drop(first);
        let mut late = pin!(lock(&TEST));
        assert!(late.as_mut().poll(&mut cx).is_pending(), "a newcomer waits behind the queue");
        assert!(third.as_mut().poll(&mut cx).is_pending(), "the third waits for the second");
        let Poll::Ready(second) = second.as_mut().poll(&mut cx) else { panic!("the second is next") };
        drop(second);
        assert!(late.as_mut().poll(&mut cx).is_pending(), "the newcomer still waits");
        assert!(third.as_mut().poll(&mut cx).is_ready(), "the third is next");
    }
}
