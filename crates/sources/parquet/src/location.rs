//! Where a lake file is, and how its bytes are read: a local file through
//! the file system, an object in a store by range requests. An object's
//! footer is one request (two when its metadata is larger than
//! [`FOOTER_GUESS`]); a row group is one request covering all its column
//! chunks, so memory holds one row group's compressed bytes at a time.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use netpipe_storage::{Object, Remote};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use parquet::errors::ParquetError;
use parquet::file::metadata::{FooterTail, ParquetMetaData, ParquetMetaDataReader};
use parquet::file::reader::{ChunkReader, Length};

/// Bytes read from the end of an object for its footer: netpipe's
/// metadata is a few KiB, so one request usually holds all of it.
const FOOTER_GUESS: u64 = 64 << 10;

/// A lake file.
#[derive(Debug, Clone)]
pub enum Location {
    Local(PathBuf),
    Remote(Arc<Remote>, Object),
}

impl Location {
    /// The file's name in events, checkpoints and errors: its path, or its URL.
    pub fn name(&self) -> String {
        match self {
            Location::Local(path) => path.display().to_string(),
            Location::Remote(remote, object) => remote.object_url(object),
        }
    }

    /// The file's footer.
    pub fn metadata(&self) -> Result<ParquetMetaData, String> {
        let parsed = match self {
            Location::Local(path) => {
                let file = File::open(path).map_err(|e| e.to_string())?;
                ParquetMetaDataReader::new().parse_and_finish(&file)
            }
            Location::Remote(remote, object) => {
                let mut tail = Window::read(remote, object, FOOTER_GUESS)?;
                let needed = tail.footer_len().map_err(|e| e.to_string())?;
                if needed > tail.bytes.len() as u64 {
                    tail = Window::read(remote, object, needed)?;
                }
                ParquetMetaDataReader::new().parse_and_finish(&tail)
            }
        };
        parsed.map_err(|e| e.to_string())
    }

    /// The record batches of row group `group`, `chunk_rows` rows at a time.
    pub fn row_group(
        &self,
        metadata: &ArrowReaderMetadata,
        group: usize,
        chunk_rows: usize,
    ) -> Result<ParquetRecordBatchReader, String> {
        fn build<T: ChunkReader + 'static>(
            input: T,
            metadata: &ArrowReaderMetadata,
            group: usize,
            chunk_rows: usize,
        ) -> Result<ParquetRecordBatchReader, ParquetError> {
            ParquetRecordBatchReaderBuilder::new_with_metadata(input, metadata.clone())
                .with_row_groups(vec![group])
                .with_batch_size(chunk_rows)
                .build()
        }
        let built = match self {
            Location::Local(path) => {
                let file = File::open(path).map_err(|e| e.to_string())?;
                build(file, metadata, group, chunk_rows)
            }
            Location::Remote(remote, object) => {
                let columns = metadata.metadata().row_group(group).columns();
                let ranges = columns.iter().map(|c| c.byte_range());
                let start = ranges.clone().map(|(at, _)| at).min().unwrap_or(0);
                let end = ranges.map(|(at, len)| at + len).max().unwrap_or(0);
                let window = Window::range(remote, object, start, end)?;
                build(window, metadata, group, chunk_rows)
            }
        };
        built.map_err(|e| e.to_string())
    }
}

/// The bytes of one object between `start` and `start + bytes.len()`,
/// served to the parquet reader as if they were the whole file.
pub struct Window {
    object_len: u64,
    start: u64,
    bytes: Bytes,
}

impl Window {
    /// The last `len` bytes of `object` (all of it when smaller).
    fn read(remote: &Remote, object: &Object, len: u64) -> Result<Window, String> {
        let start = object.size.saturating_sub(len);
        Window::range(remote, object, start, object.size)
    }

    /// Bytes `start..end` of `object`.
    pub fn range(remote: &Remote, object: &Object, start: u64, end: u64) -> Result<Window, String> {
        Ok(Window {
            object_len: object.size,
            start,
            bytes: remote.read_range(object, start..end)?,
        })
    }

    /// The bytes the footer (metadata and its 8-byte trailer) takes, as
    /// the trailer says.
    fn footer_len(&self) -> Result<u64, ParquetError> {
        let trailer = self.slice(self.object_len.saturating_sub(8), 8)?;
        let footer = FooterTail::try_from(trailer.as_ref())?;
        Ok(footer.metadata_length() as u64 + 8)
    }

    fn slice(&self, start: u64, length: usize) -> Result<Bytes, ParquetError> {
        let at = start
            .checked_sub(self.start)
            .map(|at| at as usize)
            .filter(|at| at + length <= self.bytes.len())
            .ok_or_else(|| {
                // The reader asked outside what was fetched for it: a bug
                // here, or a file whose metadata points elsewhere.
                ParquetError::General(format!(
                    "bytes {start}..{} were not fetched (have {}..{})",
                    start + length as u64,
                    self.start,
                    self.start + self.bytes.len() as u64
                ))
            })?;
        Ok(self.bytes.slice(at..at + length))
    }
}

impl Length for Window {
    fn len(&self) -> u64 {
        self.object_len
    }
}

impl ChunkReader for Window {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> Result<Self::T, ParquetError> {
        let end = self.start + self.bytes.len() as u64;
        let rest = self.slice(start, end.saturating_sub(start) as usize)?;
        Ok(bytes::Buf::reader(rest))
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes, ParquetError> {
        self.slice(start, length)
    }
}
