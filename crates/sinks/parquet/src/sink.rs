//! The running Parquet sink.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_schema::SchemaRef;
use netpipe_arrow::{event_schema, events_to_batch, extend_for};
use netpipe_core::schema::StreamSchemas;
use netpipe_core::{Batch, BatchAck, BoxError, BuildContext, Event, FieldNames, Sink, async_trait};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as Codec, ZstdLevel};
use parquet::file::properties::WriterProperties;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::config::{Compression, ParquetConfig, Roll};
use crate::files::{commit, part_paths, partition_dir, remove_leftovers};

#[derive(Debug, thiserror::Error)]
pub enum ParquetSinkError {
    #[error("cannot create the dataset directory {path}: {error}")]
    Directory { path: String, error: std::io::Error },
    #[error("cannot write {path}: {detail}")]
    Write { path: String, detail: String },
    #[error("stream `{stream}`: {detail}")]
    Schema { stream: String, detail: String },
}

struct OpenFile {
    writer: ArrowWriter<File>,
    schema: SchemaRef,
    temp: PathBuf,
    final_path: PathBuf,
    rows: usize,
}

/// Encoded bytes a file may buffer before its row group is written out.
const ROW_GROUP_BUFFER: usize = 8 << 20;

pub struct ParquetSink {
    root: PathBuf,
    partition: String,
    roll: Roll,
    properties: WriterProperties,
    schemas: Arc<StreamSchemas>,
    stream_schemas: HashMap<Arc<str>, SchemaRef>,
    open: HashMap<(Arc<str>, String), OpenFile>,
    opened_at: Option<Instant>,
    /// Acknowledgements of what is in open files, given when they are
    /// committed (the events themselves are not kept).
    held: Vec<BatchAck>,
    committed_files: u64,
}

impl ParquetSink {
    pub fn open(config: &ParquetConfig, cx: &BuildContext) -> Result<Self, ParquetSinkError> {
        let root = cx.resolve(&config.path);
        std::fs::create_dir_all(&root).map_err(|error| ParquetSinkError::Directory {
            path: root.display().to_string(),
            error,
        })?;
        match remove_leftovers(&root) {
            Ok(0) => {}
            Ok(n) => warn!(sink = %cx.name, "removed {n} partial files left by an earlier run"),
            Err(e) => warn!(sink = %cx.name, "cannot clean up partial files: {e}"),
        }
        let codec = match config.compression {
            Compression::Zstd => Codec::ZSTD(ZstdLevel::default()),
            Compression::Snappy => Codec::SNAPPY,
            Compression::None => Codec::UNCOMPRESSED,
        };
        let properties = WriterProperties::builder()
            .set_compression(codec)
            .set_max_row_group_row_count(Some(config.row_group_rows))
            .build();
        Ok(ParquetSink {
            root,
            partition: config.partition.clone(),
            roll: config.roll,
            properties,
            schemas: cx.schemas.clone(),
            stream_schemas: HashMap::new(),
            open: HashMap::new(),
            opened_at: None,
            held: Vec::new(),
            committed_files: 0,
        })
    }

    fn base_schema(&mut self, stream: &Arc<str>) -> Result<SchemaRef, ParquetSinkError> {
        if let Some(s) = self.stream_schemas.get(stream) {
            return Ok(s.clone());
        }
        let schema = Arc::new(event_schema(self.schemas.get(stream)).map_err(|e| {
            ParquetSinkError::Schema {
                stream: stream.to_string(),
                detail: e.to_string(),
            }
        })?);
        self.stream_schemas.insert(stream.clone(), schema.clone());
        Ok(schema)
    }

    fn new_file(&self, dir: &str, schema: SchemaRef) -> Result<OpenFile, ParquetSinkError> {
        let dir = self.root.join(dir);
        let write_error = |detail: String| ParquetSinkError::Write {
            path: dir.display().to_string(),
            detail,
        };
        std::fs::create_dir_all(&dir).map_err(|e| write_error(e.to_string()))?;
        let (final_path, temp) = part_paths(&dir);
        let file = File::create(&temp).map_err(|e| write_error(e.to_string()))?;
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(self.properties.clone()))
            .map_err(|e| write_error(e.to_string()))?;
        Ok(OpenFile {
            writer,
            schema,
            temp,
            final_path,
            rows: 0,
        })
    }

    fn commit_file(&mut self, file: OpenFile) -> Result<(), ParquetSinkError> {
        let error = |detail: String| ParquetSinkError::Write {
            path: file.final_path.display().to_string(),
            detail,
        };
        let inner = file.writer.into_inner().map_err(|e| error(e.to_string()))?;
        commit(inner, &file.temp, &file.final_path).map_err(|e| error(e.to_string()))?;
        self.committed_files += 1;
        Ok(())
    }

    /// Commits every open file, then acknowledges every held batch.
    fn commit_all(&mut self) -> Result<(), ParquetSinkError> {
        let open: Vec<OpenFile> = self.open.drain().map(|(_, f)| f).collect();
        for file in open {
            self.commit_file(file)?;
        }
        self.opened_at = None;
        for batch in self.held.drain(..) {
            batch.acknowledge();
        }
        Ok(())
    }

    fn over_limits(&self) -> bool {
        let aged = self
            .opened_at
            .is_some_and(|t| t.elapsed() >= self.roll.max_age.0);
        aged || self.open.values().any(|f| {
            f.rows >= self.roll.max_rows
                || f.writer.bytes_written() + f.writer.in_progress_size() >= self.roll.max_bytes.0
        })
    }

    fn write_group(
        &mut self,
        stream: &Arc<str>,
        dir: String,
        events: &[&Event],
    ) -> Result<(), ParquetSinkError> {
        let key = (stream.clone(), dir);
        let mut schema = match self.open.get(&key) {
            Some(f) => f.schema.clone(),
            None => self.base_schema(stream)?,
        };
        // Records that gained fields get a file with the new (nullable) columns.
        // Records share a few shapes: once every field of a shape has a column,
        // its records need no look.
        let mut evolved = false;
        let mut fitting: Vec<&FieldNames> = Vec::new();
        for event in events {
            let names = event.payload.names();
            if fitting.iter().any(|n| Arc::ptr_eq(n, names)) {
                continue;
            }
            if let Some(wider) = extend_for(&schema, &event.payload) {
                schema = Arc::new(wider);
                evolved = true;
            }
            if names.iter().all(|n| schema.field_with_name(n).is_ok()) {
                fitting.push(names);
            }
        }
        if evolved {
            info!(stream = %stream, "new fields: starting a file with the wider schema");
            if let Some(old) = self.open.remove(&key) {
                self.commit_file(old)?;
            }
            self.stream_schemas.insert(stream.clone(), schema.clone());
        }
        if !self.open.contains_key(&key) {
            let file = self.new_file(&key.1, schema.clone())?;
            self.open.insert(key.clone(), file);
            self.opened_at.get_or_insert_with(Instant::now);
        }
        let file = self.open.get_mut(&key).expect("opened above");
        let batch =
            events_to_batch(&file.schema, events).map_err(|e| ParquetSinkError::Schema {
                stream: stream.to_string(),
                detail: e.to_string(),
            })?;
        file.writer
            .write(&batch)
            .map_err(|e| ParquetSinkError::Write {
                path: file.final_path.display().to_string(),
                detail: e.to_string(),
            })?;
        file.rows += events.len();
        // Row groups of deeply nested records buffer far more than their
        // encoded size: write them out early to keep memory bounded.
        if file.writer.in_progress_size() >= ROW_GROUP_BUFFER {
            file.writer.flush().map_err(|e| ParquetSinkError::Write {
                path: file.final_path.display().to_string(),
                detail: e.to_string(),
            })?;
        }
        Ok(())
    }
}

#[async_trait]
impl Sink for ParquetSink {
    async fn write(&mut self, batch: Batch) -> Result<(), BoxError> {
        // Group by (stream, partition). Events of a batch mostly share both,
        // so an event like the previous one costs a comparison; a new stream
        // or hour costs one partition rendering.
        let mut groups: Vec<(Arc<str>, String, Vec<&Event>)> = Vec::new();
        let mut by_hour: HashMap<(*const u8, i64), usize> = HashMap::new();
        let mut last = None;
        for event in batch.events() {
            let hour = event.event_time.as_nanos().div_euclid(3_600_000_000_000);
            let key = (event.stream.as_ptr(), hour);
            let group = match last {
                Some((k, g)) if k == key => g,
                _ => {
                    let g = *by_hour.entry(key).or_insert_with(|| {
                        let dir = partition_dir(&self.partition, event);
                        let same =
                            |(s, d, _): &(Arc<str>, String, _)| *s == event.stream && *d == dir;
                        groups.iter().position(same).unwrap_or_else(|| {
                            groups.push((event.stream.clone(), dir, Vec::new()));
                            groups.len() - 1
                        })
                    });
                    last = Some((key, g));
                    g
                }
            };
            groups[group].2.push(event);
        }
        for (stream, dir, events) in groups {
            self.write_group(&stream, dir, &events)?;
        }
        self.held.push(batch.into_ack());
        if self.over_limits() {
            self.commit_all()?;
        }
        Ok(())
    }

    async fn close(&mut self) -> Result<(), BoxError> {
        self.commit_all()?;
        info!(root = %self.root.display(), files = self.committed_files, "parquet files committed");
        Ok(())
    }

    fn deadline(&self) -> Option<Instant> {
        self.opened_at.map(|t| t + self.roll.max_age.0)
    }

    async fn tick(&mut self) -> Result<(), BoxError> {
        Ok(self.commit_all()?)
    }
}
