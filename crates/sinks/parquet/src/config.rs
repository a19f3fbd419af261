//! Options of the `parquet` sink.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use netpipe_core::config::{
    OptionError, OptionErrors, SinkType, placeholder_hint, unknown_placeholder,
};
use netpipe_core::units::{ByteSize, HumanDuration};
use netpipe_core::{BoxError, BuildContext, Sink, SinkConfig, async_trait};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use netpipe_storage::{Remote, Storage, is_remote};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    #[default]
    Zstd,
    Snappy,
    None,
}

/// When files are committed: whichever limit an open file reaches first.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Roll {
    /// Rows in one file.
    pub max_rows: usize,
    /// Bytes in one file (written plus buffered).
    pub max_bytes: ByteSize,
    /// Age of the oldest open file; also the longest wait for acknowledgement.
    pub max_age: HumanDuration,
}

impl Default for Roll {
    fn default() -> Self {
        Roll {
            max_rows: 1_000_000,
            max_bytes: ByteSize(128 << 20),
            max_age: HumanDuration(Duration::from_secs(300)),
        }
    }
}

/// Options of the `parquet` sink.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParquetConfig {
    /// Root of the datasets: a directory, or an object store prefix
    /// (`s3://bucket/prefix`, `gs://`, `az://`), where files are staged
    /// locally and uploaded when committed.
    pub path: PathBuf,
    /// How to reach an object store `path`.
    #[serde(default)]
    pub storage: Storage,
    /// Directory of each file below `path`: `{stream}`, `{source}`, and from the event time (UTC) `{date}`, `{hour}`.
    #[serde(default = "default_partition")]
    pub partition: String,
    /// `zstd`, `snappy` or `none`.
    #[serde(default)]
    pub compression: Compression,
    /// When files are committed.
    #[serde(default)]
    pub roll: Roll,
    /// Most rows per row group (the unit that replay skips by time); a row
    /// group is written out sooner when its writer holds 32 MiB.
    #[serde(default = "default_row_group")]
    pub row_group_rows: usize,
}

fn default_partition() -> String {
    "{stream}/date={date}/hour={hour}".into()
}

fn default_row_group() -> usize {
    65_536
}

pub fn sink_type() -> SinkType {
    SinkType::new::<ParquetConfig>(
        "parquet",
        "Writes typed Parquet files, one dataset per stream, Hive-partitioned by event time, committed atomically.",
    )
}

impl ParquetConfig {
    /// The object store `path` names, or `None` for a directory.
    fn remote(&self) -> Option<Result<Remote, String>> {
        let path = self.path.to_str()?;
        is_remote(path).then(|| Remote::parse(path, &self.storage))
    }
}

/// What `partition` may hold.
const PLACEHOLDERS: [&str; 4] = ["{stream}", "{source}", "{date}", "{hour}"];

#[async_trait]
impl SinkConfig for ParquetConfig {
    async fn build(&self, cx: &BuildContext) -> Result<Box<dyn Sink>, BoxError> {
        let remote = match self.remote().transpose()? {
            Some(remote) => {
                remote.check().await?;
                // Not fatal: what is left costs storage, not correctness.
                match remote.abort_abandoned_uploads().await {
                    Ok(0) => {}
                    Ok(n) => {
                        info!(sink = %cx.name, "aborted {n} uploads left by writers that are gone")
                    }
                    Err(e) => warn!(sink = %cx.name, "cannot clean up abandoned uploads: {e}"),
                }
                Some(Arc::new(remote))
            }
            None => None,
        };
        Ok(Box::new(crate::sink::ParquetSink::open(self, cx, remote)?))
    }

    fn check(&self, cx: &BuildContext) -> Result<(), BoxError> {
        let mut errors = Vec::new();
        match self.remote() {
            Some(Err(e)) => errors.push(
                OptionError::new("path", e)
                    .hint("e.g. `s3://bucket/prefix`, with `storage` options"),
            ),
            Some(Ok(_)) => {}
            None => {
                if let Err(e) = netpipe_core::config::writable_dir(&cx.resolve(&self.path)) {
                    errors.push(
                        OptionError::new("path", e).hint("give a directory this user may write"),
                    );
                }
            }
        }
        if let Some(unknown) = unknown_placeholder(&self.partition, &PLACEHOLDERS) {
            errors.push(
                OptionError::new(
                    "partition",
                    format!("`partition` has an unknown placeholder `{unknown}`"),
                )
                .hint(placeholder_hint(&unknown, &PLACEHOLDERS)),
            );
        }
        for (option, value) in [
            ("row_group_rows", self.row_group_rows),
            ("roll.max_rows", self.roll.max_rows),
        ] {
            if value == 0 {
                errors.push(OptionError::new(
                    option,
                    format!("`{option}` must be at least 1"),
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Box::new(OptionErrors(errors)))
        }
    }
}
