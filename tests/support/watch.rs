//! A run watched as it goes: its stdout and stderr lines as they come, each
//! with when it came, so a test waits for what it expects (with a
//! deadline) instead of sleeping a fixed time and hoping.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{netpipe, signal};

/// Lines of one pipe, with the time each arrived.
pub type Lines = Vec<(Instant, String)>;

pub struct Watched {
    child: Child,
    out: Arc<Mutex<Lines>>,
    err: Arc<Mutex<Lines>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

fn follow(
    pipe: impl Read + Send + 'static,
    lines: Arc<Mutex<Lines>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            lines.lock().unwrap().push((Instant::now(), line));
        }
    })
}

impl Watched {
    /// `netpipe run <file>`.
    pub fn run(file: &Path) -> Watched {
        Watched::spawn(netpipe().arg("run").arg(file))
    }

    pub fn spawn(command: &mut Command) -> Watched {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (out, err) = (Arc::default(), Arc::default());
        let readers = vec![
            follow(child.stdout.take().unwrap(), Arc::clone(&out)),
            follow(child.stderr.take().unwrap(), Arc::clone(&err)),
        ];
        Watched {
            child,
            out,
            err,
            readers,
        }
    }

    pub fn stdout(&self) -> Lines {
        self.out.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> Lines {
        self.err.lock().unwrap().clone()
    }

    /// Its stderr so far, as one text.
    pub fn stderr_text(&self) -> String {
        let lines: Vec<String> = self.stderr().into_iter().map(|(_, l)| l).collect();
        lines.join("\n")
    }

    /// Whether the run has exited (by itself: `kill` and `stop` consume it).
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// Waits until `done(stdout, stderr)` holds; fails the test, saying
    /// `what` was awaited and showing stderr, after `limit`.
    pub fn wait_for(&self, what: &str, limit: Duration, done: impl Fn(&Lines, &Lines) -> bool) {
        let deadline = Instant::now() + limit;
        while !done(&self.stdout(), &self.stderr()) {
            if Instant::now() > deadline {
                panic!(
                    "no {what} within {limit:?}; stderr:\n{}",
                    self.stderr_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the run with SIGKILL: its stderr until then.
    pub fn kill(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        self.stderr_text()
    }

    /// Interrupts the run and waits (up to 20 s) for it to exit: its status,
    /// stdout lines and stderr text.
    pub fn stop(mut self) -> (ExitStatus, Vec<String>, String) {
        signal(&self.child, "INT");
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                self.child.kill().unwrap();
                panic!("netpipe did not exit within 20 s of an interrupt");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        let lines = |pipe: &Mutex<Lines>| -> Vec<String> {
            pipe.lock()
                .unwrap()
                .iter()
                .map(|(_, l)| l.clone())
                .collect()
        };
        (status, lines(&self.out), lines(&self.err).join("\n"))
    }
}

/// A test that fails while a run is watched leaves no process behind.
impl Drop for Watched {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// How many lines contain `needle`.
pub fn count(lines: &Lines, needle: &str) -> usize {
    lines.iter().filter(|(_, l)| l.contains(needle)).count()
}
