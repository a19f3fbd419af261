//! Arista CloudVision, as a user sees it: start the simulator (gRPC, the
//! vendor's messages), run a pipeline against it, check what arrived.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::simulator::Simulator;
use support::watch::{self, Watched};
use support::*;

/// A pipeline reading `subscriptions` (YAML lines under the source) from
/// the simulator at `url`, into stdout.
fn cloudvision_pipeline(
    dir: &std::path::Path,
    url: &str,
    subscriptions: &str,
) -> std::path::PathBuf {
    pipeline(
        dir,
        "cv.yaml",
        &format!(
            "
sources:
  cv:
    type: cloudvision
    url: {url}
    token: sim-token
    max_backoff: 200ms
{subscriptions}
sinks:
  out: {{ type: stdout, inputs: [cv] }}
"
        ),
    )
}

const EVENTS: &str = "    resources:\n      - model: arista.event.v1.Event\n";

fn of_stream<'a>(events: &'a [Value], stream: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["stream"] == stream).collect()
}

fn operation(e: &Value) -> &str {
    e["payload"]["type"].as_str().unwrap_or_default()
}

fn event_id(e: &Value) -> &str {
    e["payload"]["value"]["key"]["key"]
        .as_str()
        .unwrap_or_default()
}

#[test]
fn events_arrive_whole_with_updates_merged_and_a_delete_marked() {
    let sim = Simulator::cloudvision(&["--events", "6", "--updates", "4", "--interval", "20ms"]);
    let dir = tempfile::tempdir().unwrap();
    let (events, stderr) = run_until(
        &cloudvision_pipeline(dir.path(), &sim.base_url(), EVENTS),
        10,
    );
    let events = of_stream(&events, "cloudvision.event.event");
    let ops: Vec<&str> = events.iter().map(|e| operation(e)).collect();
    assert_eq!(
        ops,
        ["INITIAL"; 6]
            .iter()
            .chain(&["UPDATED"; 3])
            .chain(&["DELETED"])
            .copied()
            .collect::<Vec<_>>(),
        "{stderr}"
    );
    assert!(stderr.contains("initial state complete"), "{stderr}");
    // An update carries the whole event: the title from INITIAL, the acknowledgement from the patch.
    let first_update = events[6];
    assert_eq!(event_id(first_update), "ev-0000");
    assert_eq!(
        first_update["payload"]["value"]["title"],
        "HIGH_CPU_LOAD_AVG on leaf0"
    );
    assert_eq!(first_update["payload"]["value"]["ack"]["ack"], true);
    let notes = first_update["payload"]["value"]["notes"]["notes"]
        .as_object()
        .unwrap();
    assert_eq!(notes.len(), 1, "{first_update}");
    assert_eq!(notes.values().next().unwrap()["note"], "seen by op0");
    assert_eq!(
        first_update["payload"]["value"]["severity"],
        "EVENT_SEVERITY_INFO"
    );
    // Its time is the response's; its key the event's key.
    assert_eq!(first_update["event_time"], first_update["payload"]["time"]);
    assert!(
        first_update["key"].as_str().unwrap().contains("ev-0000"),
        "{first_update}"
    );
    // The delete carries the key only.
    let deleted = events[9];
    assert_eq!(event_id(deleted), "ev-0003");
    assert!(
        deleted["payload"]["value"].get("title").is_none(),
        "{deleted}"
    );
}

#[test]
fn the_filter_reaches_the_server_as_partial_eq_and_only_matches_arrive() {
    let sim = Simulator::cloudvision(&["--events", "12", "--updates", "0"]);
    let dir = tempfile::tempdir().unwrap();
    // The events go to a stream of the user's naming.
    let subscriptions = "    resources:\n      - model: arista.event.v1.Event\n        stream: cv.alarms\n        filter:\n          - { severity: CRITICAL }\n          - { event_type: HIGH_CPU_LOAD_AVG }\n";
    // 12 events: severity cycles INFO..CRITICAL (3 critical), types cycle in threes (4 CPU); 1 is both.
    let (events, stderr) = run_until(
        &cloudvision_pipeline(dir.path(), &sim.base_url(), subscriptions),
        6,
    );
    let events = of_stream(&events, "cv.alarms");
    assert_eq!(events.len(), 6, "{stderr}");
    for e in &events {
        let value = &e["payload"]["value"];
        assert!(
            value["severity"] == "EVENT_SEVERITY_CRITICAL"
                || value["event_type"] == "HIGH_CPU_LOAD_AVG",
            "{e}"
        );
    }
    let filters = &sim.stats()["filters"][0];
    assert_eq!(
        *filters,
        serde_json::json!([{"severity": "EVENT_SEVERITY_CRITICAL"}, {"event_type": "HIGH_CPU_LOAD_AVG"}])
    );
}

#[test]
fn dropped_streams_resubscribe_with_a_gap_and_send_nothing_twice() {
    // Each stream is cut after 8 messages: 6 INITIAL, the sync, one update.
    let sim = Simulator::cloudvision(&[
        "--events",
        "6",
        "--updates",
        "4",
        "--interval",
        "20ms",
        "--drop-after",
        "8",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let run = Watched::run(&cloudvision_pipeline(dir.path(), &sim.base_url(), EVENTS));
    run.wait_for("the delete", Duration::from_secs(30), |out, _| {
        watch::count(out, "\"DELETED\"") > 0
    });
    let (status, lines, stderr) = run.stop();
    assert!(status.success(), "{stderr}");
    let events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let cv = of_stream(&events, "cloudvision.event.event");
    // Nothing twice: an entity unchanged since the last stream is not sent
    // again. One changed while away comes again, as INITIAL, with its new time.
    let sent: Vec<(&str, &str)> = cv
        .iter()
        .map(|e| {
            (
                event_id(e),
                e["payload"]["time"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let distinct: std::collections::HashSet<_> = sent.iter().collect();
    assert_eq!(distinct.len(), sent.len(), "{sent:?}");
    let first_six: std::collections::HashSet<&str> = cv[..6].iter().map(|e| event_id(e)).collect();
    assert_eq!(first_six.len(), 6);
    // Every update reached the output, in the last state of its event.
    let last_of = |id: &str| *cv.iter().rev().find(|e| event_id(e) == id).unwrap();
    for (id, acker) in [("ev-0000", "op0"), ("ev-0001", "op1"), ("ev-0002", "op2")] {
        assert_eq!(
            last_of(id)["payload"]["value"]["ack"]["acker"],
            acker,
            "{stderr}"
        );
    }
    assert_eq!(operation(last_of("ev-0003")), "DELETED");
    let gaps = of_stream(&events, "netpipe.gap");
    assert!(!gaps.is_empty(), "a gap per resubscription: {stderr}");
    assert!(sim.stats()["calls"].as_u64().unwrap() >= 2);
}

#[test]
fn datasets_arrive_with_neat_values_decoded() {
    let sim = Simulator::cloudvision(&["--devices", "3", "--interval", "20ms"]);
    let dir = tempfile::tempdir().unwrap();
    let subscriptions =
        "    datasets:\n      - { type: device, name: analytics, path: [DatasetInfo, Devices] }\n";
    let (events, stderr) = run_until(
        &cloudvision_pipeline(dir.path(), &sim.base_url(), subscriptions),
        5,
    );
    let devices = of_stream(&events, "cloudvision.analytics.datasetinfo.devices");
    let ops: Vec<&str> = devices
        .iter()
        .map(|e| e["payload"]["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        ["update", "update", "update", "update", "delete"],
        "{stderr}"
    );
    assert!(stderr.contains("current state read"), "{stderr}");
    let first = &devices[0]["payload"];
    assert_eq!(first["path"], serde_json::json!(["DatasetInfo", "Devices"]));
    assert_eq!(first["key"], "JPE0000");
    assert_eq!(first["value"]["data"], "/Devices/JPE0000/versioned-data");
    assert_eq!(first["value"]["load"], 0.25);
    assert_eq!(first["value"]["uptime"], 86400.5);
    assert_eq!(first["value"]["interfaces"]["1"]["up"], true);
    assert_eq!(devices[3]["payload"]["value"]["status"], "inactive");
    assert_eq!(devices[4]["payload"]["key"], "JPE0002");
}

#[test]
fn a_wrong_token_is_one_clear_line_and_the_token_never_shows() {
    let sim = Simulator::cloudvision(&["--token", "the-right-token"]);
    let dir = tempfile::tempdir().unwrap();
    let file = cloudvision_pipeline(
        dir.path(),
        &sim.base_url(),
        &format!("{EVENTS}    auth_retry: 1h\n"),
    );
    let run = Watched::run(&file);
    run.wait_for("the refusal", Duration::from_secs(20), |_, err| {
        watch::count(err, "refused the token") > 0
    });
    std::thread::sleep(Duration::from_secs(2));
    let (status, _, stderr) = run.stop();
    assert!(status.success(), "{stderr}");
    assert_eq!(
        stderr.matches("refused the token").count(),
        1,
        "no retry storm: {stderr}"
    );
    assert!(stderr.contains(&sim.base_url()), "names the URL: {stderr}");
    assert!(!stderr.contains("sim-token"), "the token leaked: {stderr}");
    assert_eq!(sim.stats()["refused"], 1);
}

#[test]
fn tls_trusts_a_ca_file_and_refuses_an_unknown_certificate() {
    let certs = repo_root().join("tests/fixtures/tls");
    let (cert, key) = (certs.join("server.pem"), certs.join("server.key"));
    let sim = Simulator::cloudvision(&[
        "--events",
        "2",
        "--updates",
        "0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let url = sim.base_url().replace("http://", "https://");
    let dir = tempfile::tempdir().unwrap();
    let trusted = format!("{EVENTS}    ca_file: {}\n", certs.join("ca.pem").display());
    let (events, stderr) = run_until(&cloudvision_pipeline(dir.path(), &url, &trusted), 2);
    assert_eq!(
        of_stream(&events, "cloudvision.event.event").len(),
        2,
        "{stderr}"
    );

    let run = Watched::run(&cloudvision_pipeline(dir.path(), &url, EVENTS));
    run.wait_for("a refusal", Duration::from_secs(20), |_, err| {
        watch::count(err, "UnknownIssuer") > 0
    });
    let (_, events, stderr) = run.stop();
    assert!(events.is_empty(), "{stderr}");
}

#[test]
fn a_misspelt_filter_field_or_value_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let subscriptions = "    resources:\n      - model: arista.event.v1.Event\n        filter:\n          - { severty: CRITICAL }\n      - model: arista.event.v1.Event\n        filter:\n          - { severity: CRITCAL }\n";
    let file = cloudvision_pipeline(dir.path(), "http://127.0.0.1:1", subscriptions);
    let output = netpipe().arg("validate").arg(&file).output().unwrap();
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("resources.0.filter.0.severty"), "{stderr}");
    assert!(
        stderr.contains("`severty` is not a field of arista.event.v1.Event"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`CRITCAL` is not a value of EventSeverity"),
        "{stderr}"
    );
}

/// The shipped lake pipeline, run as its comments say against the
/// simulator: events typed from the model (severity, title, the operation
/// as `type`), devices with their value as JSON text.
#[test]
fn the_example_lake_pipeline_writes_typed_event_rows() {
    let sim = Simulator::cloudvision(&["--events", "8", "--updates", "3", "--interval", "20ms"]);
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let run = Watched::spawn(
        netpipe()
            .arg("run")
            .arg(repo_root().join("pipelines/cloudvision-to-parquet.yaml"))
            .env("CV_URL", sim.base_url())
            .env("CV_TOKEN", "sim-token")
            .env("LAKE", &lake),
    );
    run.wait_for("the events and devices", Duration::from_secs(30), |_, _| {
        sim.stats()["sent"].as_u64().unwrap_or(0) >= 8 + 1 + 3 + 2 + 2
    });
    std::thread::sleep(Duration::from_millis(300));
    let (status, _, stderr) = run.stop();
    assert!(status.success(), "{stderr}");
    let files = support::lake::parquet_files(&lake);
    let of = |dataset: &str| -> Vec<arrow_array::RecordBatch> {
        files
            .iter()
            .filter(|f| f.to_string_lossy().contains(dataset))
            .flat_map(|f| support::lake::read(f))
            .collect()
    };
    let events = of("cloudvision.event.event");
    let rows: usize = events.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 8 + 3, "{stderr}");
    let schema = events[0].schema();
    let value = schema.field_with_name("value").unwrap();
    // A struct of the model's fields (its Debug names them).
    let typed = format!("{:?}", value.data_type());
    assert!(typed.starts_with("Struct"), "{typed}");
    for name in ["\"key\"", "\"severity\"", "\"title\"", "\"ack\""] {
        assert!(typed.contains(name), "no value.{name}: {typed}");
    }
    assert!(schema.field_with_name("type").is_ok());
    let devices = of("cloudvision.analytics.datasetinfo.devices");
    let device_schema = devices[0].schema();
    let value = device_schema.field_with_name("value").unwrap().data_type();
    assert_eq!(format!("{value:?}"), "Utf8", "JSON text");
}

/// A model netpipe was not built with, read through `proto_path`: the
/// vendor's `.proto` files compiled at start, the filter checked against
/// them, the entities typed by them.
#[test]
fn a_model_from_proto_path_needs_no_rebuild() {
    let protos = repo_root().join("tests/fixtures/cloudvision");
    let sim = Simulator::cloudvision(&[
        "--events",
        "4",
        "--proto-path",
        protos.to_str().unwrap(),
        "--model",
        "acme.widget.v1.Widget",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let subscriptions = format!(
        "    proto_path: [{}]\n    resources:\n      - model: acme.widget.v1.Widget\n        filter: [{{ color: BLUE }}]\n",
        protos.display()
    );
    let (events, stderr) = run_until(
        &cloudvision_pipeline(dir.path(), &sim.base_url(), &subscriptions),
        2,
    );
    let widgets = of_stream(&events, "cloudvision.acme.widget.widget");
    // Colors alternate RED, BLUE over the 4 widgets: 1 and 3 pass.
    assert_eq!(widgets.len(), 2, "{stderr}");
    let value = &widgets[0]["payload"]["value"];
    assert_eq!(value["key"]["serial"], "serial-1");
    assert_eq!(value["name"], "name-1");
    assert_eq!(value["count"], 1);
    assert_eq!(value["color"], "COLOR_BLUE");
    assert_eq!(widgets[0]["payload"]["type"], "INITIAL");
    assert_eq!(
        sim.stats()["filters"][0],
        serde_json::json!([{"color": "COLOR_BLUE"}])
    );

    // Without the files, the model is unknown: `validate` says where to look.
    let file = cloudvision_pipeline(
        dir.path(),
        &sim.base_url(),
        "    resources:\n      - model: acme.widget.v1.Widget\n",
    );
    let output = netpipe().arg("validate").arg(&file).output().unwrap();
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("resources.0.model") && stderr.contains("proto_path"),
        "{stderr}"
    );
}

/// Connector values have no schema: typed sinks get them as JSON text,
/// unless the user gives one; then the lake has their columns.
#[test]
fn a_dataset_with_a_schema_writes_typed_values() {
    let sim = Simulator::cloudvision(&["--devices", "3", "--interval", "20ms"]);
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "cv-lake.yaml",
        &format!(
            "
sources:
  cv:
    type: cloudvision
    url: {}
    token: sim-token
    datasets:
      - type: device
        name: analytics
        path: [DatasetInfo, Devices]
        schema:
          type: record
          name: Device
          fields:
            - {{ name: hostname, type: string }}
            - {{ name: load, type: double }}
            - {{ name: status, type: string }}
sinks:
  lake: {{ type: parquet, inputs: [cv], path: lake }}
",
            sim.base_url()
        ),
    );
    let run = Watched::run(&file);
    run.wait_for("the devices", Duration::from_secs(30), |_, _| {
        sim.stats()["sent"].as_u64().unwrap_or(0) >= 4
    });
    std::thread::sleep(Duration::from_millis(300));
    let (status, _, stderr) = run.stop();
    assert!(status.success(), "{stderr}");
    let batches: Vec<_> = support::lake::parquet_files(&dir.path().join("lake"))
        .iter()
        .flat_map(|f| support::lake::read(f))
        .collect();
    assert!(!batches.is_empty(), "{stderr}");
    let value = batches[0]
        .schema()
        .field_with_name("value")
        .unwrap()
        .data_type()
        .clone();
    let typed = format!("{value:?}");
    assert!(typed.starts_with("Struct"), "{typed}");
    for column in ["\"hostname\"", "\"load\"", "\"status\""] {
        assert!(typed.contains(column), "no {column} in {typed}");
    }
    // A schema that is not a record is refused by `validate`.
    let wrong = std::fs::read_to_string(&file)
        .unwrap()
        .replace("type: record", "type: map");
    let wrong = pipeline(dir.path(), "wrong.yaml", &wrong);
    let output = netpipe().arg("validate").arg(&wrong).output().unwrap();
    assert!(
        text(&output.stderr).contains("datasets.0.schema"),
        "{}",
        text(&output.stderr)
    );
}
