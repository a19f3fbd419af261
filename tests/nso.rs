//! Cisco NSO's RESTCONF notification streams, as a user sees them: start the
//! simulator, run a pipeline against it, check what arrived.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use support::simulator::Simulator;
use support::watch::{self, Lines, Watched};
use support::*;

/// A pipeline reading the simulator's streams into stdout.
fn nso_pipeline(sim: &Simulator, dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    pipeline(
        dir,
        "nso.yaml",
        &format!(
            "
sources:
  nso:
    type: nso
    url: {}
    username: admin
    password: ${{NSO_TEST_PASSWORD}}
    max_backoff: 200ms
    {extra}
sinks:
  out: {{ type: stdout, inputs: [nso] }}
",
            sim.base_url()
        ),
    )
}

/// `netpipe run` with the simulator's password in the environment.
fn run_nso(file: &std::path::Path, password: &str) -> Watched {
    Watched::spawn(
        netpipe()
            .arg("run")
            .arg(file)
            .env("NSO_TEST_PASSWORD", password),
    )
}

fn events(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The notifications of `stream` by their sequence number (the `#n` the
/// simulator writes in alarm texts, the id of commit-queue events).
fn sequence(events: &[Value], stream: &str) -> BTreeMap<u64, usize> {
    let mut seen = BTreeMap::new();
    for event in events.iter().filter(|e| e["stream"] == stream) {
        let payload = &event["payload"];
        let n = match stream {
            "nso.ncs-alarms" => {
                let text = payload["tailf-ncs-alarms:alarm-notification"]["alarm-text"]
                    .as_str()
                    .unwrap();
                text.rsplit('#')
                    .next()
                    .unwrap()
                    .trim_end_matches(')')
                    .parse()
                    .unwrap()
            }
            _ => {
                payload["tailf-ncs:ncs-commit-queue-progress-event"]["id"]
                    .as_u64()
                    .unwrap()
                    - 1_764_900_000_000
            }
        };
        *seen.entry(n).or_default() += 1;
    }
    seen
}

/// Streams closed every 7 notifications are resubscribed from the last
/// `eventTime` written; NSO's inclusive replay repeats notifications, which
/// are passed over: every notification of a stream with replay arrives
/// once, as sent, at the location the server announced. The stream without
/// replay is resubscribed live, and a gap says so.
#[test]
fn streams_closed_by_the_server_resume_by_replay_and_arrive_once() {
    let sim = Simulator::nso(&[
        "--count",
        "40",
        "--close-every",
        "7",
        "--location-prefix",
        "/elsewhere/streams",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let file = nso_pipeline(&sim, dir.path(), "");
    let run = run_nso(&file, "admin");
    let arrived = |out: &Lines| {
        let lines: Vec<String> = out.iter().map(|(_, l)| l.clone()).collect();
        let read = events(&lines);
        sequence(&read, "nso.ncs-alarms").len() == 40
            && sequence(&read, "nso.ncs-events").len() == 40
    };
    run.wait_for("every notification", Duration::from_secs(30), |out, _| {
        arrived(out)
    });
    // Long enough for a repeat to show.
    std::thread::sleep(Duration::from_millis(800));
    let (status, lines, stderr) = run.stop();
    assert!(status.success(), "{stderr}");
    let read = events(&lines);
    for stream in ["nso.ncs-alarms", "nso.ncs-events"] {
        let seen = sequence(&read, stream);
        assert_eq!(
            seen.keys().copied().collect::<Vec<_>>(),
            (1..=40).collect::<Vec<_>>()
        );
        assert!(
            seen.values().all(|n| *n == 1),
            "{stream} repeated: {seen:?}"
        );
    }
    let stats = sim.stats();
    assert!(stats["replays"].as_u64().unwrap() >= 8, "{stats}");
    // As sent: eventTime unchanged, module-prefixed names, UTF-8 split
    // across writes joined again.
    let alarms: Vec<&Value> = read
        .iter()
        .filter(|e| e["stream"] == "nso.ncs-alarms")
        .collect();
    let payload = &alarms[0]["payload"];
    assert!(
        payload["eventTime"].as_str().unwrap().ends_with("+00:00"),
        "{payload}"
    );
    assert!(
        alarms.iter().any(
            |a| a["payload"]["tailf-ncs-alarms:alarm-notification"]["device"] == "pe-zürich-1"
        ),
        "non-ASCII text arrives intact"
    );
    let gaps: Vec<&Value> = read
        .iter()
        .filter(|e| e["stream"] == "netpipe.gap")
        .collect();
    assert!(
        !gaps.is_empty(),
        "NETCONF has no replay: a gap per resubscription"
    );
    assert!(
        gaps.iter()
            .all(|g| g["payload"]["scope"]["stream"] == "NETCONF"),
        "{gaps:?}"
    );
    assert!(
        read.iter().any(|e| e["stream"] == "nso.NETCONF"
            && e["payload"]["ietf-netconf-notifications:netconf-config-change"].is_object()),
        "NETCONF notifications arrive"
    );
}

/// A `: error:` comment is logged and counted as an error of its stream,
/// which is resubscribed and goes on where it was.
#[test]
fn an_error_comment_is_counted_and_the_stream_resubscribed() {
    let sim = Simulator::nso(&["--count", "20", "--error-every", "6"]);
    let dir = tempfile::tempdir().unwrap();
    let file = nso_pipeline(&sim, dir.path(), "streams: [ncs-alarms]");
    let run = run_nso(&file, "admin");
    run.wait_for("20 alarms", Duration::from_secs(30), |out, _| {
        out.len() >= 20
    });
    std::thread::sleep(Duration::from_millis(500));
    let (status, lines, stderr) = run.stop();
    assert!(status.success(), "{stderr}");
    let seen = sequence(&events(&lines), "nso.ncs-alarms");
    assert_eq!(seen.len(), 20);
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
    assert!(
        stderr.contains("NSO reported: notification stream ncs-alarms temporarily unavailable"),
        "{stderr}"
    );
    let errors = stderr
        .lines()
        .find(|l| l.starts_with("nso "))
        .and_then(|row| row.split_whitespace().nth(6))
        .and_then(|e| e.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no error count in the summary:\n{stderr}"));
    assert!(errors >= 3, "each error comment counts: {errors}\n{stderr}");
}

/// Wrong credentials: one clear line naming the user and the URL, never
/// the password, and no retry before `auth_retry`.
#[test]
fn wrong_credentials_are_a_clear_error_and_not_a_retry_storm() {
    let sim = Simulator::nso(&["--count", "5"]);
    let dir = tempfile::tempdir().unwrap();
    let file = nso_pipeline(&sim, dir.path(), "auth_retry: 1h");
    let run = run_nso(&file, "s3cr3t-wrong");
    run.wait_for("the rejection", Duration::from_secs(20), |_, err| {
        watch::count(err, "refused the credentials") > 0
    });
    std::thread::sleep(Duration::from_secs(2));
    let (_, lines, stderr) = run.stop();
    assert!(lines.is_empty());
    assert!(
        stderr.contains(&format!(
            "NSO at {} refused the credentials of `admin` (HTTP 401)",
            sim.base_url()
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains("s3cr3t-wrong"),
        "the password leaked:\n{stderr}"
    );
    assert_eq!(sim.stats()["refused"], 1, "retried before auth_retry");
}

/// With a checkpoint, a restart subscribes from the last `eventTime`
/// written: what NSO sent while netpipe was away is replayed, and nothing
/// written before comes again.
#[test]
fn a_restart_resumes_from_the_checkpoint_without_repeats_or_holes() {
    let sim = Simulator::nso(&["--rate", "40"]);
    let dir = tempfile::tempdir().unwrap();
    let file = nso_pipeline(
        &sim,
        dir.path(),
        "streams: [ncs-alarms]\n    checkpoint: nso-checkpoint.json",
    );
    let mut read = Vec::new();
    for round in 0..2 {
        let run = run_nso(&file, "admin");
        run.wait_for("alarms", Duration::from_secs(30), |out, _| out.len() >= 30);
        let (status, lines, stderr) = run.stop();
        assert!(status.success(), "{stderr}");
        if round == 1 {
            assert!(stderr.contains("start_time"), "{stderr}");
        }
        read.extend(events(&lines));
        // Notifications go on while netpipe is away.
        std::thread::sleep(Duration::from_millis(500));
    }
    let checkpoint: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("nso-checkpoint.json")).unwrap(),
    )
    .unwrap();
    assert!(
        checkpoint["nso.ncs-alarms"]["eventTime"].is_string(),
        "{checkpoint}"
    );
    let seen = sequence(&read, "nso.ncs-alarms");
    let (first, last) = (*seen.keys().next().unwrap(), *seen.keys().last().unwrap());
    assert_eq!(first, 1);
    assert_eq!(seen.len() as u64, last, "a hole: {seen:?}");
    assert!(seen.values().all(|n| *n == 1), "repeated: {seen:?}");
}

/// Keepalive comments keep a quiet stream alive past `idle_timeout`;
/// malformed data is a dead letter and the stream goes on.
#[test]
fn keepalives_keep_a_quiet_stream_and_malformed_data_is_a_dead_letter() {
    let sim = Simulator::nso(&[
        "--count",
        "10",
        "--malformed-every",
        "5",
        "--keepalive",
        "200ms",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let file = nso_pipeline(
        &sim,
        dir.path(),
        "streams: [ncs-events]\n    idle_timeout: 1s",
    );
    let run = run_nso(&file, "admin");
    run.wait_for("10 events", Duration::from_secs(30), |out, _| {
        out.len() >= 10
    });
    // Quiet but for keepalives, for three idle timeouts.
    std::thread::sleep(Duration::from_secs(3));
    let (status, lines, stderr) = run.stop();
    assert!(status.success(), "{stderr}");
    let read = events(&lines);
    let dead: Vec<&Value> = read
        .iter()
        .filter(|e| e["stream"] == "netpipe.dead_letter")
        .collect();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(
        dead[0]["payload"]["error"]
            .as_str()
            .unwrap()
            .contains("not JSON")
    );
    assert_eq!(sequence(&read, "nso.ncs-events").len(), 8);
    assert!(
        !stderr.contains("disconnected"),
        "a keepalive is liveness:\n{stderr}"
    );
}

/// A stream that is not among those the server lists stops the run with
/// an error that lists them; bad options are refused before anything runs.
#[test]
fn unknown_streams_and_bad_options_are_clear_errors() {
    let sim = Simulator::nso(&["--count", "1"]);
    let dir = tempfile::tempdir().unwrap();
    let file = nso_pipeline(&sim, dir.path(), "streams: [ncs-alrams]");
    let child = netpipe()
        .arg("run")
        .arg(&file)
        .env("NSO_TEST_PASSWORD", "admin")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let output = wait_with_limit(child, Duration::from_secs(20));
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "`ncs-alrams` is not among the streams NSO lists (NETCONF, ncs-alarms, ncs-events)"
        ),
        "{stderr}"
    );
    let bad = pipeline(
        dir.path(),
        "bad.yaml",
        "
sources:
  nso: { type: nso, url: nso.example.net, username: admin, password: '' }
sinks:
  out: { type: stdout, inputs: [nso] }
",
    );
    let validated = netpipe().arg("validate").arg(&bad).output().unwrap();
    let stderr = text(&validated.stderr);
    assert!(!validated.status.success());
    assert!(
        stderr.contains("is not an http(s) URL") && stderr.contains("`password` is empty"),
        "{stderr}"
    );
}

/// `pipelines/nso-to-parquet.yaml` against the simulator: a dataset per
/// stream whose rows are the envelope (the notification's name and its
/// body as JSON text), every notification once.
#[test]
fn the_example_lake_pipeline_writes_envelopes() {
    let sim = Simulator::nso(&["--count", "20", "--close-every", "9"]);
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let run = Watched::spawn(
        netpipe()
            .arg("run")
            .arg(repo_root().join("pipelines/nso-to-parquet.yaml"))
            .env("NSO_URL", sim.base_url())
            .env("NSO_PASSWORD", "admin")
            .env("LAKE", &lake)
            .env("NSO_CHECKPOINT", dir.path().join("nso.json")),
    );
    run.wait_for("the streams", Duration::from_secs(20), |_, err| {
        watch::count(err, "subscribed") >= 3
    });
    std::thread::sleep(Duration::from_secs(2));
    let (status, _, stderr) = run.stop();
    assert!(status.success(), "{stderr}");
    let rows_of = |stream: &str| -> usize {
        support::lake::parquet_files(&lake.join(stream))
            .iter()
            .map(|f| support::lake::rows(f))
            .sum()
    };
    assert_eq!(rows_of("nso.ncs-alarms"), 20, "{stderr}");
    assert_eq!(rows_of("nso.ncs-events"), 20, "{stderr}");
    let file = &support::lake::parquet_files(&lake.join("nso.ncs-alarms"))[0];
    let batch = &support::lake::read(file)[0];
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .unwrap_or_else(|| panic!("no column {name}: {:?}", batch.schema()))
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .unwrap()
            .value(0)
            .to_string()
    };
    assert_eq!(
        column("notification"),
        "tailf-ncs-alarms:alarm-notification"
    );
    let body: Value = serde_json::from_str(&column("data")).unwrap();
    assert!(body["alarm-text"].is_string(), "{body}");
    assert!(column("eventTime").ends_with("+00:00"));
}
