//! What the integration tests and the benchmarks both start: tansu, a
//! Kafka-protocol broker, on a free loopback port with in-memory storage,
//! stopped when dropped. Not part of the `netpipe` binary.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to get tansu, for errors when it is missing.
pub const INSTALL: &str = "install it with `cargo install tansu --locked --features dynostore` (scripts/test.sh does this)";

/// A running tansu broker.
pub struct Tansu {
    child: Child,
    port: u16,
}

impl Tansu {
    /// Starts tansu and waits (up to 30 s) until it listens.
    pub fn start() -> Result<Tansu, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new("tansu")
            .args(["broker", "--storage-engine", "memory://tansu/"])
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the tansu broker ({e}): {INSTALL}"))?;
        // Dropped on failure below, which stops the child.
        let tansu = Tansu { child, port };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if start.elapsed() > Duration::from_secs(30) {
                return Err("tansu did not start listening within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(tansu)
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
