//! The running Parquet sink's async side: it groups each batch's events by
//! dataset and partition and turns them into columns, then hands them to the
//! [`Writer`] on its blocking thread.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use netpipe_arrow::{event_schema, events_to_batch, extend_for};
use netpipe_core::schema::StreamSchemas;
use netpipe_core::{Batch, BoxError, BuildContext, Event, FieldNames, Sink, async_trait};
use parquet::basic::{Compression as Codec, ZstdLevel};
use parquet::file::properties::WriterProperties;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::config::{Compression, ParquetConfig};
use crate::files::{Claim, partition_dir};
use crate::offsets::{LakeOffsets, covered};
use crate::writer::{Part, Writer};
use netpipe_storage::Remote;

#[derive(Debug, thiserror::Error)]
pub enum ParquetSinkError {
    #[error("cannot create the dataset directory {path}: {error}")]
    Directory { path: String, error: std::io::Error },
    #[error("cannot write {path}: {detail}")]
    Write { path: String, detail: String },
    #[error("stream `{stream}`: {detail}")]
    Schema { stream: String, detail: String },
}

/// The writer, idle or busy with one batch on a blocking thread.
enum WriterSlot {
    Idle(Box<Writer>),
    Busy(JoinHandle<(Box<Writer>, Result<(), ParquetSinkError>)>),
}

pub struct ParquetSink {
    root: PathBuf,
    /// The object store the files of `root` (then a staging directory) go to.
    remote: Option<Arc<Remote>>,
    partition: String,
    max_age: std::time::Duration,
    schemas: Arc<StreamSchemas>,
    /// Each stream's current schema: its Avro schema's, widened by the
    /// fields its records gained.
    stream_schemas: HashMap<Arc<str>, SchemaRef>,
    /// When the oldest open file was opened, as far as this side knows.
    opened_at: Option<Instant>,
    /// `None` only while a job is being handed over.
    writer: Option<WriterSlot>,
    /// With only kafka sources as inputs: files per Kafka partition, and
    /// the offsets already in the lake ([`crate::offsets`]).
    lake_offsets: Option<LakeOffsets>,
}

impl ParquetSink {
    /// A sink writing into `config.path`, or staging its files for `remote`.
    pub fn open(
        config: &ParquetConfig,
        cx: &BuildContext,
        remote: Option<Arc<Remote>>,
    ) -> Result<Self, ParquetSinkError> {
        let root = match &remote {
            // Staged files are uploaded as they are committed. One directory
            // per sink name, shared by its runs as a local root is: a run that
            // died left its partial files there, and the next one removes
            // them (`remove_abandoned`, below).
            Some(_) => std::env::temp_dir().join(format!("netpipe-staging-{}", cx.name)),
            None => cx.resolve(&config.path),
        };
        std::fs::create_dir_all(&root).map_err(|error| ParquetSinkError::Directory {
            path: root.display().to_string(),
            error,
        })?;
        let claim = Claim::take(&root).map_err(|error| ParquetSinkError::Directory {
            path: root.display().to_string(),
            error,
        })?;
        match claim.remove_abandoned(&root) {
            Ok(0) => {}
            Ok(n) => warn!(sink = %cx.name, "removed {n} partial files left by a run that ended"),
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
        let writer = Writer::new(root.clone(), claim, properties, config.roll, remote.clone());
        let from_kafka_only =
            !cx.inputs.is_empty() && cx.inputs.iter().all(|i| i.type_name == "kafka");
        let lake_offsets =
            from_kafka_only.then(|| LakeOffsets::new(cx.resolve(&config.path), remote.clone()));
        Ok(ParquetSink {
            lake_offsets,
            root,
            remote,
            partition: config.partition.clone(),
            max_age: config.roll.max_age.0,
            schemas: cx.schemas.clone(),
            stream_schemas: HashMap::new(),
            opened_at: None,
            writer: Some(WriterSlot::Idle(Box::new(writer))),
        })
    }

    /// The writer, once it has finished its job; the job's error, if it failed.
    async fn idle_writer(&mut self) -> Result<Box<Writer>, ParquetSinkError> {
        let writer = match self.writer.take().expect("a writer") {
            WriterSlot::Idle(writer) => writer,
            WriterSlot::Busy(job) => {
                let (writer, result) = job.await.map_err(|e| ParquetSinkError::Write {
                    path: self.root.display().to_string(),
                    detail: format!("the writer thread failed: {e}"),
                })?;
                if let Err(e) = result {
                    self.writer = Some(WriterSlot::Idle(writer));
                    return Err(e);
                }
                writer
            }
        };
        if writer.is_empty() {
            self.opened_at = None;
        }
        Ok(writer)
    }

    /// Hands `writer` a job to run on a blocking thread.
    fn start(
        &mut self,
        mut writer: Box<Writer>,
        job: impl FnOnce(&mut Writer) -> Result<(), ParquetSinkError> + Send + 'static,
    ) {
        self.writer = Some(WriterSlot::Busy(tokio::task::spawn_blocking(move || {
            let result = job(&mut writer);
            (writer, result)
        })));
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

    /// The events of one stream as columns of its schema, widened first when
    /// they carry fields it lacks.
    fn columns(
        &mut self,
        stream: &Arc<str>,
        events: &[&Event],
    ) -> Result<RecordBatch, ParquetSinkError> {
        let mut schema = self.base_schema(stream)?;
        // Records share a few shapes: once every field of a shape has a
        // column, its records need no look.
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
            info!(stream = %stream, "new fields: starting files with the wider schema");
            self.stream_schemas.insert(stream.clone(), schema.clone());
        }
        events_to_batch(&schema, events).map_err(|e| ParquetSinkError::Schema {
            stream: stream.to_string(),
            detail: e.to_string(),
        })
    }

    /// A batch's events as columns, one part per dataset and partition
    /// directory (and Kafka partition, when exactly once). Offsets the
    /// lake already holds are passed over.
    async fn parts(&mut self, batch: &Batch) -> Result<Vec<Part>, ParquetSinkError> {
        let groups = self.groups(batch);
        let mut parts = Vec::with_capacity(groups.len());
        for mut group in groups {
            let offsets = match (group.partition, &mut self.lake_offsets) {
                (Some(partition), Some(lake)) => {
                    let ranges = lake.ranges(&group.dir, partition).await?;
                    let before = group.events.len();
                    group.events.retain(|e| !covered(ranges, offset(e)));
                    let passed = before - group.events.len();
                    if passed > 0 {
                        info!(partition = %partition, dir = %group.dir, "passed over {passed} messages already in the lake");
                    }
                    let offsets = group.events.iter().map(|e| offset(e));
                    match (offsets.clone().min(), offsets.max()) {
                        (Some(first), Some(last)) => Some((partition.clone(), (first, last))),
                        _ => continue,
                    }
                }
                _ => None,
            };
            let columns = self.columns(&group.stream, &group.events)?;
            parts.push(Part {
                stream: group.stream,
                dir: group.dir,
                columns,
                offsets,
            });
        }
        Ok(parts)
    }

    /// A batch's events grouped by stream, directory and Kafka partition.
    fn groups<'a>(&self, batch: &'a Batch) -> Vec<Group<'a>> {
        // Group by (stream, directory, Kafka partition). Events of a batch
        // mostly share them, so an event like the previous one costs a
        // comparison; a new stream or hour costs one directory rendering.
        let by_partition = self.lake_offsets.is_some();
        let mut groups: Vec<Group<'_>> = Vec::new();
        let mut known: HashMap<(*const u8, i64, *const u8), usize> = HashMap::new();
        let mut last = None;
        for event in batch.events() {
            let hour = event.event_time.as_nanos().div_euclid(3_600_000_000_000);
            let partition = match (&event.position, by_partition) {
                (Some(p), true) => Some(&p.partition),
                _ => None,
            };
            let key = (
                event.stream.as_ptr(),
                hour,
                partition.map_or(std::ptr::null(), |p| p.as_ptr()),
            );
            let group = match last {
                Some((k, g)) if k == key => g,
                _ => {
                    let g = *known.entry(key).or_insert_with(|| {
                        let dir = partition_dir(&self.partition, event);
                        let same = |g: &Group<'_>| {
                            g.stream == event.stream && g.dir == dir && g.partition == partition
                        };
                        groups.iter().position(same).unwrap_or_else(|| {
                            groups.push(Group {
                                stream: event.stream.clone(),
                                dir,
                                partition,
                                events: Vec::new(),
                            });
                            groups.len() - 1
                        })
                    });
                    last = Some((key, g));
                    g
                }
            };
            groups[group].events.push(event);
        }
        groups
    }
}

/// A batch's events of one stream, directory and Kafka partition.
struct Group<'a> {
    stream: Arc<str>,
    dir: String,
    partition: Option<&'a Arc<str>>,
    events: Vec<&'a Event>,
}

/// Removes the empty directories below `dir`, deepest first.
fn remove_empty_dirs(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_empty_dirs(&entry.path());
            // Fails, as it should, when something is still in it.
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

fn offset(event: &Event) -> u64 {
    event.position.as_ref().map_or(0, |p| p.offset)
}

#[async_trait]
impl Sink for ParquetSink {
    async fn write(&mut self, batch: Batch) -> Result<(), BoxError> {
        let parts = self.parts(&batch).await?;
        let ack = batch.into_ack();
        let writer = self.idle_writer().await?;
        // Files roll by age here too: a steady stream of batches may keep
        // the runtime from calling `tick`.
        let aged = self.opened_at.get_or_insert_with(Instant::now).elapsed() >= self.max_age;
        if aged {
            self.opened_at = None;
        }
        self.start(writer, move |w| {
            w.write(parts, ack)?;
            if aged { w.commit_all() } else { Ok(()) }
        });
        Ok(())
    }

    async fn close(&mut self) -> Result<(), BoxError> {
        let mut writer = self.idle_writer().await?;
        let (writer, committed) = tokio::task::spawn_blocking(move || {
            let result = writer.commit_all().map(|()| writer.committed_files);
            (writer, result)
        })
        .await?;
        self.writer = Some(WriterSlot::Idle(writer));
        let committed = committed?;
        match &self.remote {
            Some(remote) => {
                // Every staged file is uploaded: what is left is directories,
                // empty unless another run of this sink is staging in them.
                remove_empty_dirs(&self.root);
                info!(root = %remote.url(), files = committed, "parquet files committed");
            }
            None => {
                info!(root = %self.root.display(), files = committed, "parquet files committed")
            }
        }
        Ok(())
    }

    fn deadline(&self) -> Option<Instant> {
        self.opened_at.map(|t| t + self.max_age)
    }

    async fn tick(&mut self) -> Result<(), BoxError> {
        let writer = self.idle_writer().await?;
        self.opened_at = None;
        self.start(writer, Writer::commit_all);
        Ok(())
    }

    /// As a roll by age: every open file is committed now. Exactly once,
    /// the commit is awaited and the lake's offsets read again when next
    /// needed: another writer may write these partitions from now on.
    async fn flush(&mut self) -> Result<(), BoxError> {
        self.tick().await?;
        if self.lake_offsets.is_some() {
            let writer = self.idle_writer().await?;
            self.writer = Some(WriterSlot::Idle(writer));
        }
        if let Some(lake) = &mut self.lake_offsets {
            lake.forget();
        }
        Ok(())
    }
}
