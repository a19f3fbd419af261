//! Faults, as a user meets them: a process killed with SIGKILL and
//! started again, writers that share a lake. Each story checks what was
//! delivered, to the row: nothing acknowledged is lost, repeats are
//! bounded, no partial file is ever visible; a broker killed for a minute
//! and back. (Frozen brokers and drains are in tests/kafka.rs, dead
//! connections and garbage in tests/aruba.rs.)

mod support;

use std::time::Duration;

use serde_json::Value;
use support::broker::Broker;
use support::lake::*;
use support::watch::{self, Watched};
use support::*;

/// Lake writers that scale out share one root: a second `netpipe run`
/// starting while the first has files open leaves them alone, and every
/// event of both lands once.
#[test]
fn two_writers_share_a_lake_root_without_touching_each_others_files() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let writer = |name: &str| {
        pipeline(
            dir.path(),
            name,
            "sources:\n  demo: { type: demo, count: 6000, rate: 3000 }\nsinks:\n  lake: { type: parquet, inputs: [demo], path: lake, roll: { max_rows: 1000000, max_age: 10m }, batch: { max_events: 500, timeout: 50ms } }\n",
        )
    };
    let first = spawn_run(&writer("first.yaml"));
    // Wait until the first writer has a file open (a temp file), then start the second.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while temp_files(&lake).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the first writer opened no file"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let open = temp_files(&lake);
    let second = spawn_run(&writer("second.yaml"));
    let second = wait_with_limit(second, Duration::from_secs(60));
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert!(
        !text(&second.stderr).contains("removed"),
        "the second writer cleaned up files: {}",
        text(&second.stderr)
    );
    let first = wait_with_limit(first, Duration::from_secs(60));
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(open.iter().all(|f| !f.exists()), "committed at the end");
    let total: usize = parquet_files(&lake).iter().map(|f| rows(f)).sum();
    assert_eq!(total, 12_000, "both writers' events, each once");
    assert!(temp_files(&lake).is_empty());
}

/// A replay killed with SIGKILL part-way has saved its checkpoint as
/// acknowledgements advanced: the restart resumes right after the saved
/// row, and sends exactly the rows after it.
#[test]
fn a_replay_killed_part_way_resumes_from_its_last_saved_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    capture_demo_lake(dir.path(), "count: 6000, rate: 2000");
    let files = parquet_files(&dir.path().join("lake"));
    assert_eq!(
        files.len(),
        1,
        "one file, so a row number says how far: {files:?}"
    );
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
    let saved = dir.path().join("replay.checkpoint");
    // Replayed at its original pace (3 s), killed once a checkpoint is saved.
    let child = spawn_run(&replay);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !saved.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint while running"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&child, "KILL");
    let first = wait_with_limit(child, Duration::from_secs(20));
    assert!(!first.status.success(), "killed, not finished");
    let checkpoint: Value = serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
    let done = checkpoint["row"].as_u64().unwrap() + 1;
    assert!(done < 6000, "killed before the end: {checkpoint}");
    // A killed writer may leave half a line: count the whole ones.
    let written = text(&first.stdout).matches('\n').count() as u64;
    assert!(written >= done, "the checkpoint is past what was written");
    let second = run(&replay);
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert_eq!(
        json_lines(&second).len() as u64,
        6000 - done,
        "{checkpoint}"
    );
}

/// A lake writer killed with SIGKILL mid-write, fed by a replay with a
/// checkpoint: no partial file is ever visible, the restart removes the
/// dead writer's temp files, and every row reaches the new lake, the
/// repeated ones bounded by what was written after the last checkpoint.
#[test]
fn a_lake_writer_killed_mid_write_loses_nothing_and_leaves_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    capture_demo_lake(dir.path(), "count: 8000, rate: 2000");
    let copy = pipeline(
        dir.path(),
        "copy.yaml",
        "
sources:
  captured: { type: parquet, path: lake, checkpoint: copy.checkpoint, speed: 1.0 }
sinks:
  copy: { type: parquet, inputs: [captured], path: copy, roll: { max_rows: 500, max_age: 1s }, batch: { max_events: 100, timeout: 20ms } }
",
    );
    let child = spawn_run(&copy);
    let saved = dir.path().join("copy.checkpoint");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !saved.exists() || parquet_files(&dir.path().join("copy")).len() < 2 {
        assert!(std::time::Instant::now() < deadline, "nothing committed");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(700));
    signal(&child, "KILL");
    let killed = wait_with_limit(child, Duration::from_secs(20));
    assert!(!killed.status.success(), "killed mid-write, not finished");
    // Every visible file reads whole (a partial one would not).
    for file in parquet_files(&dir.path().join("copy")) {
        assert!(rows(&file) >= 500, "{}", file.display());
    }

    let restarted = run(&copy);
    assert!(restarted.status.success(), "{}", text(&restarted.stderr));
    let leftovers = temp_files(&dir.path().join("copy"));
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");

    // Every captured row is in the copy; the repeats are bounded.
    let events_of = |lake: &str| -> Vec<String> {
        let mut events: Vec<String> = replayed(dir.path(), &format!("path: {lake}"))
            .iter()
            .map(|e| format!("{} {} {}", e["key"], e["event_time"], e["payload"]))
            .collect();
        events.sort();
        events
    };
    let original = events_of("lake");
    let copied = events_of("copy");
    assert_eq!(original.len(), 8000);
    let mut unique = copied.clone();
    unique.dedup();
    let original_unique = {
        let mut o = original.clone();
        o.dedup();
        o
    };
    assert_eq!(unique, original_unique, "a row was lost or changed");
    let repeated = copied.len() - original.len();
    assert!(repeated <= 3000, "{repeated} rows written twice");
}

/// The Kafka broker killed with SIGKILL for a minute, then started again on
/// the same port with its storage (tansu on S3, served by moto). netpipe
/// keeps running and says what it waits for; when the broker is back, every
/// event the source sent reaches the topic (repeats allowed: at least once).
#[test]
fn a_broker_killed_for_a_minute_and_back_loses_nothing() {
    let moto =
        netpipe_testkit::Moto::start(&repo_root().join(".venv")).unwrap_or_else(|e| panic!("{e}"));
    let mut broker = Broker::durable(&moto);
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "away.yaml",
        &format!(
            "
sources:
  demo: {{ type: demo, count: 10000, rate: 1000 }}
sinks:
  kafka:
    type: kafka
    inputs: [demo]
    bootstrap_servers: {}
    topic: away
    create_topics: {{ partitions: 1 }}
    encoding: json
    batch: {{ max_events: 500, timeout: 100ms }}
    # Deliveries time out within the outage, so the sink's own resending runs.
    librdkafka: {{ message.timeout.ms: \"10000\" }}
",
            broker.address()
        ),
    );
    let run = Watched::run(&file);
    run.wait_for("the topic", Duration::from_secs(30), |_, err| {
        watch::count(err, "created topic") > 0
    });
    std::thread::sleep(Duration::from_secs(3));
    broker.kill();
    run.wait_for(
        "a word about the outage",
        Duration::from_secs(30),
        |_, err| watch::count(err, "Kafka has not acknowledged") > 0,
    );
    std::thread::sleep(Duration::from_secs(60));
    broker.restart();
    run.wait_for("the run's end", Duration::from_secs(120), |_, err| {
        watch::count(err, "kafka topic summary") > 0
    });
    let (status, _, stderr) = run.stop();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("Kafka acknowledged again"), "{stderr}");
    // Every demo event once at least: an interface's counter is new in each.
    let records = broker.consume_at_least("away", 1, 10_000);
    let distinct: std::collections::HashSet<String> = records
        .iter()
        .map(|r| {
            // The message value is the payload.
            let p: Value = serde_json::from_slice(&r.value).unwrap();
            assert!(p["device"].is_string(), "{p}");
            format!("{} {} {}", p["device"], p["interface"], p["in_octets"])
        })
        .collect();
    assert_eq!(distinct.len(), 10_000, "{} messages read", records.len());
}

/// Kafka frozen (SIGSTOP) while a live source keeps sending: with a disk
/// buffer the source is never held back, what it sent waits on disk, a
/// SIGKILL of netpipe loses none of it, and the next run delivers it first.
#[test]
fn a_disk_buffer_keeps_what_a_frozen_broker_cannot_take_across_a_kill() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let port = netpipe_testkit::free_port().unwrap();
    let yaml = |count: u64| {
        format!(
            "
sources:
  demo: {{ type: demo, count: {count}, rate: 3000 }}
sinks:
  kafka:
    type: kafka
    inputs: [demo]
    bootstrap_servers: {}
    topic: buffered
    create_topics: {{ partitions: 1 }}
    encoding: json
    batch: {{ max_events: 100, timeout: 50ms }}
    buffer: {{ type: disk, path: buffer, max_size: 256MiB }}
",
            broker.address()
        )
    };
    let first = pipeline(dir.path(), "first.yaml", &yaml(9000));
    let run = Watched::spawn(
        netpipe()
            .args(["run", "--metrics-addr", &format!("127.0.0.1:{port}")])
            .arg(&first),
    );
    run.wait_for("the topic", Duration::from_secs(30), |_, err| {
        watch::count(err, "created topic") > 0
    });
    broker.signal("STOP");
    let sent = r#"netpipe_events_out_total{kind="source",component="demo"}"#;
    let written = r#"netpipe_events_out_total{kind="sink",component="kafka"}"#;
    let waiting = r#"netpipe_buffer_bytes{kind="sink",component="kafka"}"#;
    run.wait_for(
        "every event sent by the source while Kafka is frozen",
        Duration::from_secs(30),
        |_, _| metric(&metrics(port), sent) == Some(9000.0),
    );
    let page = metrics(port);
    assert!(metric(&page, written).unwrap() < 9000.0, "{page}");
    assert!(metric(&page, waiting).unwrap() > 0.0, "{page}");
    run.kill();
    broker.signal("CONT");

    // The next run sends what waited before its own one event (a repeat of the first).
    let again = pipeline(dir.path(), "again.yaml", &yaml(1));
    let output = wait_with_limit(spawn_run(&again), Duration::from_secs(120));
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("from an earlier run"), "{stderr}");
    assert!(
        stderr.contains("kafka disk buffer: 0 bytes wait"),
        "{stderr}"
    );
    let records = broker.consume_at_least("buffered", 1, 9000);
    let distinct: std::collections::HashSet<String> = records
        .iter()
        .map(|r| {
            let p: Value = serde_json::from_slice(&r.value).unwrap();
            format!("{} {} {}", p["device"], p["interface"], p["in_octets"])
        })
        .collect();
    assert_eq!(distinct.len(), 9000, "{} messages read", records.len());
}

/// The lake's disk fills up under a running Parquet sink: the sink names
/// the file it cannot write and waits (its source waits too); when room is
/// made it goes on, and every event is in the lake once, no file partial.
#[test]
fn a_full_disk_under_the_lake_is_waited_out_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let disk = Tmpfs::mount(&lake, "16m");
    let ballast = disk.fill("ballast");
    let file = pipeline(
        dir.path(),
        "full.yaml",
        "sources:\n  demo: { type: demo, count: 20000, rate: 10000 }\nsinks:\n  lake: { type: parquet, inputs: [demo], path: lake, roll: { max_rows: 5000 }, batch: { max_events: 1000, timeout: 50ms } }\n",
    );
    let run = Watched::run(&file);
    run.wait_for(
        "a word about the full disk",
        Duration::from_secs(30),
        |_, err| watch::count(err, "No space left on device") > 0,
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        watch::count(&run.stderr(), "failed"),
        0,
        "the sink waits, it does not fail"
    );
    std::fs::remove_file(&ballast).unwrap();
    run.wait_for("the run's end", Duration::from_secs(60), |_, err| {
        watch::count(err, "source finished") > 0 && watch::count(err, "events_in") > 0
    });
    let (status, _, stderr) = run.stop();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("written again after the disk was full"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&lake.display().to_string()),
        "the path is named: {stderr}"
    );
    let total: usize = parquet_files(&lake).iter().map(|f| rows(f)).sum();
    assert_eq!(total, 20_000, "every event once");
    assert!(temp_files(&lake).is_empty());
}
