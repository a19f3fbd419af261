//! Exponential backoff with jitter and a cap, from `backon`: 100 ms, then
//! doubling up to the cap, each wait jittered so that many connections
//! dropped at once do not return at once.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// The first wait.
const MIN_DELAY: Duration = Duration::from_millis(100);

/// Waits between attempts; [`Backoff::reset`] after a success.
pub struct Backoff {
    max: Duration,
    delays: ExponentialBackoff,
}

impl Backoff {
    /// Waits that grow to `max` (at least the first wait).
    pub fn new(max: Duration) -> Self {
        let max = max.max(MIN_DELAY);
        Backoff {
            max,
            delays: Self::delays(max),
        }
    }

    fn delays(max: Duration) -> ExponentialBackoff {
        ExponentialBuilder::default()
            .with_min_delay(MIN_DELAY)
            .with_max_delay(max)
            .with_jitter()
            .without_max_times()
            .build()
    }

    /// The next wait.
    pub fn next_wait(&mut self) -> Duration {
        self.delays.next().unwrap_or(self.max)
    }

    /// Starts again from the first wait.
    pub fn reset(&mut self) {
        self.delays = Self::delays(self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_to_the_cap_and_start_again_after_a_reset() {
        let max = Duration::from_secs(2);
        let mut backoff = Backoff::new(max);
        let waits: Vec<Duration> = (0..12).map(|_| backoff.next_wait()).collect();
        // Jitter adds up to one more delay, never more than twice the cap.
        assert!(
            waits[0] >= MIN_DELAY && waits[0] < MIN_DELAY * 2 + Duration::from_millis(1),
            "{waits:?}"
        );
        assert!(waits.iter().all(|w| *w <= max * 2), "{waits:?}");
        assert!(waits[11] >= max, "{waits:?}");
        backoff.reset();
        assert!(backoff.next_wait() < MIN_DELAY * 2 + Duration::from_millis(1));
    }
}
