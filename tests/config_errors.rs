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
    let output = netpipe()
        .arg("validate")
        .args(&files)
        .env("ARUBA_WSSKEY", "test-key")
        .env("PF_API_KEY", "test-key")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
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
        "sources:\n  demo: { type: demo }\nsinks:\n  out: { type: stdout, inputs: [demo], batch: { timeout: soon, max_bytes: 4 parsecs } }\n",
    );
    assert!(!ok);
    assert!(
        err.contains("invalid duration `soon`") || err.contains("invalid size unit"),
        "{err}"
    );
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
