//! The reading half of a replay. A thread of its own walks the files in
//! event-time order, passes over what the checkpoint or the time range
//! rules out (whole files and row groups, by their metadata), and hands
//! record batches to the async half over a small bounded channel: decoding
//! Parquet overlaps the pipeline and never blocks the runtime.

use std::fs::File;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use arrow_array::{RecordBatch, RecordBatchReader as _};
use netpipe_arrow::EventReader;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tokio::sync::mpsc;

use crate::checkpoint::Checkpoint;
use crate::files::FileInfo;
use crate::filters::Filters;

/// Batches read ahead of the pipeline.
const READ_AHEAD: usize = 2;

/// What the reading thread hands over, in file order.
pub enum Read {
    /// Rows of the file `partition`, from row `first_row` on.
    Batch {
        batch: RecordBatch,
        partition: Arc<str>,
        first_row: u64,
        /// In the checkpoint's file: the last row already written.
        resume_row: Option<u64>,
    },
    /// Rows passed over without reading, for progress.
    Skipped { rows: u64, bytes: u64 },
}

/// Starts reading `files` (sorted in event-time order) on a thread; stops
/// early when the receiver is dropped. A read error, naming its file, is
/// the last item.
pub fn spawn(
    files: Vec<FileInfo>,
    resume: Option<Checkpoint>,
    filters: Filters,
    chunk_rows: usize,
) -> std::io::Result<mpsc::Receiver<Result<Read, String>>> {
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    std::thread::Builder::new()
        .name("netpipe-replay".into())
        .spawn(move || {
            // A panic (a corrupt file the parquet crate trips on) must not
            // look like the end of the files.
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                read(&files, resume.as_ref(), &filters, chunk_rows, &tx)
            }));
            let error = match result {
                Ok(Ok(())) => return,
                Ok(Err(e)) => e,
                Err(_) => "the replay's reading thread panicked".to_string(),
            };
            let _ = tx.blocking_send(Err(error));
        })?;
    Ok(rx)
}

/// The receiver is gone: the replay stopped.
struct Stopped;

fn read(
    files: &[FileInfo],
    resume: Option<&Checkpoint>,
    filters: &Filters,
    chunk_rows: usize,
    tx: &mpsc::Sender<Result<Read, String>>,
) -> Result<(), String> {
    let send = |item: Read| tx.blocking_send(Ok(item)).map_err(|_| Stopped);
    let mut skipping = resume.is_some();
    for info in files {
        let name = info.path.display().to_string();
        let resume_row = match resume {
            Some(c) if skipping && c.file == name => {
                skipping = false;
                Some(c.row)
            }
            Some(_) if skipping => {
                let skipped = Read::Skipped {
                    rows: info.rows(),
                    bytes: info.bytes(),
                };
                if send(skipped).is_err() {
                    return Ok(());
                }
                continue;
            }
            _ => None,
        };
        let partition: Arc<str> = Arc::from(name.as_str());
        let error = |e: &dyn std::fmt::Display| format!("{name}: {e}");
        let mut group_start = 0u64;
        for (group, range) in info.groups.iter().enumerate() {
            let metadata = info.metadata.row_group(group);
            let group_rows = metadata.num_rows() as u64;
            let mut row = group_start;
            group_start += group_rows;
            if !filters.wanted(*range) || resume_row.is_some_and(|r| r + 1 >= row + group_rows) {
                let skipped = Read::Skipped {
                    rows: group_rows,
                    bytes: metadata.compressed_size() as u64,
                };
                if send(skipped).is_err() {
                    return Ok(());
                }
                continue;
            }
            let file = File::open(&info.path).map_err(|e| error(&e))?;
            let batches = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| error(&e))?
                .with_row_groups(vec![group])
                .with_batch_size(chunk_rows)
                .build()
                .map_err(|e| error(&e))?;
            // Checked before any row is sent, so building events cannot fail.
            EventReader::check(&batches.schema()).map_err(|e| error(&e))?;
            for batch in batches {
                let batch = batch.map_err(|e| error(&e))?;
                let rows = batch.num_rows() as u64;
                let read = Read::Batch {
                    batch,
                    partition: partition.clone(),
                    first_row: row,
                    resume_row,
                };
                if send(read).is_err() {
                    return Ok(());
                }
                row += rows;
            }
        }
    }
    Ok(())
}
