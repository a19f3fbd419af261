//! Options of the `parquet` source.

use std::path::PathBuf;
use std::sync::Arc;

use netpipe_core::config::{OptionError, OptionErrors, SourceType};
use netpipe_core::{BoxError, BuildContext, Source, SourceConfig, Timestamp};
use netpipe_storage::{Remote, Storage, is_remote};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, de};

/// Replay pace.
#[derive(Debug, Clone, Copy, PartialEq, JsonSchema)]
pub enum Speed {
    /// As fast as the sinks take it.
    Max,
    /// A multiple of the original pacing: `1.0` as recorded, `10` ten times faster.
    Factor(f64),
}

impl<'de> Deserialize<'de> for Speed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Text(t) if t == "max" => Ok(Speed::Max),
            Raw::Number(f) if f > 0.0 && f.is_finite() => Ok(Speed::Factor(f)),
            _ => Err(de::Error::custom(
                "`speed` is `max` or a positive number (1.0 = original pacing)",
            )),
        }
    }
}

/// One path or several.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Paths {
    One(String),
    Many(Vec<String>),
}

/// Options of the `parquet` source.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayConfig {
    /// Files, directories (read recursively) or globs; or lakes in object
    /// storage, `s3://bucket/prefix` (also `gs://`, `az://`), every
    /// `.parquet` object below the prefix.
    pub path: Paths,
    /// How to reach an object store `path`, as for the parquet sink.
    #[serde(default)]
    pub storage: Storage,
    /// `max`, or a multiple of the original pacing.
    #[serde(default = "max")]
    pub speed: Speed,
    /// Only events at or after this time (RFC 3339).
    #[serde(default)]
    pub start: Option<String>,
    /// Only events before this time (RFC 3339).
    #[serde(default)]
    pub end: Option<String>,
    /// Only these streams (all when omitted).
    #[serde(default)]
    pub streams: Vec<String>,
    /// Where to keep the last acknowledged (file, row), to resume from it.
    #[serde(default)]
    pub checkpoint: Option<PathBuf>,
    /// Rows per chunk sent into the pipeline.
    #[serde(default = "default_chunk_rows")]
    pub chunk_rows: usize,
}

fn max() -> Speed {
    Speed::Max
}

fn default_chunk_rows() -> usize {
    4096
}

pub fn source_type() -> SourceType {
    SourceType::new::<ReplayConfig>(
        "parquet",
        "Replays Parquet files written by the parquet sink: the original events, file by file in the order of their first event.",
    )
}

fn time(name: &str, text: &Option<String>) -> Result<Option<Timestamp>, OptionError> {
    text.as_deref()
        .map(|t| {
            Timestamp::parse_rfc3339(t).ok_or_else(|| {
                OptionError::new(
                    name,
                    format!("`{name}` is not an RFC 3339 time between 1677 and 2262: `{t}`"),
                )
                .hint("e.g. 2026-11-01T00:00:00Z")
            })
        })
        .transpose()
}

impl SourceConfig for ReplayConfig {
    fn build(&self, cx: &BuildContext) -> Result<Box<dyn Source>, BoxError> {
        let patterns = match &self.path {
            Paths::One(p) => vec![p.clone()],
            Paths::Many(p) => p.clone(),
        };
        let mut errors = Vec::new();
        let (remote, local): (Vec<String>, Vec<String>) =
            patterns.into_iter().partition(|p| is_remote(p));
        let remotes: Vec<Arc<Remote>> = remote
            .iter()
            .filter_map(|path| {
                Remote::parse(path, &self.storage)
                    .map_err(|e| {
                        let hint = "e.g. `s3://bucket/prefix`, with `storage` options";
                        errors.push(OptionError::new("path", e).hint(hint))
                    })
                    .ok()
            })
            .map(Arc::new)
            .collect();
        let local: Vec<String> = local
            .iter()
            .map(|p| cx.resolve(std::path::Path::new(p)).display().to_string())
            .collect();
        let files = match local.is_empty() {
            true => Some(Vec::new()),
            false => crate::files::find(&local)
                .map_err(|e| errors.push(OptionError::new("path", e)))
                .ok(),
        };
        let start = time("start", &self.start).map_err(|e| errors.push(e)).ok();
        let end = time("end", &self.end).map_err(|e| errors.push(e)).ok();
        let (Some(files), Some(start), Some(end), true) = (files, start, end, errors.is_empty())
        else {
            return Err(Box::new(OptionErrors(errors)));
        };
        Ok(Box::new(crate::replay::Replay {
            files,
            remotes,
            speed: self.speed,
            filters: crate::filters::Filters {
                start,
                end,
                streams: self.streams.clone(),
            },
            checkpoint: self.checkpoint.as_ref().map(|p| cx.resolve(p)),
            chunk_rows: self.chunk_rows.max(1),
        }))
    }
}
