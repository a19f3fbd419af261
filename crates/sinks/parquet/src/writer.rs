//! The half of the sink that owns the files. It runs on a blocking thread,
//! one batch at a time, so that encoding and compressing one batch (most of
//! the sink's work) overlaps turning the next one into columns, and so that
//! file writes and fsyncs never stall the async runtime.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use netpipe_core::BatchAck;
use netpipe_core::full_disk::{PatientWriter, retry_while_full};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use crate::config::Roll;
use crate::files::{Claim, commit};
use crate::offsets::{Range, file_name};
use crate::sink::ParquetSinkError;
use netpipe_storage::Remote;

/// Rows of one stream for one partition directory.
pub struct Part {
    pub stream: Arc<str>,
    pub dir: String,
    /// In the stream's current schema: a file of an older one is committed
    /// and a new file started.
    pub columns: RecordBatch,
    /// The Kafka partition of every row, and the offsets of the first and
    /// last: the file is named by them ([`crate::offsets`]).
    pub offsets: Option<(Arc<str>, Range)>,
}

struct OpenFile {
    /// Its writes wait out a full disk: the sink holds its sources back
    /// meanwhile, and nothing is lost or acknowledged early.
    writer: ArrowWriter<PatientWriter<File>>,
    schema: SchemaRef,
    temp: PathBuf,
    final_path: PathBuf,
    rows: usize,
    offsets: Option<(Arc<str>, Range)>,
}

/// What an open file holds: a stream's rows of one directory (and Kafka partition).
type FileKey = (Arc<str>, String, Option<Arc<str>>);

/// Memory a file's writer may hold (its column writers' buffers, as the
/// parquet crate estimates them) before its row group is written out. Each
/// dictionary-encoded column reserves a table of 4096 entries (~72 KB)
/// before its first value: Aruba's monitoring records, 411 leaf columns,
/// hold ~30 MB with no rows at all, so a lower bound writes every batch as
/// a row group of its own, and each costs a compressor per column.
const ROW_GROUP_MEMORY: usize = 32 << 20;

pub struct Writer {
    root: PathBuf,
    /// Its temp files' names and lock: released when the writer goes.
    claim: Claim,
    properties: WriterProperties,
    roll: Roll,
    open: HashMap<FileKey, OpenFile>,
    /// Acknowledgements of what is in open files, given when they are
    /// committed (the events themselves are not kept).
    held: Vec<BatchAck>,
    pub committed_files: u64,
    /// Where committed files go when the lake is in object storage.
    remote: Option<Arc<Remote>>,
}

impl Writer {
    pub fn new(
        root: PathBuf,
        claim: Claim,
        properties: WriterProperties,
        roll: Roll,
        remote: Option<Arc<Remote>>,
    ) -> Self {
        Writer {
            remote,
            root,
            claim,
            properties,
            roll,
            open: HashMap::new(),
            held: Vec::new(),
            committed_files: 0,
        }
    }

    /// No file is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Writes one batch's parts; commits every open file when one reached
    /// its row or byte limit. `ack` is given with the commit.
    pub fn write(&mut self, parts: Vec<Part>, ack: BatchAck) -> Result<(), ParquetSinkError> {
        self.held.push(ack);
        for part in parts {
            self.write_part(part)?;
        }
        if self.over_limits() {
            self.commit_all()?;
        }
        Ok(())
    }

    fn write_part(&mut self, part: Part) -> Result<(), ParquetSinkError> {
        let schema = part.columns.schema();
        let partition = part.offsets.as_ref().map(|(p, _)| p.clone());
        let key = (part.stream, part.dir, partition);
        if let Some(file) = self.open.get(&key)
            && !(Arc::ptr_eq(&file.schema, &schema) || file.schema == schema)
        {
            let old = self.open.remove(&key).expect("present");
            self.commit_file(old)?;
        }
        let file = match self.open.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let file = new_file(
                    &self.root,
                    &self.claim,
                    &e.key().1,
                    schema,
                    &self.properties,
                )?;
                e.insert(file)
            }
        };
        let error = |e: parquet::errors::ParquetError| ParquetSinkError::Write {
            path: file.final_path.display().to_string(),
            detail: e.to_string(),
        };
        file.writer.write(&part.columns).map_err(error)?;
        file.rows += part.columns.num_rows();
        if let Some((partition, (first, last))) = part.offsets {
            let range = match file.offsets.take() {
                Some((_, (f, l))) => (f.min(first), l.max(last)),
                None => (first, last),
            };
            file.offsets = Some((partition, range));
        }
        // Row groups of deeply nested records buffer far more than their
        // encoded size (hundreds of columns, each with its own pages and
        // dictionary): bound what they hold in memory, not encoded.
        if file.writer.memory_size() >= ROW_GROUP_MEMORY {
            file.writer.flush().map_err(error)?;
        }
        Ok(())
    }

    fn over_limits(&self) -> bool {
        self.open.values().any(|f| {
            f.rows >= self.roll.max_rows
                || f.writer.bytes_written() + f.writer.in_progress_size() >= self.roll.max_bytes.0
        })
    }

    fn commit_file(&mut self, mut file: OpenFile) -> Result<(), ParquetSinkError> {
        if let Some((partition, range)) = &file.offsets
            && let Some(dir) = file.final_path.parent()
        {
            file.final_path = dir.join(file_name(partition, *range));
        }
        let error = |detail: String| ParquetSinkError::Write {
            path: file.final_path.display().to_string(),
            detail,
        };
        let inner = file.writer.into_inner().map_err(|e| error(e.to_string()))?;
        commit(inner.into_inner(), &file.temp, &file.final_path)
            .map_err(|e| error(e.to_string()))?;
        if let Some(remote) = &self.remote {
            let relative = file
                .final_path
                .strip_prefix(&self.root)
                .unwrap_or(&file.final_path);
            let relative = relative.to_string_lossy();
            remote
                .upload(&file.final_path, &relative)
                .map_err(|detail| ParquetSinkError::Write {
                    path: format!("{}/{relative}", remote.url().trim_end_matches('/')),
                    detail,
                })?;
            std::fs::remove_file(&file.final_path).map_err(|e| error(e.to_string()))?;
        }
        self.committed_files += 1;
        tracing::debug!(file = %file.final_path.display(), rows = file.rows, "file committed");
        Ok(())
    }

    /// Commits every open file, then acknowledges every held batch.
    pub fn commit_all(&mut self) -> Result<(), ParquetSinkError> {
        let open: Vec<OpenFile> = self.open.drain().map(|(_, f)| f).collect();
        for file in open {
            self.commit_file(file)?;
        }
        for batch in self.held.drain(..) {
            batch.acknowledge();
        }
        Ok(())
    }
}

fn new_file(
    root: &std::path::Path,
    claim: &Claim,
    dir: &str,
    schema: SchemaRef,
    properties: &WriterProperties,
) -> Result<OpenFile, ParquetSinkError> {
    let dir = root.join(dir);
    let write_error = |detail: String| ParquetSinkError::Write {
        path: dir.display().to_string(),
        detail,
    };
    retry_while_full(&dir, || std::fs::create_dir_all(&dir))
        .map_err(|e| write_error(e.to_string()))?;
    let (final_path, temp) = claim.part_paths(&dir);
    let file =
        retry_while_full(&temp, || File::create(&temp)).map_err(|e| write_error(e.to_string()))?;
    let file = PatientWriter::new(file, temp.clone());
    let writer = ArrowWriter::try_new(file, schema.clone(), Some(properties.clone()))
        .map_err(|e| write_error(e.to_string()))?;
    Ok(OpenFile {
        writer,
        schema,
        temp,
        final_path,
        rows: 0,
        offsets: None,
    })
}
