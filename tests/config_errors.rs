//! A bad pipeline file is rejected before anything starts, with
//! `file:line:column`, what is wrong and, where likely, the nearest valid name.

mod support;

use support::*;

fn validate(yaml: &str) -> (bool, String) {
    validate_with_env(yaml, &[])
}

fn validate_with_env(yaml: &str, env: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(dir.path(), "p.yaml", yaml);
    let output = netpipe()
        .arg("validate")
        .arg(&file)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stderr = text(&output.stderr).replace(&file.display().to_string(), "p.yaml");
    (output.status.success(), stderr)
}

const GOOD_SINK: &str = "sinks:\n  out: { type: stdout, inputs: [demo] }\n";

#[test]
fn every_shipped_pipeline_validates() {
    let dir = repo_root().join("pipelines");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    assert!(!files.is_empty());
    // The replay pipeline reads a lake that must exist; an empty one will do.
    let lake = tempfile::tempdir().unwrap();
    let output = netpipe()
        .arg("validate")
        .args(&files)
        .env("ARUBA_WSSKEY", "test-key")
        .env("PF_API_KEY", "test-key")
        .env("NSO_PASSWORD", "test-password")
        .env("NSO_BRIDGE_TOKEN", "test-token")
        .env("CV_TOKEN", "test-token")
        .env("LAKE", lake.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
}

/// Mistakes that only a component's own checks find, each with where the
/// mistake is, what is wrong and a hint: `validate` reports what `run`
/// would have failed on at start.
#[test]
fn component_checks_run_at_validate_with_locations_and_hints() {
    let demo_sink =
        |source: &str| format!("sinks:\n  out: {{ type: stdout, inputs: [{source}] }}\n");
    let aruba = |options: &str| {
        format!(
            "sources:\n  central:\n    type: aruba_central\n{options}{}",
            demo_sink("central")
        )
    };
    let customers = "    customers: [{ name: A, key: k, topics: [monitoring] }]\n";
    let cases: Vec<(String, &str, &str)> = vec![
        (
            aruba(&format!("    hostname: h.example.com\n    url: wss://h.example.com/streaming/api\n{customers}")),
            "p.yaml:5:5: `sources.central.url`: give `hostname` or `url`, not both",
            "hint: `hostname` for Central",
        ),
        (
            aruba(&format!("    url: http://127.0.0.1:8765/streaming/api\n{customers}")),
            "p.yaml:4:5: `sources.central.url`: `url` must start with ws:// or wss://",
            "hint: Central streams over wss://",
        ),
        (
            aruba("    hostname: h\n    customers:\n      - { name: A, key: k, topics: [] }\n"),
            "p.yaml:6:28: `sources.central.customers.0.topics`: customer `A` has no `topics`",
            "hint: e.g. topics:",
        ),
        (
            format!("sources:\n  pf:\n    type: packetfabric\n    streams: [{{ type: port }}]\n{}", demo_sink("pf")),
            "p.yaml:2:3: `sources.pf`: no credentials: give `api_key` (preferred) or `login` + `password`",
            "hint: an API key is preferred",
        ),
        (
            format!("sources:\n  pf:\n    type: packetfabric\n    api_key: k\n    streams:\n      - {{ type: port, events: [metrix] }}\n{}", demo_sink("pf")),
            "p.yaml:6:32: `sources.pf.streams.0.events.0`: `metrix` is not an event of `port` streams",
            "hint: did you mean `metrics`?",
        ),
        (
            format!("sources:\n  demo: {{ type: demo, rate: -1 }}\n{}", demo_sink("demo")),
            "p.yaml:2:23: `sources.demo.rate`: `rate` must be a positive number",
            "hint: omit `rate`",
        ),
        (
            format!("sources:\n  replay: {{ type: parquet, path: /nonexistent/lake }}\n{}", demo_sink("replay")),
            "p.yaml:2:28: `sources.replay.path`: no Parquet files at `/nonexistent/lake`",
            "",
        ),
        (
            "sources:\n  demo: { type: demo }\nsinks:\n  k:\n    type: kafka\n    inputs: [demo]\n    bootstrap_servers: 127.0.0.1:9\n    topic: \"netops.{strem}\"\n".into(),
            "p.yaml:8:5: `sinks.k.topic`: topic template `netops.{strem}` has an unknown placeholder `{strem}`",
            "hint: did you mean `{stream}`?",
        ),
        (
            "sources:\n  demo: { type: demo }\nsinks:\n  k:\n    type: kafka\n    inputs: [demo]\n    bootstrap_servers: 127.0.0.1:9\n    encoding: protobuf\n".into(),
            "p.yaml:8:5: `sinks.k.encoding`: `encoding: protobuf` writes the bytes a source received, and source `demo` (type `demo`) keeps none",
            "hint: use `json` or `avro`",
        ),
        (
            "sources:\n  demo: { type: demo }\nsinks:\n  lake: { type: parquet, inputs: [demo], path: /proc/self/lake }\n".into(),
            "p.yaml:4:42: `sinks.lake.path`: cannot write in /proc/self",
            "hint: give a directory this user may write",
        ),
    ];
    for (yaml, error, hint) in &cases {
        let (ok, err) = validate(yaml);
        assert!(!ok, "validate accepted:\n{yaml}");
        assert!(
            err.contains(error),
            "expected `{error}` for\n{yaml}\ngot:\n{err}"
        );
        assert!(
            err.contains(hint),
            "expected `{hint}` for\n{yaml}\ngot:\n{err}"
        );
    }
}

#[test]
fn run_reports_every_check_error_at_once_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "p.yaml",
        "sources:\n  demo: { type: demo, count: 5, rate: 0 }\nsinks:\n  out: { type: stdout, inputs: [demo] }\n  k:\n    type: kafka\n    inputs: [demo]\n    bootstrap_servers: 127.0.0.1:9\n    topic: \"{source}.{strem}\"\n",
    );
    let output = run(&file);
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "events were written: {stderr}");
    assert!(stderr.contains(":2:33: `sources.demo.rate`"), "{stderr}");
    assert!(stderr.contains(":9:5: `sinks.k.topic`"), "{stderr}");
    // The Kafka sink never tried to connect.
    assert!(!stderr.contains("cannot reach Kafka"), "{stderr}");
}

#[test]
fn validate_no_env_reports_unset_variables_as_notes() {
    let yaml = "sources:\n  demo:\n    type: demo\n    count: 5\n    rate: ${DEMO_RATE:-50}\nsinks:\n  out: { type: kafka, inputs: [demo], bootstrap_servers: \"${BROKERS}\", librdkafka: { sasl.password: ${KAFKA_PW} } }\n";
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(dir.path(), "p.yaml", yaml);
    let output = netpipe()
        .args(["validate", "--no-env"])
        .arg(&file)
        .env("BROKERS", "127.0.0.1:9")
        .env_remove("KAFKA_PW")
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(":7:")
            && stderr.contains("note: environment variable `KAFKA_PW` is not set"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("BROKERS"),
        "a set variable was noted: {stderr}"
    );
    // Without --no-env the same file is an error.
    let output = netpipe()
        .arg("validate")
        .arg(&file)
        .env("BROKERS", "b:9")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("environment variable `KAFKA_PW` is not set"));
}

#[test]
fn a_misspelled_key_names_its_place_and_the_nearest_valid_key() {
    let (ok, err) = validate(&format!(
        "sources:\n  demo:\n    type: demo\n    rte: 10\n{GOOD_SINK}"
    ));
    assert!(!ok);
    assert!(
        err.contains("p.yaml:4:5: unknown key `rte` in `sources.demo`"),
        "{err}"
    );
    assert!(err.contains("did you mean `rate`?"), "{err}");
}

#[test]
fn a_misspelled_sink_key_and_batch_key_are_both_reported() {
    let (ok, err) = validate(
        "sources:\n  demo: { type: demo }\nsinks:\n  out:\n    type: stdout\n    input: [demo]\n    batch: { max_event: 5 }\n",
    );
    assert!(!ok);
    assert!(
        err.contains("did you mean `inputs`?") || err.contains("missing field `inputs`"),
        "{err}"
    );
    assert!(
        err.contains("p.yaml:7:14: unknown key `max_event` in `sinks.out.batch`"),
        "{err}"
    );
    assert!(err.contains("did you mean `max_events`?"), "{err}");
}

#[test]
fn an_unknown_component_type_suggests_the_nearest() {
    let (ok, err) = validate(&format!("sources:\n  demo:\n    type: dmeo\n{GOOD_SINK}"));
    assert!(!ok);
    assert!(
        err.contains("p.yaml:3:5: unknown component type `dmeo`"),
        "{err}"
    );
    assert!(err.contains("did you mean `demo`?"), "{err}");
}

#[test]
fn a_wrong_type_names_the_option() {
    let (ok, err) = validate(&format!(
        "sources:\n  demo:\n    type: demo\n    count: lots\n{GOOD_SINK}"
    ));
    assert!(!ok);
    assert!(
        err.contains("p.yaml:4:5: `sources.demo.count`: invalid type"),
        "{err}"
    );
}

#[test]
fn a_bad_duration_or_size_says_how_to_write_one() {
    let (ok, err) = validate(
        "sources:\n  demo: { type: demo }\nsinks:\n  out: { type: stdout, inputs: [demo], batch: { timeout: soon } }\n",
    );
    assert!(!ok);
    assert!(
        err.contains("p.yaml:4:49: `sinks.out.batch.timeout`: invalid duration `soon`"),
        "{err}"
    );
    assert!(err.contains("(write e.g. `500ms`, `2s`, `1m`)"), "{err}");
    let (ok, err) = validate(
        "sources:\n  demo: { type: demo }\nsinks:\n  out: { type: stdout, inputs: [demo], batch: { max_bytes: 4 parsecs } }\n",
    );
    assert!(!ok);
    assert!(
        err.contains(
            "p.yaml:4:49: `sinks.out.batch.max_bytes`: invalid size unit `parsecs` in `4 parsecs`"
        ),
        "{err}"
    );
    assert!(err.contains("use B, KiB, MiB, GiB, KB, MB or GB"), "{err}");
}

#[test]
fn inputs_that_name_nothing_or_loop_are_rejected() {
    let (ok, err) = validate(
        "sources:\n  demo: { type: demo }\nsinks:\n  out: { type: stdout, inputs: [dmo] }\n  loop: { type: stdout, inputs: [demo, loop] }\n",
    );
    assert!(!ok);
    assert!(
        err.contains("p.yaml:4:33: input `dmo` of sink `out` names no source"),
        "{err}"
    );
    assert!(err.contains("did you mean `demo`?"), "{err}");
    assert!(
        err.contains("sink `loop` lists itself as an input: that is a cycle"),
        "{err}"
    );
}

#[test]
fn a_source_nobody_reads_is_an_error() {
    let (ok, err) = validate(&format!(
        "sources:\n  demo: {{ type: demo }}\n  idle: {{ type: demo }}\n{GOOD_SINK}"
    ));
    assert!(!ok);
    assert!(
        err.contains("p.yaml:3:3: source `idle` is read by no sink"),
        "{err}"
    );
}

#[test]
fn environment_variables_fill_in_and_missing_ones_are_named() {
    let yaml = format!(
        "sources:\n  demo:\n    type: demo\n    count: ${{DEMO_COUNT}}\n    rate: ${{DEMO_RATE:-50}}\n{GOOD_SINK}"
    );
    let (ok, err) = validate_with_env(&yaml, &[("DEMO_COUNT", "10")]);
    assert!(ok, "{err}");
    let (ok, err) = validate(&yaml);
    assert!(!ok);
    assert!(
        err.contains("p.yaml:4:12: environment variable `DEMO_COUNT` is not set"),
        "{err}"
    );
}

#[test]
fn broken_yaml_and_unknown_sections_are_located() {
    let (ok, err) = validate("sources:\n  demo: { type: demo\n");
    assert!(!ok);
    assert!(
        err.contains("p.yaml:") && err.contains("invalid YAML"),
        "{err}"
    );
    let (ok, err) = validate(&format!("source:\n  demo: {{ type: demo }}\n{GOOD_SINK}"));
    assert!(!ok);
    assert!(
        err.contains("p.yaml:1:1: unknown top-level key `source`"),
        "{err}"
    );
    assert!(err.contains("did you mean `sources`?"), "{err}");
}

#[test]
fn nothing_starts_when_the_file_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "p.yaml",
        "sources:\n  demo: { type: demo, count: 5 }\nsinks:\n  out: { type: stdout, inputs: [demo], encoding: yaml }\n",
    );
    let output = run(&file);
    assert!(!output.status.success());
    assert!(
        output.stdout.is_empty(),
        "events were written before the error"
    );
    assert!(
        text(&output.stderr).contains("unknown variant `yaml`"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn the_readme_reference_matches_the_config_structs() {
    let output = netpipe().args(["list", "--markdown"]).output().unwrap();
    assert!(output.status.success());
    let generated = text(&output.stdout);
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let start = readme
        .find("<!-- reference:start -->\n")
        .expect("reference start marker")
        + 25;
    let end = readme
        .find("<!-- reference:end -->")
        .expect("reference end marker");
    assert!(
        readme[start..end] == generated,
        "README's component reference is stale: run scripts/update-docs.sh"
    );
}

#[test]
fn a_misspelt_librdkafka_option_is_found_offline_without_printing_its_value() {
    let (ok, err) = validate_with_env(
        "sources:\n  demo: { type: demo }\nsinks:\n  k:\n    type: kafka\n    inputs: [demo]\n    bootstrap_servers: 127.0.0.1:9\n    librdkafka:\n      sasl.pasword: \"${KAFKA_PW}\"\n",
        &[("KAFKA_PW", "hunter2-secret")],
    );
    assert!(!ok);
    assert!(
        err.contains(
            "p.yaml:9:7: `sinks.k.librdkafka.sasl.pasword`: librdkafka option `sasl.pasword`"
        ),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "the value leaked: {err}");
}

/// A key of digits from the environment is a key (text), and is never
/// printed; written into the file as a bare number, it is refused without
/// being printed either.
#[test]
fn numeric_secrets_are_text_and_never_printed() {
    let output = netpipe()
        .args(["validate", "pipelines/aruba-to-stdout.yaml"])
        .current_dir(repo_root())
        .env("ARUBA_WSSKEY", "12345678")
        .output()
        .unwrap();
    let printed = text(&output.stdout) + &text(&output.stderr);
    assert!(output.status.success(), "{printed}");
    assert!(!printed.contains("12345678"), "the key leaked: {printed}");
    let (ok, err) = validate(
        "sources:\n  pf:\n    type: packetfabric\n    api_key: 12345678\n    streams: [{ type: port }]\nsinks:\n  out: { type: stdout, inputs: [pf] }\n",
    );
    assert!(!ok);
    assert!(
        err.contains("p.yaml:4:5:") && err.contains("a secret must be text"),
        "{err}"
    );
    assert!(!err.contains("12345678"), "the key leaked: {err}");
}

/// Variables fill options of every type, inside flow collections too.
#[test]
fn variables_fill_numbers_booleans_and_text_in_any_yaml_style() {
    let yaml = "sources:\n  demo: { type: demo, count: ${N}, rate: ${RATE} }\nsinks:\n  out: { type: stdout, inputs: [demo], batch: { max_events: ${N}, timeout: ${T} } }\n";
    let (ok, err) = validate_with_env(yaml, &[("N", "10"), ("RATE", "2.5"), ("T", "50ms")]);
    assert!(ok, "{err}");
    let (ok, err) = validate_with_env(yaml, &[("N", "ten"), ("RATE", "2.5"), ("T", "50ms")]);
    assert!(!ok);
    assert!(
        err.contains("p.yaml:2:23: `sources.demo.count`: invalid type"),
        "{err}"
    );
}

#[test]
fn an_empty_file_is_located_with_a_hint() {
    let (ok, err) = validate("# nothing yet\n");
    assert!(!ok);
    assert!(
        err.contains("p.yaml:1:1: the pipeline file is empty"),
        "{err}"
    );
    assert!(
        err.contains("hint: a pipeline has `sources:` and `sinks:`"),
        "{err}"
    );
}

/// What checking a file may cost is bounded: an enormous file is refused
/// at once, by its size, not after taking gigabytes to parse.
#[test]
fn an_enormous_pipeline_file_is_refused_by_its_size() {
    let mut yaml = String::from(
        "sources:\n  central:\n    type: aruba_central\n    hostname: h\n    customers:\n",
    );
    while yaml.len() < 5 << 20 {
        let n = yaml.len();
        yaml.push_str(&format!(
            "      - {{ name: c{n}, key: k, topics: [monitoring] }}\n"
        ));
    }
    yaml.push_str("sinks:\n  out: { type: stdout, inputs: [central] }\n");
    let (ok, err) = validate(&yaml);
    assert!(!ok);
    assert!(
        err.contains("the pipeline file is 5.0 MiB; netpipe reads at most 4 MiB"),
        "{err}"
    );
    assert!(err.contains("customers_file"), "{err}");
}
