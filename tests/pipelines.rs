//! Running pipelines as a user does: `netpipe run FILE`, reading stdout and
//! the exit summary.

mod support;

use std::io::{BufRead, BufReader};
use std::time::Duration;

use support::*;

#[test]
fn the_demo_pipeline_prints_json_events() {
    let output = run(&repo_root().join("pipelines/demo.yaml"));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let events = json_lines(&output);
    assert_eq!(events.len(), 10000);
    let first = &events[0];
    assert_eq!(first["stream"], "demo.interface");
    assert_eq!(first["source"], "demo");
    assert_eq!(first["key"], "sw-00");
    assert_eq!(first["payload"]["interface"], "Ethernet1");
    assert!(first["payload"]["in_octets"].is_i64());
    let stderr = text(&output.stderr);
    assert_eq!(summary_counts(&stderr, "out"), (10000, 10000), "{stderr}");
}

#[test]
fn fan_in_two_sources_into_one_sink() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "fan-in.yaml",
        "
sources:
  east: { type: demo, count: 300 }
  west: { type: demo, count: 200, devices: 2 }
sinks:
  out: { type: stdout, inputs: [east, west] }
",
    );
    let output = run(&file);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let events = json_lines(&output);
    let from = |s: &str| events.iter().filter(|e| e["source"] == s).count();
    assert_eq!((from("east"), from("west")), (300, 200));
}

#[test]
fn fan_out_gives_every_sink_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "fan-out.yaml",
        "
sources:
  demo: { type: demo, count: 5000 }
sinks:
  print: { type: stdout, inputs: demo }
  count: { type: blackhole, inputs: demo, batch: { max_events: 64 } }
  slow: { type: blackhole, delay: 5ms, inputs: demo, batch: { max_events: 500 } }
",
    );
    let output = run(&file);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(json_lines(&output).len(), 5000);
    for sink in ["print", "count", "slow"] {
        assert_eq!(
            summary_counts(&stderr, sink),
            (5000, 5000),
            "{sink}: {stderr}"
        );
    }
}

#[test]
fn interrupt_drains_what_was_accepted_and_exits_zero_with_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "endless.yaml",
        "
sources:
  demo: { type: demo, rate: 20000 }
sinks:
  slow: { type: blackhole, delay: 100ms, inputs: [demo] }
",
    );
    let child = spawn_run(&file);
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, "INT");
    let output = wait_with_limit(child, Duration::from_secs(20));
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let (_, sent) = summary_counts(&stderr, "demo");
    let (_, written) = summary_counts(&stderr, "slow");
    assert!(sent > 0, "{stderr}");
    assert_eq!(
        sent, written,
        "everything the source sent was written: {stderr}"
    );
}

#[test]
fn a_reader_that_stops_after_three_lines_ends_the_run_cleanly() {
    let mut child = spawn_run(&repo_root().join("pipelines/demo.yaml"));
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    for _ in 0..3 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert!(line.starts_with('{'), "{line}");
    }
    drop(stdout);
    let output = wait_with_limit(child, Duration::from_secs(30));
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("ERROR"),
        "{stderr}"
    );
}

#[test]
fn metrics_are_served_in_prometheus_format() {
    let dir = tempfile::tempdir().unwrap();
    let port = netpipe_testkit::free_port().unwrap();
    let file = pipeline(
        dir.path(),
        "metrics.yaml",
        "
sources:
  demo: { type: demo, rate: 1000 }
sinks:
  sink: { type: blackhole, inputs: [demo] }
",
    );
    let child = netpipe()
        .args([
            "run",
            file.to_str().unwrap(),
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut body = String::new();
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        body = metrics(port);
        if body.contains(r#"netpipe_events_out_total{kind="sink",component="sink"} "#)
            && !body.contains(r#"netpipe_events_out_total{kind="sink",component="sink"} 0"#)
        {
            break;
        }
    }
    signal(&child, "TERM");
    let output = wait_with_limit(child, Duration::from_secs(20));
    assert!(output.status.success());
    assert!(
        body.contains("netpipe_events_in_total{kind=\"source\",component=\"demo\"}"),
        "{body}"
    );
    assert!(
        body.contains("netpipe_batch_latency_seconds_bucket"),
        "{body}"
    );
    // The values served are the run's own: at most what the exit summary
    // says (counters only grow), and more than nothing.
    let scraped = |name: &str, kind: &str, component: &str| -> u64 {
        let prefix = format!("netpipe_{name}_total{{kind=\"{kind}\",component=\"{component}\"}} ");
        body.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {body}"))
            .trim()
            .parse()
            .unwrap()
    };
    let stderr = text(&output.stderr);
    let (source_in, source_out) = summary_counts(&stderr, "demo");
    let (sink_in, sink_out) = summary_counts(&stderr, "sink");
    for (served, at_exit) in [
        (scraped("events_in", "source", "demo"), source_in),
        (scraped("events_out", "source", "demo"), source_out),
        (scraped("events_in", "sink", "sink"), sink_in),
        (scraped("events_out", "sink", "sink"), sink_out),
    ] {
        assert!(
            served > 0 && served <= at_exit,
            "served {served}, at exit {at_exit}: {stderr}"
        );
    }
}

/// A second signal during a drain exits at once, with status 130, leaving
/// unwritten what was not (and so not acknowledged).
#[test]
fn a_second_signal_exits_at_once_without_draining() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "endless.yaml",
        "
sources:
  demo: { type: demo, rate: 20000 }
sinks:
  slow: { type: blackhole, delay: 3s, inputs: [demo], batch: { max_events: 1000 } }
",
    );
    let child = spawn_run(&file);
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, "TERM");
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, "INT");
    let output = wait_with_limit(child, Duration::from_secs(20));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("second signal: exiting without draining"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("events_in"),
        "no summary of a drain that did not happen: {stderr}"
    );
}
