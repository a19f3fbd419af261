//! The `stdout` sink: one JSON object per line (metadata and payload), so
//! that netpipe's output pipes into `jq`, `head` or a file. A batch is
//! acknowledged once it is written and flushed. A closed pipe (`| head -3`)
//! ends the sink quietly: the run stops as if interrupted, with no error.

use netpipe_core::config::SinkType;
use netpipe_core::sink::EndOfOutput;
use netpipe_core::{Batch, BoxError, BuildContext, Sink, SinkConfig, async_trait, json};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// How each event is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// One compact JSON object per line (JSON Lines).
    #[default]
    Json,
    /// Indented JSON, one object after another; for reading by eye.
    JsonPretty,
}

/// Options of the `stdout` sink.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StdoutConfig {
    /// `json` (JSON Lines) or `json_pretty`.
    #[serde(default)]
    pub encoding: Encoding,
}

pub fn sink_type() -> SinkType {
    SinkType::new::<StdoutConfig>("stdout", "Writes events to standard output as JSON Lines.")
}

#[async_trait]
impl SinkConfig for StdoutConfig {
    async fn build(&self, _cx: &BuildContext) -> Result<Box<dyn Sink>, BoxError> {
        Ok(Box::new(WriterSink::new(
            tokio::io::stdout(),
            self.encoding,
        )))
    }

    /// Pretty JSON is written from the decoded record.
    fn writes_payload_json(&self) -> bool {
        self.encoding == Encoding::Json
    }
}

/// Writes JSON lines to any async writer (stdout in a pipeline, a buffer in tests).
pub struct WriterSink<W> {
    writer: W,
    encoding: Encoding,
    buffer: Vec<u8>,
}

impl<W: AsyncWrite + Unpin + Send> WriterSink<W> {
    pub fn new(writer: W, encoding: Encoding) -> Self {
        WriterSink {
            writer,
            encoding,
            buffer: Vec::with_capacity(1 << 20),
        }
    }

    async fn write_all(&mut self) -> Result<(), BoxError> {
        let written = async {
            self.writer.write_all(&self.buffer).await?;
            self.writer.flush().await
        }
        .await;
        self.buffer.clear();
        match written {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Box::new(EndOfOutput(
                "standard output was closed by its reader",
            ))),
            other => Ok(other?),
        }
    }
}

#[async_trait]
impl<W: AsyncWrite + Unpin + Send> Sink for WriterSink<W> {
    async fn write(&mut self, batch: Batch) -> Result<(), BoxError> {
        let pretty = self.encoding == Encoding::JsonPretty;
        for event in batch.events() {
            json::write_event(event, &mut self.buffer, pretty);
            self.buffer.push(b'\n');
        }
        self.write_all().await?;
        batch.acknowledge();
        Ok(())
    }
}
