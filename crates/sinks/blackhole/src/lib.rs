//! The `blackhole` sink: acknowledges every batch at once and keeps only
//! counts. It measures what the rest of a pipeline can do, and with `delay`
//! it stands in for a slow sink in back-pressure tests.

use std::time::Duration;

use netpipe_core::config::SinkType;
use netpipe_core::units::HumanDuration;
use netpipe_core::{Batch, BoxError, BuildContext, Sink, SinkConfig, async_trait};
use schemars::JsonSchema;
use serde::Deserialize;

/// Options of the `blackhole` sink.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlackholeConfig {
    /// Wait this long per batch before acknowledging it, e.g. `50ms`: a
    /// deliberately slow sink.
    #[serde(default)]
    pub delay: Option<HumanDuration>,
}

pub fn sink_type() -> SinkType {
    SinkType::new::<BlackholeConfig>(
        "blackhole",
        "Counts and acknowledges events, writing nothing.",
    )
}

#[async_trait]
impl SinkConfig for BlackholeConfig {
    async fn build(&self, _cx: &BuildContext) -> Result<Box<dyn Sink>, BoxError> {
        Ok(Box::new(Blackhole {
            delay: self.delay.map(|d| d.0).unwrap_or(Duration::ZERO),
        }))
    }
}

struct Blackhole {
    delay: Duration,
}

#[async_trait]
impl Sink for Blackhole {
    async fn write(&mut self, batch: Batch) -> Result<(), BoxError> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        batch.acknowledge();
        Ok(())
    }

    fn reads_events(&self) -> bool {
        false
    }
}
