//! The reconnect policy: how long to wait after each way a connection can
//! end, what to log, and the `netpipe.gap` event that records the time a
//! connection was away. Sources drive their own loop (the protocols differ)
//! and ask this what to do, so every source behaves the same:
//!
//! - a connection that delivered something starts the next outage's backoff
//!   afresh; one that ended having delivered nothing backs off further;
//! - a failure waits the next backoff, with one warning;
//! - a rejected credential waits `auth_retry`, with one warning per retry
//!   that says when it retries: never a storm of attempts or log lines.

use std::fmt::Display;
use std::time::Duration;

use netpipe_core::event::Gap;
use netpipe_core::metrics::ComponentMetrics;
use netpipe_core::{Event, Timestamp};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::backoff::Backoff;

/// Every source's default longest wait between reconnect attempts.
pub fn default_max_backoff() -> netpipe_core::units::HumanDuration {
    netpipe_core::units::HumanDuration(Duration::from_secs(30))
}

/// Every source's default wait after a refused credential: long enough
/// that a wrong key is a line every few minutes, not a storm.
pub fn default_auth_retry() -> netpipe_core::units::HumanDuration {
    netpipe_core::units::HumanDuration(Duration::from_secs(300))
}

/// How a connection attempt ended.
#[derive(Debug)]
pub enum Ending {
    /// It ran and ended (closed by the server, silent, reset); whether it
    /// delivered anything first.
    Ended { reason: String, delivered: bool },
    /// It could not start, or failed: counted as an error.
    Failed(String),
    /// The server refused the credential (or the subscription): retrying
    /// soon would only be refused again.
    Rejected(String),
}

/// One connection's reconnect state.
pub struct Reconnect {
    backoff: Backoff,
    auth_retry: Duration,
    lost_at: Option<Timestamp>,
}

impl Reconnect {
    pub fn new(max_backoff: Duration, auth_retry: Duration) -> Self {
        Reconnect {
            backoff: Backoff::new(max_backoff),
            auth_retry,
            lost_at: None,
        }
    }

    /// The wait before the next attempt, after logging how this one ended
    /// (`what` names the connection: a customer and topic, a subscription).
    pub fn wait_after(
        &mut self,
        ending: &Ending,
        what: &dyn Display,
        metrics: &ComponentMetrics,
    ) -> Duration {
        let wait = match ending {
            Ending::Ended { reason, delivered } => {
                warn!("{what}: disconnected: {reason}");
                self.lost();
                if *delivered {
                    self.backoff.reset();
                }
                self.backoff.next_wait()
            }
            Ending::Failed(reason) => {
                metrics.errors.inc();
                warn!("{what}: {reason}");
                self.lost();
                self.backoff.next_wait()
            }
            Ending::Rejected(reason) => {
                metrics.errors.inc();
                self.lost();
                warn!("{what}: {reason}; retrying in {:?}", self.auth_retry);
                return self.auth_retry;
            }
        };
        info!("{what}: reconnecting in {wait:?}");
        wait
    }

    /// Marks the connection lost now, unless it already was.
    pub fn lost(&mut self) {
        self.lost_at.get_or_insert_with(Timestamp::now);
    }

    /// On connecting: the `netpipe.gap` event for the time since the
    /// connection was lost (none on the first connection), counted as a
    /// reconnect.
    pub fn gap(
        &mut self,
        source: &std::sync::Arc<str>,
        scope: &[(&str, &str)],
        reason: &str,
        metrics: &ComponentMetrics,
    ) -> Option<Event> {
        let from = self.lost_at?;
        self.resumed(metrics);
        let gap = Gap {
            scope,
            from,
            to: Timestamp::now(),
            reason,
        };
        Some(gap.into_event(source))
    }
}

impl Reconnect {
    /// On connecting where the server replays what was missed (no gap):
    /// counted as a reconnect when the connection had been lost.
    pub fn resumed(&mut self, metrics: &ComponentMetrics) {
        if self.lost_at.take().is_some() {
            metrics.reconnects.inc();
        }
    }
}

/// Sleeps for `wait`; false when `shutdown` came first.
pub async fn sleep_unless_shutdown(wait: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(wait) => true,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use netpipe_core::metrics::{ComponentKind, Metrics};

    use super::*;

    #[test]
    fn rejections_wait_auth_retry_failures_back_off_and_a_delivery_starts_afresh() {
        let metrics = Metrics::default().component(ComponentKind::Source, "s");
        let max = Duration::from_secs(8);
        let auth_retry = Duration::from_secs(300);
        let mut reconnect = Reconnect::new(max, auth_retry);
        let what = "customer `A`, topic `audit`";
        let rejected = Ending::Rejected("key rejected".into());
        assert_eq!(reconnect.wait_after(&rejected, &what, &metrics), auth_retry);
        let failed = Ending::Failed("refused".into());
        let waits: Vec<Duration> = (0..10)
            .map(|_| reconnect.wait_after(&failed, &what, &metrics))
            .collect();
        assert!(waits[9] >= max, "backoff did not grow: {waits:?}");
        let quiet = Ending::Ended {
            reason: "closed".into(),
            delivered: false,
        };
        assert!(reconnect.wait_after(&quiet, &what, &metrics) >= max);
        let delivered = Ending::Ended {
            reason: "closed".into(),
            delivered: true,
        };
        assert!(reconnect.wait_after(&delivered, &what, &metrics) < Duration::from_millis(201));
        // Rejections and failures are errors; ends of a stream are not.
        assert_eq!(metrics.errors.get(), 11);
    }

    #[test]
    fn a_gap_covers_the_time_away_once_and_counts_a_reconnect() {
        let metrics = Metrics::default().component(ComponentKind::Source, "s");
        let source: Arc<str> = Arc::from("s");
        let mut reconnect = Reconnect::new(Duration::from_secs(1), Duration::from_secs(1));
        let scope = [("stream", "ncs-alarms")];
        assert!(
            reconnect.gap(&source, &scope, "r", &metrics).is_none(),
            "first connection"
        );
        let before = Timestamp::now();
        reconnect.lost();
        reconnect.lost();
        let gap = reconnect.gap(&source, &scope, "r", &metrics).unwrap();
        let payload = gap.payload.record();
        let from = payload.get("from").unwrap();
        assert!(matches!(from, netpipe_core::Value::Timestamp(t) if *t >= before));
        let scope_read = payload.get("scope").unwrap().as_record().unwrap();
        assert_eq!(
            scope_read.get("stream").unwrap().as_str(),
            Some("ncs-alarms")
        );
        assert!(
            reconnect.gap(&source, &scope, "r", &metrics).is_none(),
            "one gap per outage"
        );
        assert_eq!(metrics.reconnects.get(), 1);
    }
}
