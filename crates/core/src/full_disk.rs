//! Writes that wait out a full disk instead of failing.
//!
//! A full disk is usually an outage, not a verdict: logs rotate, an
//! operator makes room, a quota is raised. A sink that stopped at the first
//! `ENOSPC` would make a live source lose what its server sends meanwhile,
//! so file writers retry such a write, with a growing wait, for as long as
//! it takes; their sources wait meanwhile, as they do for a broker away.
//! Only the write that failed is tried again: a write that fails for want
//! of space wrote nothing, so nothing is written twice. Other errors are
//! returned at once.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tracing::{info, warn};

/// The first wait after a write found the disk full.
const FIRST_WAIT: Duration = Duration::from_millis(100);
/// The longest wait between attempts, and between "still full" lines.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// Whether `error` says the disk (or the user's quota) is full.
pub fn is_full(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

/// Runs `attempt` until it does not fail for want of space, sleeping
/// between attempts (this blocks: call it on a blocking thread). Says when
/// the disk is first found full, while it stays full, and when it has room.
pub fn retry_while_full<T>(
    path: &Path,
    mut attempt: impl FnMut() -> io::Result<T>,
) -> io::Result<T> {
    let mut wait = FIRST_WAIT;
    let mut full_since: Option<Instant> = None;
    let mut last_said = Instant::now();
    loop {
        match attempt() {
            Err(e) if is_full(&e) => {
                match full_since {
                    None => {
                        warn!(
                            "cannot write {}: {e}; waiting for room, then trying again",
                            path.display()
                        );
                        full_since = Some(Instant::now());
                        last_said = Instant::now();
                    }
                    Some(since) if last_said.elapsed() >= MAX_WAIT => {
                        warn!(
                            "{} still cannot be written after {:.0?}: {e}",
                            path.display(),
                            since.elapsed()
                        );
                        last_said = Instant::now();
                    }
                    Some(_) => {}
                }
                std::thread::sleep(wait);
                wait = (wait * 2).min(MAX_WAIT);
            }
            other => {
                if let Some(since) = full_since {
                    info!(
                        "{} written again after the disk was full for {:.1?}",
                        path.display(),
                        since.elapsed()
                    );
                }
                return other;
            }
        }
    }
}

/// A writer whose writes wait out a full disk ([`retry_while_full`]).
#[derive(Debug)]
pub struct PatientWriter<W> {
    inner: W,
    path: PathBuf,
}

impl<W: Write> PatientWriter<W> {
    /// `path` names what `inner` writes, for the log.
    pub fn new(inner: W, path: PathBuf) -> Self {
        PatientWriter { inner, path }
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for PatientWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        retry_while_full(&self.path, || self.inner.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        retry_while_full(&self.path, || self.inner.flush())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes at most 3 bytes a write; refuses `full` writes first, as a full disk does.
    struct FillsUp {
        full: usize,
        written: Vec<u8>,
    }

    impl Write for FillsUp {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.full > 0 {
                self.full -= 1;
                return Err(io::Error::from(io::ErrorKind::StorageFull));
            }
            let n = buf.len().min(3);
            self.written.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_full_disk_is_waited_out_and_every_byte_written_once() {
        let mut writer = PatientWriter::new(
            FillsUp {
                full: 3,
                written: Vec::new(),
            },
            "lake/part.parquet".into(),
        );
        writer.write_all(b"parquet bytes").unwrap();
        assert_eq!(writer.into_inner().written, b"parquet bytes");
    }

    #[test]
    fn other_errors_are_returned_at_once() {
        let mut calls = 0;
        let result: io::Result<()> = retry_while_full(Path::new("x"), || {
            calls += 1;
            Err(io::Error::from(io::ErrorKind::PermissionDenied))
        });
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::PermissionDenied);
        assert_eq!(calls, 1);
    }
}
