//! The `stdout` sink: one JSON object per line (metadata and payload), so
//! that netpipe's output pipes into `jq`, `head` or a file. A batch goes out
//! in vectored writes, the payloads sources rendered written from where they
//! are ([`Lines`]), and is acknowledged once written and flushed. A closed
//! pipe (`| head -3`) ends the sink quietly: the run stops as if
//! interrupted, with no error.

mod lines;

use std::io::{self, IoSlice, Write};

use netpipe_core::config::SinkType;
use netpipe_core::sink::EndOfOutput;
use netpipe_core::{Batch, BoxError, BuildContext, Sink, SinkConfig, async_trait};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use lines::Lines;

/// How each event is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// One compact JSON object per line (JSON Lines).
    #[default]
    Json,
    /// Indented JSON, one object after another; for reading by eye.
    JsonPretty,
}

/// Options of the `stdout` sink.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StdoutConfig {
    /// `json` (JSON Lines) or `json_pretty`.
    #[serde(default)]
    pub encoding: Encoding,
}

pub fn sink_type() -> SinkType {
    SinkType::new::<StdoutConfig>("stdout", "Writes events to standard output as JSON Lines.")
}

#[async_trait]
impl SinkConfig for StdoutConfig {
    async fn build(&self, _cx: &BuildContext) -> Result<Box<dyn Sink>, BoxError> {
        let stdout = std::io::stdout();
        widen_pipe(&stdout);
        Ok(Box::new(WriterSink::new(stdout, self.encoding)))
    }

    /// Pretty JSON is written from the decoded record.
    fn writes_payload_json(&self) -> bool {
        self.encoding == Encoding::Json
    }
}

/// Room asked for in a pipe: the most an unprivileged process may have by
/// default (`/proc/sys/fs/pipe-max-size`).
#[cfg(target_os = "linux")]
const PIPE_ROOM: usize = 1 << 20;

/// Gives the pipe `out` writes into (`netpipe run ... | jq`) more room
/// than its 64 KiB: lines of a few KiB then fill it every few lines, and
/// each time the sink waits for its reader, two context switches that cost
/// more than the writing did. Anything but a pipe, or a system that
/// refuses, keeps what it has.
#[cfg(target_os = "linux")]
fn widen_pipe(out: impl std::os::fd::AsFd) {
    let _ = rustix::pipe::fcntl_setpipe_size(out, PIPE_ROOM);
}

#[cfg(not(target_os = "linux"))]
fn widen_pipe<T>(_: T) {}

/// Writes JSON Lines to any blocking writer (standard output in a
/// pipeline, a buffer in tests) with vectored writes, on tokio's blocking
/// threads: tokio's own standard output copies what it is given and writes
/// one slice at a time.
pub struct WriterSink<W> {
    /// The writer and the lines' buffers, away on a blocking thread while a
    /// batch is written; gone if that thread panicked.
    state: Option<(W, Lines)>,
    encoding: Encoding,
}

impl<W: Write + Send + 'static> WriterSink<W> {
    pub fn new(writer: W, encoding: Encoding) -> Self {
        WriterSink {
            state: Some((writer, Lines::default())),
            encoding,
        }
    }
}

/// Writes every byte of `slices` and flushes.
fn write_all_vectored(writer: &mut impl Write, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    while !slices.is_empty() {
        match writer.write_vectored(slices) {
            Ok(0) if slices.iter().any(|slice| !slice.is_empty()) => {
                return Err(io::ErrorKind::WriteZero.into());
            }
            Ok(written) => IoSlice::advance_slices(&mut slices, written),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    writer.flush()
}

#[async_trait]
impl<W: Write + Send + 'static> Sink for WriterSink<W> {
    async fn write(&mut self, batch: Batch) -> Result<(), BoxError> {
        let (mut writer, mut lines) = self
            .state
            .take()
            .ok_or("the stdout sink lost its writer in an earlier failed write")?;
        lines.render(batch.events(), self.encoding == Encoding::JsonPretty);
        let (writer, lines, batch, written) = tokio::task::spawn_blocking(move || {
            let written = write_all_vectored(&mut writer, &mut lines.slices(batch.events()));
            (writer, lines, batch, written)
        })
        .await?;
        self.state = Some((writer, lines));
        match written {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(Box::new(EndOfOutput(
                "standard output was closed by its reader",
            ))),
            Err(e) => Err(format!("could not write to standard output: {e}").into()),
            Ok(()) => {
                batch.acknowledge();
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes at most five bytes a call, as a pipe that is nearly full does.
    struct Trickle(Vec<u8>);

    impl Write for Trickle {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let taken = bytes.len().min(5);
            self.0.extend_from_slice(&bytes[..taken]);
            Ok(taken)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_pipe_is_given_all_the_room_the_system_allows() {
        use rustix::pipe::{fcntl_getpipe_size, pipe};
        let allowed: usize = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let (_read, write) = pipe().unwrap();
        widen_pipe(&write);
        assert_eq!(fcntl_getpipe_size(&write).unwrap(), PIPE_ROOM.min(allowed));
        // Not a pipe: nothing to widen, and no error.
        widen_pipe(std::fs::File::open("/dev/null").unwrap());
    }

    #[test]
    fn short_writes_go_on_until_every_piece_is_written() {
        let pieces: [&[u8]; 5] = [b"", b"{\"payload\":", b"[1,2,3]", b"", b"}\n"];
        let mut slices: Vec<_> = pieces.iter().map(|piece| IoSlice::new(piece)).collect();
        let mut out = Trickle(Vec::new());
        write_all_vectored(&mut out, &mut slices).unwrap();
        assert_eq!(out.0, b"{\"payload\":[1,2,3]}\n");
    }

    #[test]
    fn a_writer_that_takes_nothing_is_an_error_not_a_loop() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Ok(0)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let error = write_all_vectored(&mut Full, &mut [IoSlice::new(b"x")]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::WriteZero);
        write_all_vectored(&mut Full, &mut [IoSlice::new(b"")]).unwrap();
    }
}
