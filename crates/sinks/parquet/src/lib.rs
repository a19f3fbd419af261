//! The `parquet` sink: one dataset per stream, Hive-style partitions from
//! the event time, typed columns from the stream's schema, and files that
//! appear only whole. Each file is written under a hidden temporary name in
//! its target directory, then fsynced and renamed, so readers (DuckDB,
//! Spark, pyarrow) never see a partial file. Batches are acknowledged when
//! the files holding them are committed: all open files roll together (on
//! rows, bytes or age, and on shutdown), so acknowledgement waits at most
//! `roll.max_age`. Fed only by kafka sources, it writes each message once
//! even across crashes and rebalances: files per Kafka partition, named by
//! their offsets ([`offsets`]).

mod config;
mod files;
mod offsets;
mod sink;
mod writer;

pub use config::{ParquetConfig, Roll, sink_type};
pub use files::{TEMP_PREFIX, partition_dir};
