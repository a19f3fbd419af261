//! Into the data lake and back: the parquet sink's files, read with the
//! parquet crate (and pyarrow), and the parquet source replaying them.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::{Array as _, RecordBatch};
use support::lake::*;
use support::simulator::Simulator;
use support::watch::Watched;
use support::*;

#[test]
fn demo_events_land_as_typed_partitioned_files_that_roll_on_rows() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let file = pipeline(
        dir.path(),
        "lake.yaml",
        "
sources:
  demo: { type: demo, count: 1000 }
sinks:
  lake:
    type: parquet
    inputs: [demo]
    path: lake
    roll: { max_rows: 100 }
    batch: { max_events: 50 }
",
    );
    let output = run(&file);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let files = parquet_files(&lake);
    assert_eq!(files.len(), 10, "{files:?}");
    let hour = chrono_hour_dir();
    for f in &files {
        let relative = f
            .strip_prefix(&lake)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            relative.starts_with(&format!(
                "demo.interface/date={}/hour={}/part-",
                hour.0, hour.1
            )),
            "{relative}"
        );
        assert_eq!(rows(f), 100);
    }
    let batch = &read(&files[0])[0];
    let schema = batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "stream",
            "event_time",
            "receive_time",
            "key",
            "source",
            "device",
            "interface",
            "oper_status",
            "in_octets",
            "out_octets",
            "in_errors",
            "speed_mbps"
        ]
    );
    assert_eq!(
        schema
            .field_with_name("event_time")
            .unwrap()
            .data_type()
            .to_string(),
        "Timestamp(µs, \"UTC\")"
    );
    assert_eq!(
        schema
            .field_with_name("in_octets")
            .unwrap()
            .data_type()
            .to_string(),
        "Int64"
    );
    let device = batch.column_by_name("device").unwrap().as_string::<i32>();
    assert!(device.value(0).starts_with("sw-"));
}

#[test]
fn files_roll_by_age_while_events_keep_coming() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "lake.yaml",
        "
sources:
  demo: { type: demo, count: 1500, rate: 1000 }
sinks:
  lake:
    type: parquet
    inputs: [demo]
    path: lake
    roll: { max_age: 200ms }
    batch: { max_events: 50, timeout: 20ms }
",
    );
    let output = run(&file);
    assert!(output.status.success(), "{}", text(&output.stderr));
    // A second and a half of events, files of at most a fifth of a second.
    let files = parquet_files(&dir.path().join("lake"));
    assert!(files.len() >= 4, "{} files", files.len());
    assert_eq!(files.iter().map(|f| rows(f)).sum::<usize>(), 1500);
}

/// Open files roll together: when the busy stream's file reaches
/// `max_rows`, the quiet stream's file is committed too, so its few events
/// do not wait for it to fill (they would stay in one file until shutdown
/// if each stream rolled on its own).
#[test]
fn open_files_of_every_stream_roll_together() {
    let sim = Simulator::start(&["--count", "3", "--rate", "2"]);
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "lake.yaml",
        &format!(
            "
sources:
  demo: {{ type: demo, rate: 2000 }}
  central: {{ type: aruba_central, url: {}, customers: [{{ name: A, key: sim-key, topic: audit }}] }}
sinks:
  lake:
    type: parquet
    inputs: [demo, central]
    path: lake
    roll: {{ max_rows: 200 }}
    batch: {{ max_events: 50, timeout: 20ms }}
",
            sim.url()
        ),
    );
    let child = spawn_run(&file);
    // Three audit events half a second apart; the demo stream fills a file
    // ten times a second meanwhile.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while sim.stats()["frames"] != 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the simulator sent nothing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&child, "INT");
    let output = wait_with_limit(child, Duration::from_secs(20));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let audit = parquet_files(&dir.path().join("lake/aruba.audit"));
    assert_eq!(audit.iter().map(|f| rows(f)).sum::<usize>(), 3);
    assert!(
        audit.len() >= 2,
        "the quiet stream's file rolled with the busy one's: {} files",
        audit.len()
    );
}

/// Today's date and hour in UTC, as the partition directories spell them.
fn chrono_hour_dir() -> (String, String) {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (date, hour) = text.trim().split_once(' ').unwrap();
    (date.to_string(), hour.to_string())
}

#[test]
fn readers_never_see_a_partial_file_and_leftovers_are_removed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let stale = lake
        .join("demo.interface")
        .join(".netpipe-part-crashed.parquet.tmp");
    std::fs::create_dir_all(stale.parent().unwrap()).unwrap();
    std::fs::write(&stale, b"half a file").unwrap();
    let file = pipeline(dir.path(), "lake.yaml", "
sources:
  demo: { type: demo, count: 200000, rate: 100000 }
sinks:
  lake: { type: parquet, inputs: [demo], path: lake, roll: { max_rows: 5000 }, batch: { max_events: 1000 } }
");
    // A reader polling the lake while it is written: every visible file must be whole.
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (lake, stop, seen) = (lake.clone(), stop.clone(), seen.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                for f in parquet_files(&lake) {
                    assert_eq!(
                        rows(&f),
                        5000,
                        "a visible file was not whole: {}",
                        f.display()
                    );
                    seen.fetch_add(1, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let output = run(&file);
    stop.store(true, Ordering::SeqCst);
    reader
        .join()
        .expect("the concurrent reader saw a partial file");
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(!stale.exists(), "the crashed run's temp file was removed");
    assert_eq!(parquet_files(&lake).len(), 40);
    assert!(
        seen.load(Ordering::SeqCst) > 0,
        "the reader read files while they were being written"
    );
}

#[test]
fn pyarrow_reads_the_lake_as_a_hive_partitioned_dataset() {
    let python = repo_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "no {}: run the tests with scripts/test.sh, which sets up a venv with pyarrow",
        python.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "lake.yaml",
        "
sources:
  demo: { type: demo, count: 500 }
sinks:
  lake: { type: parquet, inputs: [demo], path: lake, compression: snappy }
",
    );
    assert!(run(&file).status.success());
    let script = "
import sys, pyarrow.dataset as ds
d = ds.dataset(sys.argv[1], format='parquet', partitioning='hive')
t = d.to_table()
print(t.num_rows, t.schema.field('event_time').type, t.schema.field('in_octets').type, sorted(set(t.column('hour').to_pylist())) != [])
";
    let out = std::process::Command::new(python)
        .args(["-c", script])
        .arg(dir.path().join("lake/demo.interface"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "500 timestamp[us, tz=UTC] int64 True"
    );
}

/// Files roll by size too, and land where the `partition` template says:
/// `{source}` and `{stream}`, not only the default date and hour.
#[test]
fn files_roll_by_size_into_the_partitions_the_template_names() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "lake.yaml",
        "
sources:
  edge: { type: demo, count: 20000 }
sinks:
  lake:
    type: parquet
    inputs: [edge]
    path: lake
    partition: \"by-source/{source}/{stream}\"
    compression: none
    roll: { max_bytes: 64KiB, max_rows: 1000000 }
    batch: { max_events: 500 }
",
    );
    let output = run(&file);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let lake = dir.path().join("lake");
    let files = parquet_files(&lake);
    assert!(
        files.len() > 5,
        "20,000 rows in 64 KiB files: {}",
        files.len()
    );
    for f in &files {
        assert_eq!(
            f.parent().unwrap(),
            lake.join("by-source/edge/demo.interface"),
            "{}",
            f.display()
        );
    }
    let total: usize = files.iter().map(|f| rows(f)).sum();
    assert_eq!(total, 20000);
    // Each file stopped growing soon after it passed the limit: by a batch.
    let sizes: Vec<u64> = files.iter().map(|f| f.metadata().unwrap().len()).collect();
    assert!(sizes.iter().all(|s| *s < 4 * 64 * 1024), "{sizes:?}");
}

/// Gaps and dead letters are datasets of the lake like any stream: the
/// dead letters' raw bytes are the frames as received, the gaps' scope is
/// a map, and replay gives both back.
#[test]
fn gaps_and_dead_letters_land_in_the_lake_and_replay() {
    let sim = Simulator::start(&[
        "--count",
        "20",
        "--drop-every",
        "10",
        "--malformed-every",
        "5",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "capture.yaml",
        &format!(
            "sources:\n  central:\n    type: aruba_central\n    url: {}\n    max_backoff: 200ms\n    customers: [{{ name: A, key: sim-key, topic: audit }}]\nsinks:\n  out: {{ type: stdout, inputs: [central] }}\n  lake: {{ type: parquet, inputs: [central], path: lake }}\n",
            sim.url()
        ),
    );
    // 20 frames (4 malformed) over connections of 10, each closed by the
    // simulator: two reconnects, a gap each.
    let (events, stderr) = run_until(&file, 22);
    assert_eq!(
        events
            .iter()
            .filter(|e| e["stream"] == "netpipe.gap")
            .count(),
        2,
        "{stderr}"
    );
    let lake = dir.path().join("lake");
    let dataset = |stream: &str| -> Vec<RecordBatch> {
        parquet_files(&lake.join(stream))
            .iter()
            .flat_map(|f| read(f))
            .collect()
    };
    let dead: Vec<RecordBatch> = dataset("netpipe.dead_letter");
    let raws: Vec<Vec<u8>> = dead
        .iter()
        .flat_map(|b| {
            let raw = b.column_by_name("raw").unwrap().as_binary::<i32>().clone();
            (0..raw.len()).map(move |i| raw.value(i).to_vec())
        })
        .collect();
    assert_eq!(raws.len(), 4);
    assert!(
        raws.iter()
            .all(|r| r == b"\x12\x0amonitoring\x1a\xff\xff\xff\x0f\x01")
    );
    let gaps = dataset("netpipe.gap");
    assert_eq!(gaps.iter().map(RecordBatch::num_rows).sum::<usize>(), 2);
    assert_eq!(
        dataset("aruba.audit")
            .iter()
            .map(RecordBatch::num_rows)
            .sum::<usize>(),
        16
    );

    let replayed = replayed(
        dir.path(),
        "path: lake, streams: [netpipe.gap, netpipe.dead_letter]",
    );
    let gap = replayed
        .iter()
        .find(|e| e["stream"] == "netpipe.gap")
        .unwrap();
    assert_eq!(gap["payload"]["scope"]["customer"], "A");
    assert_eq!(gap["payload"]["scope"]["topic"], "audit");
    assert_eq!(
        replayed
            .iter()
            .filter(|e| e["stream"] == "netpipe.dead_letter")
            .count(),
        4
    );
}

/// Dense monitoring records hold far more in a Parquet writer (hundreds of
/// nested columns, each with its own pages) than they take encoded: their
/// row groups are written out when the writer's memory reaches its bound,
/// long before `row_group_rows`, and every row is there.
#[test]
fn row_groups_of_dense_records_are_bounded_by_memory() {
    let sim = Simulator::start(&["--count", "4000"]);
    let dir = tempfile::tempdir().unwrap();
    let port = netpipe_testkit::free_port().unwrap();
    let file = pipeline(
        dir.path(),
        "lake.yaml",
        &format!(
            "sources:\n  central:\n    type: aruba_central\n    url: {}\n    customers: [{{ name: A, key: sim-key, topic: monitoring }}]\nsinks:\n  lake: {{ type: parquet, inputs: [central], path: lake, row_group_rows: 100000 }}\n",
            sim.url()
        ),
    );
    let run = Watched::spawn(
        netpipe()
            .args(["run", "--metrics-addr", &format!("127.0.0.1:{port}")])
            .arg(&file),
    );
    let received = r#"netpipe_events_in_total{kind="sink",component="lake"}"#;
    run.wait_for(
        "every frame at the sink",
        Duration::from_secs(60),
        |_, _| metric(&metrics(port), received) == Some(4000.0),
    );
    let (status, _, stderr) = run.stop();
    assert!(status.success(), "{stderr}");
    let files = parquet_files(&dir.path().join("lake"));
    let groups: Vec<usize> = files
        .iter()
        .map(|f| {
            let reader =
                parquet::file::reader::SerializedFileReader::new(std::fs::File::open(f).unwrap())
                    .unwrap();
            use parquet::file::reader::FileReader as _;
            reader.metadata().num_row_groups()
        })
        .collect();
    assert_eq!(files.iter().map(|f| rows(f)).sum::<usize>(), 4000);
    assert!(
        groups.iter().sum::<usize>() > 1,
        "row groups per file: {groups:?}"
    );
}
