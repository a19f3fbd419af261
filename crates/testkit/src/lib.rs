//! What the integration tests and the benchmarks both start: tansu, a
//! Kafka-protocol broker, on a free loopback port (with in-memory storage,
//! or storage that outlives it for restarts), stopped when dropped; and
//! moto, an S3-compatible server. Not part of the `netpipe` binary.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to get tansu, for errors when it is missing.
pub const INSTALL: &str = "install it with `cargo install tansu --locked --features dynostore` (scripts/test.sh does this)";

/// A free loopback port.
pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Waits (up to 30 s) until something listens on `port`.
fn wait_listening(port: u16, what: &str) -> Result<(), String> {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed() > Duration::from_secs(30) {
            return Err(format!("{what} did not start listening within 30 s"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// A running tansu broker.
pub struct Tansu {
    child: Child,
    port: u16,
    storage: String,
    env: Vec<(String, String)>,
}

impl Tansu {
    /// Starts tansu with in-memory storage and waits until it listens.
    pub fn start() -> Result<Tansu, String> {
        Tansu::start_with("memory://tansu/", &[])
    }

    /// Starts tansu with `storage` (its `--storage-engine`), the
    /// environment it needs (an object store's endpoint and keys), and
    /// waits until it listens.
    pub fn start_with(storage: &str, env: &[(&str, &str)]) -> Result<Tansu, String> {
        let port = free_port()?;
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let child = spawn(port, storage, &env)?;
        // Dropped on failure below, which stops the child.
        let tansu = Tansu {
            child,
            port,
            storage: storage.to_string(),
            env,
        };
        wait_listening(port, "tansu")?;
        Ok(tansu)
    }

    /// Kills the broker (SIGKILL): clients see it gone, not closing.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the broker again on the same port and storage.
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        self.child = spawn(self.port, &self.storage, &self.env)?;
        wait_listening(self.port, "tansu")
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

fn spawn(port: u16, storage: &str, env: &[(String, String)]) -> Result<Child, String> {
    let url = format!("tcp://127.0.0.1:{port}");
    Command::new("tansu")
        .args(["broker", "--storage-engine", storage])
        .args(["--listener-url", &url, "--advertised-listener-url", &url])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the tansu broker ({e}): {INSTALL}"))
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running moto server (S3 and more, in memory), from the repository's
/// `.venv` (scripts/test.sh installs it), stopped when dropped.
pub struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    /// Starts `moto_server` from `venv` and waits until it listens. It
    /// takes any credentials.
    pub fn start(venv: &std::path::Path) -> Result<Moto, String> {
        Moto::spawn(venv, None)
    }

    /// As [`Moto::start`], but after `free` requests it checks credentials
    /// as S3 does, and knows none: every key is refused.
    pub fn start_checking_credentials_after(
        venv: &std::path::Path,
        free: u32,
    ) -> Result<Moto, String> {
        Moto::spawn(venv, Some(free))
    }

    fn spawn(venv: &std::path::Path, free: Option<u32>) -> Result<Moto, String> {
        let port = free_port()?;
        let program = venv.join("bin/moto_server");
        let mut command = Command::new(&program);
        if let Some(free) = free {
            // One more: the readiness probe below is a request too.
            command.env("INITIAL_NO_AUTH_ACTION_COUNT", (free + 1).to_string());
        }
        let child = command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start {} ({e}): install it with `.venv/bin/pip install \"moto[server]\"` (scripts/test.sh does this)",
                    program.display()
                )
            })?;
        let moto = Moto { child, port };
        wait_listening(port, "moto")?;
        // Listening is not yet serving: under load moto has reset the
        // first requests after its port opened. Wait for an answer.
        let start = Instant::now();
        while !moto.answers() {
            if start.elapsed() > Duration::from_secs(30) {
                return Err("moto listened but did not answer within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(moto)
    }

    /// Whether moto answers an HTTP request (`GET /`, its bucket list).
    fn answers(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let request = format!(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        );
        let mut reply = String::new();
        stream.write_all(request.as_bytes()).is_ok()
            && stream.read_to_string(&mut reply).is_ok()
            && reply.starts_with("HTTP/1.")
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates bucket `name` (an S3 `PUT /name`).
    pub fn create_bucket(&self, name: &str) -> Result<(), String> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port))
            .map_err(|e| format!("moto: {e}"))?;
        write!(
            stream,
            "PUT /{name} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .map_err(|e| format!("moto: {e}"))?;
        let mut reply = String::new();
        let _ = stream.read_to_string(&mut reply);
        match reply.starts_with("HTTP/1.1 200") {
            true => Ok(()),
            false => Err(format!(
                "moto refused bucket {name}: {}",
                reply.lines().next().unwrap_or("")
            )),
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
