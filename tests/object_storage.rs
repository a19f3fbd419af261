//! The lake in object storage, as a user runs it: a pipeline writes to
//! `s3://` on a real S3-compatible server (moto), and pyarrow reads every
//! object back; a bucket that is not there, or credentials the store
//! refuses, are clear errors before anything runs. (Replay from object
//! storage is not built yet.)

mod support;

use support::*;

/// moto and a pipeline writing `count` demo events to `s3://lake/netpipe`.
fn s3_pipeline(
    dir: &std::path::Path,
    moto: &netpipe_testkit::Moto,
    bucket: &str,
    count: u64,
) -> std::path::PathBuf {
    pipeline(
        dir,
        "lake.yaml",
        &format!(
            "
sources:
  demo: {{ type: demo, count: {count} }}
sinks:
  lake:
    type: parquet
    inputs: [demo]
    path: s3://{bucket}/netpipe
    storage: {{ endpoint: {}, region: us-east-1, allow_http: true, access_key_id: test, secret_access_key: ${{S3_SECRET}} }}
    roll: {{ max_rows: 1000 }}
    batch: {{ max_events: 500 }}
",
            moto.endpoint()
        ),
    )
}

/// Runs `file` with the secret key in `S3_SECRET`: its exit status and
/// stderr, which must not hold the secret.
fn run_with_secret(file: &std::path::Path) -> (std::process::ExitStatus, String) {
    let output = netpipe()
        .arg("run")
        .arg(file)
        .env("S3_SECRET", "s3-secret-value")
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert!(
        !stderr.contains("s3-secret-value"),
        "the secret leaked:\n{stderr}"
    );
    (output.status, stderr)
}

/// Every object below `lake/netpipe`, read by pyarrow from the store
/// itself: its key and rows. An object that does not read fails the test.
fn objects_read_by_pyarrow(moto: &netpipe_testkit::Moto) -> Vec<(String, usize)> {
    let script = "
import sys, pyarrow.fs as fs, pyarrow.parquet as pq
s3 = fs.S3FileSystem(endpoint_override=sys.argv[1], scheme='http', access_key='test', secret_key='test', region='us-east-1')
files = s3.get_file_info(fs.FileSelector('lake/netpipe', recursive=True, allow_not_found=True))
for key in sorted(f.path for f in files if f.type == fs.FileType.File):
    print(key, pq.read_table(key, filesystem=s3).num_rows)
";
    let out = std::process::Command::new(repo_root().join(".venv/bin/python"))
        .args(["-c", script, &moto.endpoint()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "an object does not read: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
        .lines()
        .map(|line| {
            let (key, rows) = line.rsplit_once(' ').unwrap();
            (key.to_string(), rows.parse().unwrap())
        })
        .collect()
}

fn moto() -> netpipe_testkit::Moto {
    netpipe_testkit::Moto::start(&repo_root().join(".venv")).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_lake_in_s3_holds_every_event_in_complete_objects_that_pyarrow_reads() {
    let moto = moto();
    moto.create_bucket("lake").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = s3_pipeline(dir.path(), &moto, "lake", 2500);
    let (status, stderr) = run_with_secret(&file);
    assert!(status.success(), "{stderr}");
    // 2500 rows in files of at most 1000: three objects, named as on disk.
    let objects = objects_read_by_pyarrow(&moto);
    assert_eq!(objects.len(), 3, "{objects:?}");
    assert_eq!(objects.iter().map(|(_, rows)| rows).sum::<usize>(), 2500);
    for (key, _) in &objects {
        assert!(
            key.starts_with("lake/netpipe/demo.interface/date=")
                && key.contains("/hour=")
                && key.ends_with(".parquet"),
            "{key}"
        );
    }
}

#[test]
fn a_missing_bucket_is_a_clear_error_before_anything_runs() {
    let moto = moto();
    let dir = tempfile::tempdir().unwrap();
    let file = s3_pipeline(dir.path(), &moto, "no-such-bucket", 10);
    let (status, stderr) = run_with_secret(&file);
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("bucket `no-such-bucket`") && stderr.contains("does not exist"),
        "{stderr}"
    );
    // A path that is not a bucket URL is refused by `validate`, offline.
    let bad = pipeline(
        dir.path(),
        "bad.yaml",
        "sources:\n  demo: { type: demo, count: 1 }\nsinks:\n  lake: { type: parquet, inputs: [demo], path: \"s3:///netpipe\" }\n",
    );
    let output = netpipe().arg("validate").arg(&bad).output().unwrap();
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("names no bucket") && stderr.contains("bad.yaml:4"),
        "{stderr}"
    );
}

#[test]
fn refused_credentials_are_a_clear_error_without_the_secret() {
    // The bucket is made before moto starts checking keys; it knows none.
    let moto =
        netpipe_testkit::Moto::start_checking_credentials_after(&repo_root().join(".venv"), 1)
            .unwrap_or_else(|e| panic!("{e}"));
    moto.create_bucket("lake").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = s3_pipeline(dir.path(), &moto, "lake", 10);
    let (status, stderr) = run_with_secret(&file);
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("the store refused these credentials for `s3://lake/netpipe`"),
        "{stderr}"
    );
}

/// A writer killed with SIGKILL mid-run leaves only whole objects: each one
/// pyarrow reads, and each holds a file rolled at `max_rows` (nothing
/// half-uploaded is visible).
#[test]
fn a_writer_killed_mid_run_leaves_only_readable_objects() {
    let moto = moto();
    moto.create_bucket("lake").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "lake.yaml",
        &format!(
            "
sources:
  demo: {{ type: demo, rate: 5000 }}
sinks:
  lake:
    type: parquet
    inputs: [demo]
    path: s3://lake/netpipe
    storage: {{ endpoint: {}, region: us-east-1, allow_http: true, access_key_id: test, secret_access_key: test }}
    roll: {{ max_rows: 1000 }}
    batch: {{ max_events: 250, timeout: 20ms }}
",
            moto.endpoint()
        ),
    );
    let child = spawn_run(&file);
    let objects = || objects_read_by_pyarrow(&moto);
    // Killed once a few files are up, while more are being written.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while objects().len() < 3 {
        assert!(std::time::Instant::now() < deadline, "nothing was uploaded");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    signal(&child, "KILL");
    let killed = wait_with_limit(child, std::time::Duration::from_secs(20));
    assert!(!killed.status.success(), "killed mid-run, not finished");
    let rows: Vec<usize> = objects().into_iter().map(|(_, rows)| rows).collect();
    assert!(rows.len() >= 3);
    assert!(
        rows.iter().all(|&n| n >= 1000),
        "every object is a file rolled at 1000 rows or more: {rows:?}"
    );
}
