//! The retry schedule of SPEC §3 as a pure function: an item is tried once, then
//! retried up to `max_retries` times, waiting `base × factor^(n-1)` before retry
//! n (5 s, 25 s, 125 s by default), and never less than the server's
//! `Retry-After`.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base: Duration,
    pub factor: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base: Duration::from_secs(5),
            factor: 5,
        }
    }
}

/// What happens after a try failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryIn(Duration),
    GiveUp,
}

impl RetryPolicy {
    /// `tries` counts the tries made so far, this failed one included (≥ 1).
    pub fn after_failure(
        &self,
        tries: u32,
        retryable: bool,
        retry_after: Option<Duration>,
    ) -> AfterFailure {
        if !retryable || tries > self.max_retries {
            return AfterFailure::GiveUp;
        }
        let exponent = tries.saturating_sub(1);
        let backoff = self
            .factor
            .checked_pow(exponent)
            .and_then(|m| self.base.checked_mul(m))
            .unwrap_or(Duration::MAX);
        AfterFailure::RetryIn(backoff.max(retry_after.unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn default_schedule_is_5_25_125_then_give_up() {
        let policy = RetryPolicy::default();
        let waits: Vec<_> = (1..=4)
            .map(|t| policy.after_failure(t, true, None))
            .collect();
        assert_eq!(
            waits,
            [
                AfterFailure::RetryIn(Duration::from_secs(5)),
                AfterFailure::RetryIn(Duration::from_secs(25)),
                AfterFailure::RetryIn(Duration::from_secs(125)),
                AfterFailure::GiveUp,
            ]
        );
    }

    #[test]
    fn permanent_failures_give_up_at_once() {
        assert_eq!(
            RetryPolicy::default().after_failure(1, false, None),
            AfterFailure::GiveUp
        );
    }

    #[test]
    fn retry_after_is_a_floor() {
        let policy = RetryPolicy::default();
        let wait = policy.after_failure(1, true, Some(Duration::from_secs(60)));
        assert_eq!(wait, AfterFailure::RetryIn(Duration::from_secs(60)));
        let wait = policy.after_failure(3, true, Some(Duration::from_secs(1)));
        assert_eq!(wait, AfterFailure::RetryIn(Duration::from_secs(125)));
    }

    proptest! {
        #[test]
        fn waits_grow_and_stop_after_max_retries(
            max_retries in 0u32..8,
            base_ms in 1u64..10_000,
            factor in 1u32..10,
            retry_after in prop::option::of(0u64..1000),
        ) {
            let policy = RetryPolicy { max_retries, base: Duration::from_millis(base_ms), factor };
            let retry_after = retry_after.map(Duration::from_secs);
            let mut last = Duration::ZERO;
            for tries in 1..=max_retries + 3 {
                match policy.after_failure(tries, true, retry_after) {
                    AfterFailure::RetryIn(wait) => {
                        prop_assert!(tries <= max_retries);
                        prop_assert!(wait >= last);
                        prop_assert!(wait >= retry_after.unwrap_or_default());
                        prop_assert!(wait >= policy.base);
                        last = wait;
                    }
                    AfterFailure::GiveUp => prop_assert!(tries > max_retries),
                }
            }
        }
    }
}
