//! The lake scenarios: events into Parquet (on disk and in S3), and
//! Parquet replayed into a blackhole or Kafka, each beside a baseline that
//! uses the parquet crate (with object_store, or a raw producer) on the
//! same data.

use super::*;

pub(super) fn parquet_netpipe(mixed: bool) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let sink = format!("type: parquet, path: \"{}\"", dir.path().display());
    from_feeder(PARQUET_MESSAGES, mixed, &sink, 1)
}

pub(super) fn parquet_baseline(mixed: bool) -> anyhow::Result<f64> {
    let frames = feeder_frames(64, mixed);
    let mut builder = EventBuilder::new(
        Arc::new(Decoder::new()),
        Arc::from("bench"),
        Topic::Monitoring,
        false,
    );
    let mut events: Vec<Event> = Vec::with_capacity(PARQUET_MESSAGES as usize);
    for i in 0..PARQUET_MESSAGES as usize {
        events.extend(builder.events(frames[i % frames.len()].clone(), Timestamp::now())?);
    }
    let (schema, batches) = to_batches(&events, "aruba.monitoring")?;
    // Only the batches are the baseline's: the decoded events (2 GB) go
    // before its clock starts.
    drop(events);
    write_batches_directly(schema, &batches)
}

/// Rows per Arrow batch of [`to_batches`].
pub(super) const BATCH_ROWS: usize = 10_000;

/// `events` as Arrow batches of `stream`'s schema, as the sink builds them.
pub(super) fn to_batches(
    events: &[Event],
    stream: &str,
) -> anyhow::Result<(arrow_schema::SchemaRef, Vec<arrow_array::RecordBatch>)> {
    let schemas = netpipe::components::registry().schemas;
    let schema = Arc::new(netpipe_arrow::event_schema(schemas.get(stream))?);
    let refs: Vec<&Event> = events.iter().collect();
    let batches = refs
        .chunks(BATCH_ROWS)
        .map(|c| netpipe_arrow::events_to_batch(&schema, c))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((schema, batches))
}

/// Times writing `batches` with the parquet crate, configured as the sink is: rows/s.
pub(super) fn write_batches_directly(
    schema: arrow_schema::SchemaRef,
    batches: &[arrow_array::RecordBatch],
) -> anyhow::Result<f64> {
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;
    let dir = tempfile::tempdir()?;
    let start = Instant::now();
    let file = std::fs::File::create(dir.path().join("baseline.parquet"))?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(65_536))
        .build();
    let mut writer = ArrowWriter::try_new(file, schema, Some(properties))?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.into_inner()?.sync_all()?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    Ok(rows as f64 / start.elapsed().as_secs_f64())
}

/// Long enough (about a second) that the heap's first growth does not dominate.
const PARQUET_ROWS: u64 = 1_500_000;

pub(super) fn parquet_rows_netpipe() -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    Ok(PARQUET_ROWS as f64 / demo_lake(dir.path(), PARQUET_ROWS)?.as_secs_f64())
}

pub(super) fn parquet_rows_baseline() -> anyhow::Result<f64> {
    let (schema, batches) = demo_batches(PARQUET_ROWS)?;
    write_batches_directly(schema, &batches)
}

/// The Arrow batches of `count` demo events, as the sink builds them (made
/// by a lake written and read back, before any clock starts).
pub(super) fn demo_batches(
    count: u64,
) -> anyhow::Result<(arrow_schema::SchemaRef, Vec<arrow_array::RecordBatch>)> {
    let dir = tempfile::tempdir()?;
    demo_lake(dir.path(), count)?;
    // Converted file by file, so that only the Arrow batches stay in memory.
    let mut batches = Vec::new();
    let mut schema = None;
    for events in lake_events(dir.path())? {
        let (s, b) = to_batches(&events?, "demo.interface")?;
        schema.get_or_insert(s);
        batches.extend(b);
    }
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    anyhow::ensure!(rows as u64 == count, "read {rows} rows");
    Ok((schema.context("an empty lake")?, batches))
}

/// The S3 server the object-storage rows write to (moto, started by the
/// parent with a bucket `bench`).
fn s3() -> anyhow::Result<String> {
    std::env::var("NETPIPE_BENCH_S3").context("NETPIPE_BENCH_S3 is not set")
}

pub(super) fn parquet_s3_netpipe() -> anyhow::Result<f64> {
    let yaml = format!(
        "sources:\n  demo: {{ type: demo, count: {PARQUET_ROWS} }}\nsinks:\n  lake: {{ type: parquet, inputs: [demo], path: \"s3://bench/{}\", storage: {{ endpoint: \"{}\", region: us-east-1, allow_http: true, access_key_id: bench, secret_access_key: bench }} }}\n",
        unique("netpipe"),
        s3()?
    );
    Ok(PARQUET_ROWS as f64 / run_pipeline(&yaml, "lake", PARQUET_ROWS, 1)?.as_secs_f64())
}

/// The same Arrow batches written with the parquet crate into memory, in
/// files rolled at the sink's default `max_rows`, each uploaded with
/// object_store's own multipart writer (8 MiB parts, as the sink sends).
pub(super) fn parquet_s3_baseline() -> anyhow::Result<f64> {
    use object_store::aws::AmazonS3Builder;
    use object_store::{ObjectStoreExt as _, WriteMultipart};
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;
    const ROLL_ROWS: usize = 1_000_000;
    const PART: usize = 8 << 20;
    let (schema, batches) = demo_batches(PARQUET_ROWS)?;
    let store = AmazonS3Builder::new()
        .with_endpoint(s3()?)
        .with_bucket_name("bench")
        .with_region("us-east-1")
        .with_allow_http(true)
        .with_access_key_id("bench")
        .with_secret_access_key("bench")
        .build()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let prefix = unique("baseline");
    let start = Instant::now();
    for (n, file_batches) in batches.chunks(ROLL_ROWS / BATCH_ROWS).enumerate() {
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_max_row_group_row_count(Some(65_536))
            .build();
        let mut writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(properties))?;
        for batch in file_batches {
            writer.write(batch)?;
        }
        let bytes = writer.into_inner()?;
        let location = object_store::path::Path::from(format!("{prefix}/part-{n}.parquet"));
        runtime.block_on(async {
            if bytes.len() <= PART {
                store.put(&location, bytes.into()).await?;
            } else {
                let upload = store.put_multipart(&location).await?;
                let mut parts = WriteMultipart::new_with_chunk_size(upload, PART);
                parts.write(&bytes);
                parts.finish().await?;
            }
            anyhow::Ok(())
        })?;
    }
    Ok(PARQUET_ROWS as f64 / start.elapsed().as_secs_f64())
}

/// A lake of `count` demo events written by netpipe's Parquet sink; returns how long it took.
///
/// One runtime worker: the sink's writer thread takes the other core. Two
/// workers plus the writer are three busy threads on two cores, and the
/// writer (the bottleneck) then gets two thirds of one: 20-25% fewer rows/s,
/// measured in alternating runs (README: `TOKIO_WORKER_THREADS`).
pub(super) fn demo_lake(dir: &std::path::Path, count: u64) -> anyhow::Result<Duration> {
    let yaml = format!(
        "sources:\n  demo: {{ type: demo, count: {count} }}\nsinks:\n  lake: {{ type: parquet, inputs: [demo], path: \"{}\" }}\n",
        dir.display()
    );
    run_pipeline(&yaml, "lake", count, 1)
}

pub(super) fn replay_netpipe() -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    demo_lake(dir.path(), REPLAY_EVENTS)?;
    let sink =
        kafka_sink(&broker()?, &unique("bench-replay"), "json").replace("SOURCE", "captured");
    let yaml = format!(
        "sources:\n  captured: {{ type: parquet, path: \"{}\" }}\nsinks:\n{sink}",
        dir.path().display()
    );
    Ok(REPLAY_EVENTS as f64 / run_pipeline(&yaml, "sink", REPLAY_EVENTS, 2)?.as_secs_f64())
}

pub(super) fn replay_blackhole() -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    demo_lake(dir.path(), REPLAY_ROWS)?;
    let yaml = format!(
        "sources:\n  captured: {{ type: parquet, path: \"{}\" }}\nsinks:\n  sink: {{ type: blackhole, inputs: [captured] }}\n",
        dir.path().display()
    );
    Ok(REPLAY_ROWS as f64 / run_pipeline(&yaml, "sink", REPLAY_ROWS, 1)?.as_secs_f64())
}

/// Every Parquet file below `root`.
pub(super) fn parquet_files(root: &std::path::Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(d)? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                files.push(path);
            }
        }
    }
    Ok(files)
}

/// Reads every record batch of the lake with the parquet crate, nothing more.
pub(super) fn plain_read() -> anyhow::Result<f64> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let dir = tempfile::tempdir()?;
    demo_lake(dir.path(), REPLAY_ROWS)?;
    let files = parquet_files(dir.path())?;
    let start = Instant::now();
    let mut rows = 0;
    for file in files {
        for batch in ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file)?)?
            .with_batch_size(4096)
            .build()?
        {
            rows += batch?.num_rows();
        }
    }
    anyhow::ensure!(rows as u64 == REPLAY_ROWS, "read {rows} rows");
    Ok(REPLAY_ROWS as f64 / start.elapsed().as_secs_f64())
}

/// The events of each file of the lake under `root`, read with netpipe's reader.
pub(super) fn lake_events(
    root: &std::path::Path,
) -> anyhow::Result<impl Iterator<Item = anyhow::Result<Vec<Event>>>> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    Ok(parquet_files(root)?.into_iter().map(|file| {
        let mut reader = netpipe_arrow::EventReader::new(Arc::from("captured"), Arc::from("file"));
        let mut events = Vec::new();
        for batch in
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file)?)?.build()?
        {
            events.extend(reader.events(&batch?, 0)?);
        }
        Ok(events)
    }))
}

pub(super) fn replay_baseline() -> anyhow::Result<f64> {
    // The replayed events as the sink writes them, encoded before the clock starts.
    let dir = tempfile::tempdir()?;
    demo_lake(dir.path(), REPLAY_EVENTS)?;
    let events = lake_events(dir.path())?
        .collect::<anyhow::Result<Vec<_>>>()?
        .concat();
    anyhow::ensure!(events.len() as u64 == REPLAY_EVENTS);
    produce_raw(raw_records(&events, REPLAY_EVENTS, |event| {
        let mut json = Vec::new();
        json::write_payload(&event.payload, &mut json);
        Bytes::from(json)
    }))
}
