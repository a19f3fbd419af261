//! The vendor simulators (`netpipe simulate <vendor>`) as test fixtures.

use std::io::{Read, Write};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::netpipe;

pub struct Simulator {
    child: Child,
    port: u16,
}

impl Simulator {
    /// `netpipe simulate aruba ARGS` on a free port.
    pub fn start(args: &[&str]) -> Simulator {
        Simulator::vendor("aruba", args)
    }

    /// `netpipe simulate packetfabric ARGS` on a free port.
    pub fn packetfabric(args: &[&str]) -> Simulator {
        Simulator::vendor("packetfabric", args)
    }

    /// `netpipe simulate nso ARGS` on a free port.
    pub fn nso(args: &[&str]) -> Simulator {
        Simulator::vendor("nso", args)
    }

    /// `netpipe simulate cloudvision ARGS` on a free port.
    pub fn cloudvision(args: &[&str]) -> Simulator {
        Simulator::vendor("cloudvision", args)
    }

    fn vendor(vendor: &str, args: &[&str]) -> Simulator {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = netpipe()
            .args(["simulate", vendor, "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let sim = Simulator { child, port };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "simulator did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        sim
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/streaming/api", self.port)
    }

    pub fn stats(&self) -> Value {
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        conn.write_all(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut reply = String::new();
        conn.read_to_string(&mut reply).unwrap();
        serde_json::from_str(reply.split("\r\n\r\n").nth(1).unwrap()).unwrap()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `file` (its source `component` reading `sim`, which sends `count`
/// malformed messages) until they were all sent: every one a dead letter,
/// counted, the run up throughout and its memory flat.
pub fn garbage_leaves_memory_flat(
    file: &std::path::Path,
    sim: &Simulator,
    component: &str,
    count: u64,
) {
    use std::time::{Duration, Instant};
    let child = super::spawn_run(file);
    let rss = || super::rss_kib(child.id());
    let sent = || sim.stats()["malformed"].as_u64().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while sent() < count / 10 {
        assert!(Instant::now() < deadline, "the simulator sent nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    let early = rss();
    while sent() < count {
        assert!(Instant::now() < deadline, "the simulator stalled");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let late = rss();
    super::signal(&child, "INT");
    let output = super::wait_with_limit(child, Duration::from_secs(20));
    let stderr = super::text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let summary = stderr
        .lines()
        .find(|l| l.starts_with(&format!("{component} ")))
        .unwrap_or_else(|| panic!("no summary for {component}: {stderr}"));
    let columns: Vec<&str> = summary.split_whitespace().collect();
    assert_eq!(
        columns[7],
        count.to_string(),
        "every message a dead letter: {summary}"
    );
    assert!(
        late <= early * 3 / 2 + 4096,
        "memory grew from {early} kB to {late} kB over {count} garbage messages"
    );
}
