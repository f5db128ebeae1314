//! Wall-clock time in milliseconds since the Unix epoch (the unit of every stored time).

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Runs `pass` now and then every `period` (a late pass delays the next, none is made up)
/// until `shutdown` turns true: the loop of every instance's background work (the cleanup,
/// webhook delivery).
pub async fn every<F, Fut>(period: std::time::Duration, shutdown: &tokio::sync::watch::Sender<bool>, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stop = shutdown.subscribe();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        pass().await;
    }
}
