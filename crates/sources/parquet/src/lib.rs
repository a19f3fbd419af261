//! The `parquet` source: replays Parquet files written by the `parquet`
//! sink, emitting the original events (stream, key, event time, payload)
//! into any pipeline: backfilling Kafka from the lake, re-running a capture.
//! Files are read one after another, in the order of their first event (a
//! single position, (file, row), cannot resume a merge); row groups outside `start`..`end`
//! are skipped by their statistics; pacing follows the original event times
//! at `speed`; with `checkpoint`, a stopped replay resumes after the last
//! acknowledged row. A `path` in object storage (`s3://…`) is listed at
//! start and read by range requests, row group by row group.

mod checkpoint;
mod config;
mod files;
mod filters;
mod location;
mod progress;
mod read;
mod replay;

pub use config::{ReplayConfig, Speed, source_type};
