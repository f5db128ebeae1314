//! One wake-up per name: a timer while this worker lives and a `chrome.alarms` alarm of
//! the same name for when Chrome stops the worker first. A request for a time no earlier
//! than the one already armed is dropped (the armed wake-up will re-schedule), so repeated
//! schedules don't pile up timers.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;

use litemap::LiteMap;

use latch_wire::EpochMs;

use crate::shell::{chrome, timer_delay_until};

pub type LocalFuture = Pin<Box<dyn Future<Output = ()>>>;

thread_local! {
    static ARMED: RefCell<LiteMap<&'static str, EpochMs>> = const { RefCell::new(LiteMap::new()) };
}

/// Runs `then()` at `at`, unless a wake-up of this name is already armed for
/// `at` or earlier.
pub async fn wake_at(name: &'static str, at: EpochMs, then: fn() -> LocalFuture) {
    let superseded = ARMED.with_borrow_mut(|armed| match armed.get(name) {
        Some(&t) if t <= at => true,
        _ => {
            armed.insert(name, at);
            false
        }
    });
    if superseded {
        return;
    }
    chrome::set_alarm(name, at).await;
    wasm_bindgen_futures::spawn_local(async move {
        gloo_timers::future::TimeoutFuture::new(timer_delay_until(at)).await;
        // Only the wake-up still armed fires; an earlier one that replaced it already ran.
        let current = ARMED.with_borrow_mut(|armed| {
            let is_current = armed.get(name) == Some(&at);
            if is_current {
                armed.remove(name);
            }
            is_current
        });
        if current {
            then().await;
        }
    });
}
