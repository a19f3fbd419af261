//! A stream whose records gain an optional field: new files get the new
//! nullable column, old files stay as they were, nothing crashes.

use std::sync::Arc;

use netpipe_core::config::{Registry, SourceType, parse};
use netpipe_core::metrics::Metrics;
use netpipe_core::value::field_names;
use netpipe_core::{
    BoxError, BuildContext, Event, Record, Source, SourceConfig, SourceContext, Timestamp, Value,
    async_trait, topology,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use schemars::JsonSchema;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

/// Sends records `{a}` then records `{a, b}` on the stream `test.evolving`.
#[derive(Debug, Deserialize, JsonSchema)]
struct Evolving {}

impl SourceConfig for Evolving {
    fn build(&self, _: &BuildContext) -> Result<Box<dyn Source>, BoxError> {
        Ok(Box::new(EvolvingSource))
    }
}

struct EvolvingSource;

#[async_trait]
impl Source for EvolvingSource {
    async fn run(self: Box<Self>, cx: SourceContext) -> Result<(), BoxError> {
        let event = |names: &[&str], values: Vec<Value>| {
            let time = Timestamp::from_secs(1_800_000_000);
            Event::new(
                cx.name.clone(),
                "test.evolving".into(),
                time,
                Record::new(field_names(names), values),
            )
        };
        let old: Vec<Event> = (0..10)
            .map(|i| event(&["a"], vec![Value::Int(i)]))
            .collect();
        cx.out.send(old).await?;
        let new: Vec<Event> = (10..15)
            .map(|i| event(&["a", "b"], vec![Value::Int(i), Value::string("new")]))
            .collect();
        cx.out.send(new).await?;
        Ok(())
    }
}

/// Runs the evolving source into a Parquet lake at `root`; returns the
/// partition its files are in.
async fn write_lake(registry: &Registry, root: &std::path::Path) -> std::path::PathBuf {
    let yaml = format!(
        "sources:\n  s: {{ type: evolving }}\nsinks:\n  lake: {{ type: parquet, inputs: [s], path: {}, batch: {{ max_events: 10 }} }}\n",
        root.display()
    );
    let pipeline = parse("test.yaml", &yaml, registry, &|_| None).unwrap();
    topology::run(
        pipeline,
        Arc::new(Metrics::default()),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    root.join("test.evolving/date=2027-01-15/hour=08")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_that_gain_a_field_get_files_with_the_new_column() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(
        vec![SourceType::new::<Evolving>("evolving", "test")],
        vec![netpipe_sink_parquet::sink_type()],
    );
    let partition = write_lake(&registry, dir.path()).await;
    let mut files: Vec<_> = std::fs::read_dir(&partition)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    let mut shapes = Vec::new();
    for f in files {
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(f).unwrap()).unwrap();
        let columns: Vec<String> = reader
            .schema()
            .fields()
            .iter()
            .skip(5)
            .map(|f| f.name().clone())
            .collect();
        let rows: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
        shapes.push((columns, rows));
    }
    shapes.sort();
    assert_eq!(
        shapes,
        vec![
            (vec!["a".to_string()], 10),
            (vec!["a".to_string(), "b".to_string()], 5)
        ]
    );
}

/// The same with a committed schema for the stream (`a` a long): the new
/// field is a nullable column after the schema's, and the old and new files
/// read back as the events that were written, `b` absent from the old ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_stream_gains_a_nullable_column_and_both_files_read_back() {
    use arrow_schema::DataType;
    let dir = tempfile::tempdir().unwrap();
    let schema = || {
        vec![(
            "test.evolving".to_string(),
            serde_json::json!({
                "type": "record", "name": "evolving", "namespace": "test",
                "fields": [{ "name": "a", "type": ["null", "long"], "default": null }]
            }),
        )]
    };
    let registry = Registry::new(
        vec![SourceType::new::<Evolving>("evolving", "test").with_stream_schemas(schema)],
        vec![netpipe_sink_parquet::sink_type()],
    );
    let partition = write_lake(&registry, dir.path()).await;
    let mut events = Vec::new();
    let mut new_columns = Vec::new();
    for entry in std::fs::read_dir(&partition).unwrap() {
        let reader = ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(entry.unwrap().path()).unwrap(),
        )
        .unwrap();
        let schema = reader.schema().clone();
        assert_eq!(
            schema.field_with_name("a").unwrap().data_type(),
            &DataType::Int64
        );
        if let Ok(b) = schema.field_with_name("b") {
            assert!(b.is_nullable(), "a column records gained is nullable");
            new_columns.push(b.data_type().clone());
        }
        let mut read = netpipe_arrow::EventReader::new("replay".into(), "file".into());
        for batch in reader.build().unwrap() {
            events.extend(read.events(&batch.unwrap(), 0).unwrap());
        }
    }
    assert_eq!(new_columns, [DataType::Utf8], "one file has the new column");
    events.sort_by_key(|e| e.payload.record().get("a").and_then(Value::as_int));
    assert_eq!(events.len(), 15);
    for (i, event) in events.iter().enumerate() {
        let record = event.payload.record();
        assert_eq!(record.get("a").and_then(Value::as_int), Some(i as i64));
        let b = record.get("b").filter(|v| !v.is_absent());
        assert_eq!(
            b.and_then(Value::as_str),
            (i >= 10).then_some("new"),
            "row {i}"
        );
    }
}
