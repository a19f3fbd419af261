//! The lake in object storage, as a user runs it: a pipeline writes to
//! `s3://` on a real S3-compatible server (moto), and pyarrow reads every
//! object back; a bucket that is not there, or credentials the store
//! refuses, are clear errors before anything runs; a replay from the
//! bucket gives back the events written.

mod support;

use support::lake::{assert_same_events, essence};
use support::*;

/// The `storage` options of moto's S3, the secret key from `S3_SECRET`.
fn storage(moto: &netpipe_testkit::Moto) -> String {
    format!(
        "{{ endpoint: {}, region: us-east-1, allow_http: true, access_key_id: test, secret_access_key: ${{S3_SECRET}} }}",
        moto.endpoint()
    )
}

/// A pipeline writing `count` demo events to `s3://{bucket}/netpipe`, and
/// to `sinks` besides.
fn s3_pipeline(
    dir: &std::path::Path,
    moto: &netpipe_testkit::Moto,
    bucket: &str,
    count: u64,
    sinks: &str,
) -> std::path::PathBuf {
    let storage = storage(moto);
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
    storage: {storage}
    roll: {{ max_rows: 1000 }}
    row_group_rows: 300
    batch: {{ max_events: 500 }}
{sinks}"
        ),
    )
}

/// A pipeline writing demo events to `s3://lake/netpipe` until stopped,
/// files rolled at 1000 rows.
fn endless_pipeline(dir: &std::path::Path, moto: &netpipe_testkit::Moto) -> std::path::PathBuf {
    pipeline(
        dir,
        "endless.yaml",
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
    )
}

/// Runs `file` with the secret key in `S3_SECRET`; neither its stdout nor
/// its stderr may hold the secret.
fn run_with_secret(file: &std::path::Path) -> std::process::Output {
    let output = netpipe()
        .arg("run")
        .arg(file)
        .env("S3_SECRET", "s3-secret-value")
        .output()
        .unwrap();
    for (name, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        assert!(
            !text(bytes).contains("s3-secret-value"),
            "the secret leaked to {name}:\n{}",
            text(&output.stderr)
        );
    }
    output
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
    python(script, &[&moto.endpoint()])
        .lines()
        .map(|line| {
            let (key, rows) = line.rsplit_once(' ').unwrap();
            (key.to_string(), rows.parse().unwrap())
        })
        .collect()
}

/// What the test environment's Python prints running `script` with
/// `args`; the script must succeed.
fn python(script: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(repo_root().join(".venv/bin/python"))
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

fn moto() -> netpipe_testkit::Moto {
    netpipe_testkit::Moto::start(&repo_root().join(".venv")).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_lake_in_s3_holds_every_event_in_complete_objects_that_pyarrow_reads() {
    let moto = moto();
    moto.create_bucket("lake").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = s3_pipeline(dir.path(), &moto, "lake", 2500, "");
    let output = run_with_secret(&file);
    assert!(output.status.success(), "{}", text(&output.stderr));
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

/// Written to S3 in three files of four row groups or less, replayed from
/// S3 by range requests: the same events come back, each once.
#[test]
fn replaying_a_lake_in_s3_gives_back_the_events_written() {
    let moto = moto();
    moto.create_bucket("lake").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stdout = "  out: { type: stdout, inputs: [demo] }\n";
    let written = run_with_secret(&s3_pipeline(dir.path(), &moto, "lake", 2500, stdout));
    assert!(written.status.success(), "{}", text(&written.stderr));
    let replay = pipeline(
        dir.path(),
        "replay.yaml",
        &format!(
            "sources:\n  captured: {{ type: parquet, path: s3://lake/netpipe, checkpoint: replay.checkpoint, storage: {} }}\nsinks:\n  out: {{ type: stdout, inputs: [captured] }}\n",
            storage(&moto)
        ),
    );
    let replayed = run_with_secret(&replay);
    assert!(replayed.status.success(), "{}", text(&replayed.stderr));
    let (written, replayed) = (json_lines(&written), json_lines(&replayed));
    assert_eq!(written.len(), 2500);
    assert_same_events(&essence(&replayed), &essence(&written));
    // The checkpoint names the last object by its URL, at its last row.
    let checkpoint = std::fs::read_to_string(dir.path().join("replay.checkpoint")).unwrap();
    let checkpoint: serde_json::Value = serde_json::from_str(&checkpoint).unwrap();
    let file = checkpoint["file"].as_str().unwrap();
    assert!(
        file.starts_with("s3://lake/netpipe/demo.interface/date=") && file.ends_with(".parquet"),
        "{checkpoint}"
    );
    assert_eq!(
        checkpoint["row"], 499,
        "the last file holds rows 2000..2500"
    );
}

#[test]
fn a_missing_bucket_is_a_clear_error_before_anything_runs() {
    let moto = moto();
    let dir = tempfile::tempdir().unwrap();
    let file = s3_pipeline(dir.path(), &moto, "no-such-bucket", 10, "");
    let output = run_with_secret(&file);
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("bucket `no-such-bucket`") && stderr.contains("does not exist"),
        "{stderr}"
    );
    // So is a replay from it.
    let replay = pipeline(
        dir.path(),
        "replay.yaml",
        &format!(
            "sources:\n  r: {{ type: parquet, path: s3://no-such-bucket/netpipe, storage: {} }}\nsinks:\n  out: {{ type: stdout, inputs: [r] }}\n",
            storage(&moto)
        ),
    );
    let output = run_with_secret(&replay);
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("bucket `no-such-bucket` of `s3://no-such-bucket/netpipe` does not exist"),
        "{stderr}"
    );
    // A path that is not a bucket URL is refused by `validate`, offline,
    // for the sink and the replay alike.
    let bad = pipeline(
        dir.path(),
        "bad.yaml",
        "sources:\n  r: { type: parquet, path: \"s3:///lake\" }\nsinks:\n  lake: { type: parquet, inputs: [r], path: \"s3:///netpipe\" }\n",
    );
    let output = netpipe().arg("validate").arg(&bad).output().unwrap();
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("`s3:///lake` names no bucket")
            && stderr.contains("`s3:///netpipe` names no bucket"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bad.yaml:2") && stderr.contains("bad.yaml:4"),
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
    let file = s3_pipeline(dir.path(), &moto, "lake", 10, "");
    let output = run_with_secret(&file);
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
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
    let file = endless_pipeline(dir.path(), &moto);
    // Its staging directory, and the claim a killed run leaves there, go with the test's.
    let child = netpipe()
        .arg("run")
        .arg(&file)
        .env("TMPDIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
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

/// Files waiting for upload are staged in one directory per sink under
/// the temporary directory: a writer killed mid-run leaves its partial file
/// there, and the next run of the sink removes it.
#[test]
fn a_killed_writers_staged_files_are_removed_by_the_next_run() {
    let moto = moto();
    moto.create_bucket("lake").unwrap();
    let (dir, temp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let staged = |suffix: &str| -> Vec<std::path::PathBuf> {
        let mut found = Vec::new();
        let mut dirs = vec![temp.path().to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                match entry.file_type().unwrap().is_dir() {
                    true => dirs.push(entry.path()),
                    false if entry.file_name().to_string_lossy().ends_with(suffix) => {
                        found.push(entry.path())
                    }
                    false => {}
                }
            }
        }
        found
    };
    let endless = endless_pipeline(dir.path(), &moto);
    let child = netpipe()
        .arg("run")
        .arg(&endless)
        .env("S3_SECRET", "s3-secret-value")
        .env("TMPDIR", temp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while staged(".parquet.tmp").is_empty() {
        assert!(std::time::Instant::now() < deadline, "nothing was staged");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    signal(&child, "KILL");
    wait_with_limit(child, std::time::Duration::from_secs(20));
    assert!(!staged(".parquet.tmp").is_empty());
    let output = netpipe()
        .arg("run")
        .arg(s3_pipeline(dir.path(), &moto, "lake", 10, ""))
        .env("S3_SECRET", "s3-secret-value")
        .env("TMPDIR", temp.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("partial files left by a run that ended"),
        "{}",
        text(&output.stderr)
    );
    // Everything staged was uploaded or removed (a dead run's lock file
    // stays a minute, in case it is a starting run's).
    assert_eq!(staged(".parquet.tmp"), Vec::<std::path::PathBuf>::new());
    assert_eq!(staged(".parquet"), Vec::<std::path::PathBuf>::new());
}

/// A writer that died mid-upload left a multipart upload and its marker
/// (as netpipe names them, below the prefix): the next run's sink aborts
/// that upload and removes the marker. A running writer's upload stays.
#[test]
fn uploads_left_by_a_writer_that_died_are_aborted_at_the_next_start() {
    let moto = moto();
    moto.create_bucket("lake").unwrap();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let s3 = "
import sys, boto3
s3 = boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id='test', aws_secret_access_key='test', region_name='us-east-1')
";
    let leave_upload = "
for pid in sys.argv[3:]:
    key = f'netpipe/demo.interface/part-{pid}.parquet'
    upload = s3.create_multipart_upload(Bucket='lake', Key=key)['UploadId']
    s3.upload_part(Bucket='lake', Key=key, UploadId=upload, PartNumber=1, Body=b'partial')
    s3.put_object(Bucket='lake', Key=f'netpipe/_netpipe/uploads/{sys.argv[2]}-{pid}-0', Body=f'{key}\\n{upload}\\n'.encode())
";
    let (endpoint, host) = (moto.endpoint(), host.trim().to_string());
    let (dead, alive) = (gone.id().to_string(), std::process::id().to_string());
    python(
        &format!("{s3}{leave_upload}"),
        &[&endpoint, &host, &dead, &alive],
    );
    let dir = tempfile::tempdir().unwrap();
    let output = run_with_secret(&s3_pipeline(dir.path(), &moto, "lake", 10, ""));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let left = python(
        &format!(
            "{s3}
for u in s3.list_multipart_uploads(Bucket='lake').get('Uploads', []):
    print('upload', u['Key'])
for o in s3.list_objects_v2(Bucket='lake', Prefix='netpipe/_netpipe/').get('Contents', []):
    print('marker', o['Key'])
"
        ),
        &[&endpoint],
    );
    assert_eq!(
        left.lines().collect::<Vec<_>>(),
        [
            format!("upload netpipe/demo.interface/part-{alive}.parquet"),
            format!("marker netpipe/_netpipe/uploads/{host}-{alive}-0"),
        ],
        "{}",
        text(&output.stderr)
    );
}

/// A lake writer reading Kafka into S3, killed with SIGKILL once its objects
/// hold every message so far (before it committed their offsets), and
/// started again after more arrived: it reads the written messages again,
/// finds their objects by name, and every message is in the bucket exactly
/// once.
#[test]
fn a_kafka_lake_writer_into_s3_killed_and_restarted_writes_every_message_once() {
    let broker = support::broker::Broker::start();
    let moto = moto();
    moto.create_bucket("lake").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let into = pipeline(
        dir.path(),
        "into.yaml",
        &format!(
            "sources:\n  demo: {{ type: demo, count: 3000, devices: 12 }}\nsinks:\n  kafka: {{ type: kafka, inputs: [demo], bootstrap_servers: {}, create_topics: {{ partitions: 4 }} }}\n",
            broker.address()
        ),
    );
    let produce = || {
        let output = run(&into);
        assert!(output.status.success(), "{}", text(&output.stderr));
    };
    produce();
    // Offsets are committed only at the interval, far beyond the test's
    // waits: the kill always comes before the first commit.
    let writer = pipeline(
        dir.path(),
        "writer.yaml",
        &format!(
            "
sources:
  lake_in: {{ type: kafka, bootstrap_servers: {}, topics: [demo.interface], group_id: lake, commit_interval: 300s, librdkafka: {{ session.timeout.ms: \"6000\", heartbeat.interval.ms: \"500\" }} }}
sinks:
  lake:
    type: parquet
    inputs: [lake_in]
    path: s3://lake/netpipe
    storage: {}
    roll: {{ max_rows: 500, max_age: 1s }}
    batch: {{ max_events: 250, timeout: 50ms }}
",
            broker.address(),
            storage(&moto)
        ),
    );
    let rows = || -> usize { objects_read_by_pyarrow(&moto).iter().map(|(_, r)| r).sum() };
    // Waits for the lake to hold `wanted` rows, while `writer` runs.
    let wait_for = |wanted: usize, writer: &mut support::watch::Watched| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let written = rows();
            if written >= wanted {
                return written;
            }
            assert!(
                !writer.exited(),
                "the writer ended with {written} of {wanted} rows written:\n{}",
                writer.stderr_text()
            );
            assert!(
                std::time::Instant::now() < deadline,
                "{written} of {wanted} rows:\n{}",
                writer.stderr_text()
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };
    // Both runs stage in the test's directory: the claim the killed one
    // leaves goes with it.
    let start = || {
        support::watch::Watched::spawn(
            netpipe()
                .arg("run")
                .arg(&writer)
                .env("S3_SECRET", "test")
                .env("TMPDIR", dir.path()),
        )
    };
    let mut first = start();
    assert_eq!(wait_for(3000, &mut first), 3000);
    first.kill();
    produce();
    let mut again = start();
    wait_for(6000, &mut again);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let (status, _, stderr) = again.stop();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("already in the lake"),
        "the restart read written messages again:\n{stderr}"
    );
    assert_eq!(rows(), 6000, "{stderr}");
}
