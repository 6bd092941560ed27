//! Pacing for a run that makes many calls to Altimeter at once (the backfill):
//! a `Retry-After`, or a rate-limit window that `X-Rate-Limit-Remaining` says is
//! used up, holds every call of the run, not only the one that met it.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use altimeter_client::RateLimit;
use chrono::Utc;
use tokio::time::Instant;

/// Waits longer than this are cut short: a window or `Retry-After` that far off
/// is more likely a clock that disagrees than a real wait.
const LONGEST_WAIT: Duration = Duration::from_secs(60);
/// Added to a window's reset time, for the two clocks and the network.
const RESET_MARGIN: Duration = Duration::from_millis(20);
/// With the window's calls all sent and no answer yet to say when it resets.
const UNKNOWN_RESET_WAIT: Duration = Duration::from_millis(100);

/// Why calls are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Altimeter asked to wait (`Retry-After`), or a failed call is backing off.
    Asked,
    /// This rate-limit window has no calls left.
    WindowUsedUp,
}

#[derive(Debug, Default)]
pub struct Pacer {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    resume_at: Option<(Instant, Hold)>,
    window: Option<Window>,
    /// Calls per window, as Altimeter last said.
    limit: Option<u64>,
}

/// What is left of the current rate-limit window.
#[derive(Debug, Clone, Copy)]
struct Window {
    remaining: u64,
    /// Unix epoch second at which it resets; unknown until an answer of this
    /// window says.
    reset: Option<i64>,
}

impl Pacer {
    pub fn new() -> Pacer {
        Pacer::default()
    }

    /// Waits until a call may go, and counts it against the window. `on_hold`
    /// is told before each wait how long it will be and why.
    pub async fn ready(&self, on_hold: &(dyn Fn(Duration, Hold) + Sync)) {
        loop {
            let Some((wait, why)) = self.take_or_wait() else {
                return;
            };
            on_hold(wait, why);
            tokio::time::sleep(wait).await;
        }
    }

    /// Learns the window from the rate-limit headers of an answer.
    pub fn observe(&self, rate: RateLimit) {
        let mut state = self.lock();
        state.limit = Some(rate.limit);
        match &mut state.window {
            Some(window) if window.reset.is_none_or(|reset| reset == rate.reset) => {
                window.remaining = window.remaining.min(rate.remaining);
                window.reset = Some(rate.reset);
            }
            // An answer from a window already over.
            Some(window) if window.reset.is_some_and(|reset| reset > rate.reset) => {}
            _ => {
                state.window = Some(Window {
                    remaining: rate.remaining,
                    reset: Some(rate.reset),
                });
            }
        }
    }

    /// Holds every call for `wait` (a `Retry-After` or a backoff).
    pub fn hold(&self, wait: Duration) {
        let until = Instant::now() + wait.min(LONGEST_WAIT);
        let mut state = self.lock();
        if state.resume_at.is_none_or(|(at, _)| at < until) {
            state.resume_at = Some((until, Hold::Asked));
        }
    }

    /// `None` when a call may go now (and it is counted); else how long to wait.
    fn take_or_wait(&self) -> Option<(Duration, Hold)> {
        let mut state = self.lock();
        let now = Instant::now();
        if let Some((at, why)) = state.resume_at {
            if at > now {
                return Some((at - now, why));
            }
            state.resume_at = None;
        }
        let now_ms = Utc::now().timestamp_millis();
        if let Some(window) = state.window {
            if window.reset.is_some_and(|reset| now_ms >= reset * 1000) {
                // A new window: as many calls as the limit, until an answer says more.
                state.window = state.limit.map(|limit| Window {
                    remaining: limit,
                    reset: None,
                });
            }
        }
        let window = match &mut state.window {
            None => return None,
            Some(window) if window.remaining > 0 => {
                window.remaining -= 1;
                return None;
            }
            Some(window) => *window,
        };
        let wait = match window.reset {
            Some(reset) => {
                let ms = u64::try_from(reset * 1000 - now_ms).unwrap_or(0);
                (Duration::from_millis(ms) + RESET_MARGIN).min(LONGEST_WAIT)
            }
            None => {
                // Every call of this window is out and none has answered: wait a
                // little, then let calls find out.
                state.window = None;
                UNKNOWN_RESET_WAIT
            }
        };
        state.resume_at = Some((now + wait, Hold::WindowUsedUp));
        Some((wait, Hold::WindowUsedUp))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch_now() -> i64 {
        Utc::now().timestamp()
    }

    #[tokio::test]
    async fn calls_go_freely_until_a_window_is_known() {
        let pacer = Pacer::new();
        for _ in 0..100 {
            assert_eq!(pacer.take_or_wait(), None);
        }
    }

    #[tokio::test]
    async fn a_used_up_window_holds_calls_until_it_resets() {
        let pacer = Pacer::new();
        let reset = epoch_now() + 2;
        pacer.observe(RateLimit {
            limit: 5,
            remaining: 2,
            reset,
        });
        assert_eq!(pacer.take_or_wait(), None);
        assert_eq!(pacer.take_or_wait(), None);
        let (wait, why) = pacer.take_or_wait().expect("the window is used up");
        assert_eq!(why, Hold::WindowUsedUp);
        assert!(
            wait > Duration::from_millis(900) && wait <= Duration::from_millis(2020),
            "{wait:?}"
        );
        // An older answer that says more is left does not reopen the window.
        pacer.observe(RateLimit {
            limit: 5,
            remaining: 4,
            reset: reset - 1,
        });
        assert!(pacer.take_or_wait().is_some());
    }

    #[tokio::test]
    async fn a_new_window_allows_as_many_calls_as_the_limit() {
        let pacer = Pacer::new();
        pacer.observe(RateLimit {
            limit: 3,
            remaining: 0,
            reset: epoch_now() - 1,
        });
        for _ in 0..3 {
            assert_eq!(pacer.take_or_wait(), None);
        }
        let (wait, _) = pacer.take_or_wait().expect("the limit is used up");
        assert_eq!(wait, UNKNOWN_RESET_WAIT);
    }

    #[tokio::test]
    async fn a_hold_delays_every_call_and_only_grows() {
        let pacer = Pacer::new();
        pacer.hold(Duration::from_secs(2));
        pacer.hold(Duration::from_millis(10));
        let (wait, why) = pacer.take_or_wait().expect("held");
        assert_eq!(why, Hold::Asked);
        assert!(wait > Duration::from_millis(1900), "{wait:?}");
    }
}
