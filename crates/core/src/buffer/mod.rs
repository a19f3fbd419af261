//! Where a sink's chunks wait between its sources and its batcher.
//!
//! `memory` (the default): a few chunks in a channel. A sink that cannot
//! write holds its sources back, which costs nothing to a source that can
//! replay (a file, Kafka) but makes a live one (Aruba, NSO) fall behind
//! its server, which does not wait for ever.
//!
//! `disk` (as Vector's `buffer.type: disk`): chunks are appended to files
//! in a directory of the sink's own and acknowledged to their sources once
//! the files are synced; the sink reads them back from the files, in order,
//! and each file goes once the sink has acknowledged all of it. A sink away
//! for an hour then holds no source back, and what waits survives a
//! restart of netpipe (the next run sends it first). `max_size` bounds what
//! waits: when it is reached, sources wait as with `memory`. Payloads are
//! stored decoded ([`codec`]), so a disk buffer costs a decode per event of
//! sources that decode lazily.

mod codec;
mod disk;
mod log;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::units::ByteSize;

pub use codec::DecodeError;
pub(crate) use disk::DiskBuffer;
pub use log::BufferError;

/// Where a sink's events wait until it has written them: `{ type: memory }`
/// (the default) or `{ type: disk, path: DIR, max_size: 1GiB }`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum BufferConfig {
    /// A few chunks in memory; a sink that cannot write holds its sources back.
    #[default]
    Memory,
    /// Files in `path`, acknowledged to the sources once on disk, kept across
    /// restarts: a sink away for long holds no source back until `max_size`.
    Disk {
        /// The buffer's directory, one per sink (made if missing; relative
        /// paths are to the pipeline file's directory).
        path: PathBuf,
        /// Most bytes waiting for the sink, e.g. `1GiB`; then sources wait.
        #[serde(default = "default_max_size")]
        max_size: ByteSize,
    },
}

fn default_max_size() -> ByteSize {
    ByteSize(1 << 30)
}
