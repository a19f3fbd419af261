//! Into the data lake and back: the parquet sink's files, read with the
//! parquet crate (and pyarrow), and the parquet source replaying them.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::{Array as _, RecordBatch};
use serde_json::Value;
use support::broker::Broker;
use support::lake::*;
use support::simulator::Simulator;
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

fn aruba_to_lake_and_stdout(sim: &Simulator, dir: &Path) -> Vec<Value> {
    let file = pipeline(dir, "capture.yaml", &format!("
sources:
  central:
    type: aruba_central
    url: {}
    customers: [{{ name: A, key: sim-key, topics: [audit, apprf, location, monitoring, presence, security] }}]
sinks:
  out: {{ type: stdout, inputs: [central] }}
  lake: {{ type: parquet, inputs: [central], path: lake }}
", sim.url()));
    run_until(&file, 30).0
}

/// What must survive a round trip: stream, key, event time and payload.
fn essence(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {}",
                e["stream"], e["key"], e["event_time"], e["payload"]
            )
        })
        .collect()
}

#[test]
fn replaying_the_lake_gives_back_the_same_events() {
    let sim = Simulator::start(&["--count", "5"]);
    let dir = tempfile::tempdir().unwrap();
    let direct = aruba_to_lake_and_stdout(&sim, dir.path());
    assert_eq!(direct.len(), 30);
    let file = pipeline(
        dir.path(),
        "replay.yaml",
        "
sources:
  captured: { type: parquet, path: lake }
sinks:
  out: { type: stdout, inputs: [captured] }
",
    );
    let output = run(&file);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let replayed = json_lines(&output);
    assert_eq!(replayed.len(), 30);
    assert_eq!(essence(&replayed), essence(&direct));
}

#[test]
fn a_replay_with_a_checkpoint_resumes_after_the_last_acknowledged_row() {
    let dir = tempfile::tempdir().unwrap();
    capture_demo_lake(dir.path(), "count: 3000, rate: 3000");
    let replay = pipeline(
        dir.path(),
        "replay.yaml",
        "
sources:
  captured: { type: parquet, path: lake, checkpoint: replay.checkpoint, speed: 1.0 }
sinks:
  out: { type: stdout, inputs: [captured], batch: { max_events: 100, timeout: 10ms } }
",
    );
    // The capture took a second; replayed at its original pace, it is
    // stopped part-way, once 300 events were written.
    let (first, stderr) = run_until(&replay, 300);
    assert!(first.len() >= 300 && first.len() < 3000, "{stderr}");
    let second = run(&replay);
    assert!(second.status.success(), "{}", text(&second.stderr));
    let second = json_lines(&second);
    // Together, exactly the captured events: each once, none skipped.
    let row = |e: &Value| format!("{} {} {}", e["key"], e["event_time"], e["payload"]);
    let mut resumed: Vec<String> = first.iter().chain(&second).map(row).collect();
    resumed.sort();
    let everything = pipeline(
        dir.path(),
        "everything.yaml",
        "sources:\n  captured: { type: parquet, path: lake }\nsinks:\n  out: { type: stdout, inputs: [captured] }\n",
    );
    let output = run(&everything);
    let mut all: Vec<String> = json_lines(&output).iter().map(row).collect();
    all.sort();
    assert_eq!(all.len(), 3000);
    assert!(
        resumed == all,
        "first {}, then {}: not the captured events once each",
        first.len(),
        second.len()
    );
    let again = run(&replay);
    assert_eq!(
        json_lines(&again).len(),
        0,
        "a finished replay has nothing left"
    );
}

#[test]
fn replay_backfills_kafka() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    capture_demo_lake(dir.path(), "count: 2000");
    let replay = pipeline(dir.path(), "replay.yaml", &format!("
sources:
  captured: {{ type: parquet, path: lake, streams: [demo.interface] }}
sinks:
  kafka: {{ type: kafka, inputs: [captured], bootstrap_servers: {}, create_topics: {{ partitions: 1 }} }}
", broker.address()));
    let output = run(&replay);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let records = broker.consume("demo.interface", 1, 2000);
    let payload: Value = serde_json::from_slice(&records[0].value).unwrap();
    assert!(payload["device"].as_str().unwrap().starts_with("sw-"));
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

#[test]
fn the_replay_one_liner_feeds_the_sinks_of_a_file() {
    let dir = tempfile::tempdir().unwrap();
    capture_demo_lake(dir.path(), "count: 700");
    let sinks = pipeline(
        dir.path(),
        "sinks.yaml",
        "sinks:\n  out: { type: stdout, inputs: [replay] }\n",
    );
    let output = netpipe()
        .arg("replay")
        .arg(dir.path().join("lake"))
        .arg("--to")
        .arg(&sinks)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(json_lines(&output).len(), 700);
}

#[test]
fn replay_time_filters_keep_only_events_in_range() {
    let dir = tempfile::tempdir().unwrap();
    capture_demo_lake(dir.path(), "count: 1000, rate: 2000");
    let replay = |filter: &str| -> Vec<chrono::DateTime<chrono::FixedOffset>> {
        let file = pipeline(
            dir.path(),
            "replay.yaml",
            &format!(
                "sources:\n  captured: {{ type: parquet, path: lake, {filter} }}\nsinks:\n  out: {{ type: stdout, inputs: [captured] }}\n"
            ),
        );
        let output = run(&file);
        assert!(output.status.success(), "{}", text(&output.stderr));
        json_lines(&output)
            .iter()
            .map(|e| {
                chrono::DateTime::parse_from_rfc3339(e["event_time"].as_str().unwrap()).unwrap()
            })
            .collect()
    };
    let mut all = replay("streams: []");
    assert_eq!(all.len(), 1000);
    all.sort();
    // Cut where the capture is half done: each side keeps exactly its events.
    let cut = all[all.len() / 2];
    let at = cut.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let after = replay(&format!("start: \"{at}\""));
    let before = replay(&format!("end: \"{at}\""));
    assert!(!after.is_empty() && !before.is_empty());
    assert!(after.iter().all(|t| *t >= cut) && before.iter().all(|t| *t < cut));
    assert_eq!(after.len(), all.iter().filter(|t| **t >= cut).count());
    assert_eq!(before.len() + after.len(), 1000);
    // A range inside the capture keeps what is inside it.
    let (low, high) = (all[100], all[900]);
    let inside = replay(&format!(
        "start: \"{}\", end: \"{}\"",
        low.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        high.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
    ));
    assert_eq!(
        inside.len(),
        all.iter().filter(|t| **t >= low && **t < high).count()
    );
    // Streams: only those named.
    assert_eq!(replay("streams: [demo.interface]").len(), 1000);
    assert_eq!(replay("streams: [aruba.audit]").len(), 0);
    assert_eq!(replay("streams: [aruba.audit, demo.interface]").len(), 1000);
}

#[test]
fn a_replay_at_full_speed_checkpoints_its_last_row() {
    let dir = tempfile::tempdir().unwrap();
    capture_demo_lake(dir.path(), "count: 3000");
    // Chunks of 700 rows, sent as columns: the checkpoint comes from their last positions.
    let replay = pipeline(
        dir.path(),
        "replay.yaml",
        "
sources:
  captured: { type: parquet, path: lake, checkpoint: replay.checkpoint, chunk_rows: 700 }
sinks:
  out: { type: stdout, inputs: [captured] }
",
    );
    let first = run(&replay);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert_eq!(json_lines(&first).len(), 3000);
    let checkpoint: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("replay.checkpoint")).unwrap())
            .unwrap();
    // The last row of the file it names.
    let file = Path::new(checkpoint["file"].as_str().unwrap());
    assert_eq!(checkpoint["row"], rows(file) as u64 - 1, "{checkpoint}");
    assert_eq!(
        json_lines(&run(&replay)).len(),
        0,
        "a finished replay has nothing left"
    );
}

#[test]
fn a_file_netpipe_did_not_write_is_refused_by_name_before_any_row_is_sent() {
    use arrow_array::{Int32Array, StringArray, TimestampMicrosecondArray};
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lake")).unwrap();
    let foreign = dir.path().join("lake/foreign.parquet");
    let strings = || Arc::new(StringArray::from(vec!["a"; 3])) as _;
    let times =
        || Arc::new(TimestampMicrosecondArray::from(vec![1, 2, 3]).with_timezone("UTC")) as _;
    // The metadata columns are there; the payload's Int32 is a type netpipe never writes.
    let batch = RecordBatch::try_from_iter([
        ("stream", strings()),
        ("event_time", times()),
        ("receive_time", times()),
        ("key", strings()),
        ("source", strings()),
        ("count", Arc::new(Int32Array::from(vec![1, 2, 3])) as _),
    ])
    .unwrap();
    let file = std::fs::File::create(&foreign).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let replay = pipeline(
        dir.path(),
        "replay.yaml",
        "sources:\n  captured: { type: parquet, path: lake }\nsinks:\n  out: { type: stdout, inputs: [captured] }\n",
    );
    let output = run(&replay);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("foreign.parquet")
            && stderr.contains("Int32")
            && stderr.contains("`count`"),
        "{stderr}"
    );
    assert_eq!(json_lines(&output).len(), 0);
}

/// Two sources captured at the same time into files of their own: each
/// file replays in event-time order, and the files follow one another (what
/// the README promises, and no more: overlapping files are not interleaved).
#[test]
fn overlapping_files_replay_each_in_event_time_order_one_after_another() {
    let dir = tempfile::tempdir().unwrap();
    let capture = pipeline(
        dir.path(),
        "capture.yaml",
        "sources:\n  a: { type: demo, count: 2000, rate: 4000 }\n  b: { type: demo, count: 2000, rate: 4000 }\nsinks:\n  lake: { type: parquet, inputs: [a, b], path: lake, partition: \"{source}\" }\n",
    );
    let output = run(&capture);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let replay = pipeline(
        dir.path(),
        "replay.yaml",
        "sources:\n  captured: { type: parquet, path: lake }\nsinks:\n  out: { type: stdout, inputs: [captured] }\n",
    );
    let output = run(&replay);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let events = json_lines(&output);
    assert_eq!(events.len(), 4000);
    // Each source's file replays in order, one after the other: the times
    // go back once at most, where the second file begins.
    let times: Vec<&str> = events
        .iter()
        .map(|e| e["event_time"].as_str().unwrap())
        .collect();
    let steps_back = times.windows(2).filter(|w| w[1] < w[0]).count();
    assert!(steps_back <= 1, "{steps_back} steps back in time");
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

/// `speed` paces a replay by the original event times: twice as fast takes
/// at least half the capture's span (a floor only: pacing never runs ahead).
#[test]
fn a_paced_replay_takes_the_original_span_divided_by_its_speed() {
    let dir = tempfile::tempdir().unwrap();
    capture_demo_lake(dir.path(), "count: 3000, rate: 1500");
    let times: Vec<chrono::DateTime<chrono::FixedOffset>> = {
        let all = pipeline(
            dir.path(),
            "all.yaml",
            "sources:\n  r: { type: parquet, path: lake }\nsinks:\n  out: { type: stdout, inputs: [r] }\n",
        );
        json_lines(&run(&all))
            .iter()
            .map(|e| {
                chrono::DateTime::parse_from_rfc3339(e["event_time"].as_str().unwrap()).unwrap()
            })
            .collect()
    };
    let span = (*times.iter().max().unwrap() - *times.iter().min().unwrap())
        .to_std()
        .unwrap();
    assert!(
        span >= Duration::from_millis(1500),
        "the capture spans {span:?}"
    );
    let sinks = pipeline(
        dir.path(),
        "sinks.yaml",
        "sinks:\n  out: { type: stdout, inputs: [replay] }\n",
    );
    let started = std::time::Instant::now();
    let output = netpipe()
        .arg("replay")
        .arg(dir.path().join("lake"))
        .args(["--speed", "2"])
        .arg("--to")
        .arg(&sinks)
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(json_lines(&output).len(), 3000);
    assert!(took >= span / 2, "replayed {span:?} at speed 2 in {took:?}");
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
    // 20 frames (4 malformed) over connections of 10, so one reconnect.
    let (events, stderr) = run_until(&file, 21);
    assert_eq!(
        events
            .iter()
            .filter(|e| e["stream"] == "netpipe.gap")
            .count(),
        1,
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
    assert_eq!(gaps.iter().map(RecordBatch::num_rows).sum::<usize>(), 1);
    assert_eq!(
        dataset("aruba.audit")
            .iter()
            .map(RecordBatch::num_rows)
            .sum::<usize>(),
        16
    );

    let replay = pipeline(
        dir.path(),
        "replay.yaml",
        "sources:\n  r: { type: parquet, path: lake, streams: [netpipe.gap, netpipe.dead_letter] }\nsinks:\n  out: { type: stdout, inputs: [r] }\n",
    );
    let output = run(&replay);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let replayed = json_lines(&output);
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
