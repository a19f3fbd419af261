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
