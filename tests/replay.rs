//! Replaying a lake, as a user does: capture, replay into a sink, check
//! that what comes back is what went in, in the promised order, at the
//! promised pace, and that a checkpoint resumes where it should.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use serde_json::Value;
use support::broker::Broker;
use support::lake::*;
use support::simulator::Simulator;
use support::*;

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
    assert_same_events(&essence(&replayed), &essence(&direct));
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
    let mut all: Vec<String> = replayed(dir.path(), "path: lake").iter().map(row).collect();
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
        replayed(dir.path(), &format!("path: lake, {filter}"))
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
    let events = replayed(dir.path(), "path: lake");
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

/// `speed` paces a replay by the original event times: twice as fast takes
/// at least half the capture's span (a floor only: pacing never runs ahead).
#[test]
fn a_paced_replay_takes_the_original_span_divided_by_its_speed() {
    let dir = tempfile::tempdir().unwrap();
    capture_demo_lake(dir.path(), "count: 3000, rate: 1500");
    let times: Vec<chrono::DateTime<chrono::FixedOffset>> = {
        replayed(dir.path(), "path: lake")
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
