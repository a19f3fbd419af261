//! The disk buffer's files, in one directory per sink:
//!
//! - segment files `<offset>.seg`, named (as Kafka's are) by the offset of
//!   their first record, counted in bytes since the buffer was made, so an
//!   offset names one place in one file for the buffer's whole life;
//! - `acked`: the offset up to which the sink has acknowledged, written
//!   atomically (a temp file renamed over it);
//! - `.lock`, locked for as long as a run uses the directory.
//!
//! A record is framed `[body length: u32 LE][crc32 of body: u32 LE][body]`.
//! A run appends to a segment of its own, so a record cut short by a crash
//! can only be the last of an older segment, and is passed over there.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::full_disk::retry_while_full;

/// Bytes of a record's frame before its body.
pub(crate) const FRAME_HEADER: u64 = 8;
/// The largest body a frame may announce; a larger length is damage.
const MAX_BODY: u32 = 1 << 30;

/// Why a buffer directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BufferError {
    #[error("disk buffer {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("disk buffer {} is in use by another netpipe run (each sink needs a directory of its own)", path.display())]
    InUse { path: PathBuf },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> BufferError + '_ {
    move |source| BufferError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A locked buffer directory and the segments found in it.
#[derive(Debug)]
pub(crate) struct Log {
    pub dir: PathBuf,
    /// Segments as `(first offset, length)`, oldest first.
    pub segments: VecDeque<(u64, u64)>,
    /// Where the sink's acknowledgements had reached.
    pub acked: u64,
    _lock: File,
}

impl Log {
    /// Locks `dir` (made if missing), drops the segments the sink has
    /// acknowledged whole, and lists the rest.
    pub fn open(dir: &Path) -> Result<Log, BufferError> {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        let lock_path = dir.join(".lock");
        let lock = File::create(&lock_path).map_err(io_error(&lock_path))?;
        if lock.try_lock().is_err() {
            return Err(BufferError::InUse {
                path: dir.to_path_buf(),
            });
        }
        let acked_path = dir.join("acked");
        let acked = match fs::read_to_string(&acked_path) {
            Ok(text) => text.trim().parse().map_err(|_| BufferError::Io {
                path: acked_path.clone(),
                source: io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("not an offset: {text:?}"),
                ),
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io_error(&acked_path)(e)),
        };
        let mut segments = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_error(dir))? {
            let entry = entry.map_err(io_error(dir))?;
            let name = entry.file_name();
            let Some(base) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".seg"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let len = entry.metadata().map_err(io_error(&entry.path()))?.len();
            segments.push((base, len));
        }
        segments.sort_unstable();
        let mut log = Log {
            dir: dir.to_path_buf(),
            segments: segments.into(),
            acked,
            _lock: lock,
        };
        for base in log.acknowledged_segments() {
            log.remove(base)?;
        }
        Ok(log)
    }

    /// Where the next segment starts: after the last one, cut records included.
    pub fn end(&self) -> u64 {
        self.segments
            .back()
            .map_or(self.acked, |(base, len)| (base + len).max(self.acked))
    }

    /// Segments wholly acknowledged, but never the newest: it may be
    /// the one being written.
    pub fn acknowledged_segments(&self) -> Vec<u64> {
        let keep_last = self.segments.len().saturating_sub(1);
        self.segments
            .iter()
            .take(keep_last)
            .take_while(|(base, len)| base + len <= self.acked)
            .map(|(base, _)| *base)
            .collect()
    }

    /// Removes a segment's file and forgets it.
    pub fn remove(&mut self, base: u64) -> Result<(), BufferError> {
        let path = segment_path(&self.dir, base);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&path)(e)),
        }
        self.segments.retain(|(b, _)| *b != base);
        Ok(())
    }
}

/// Writes `acked` atomically.
pub(crate) fn save_acked(dir: &Path, acked: u64) -> Result<(), BufferError> {
    let temp = dir.join("acked.tmp");
    let path = dir.join("acked");
    fs::write(&temp, acked.to_string()).map_err(io_error(&temp))?;
    fs::rename(&temp, &path).map_err(io_error(&path))
}

pub(crate) fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}.seg"))
}

/// Appends framed records to a new segment.
#[derive(Debug)]
pub(crate) struct SegmentWriter {
    pub base: u64,
    pub len: u64,
    file: File,
    path: PathBuf,
}

impl SegmentWriter {
    pub fn create(dir: &Path, base: u64) -> Result<SegmentWriter, BufferError> {
        let path = segment_path(dir, base);
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(io_error(&path))?;
        // The new name must outlive a crash as surely as what is written in it.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(dir))?;
        Ok(SegmentWriter {
            base,
            len: 0,
            file,
            path,
        })
    }

    /// Frames `body` into `frame` (cleared first) and writes it; a full
    /// disk is waited out.
    pub fn append(&mut self, body: &[u8], frame: &mut Vec<u8>) -> Result<(), BufferError> {
        frame.clear();
        frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
        frame.extend_from_slice(body);
        let (file, len) = (&mut self.file, self.len);
        retry_while_full(&self.path, || {
            file.write_all(frame).inspect_err(|_| {
                // Cut what part of the frame was written: a retry, or the
                // next run, finds whole records only.
                let _ = file.set_len(len);
            })
        })
        .map_err(io_error(&self.path))?;
        self.len += frame.len() as u64;
        Ok(())
    }

    /// Makes what was appended durable.
    pub fn sync(&mut self) -> Result<(), BufferError> {
        self.file.sync_data().map_err(io_error(&self.path))
    }
}

/// What reading a segment at a place found.
#[derive(Debug, PartialEq)]
pub(crate) enum Frame {
    /// A whole record whose checksum holds, and the offset after it.
    Record { body: Vec<u8>, end: u64 },
    /// A whole record whose checksum does not hold: damage on disk.
    Damaged { body: Vec<u8>, end: u64 },
    /// Fewer bytes than a record: the end of what was written (or, in a
    /// segment no longer written, a record a crash cut short).
    Short,
}

/// Reads a segment's records in order.
#[derive(Debug)]
pub(crate) struct SegmentReader {
    pub base: u64,
    /// Offset of the next record.
    pub at: u64,
    file: File,
    pub path: PathBuf,
}

impl SegmentReader {
    pub fn open(dir: &Path, base: u64, at: u64) -> Result<SegmentReader, BufferError> {
        let path = segment_path(dir, base);
        let mut file = File::open(&path).map_err(io_error(&path))?;
        file.seek(SeekFrom::Start(at - base))
            .map_err(io_error(&path))?;
        Ok(SegmentReader {
            base,
            at,
            file,
            path,
        })
    }

    /// Reads the record at [`SegmentReader::at`], looking no further than
    /// `limit` (the end of what is known to be written).
    pub fn next(&mut self, limit: u64) -> Result<Frame, BufferError> {
        let available = limit.saturating_sub(self.at);
        if available < FRAME_HEADER {
            return Ok(Frame::Short);
        }
        let mut header = [0u8; FRAME_HEADER as usize];
        self.read_exact_at_cursor(&mut header)?;
        let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
        if len > MAX_BODY || available < FRAME_HEADER + u64::from(len) {
            self.seek(self.at)?;
            return Ok(Frame::Short);
        }
        let mut body = vec![0; len as usize];
        self.read_exact_at_cursor(&mut body)?;
        let end = self.at + FRAME_HEADER + u64::from(len);
        self.at = end;
        Ok(if crc32fast::hash(&body) == crc {
            Frame::Record { body, end }
        } else {
            Frame::Damaged { body, end }
        })
    }

    fn read_exact_at_cursor(&mut self, buf: &mut [u8]) -> Result<(), BufferError> {
        self.file.read_exact(buf).map_err(io_error(&self.path))
    }

    fn seek(&mut self, at: u64) -> Result<(), BufferError> {
        self.file
            .seek(SeekFrom::Start(at - self.base))
            .map(|_| ())
            .map_err(io_error(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_in_order_and_a_cut_or_damaged_one_is_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path()).unwrap();
        assert_eq!(log.end(), 0);
        let mut writer = SegmentWriter::create(dir.path(), 100).unwrap();
        let mut frame = Vec::new();
        writer.append(b"one", &mut frame).unwrap();
        writer.append(b"two", &mut frame).unwrap();
        writer.sync().unwrap();
        let written = 100 + writer.len;
        let mut reader = SegmentReader::open(dir.path(), 100, 100).unwrap();
        assert_eq!(
            reader.next(written).unwrap(),
            Frame::Record {
                body: b"one".to_vec(),
                end: 111
            }
        );
        // Nothing is read past the limit, and the place is kept.
        assert_eq!(reader.next(115).unwrap(), Frame::Short);
        assert_eq!(
            reader.next(written).unwrap(),
            Frame::Record {
                body: b"two".to_vec(),
                end: 122
            }
        );
        assert_eq!(reader.next(written).unwrap(), Frame::Short);

        // A flipped byte is damage; a cut record is short.
        let path = segment_path(dir.path(), 100);
        let mut bytes = fs::read(&path).unwrap();
        bytes[9] ^= 1;
        bytes.truncate(bytes.len() - 1);
        fs::write(&path, &bytes).unwrap();
        let file_end = 100 + bytes.len() as u64;
        let mut reader = SegmentReader::open(dir.path(), 100, 100).unwrap();
        assert!(matches!(
            reader.next(file_end).unwrap(),
            Frame::Damaged { end: 111, .. }
        ));
        assert_eq!(reader.next(file_end).unwrap(), Frame::Short);
    }

    #[test]
    fn a_directory_is_used_by_one_run_at_a_time_and_acknowledged_segments_go() {
        let dir = tempfile::tempdir().unwrap();
        {
            let _log = Log::open(dir.path()).unwrap();
            assert!(matches!(
                Log::open(dir.path()),
                Err(BufferError::InUse { .. })
            ));
            let mut frame = Vec::new();
            for base in [0, 11, 22] {
                let mut w = SegmentWriter::create(dir.path(), base).unwrap();
                w.append(b"abc", &mut frame).unwrap();
            }
            save_acked(dir.path(), 22).unwrap();
        }
        let log = Log::open(dir.path()).unwrap();
        assert_eq!(log.acked, 22);
        assert_eq!(Vec::from(log.segments.clone()), [(22, 11)]);
        assert_eq!(log.end(), 33);
        assert!(!segment_path(dir.path(), 0).exists());
    }
}
