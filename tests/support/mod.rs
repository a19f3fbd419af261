//! Helpers shared by the integration tests: run the `netpipe` binary the way
//! a user would.
#![allow(dead_code)]

pub mod broker;
pub mod kafka;
pub mod lake;
pub mod registry;
pub mod simulator;
pub mod watch;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn netpipe() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_netpipe"));
    cmd.env_remove("RUST_LOG");
    cmd
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Writes a pipeline file into `dir` and returns its path.
pub fn pipeline(dir: &Path, name: &str, yaml: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    path
}

pub fn run(file: &Path) -> Output {
    netpipe().arg("run").arg(file).output().unwrap()
}

/// The Prometheus text `netpipe run --metrics-addr 127.0.0.1:<port>`
/// serves; empty while nothing answers.
pub fn metrics(port: u16) -> String {
    use std::io::Read;
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply
}

/// The value of one sample of a metrics page, e.g.
/// `netpipe_events_out_total{kind="source",component="demo"}`.
pub fn metric(page: &str, sample: &str) -> Option<f64> {
    page.lines()
        .find_map(|line| line.strip_prefix(sample)?.trim().parse().ok())
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Parsed JSON lines of a run's stdout.
pub fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// A row of the exit summary: (events_in, events_out) of a component.
pub fn summary_counts(stderr: &str, component: &str) -> (u64, u64) {
    let row = stderr
        .lines()
        .find(|l| l.split_whitespace().next() == Some(component))
        .unwrap_or_else(|| panic!("no summary row for {component} in:\n{stderr}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    (cols[2].parse().unwrap(), cols[3].parse().unwrap())
}

pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for a child to exit, reading its output meanwhile (so a full pipe
/// never stalls it); kills it after `limit`, and then the test fails.
pub fn wait_with_limit(mut child: Child, limit: Duration) -> Output {
    fn drain(
        pipe: Option<impl std::io::Read + Send + 'static>,
    ) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut out);
            }
            out
        })
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            panic!("netpipe did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

pub fn spawn_run(file: &Path) -> Child {
    netpipe()
        .arg("run")
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs a pipeline until `lines` events have been printed, then interrupts
/// it; returns the events and stderr.
pub fn run_until(file: &std::path::Path, lines: usize) -> (Vec<Value>, String) {
    let mut child = spawn_run(file);
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while events.len() < lines && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            events.push(serde_json::from_str::<Value>(&line).unwrap());
        }
    }
    signal(&child, "INT");
    let output = wait_with_limit(child, Duration::from_secs(20));
    events.extend(
        rx.try_iter()
            .map(|l| serde_json::from_str::<Value>(&l).unwrap()),
    );
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        events.len() >= lines,
        "only {} of {lines} events arrived:\n{stderr}",
        events.len()
    );
    (events, stderr)
}

/// The resident memory of a running process, in kB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .parse()
        .unwrap()
}

/// Every file below `root`, sorted.
pub fn files_below(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}
