//! Parquet lakes as tests read them: the files in a lake, their rows, and
//! a demo capture to replay.

use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{files_below, pipeline, run, text};

pub fn parquet_files(root: &Path) -> Vec<PathBuf> {
    files_below(root)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect()
}

/// Files being written (hidden temp files) below `root`.
pub fn temp_files(root: &Path) -> Vec<PathBuf> {
    files_below(root)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect()
}

pub fn read(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

pub fn rows(path: &Path) -> usize {
    read(path).iter().map(RecordBatch::num_rows).sum()
}

/// Runs the demo source (`options` such as `count: 500`) into a Parquet lake at `dir/lake`.
pub fn capture_demo_lake(dir: &Path, options: &str) {
    let capture = pipeline(
        dir,
        "capture.yaml",
        &format!(
            "sources:\n  demo: {{ type: demo, {options} }}\nsinks:\n  lake: {{ type: parquet, inputs: [demo], path: lake }}\n"
        ),
    );
    let output = run(&capture);
    assert!(output.status.success(), "{}", text(&output.stderr));
}

/// The events a replay of `options` (e.g. `path: lake, streams: [x]`,
/// relative to `dir`) writes to stdout; the replay must succeed.
pub fn replayed(dir: &Path, options: &str) -> Vec<serde_json::Value> {
    let file = pipeline(
        dir,
        "replayed.yaml",
        &format!(
            "sources:\n  r: {{ type: parquet, {options} }}\nsinks:\n  out: {{ type: stdout, inputs: [r] }}\n"
        ),
    );
    let output = run(&file);
    assert!(output.status.success(), "{}", text(&output.stderr));
    super::json_lines(&output)
}

/// What must survive a round trip through a lake, event by event (sorted):
/// stream, key, event time (to the microsecond, as the lake keeps it) and
/// payload.
pub fn essence(events: &[serde_json::Value]) -> Vec<String> {
    let mut essence: Vec<String> = events
        .iter()
        .map(|e| {
            let time = e["event_time"].as_str().unwrap_or_default();
            let micros = match time.split_once('.') {
                Some((seconds, fraction)) => {
                    let digits: String = fraction.chars().filter(char::is_ascii_digit).collect();
                    format!("{seconds}.{:0<6.6}", digits)
                }
                None => time.trim_end_matches('Z').to_string(),
            };
            format!("{} {} {micros} {}", e["stream"], e["key"], e["payload"])
        })
        .collect();
    essence.sort();
    essence
}

/// Asserts that two essences are equal, showing the first difference only.
pub fn assert_same_events(left: &[String], right: &[String]) {
    let first = left.iter().zip(right).position(|(l, r)| l != r);
    assert!(
        left.len() == right.len() && first.is_none(),
        "{} events against {}; first difference: {:?}",
        left.len(),
        right.len(),
        first.map(|i| (&left[i], &right[i]))
    );
}

/// A small tmpfs mounted at a directory for as long as it lives: a disk
/// that fills up. The test runs as root (CI does); a mount that fails
/// fails the test.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    pub fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "cannot mount a tmpfs at {} (root needed)",
            at.display()
        );
        Tmpfs(at.to_path_buf())
    }

    /// Fills the file system with `name` until it is full; returns its path.
    pub fn fill(&self, name: &str) -> PathBuf {
        use std::io::Write;
        let path = self.0.join(name);
        let mut file = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 64 << 10];
        loop {
            match file.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}
