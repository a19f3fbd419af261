//! What a replay keeps: events in the `start`..`end` time range, of the
//! wanted streams, after the row a checkpoint resumes from. Checked per row
//! group (by statistics, before reading), per record batch (to send it
//! whole, as columns) and per event.

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use netpipe_core::{Event, Timestamp};

#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    /// Only these streams; all when empty.
    pub streams: Vec<String>,
}

fn micros(t: Timestamp) -> i64 {
    t.as_nanos().div_euclid(1_000)
}

impl Filters {
    /// A row group whose event times span `range` (microseconds) may hold
    /// events in `start..end`.
    pub fn wanted(&self, range: (i64, i64)) -> bool {
        self.start.is_none_or(|s| range.1 >= micros(s))
            && self.end.is_none_or(|e| range.0 < micros(e))
    }

    fn in_range(&self, micros_time: i64) -> bool {
        self.start.is_none_or(|s| micros_time >= micros(s))
            && self.end.is_none_or(|e| micros_time < micros(e))
    }

    fn wants_stream(&self, stream: &str) -> bool {
        self.streams.is_empty() || self.streams.iter().any(|s| s == stream)
    }

    /// `event`, at `row` of its file, is kept.
    pub fn keep(&self, event: &Event, row: u64, resume_row: Option<u64>) -> bool {
        resume_row.is_none_or(|r| row > r)
            && self.in_range(micros(event.event_time))
            && self.wants_stream(&event.stream)
    }

    /// Every row of `batch` (the file's rows from `first_row` on) is kept.
    pub fn keeps_all(&self, batch: &RecordBatch, first_row: u64, resume_row: Option<u64>) -> bool {
        if resume_row.is_some_and(|r| first_row <= r) {
            return false;
        }
        let times_kept = || {
            let times = batch
                .column_by_name("event_time")
                .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>());
            times.is_some_and(|t| t.values().iter().all(|&t| self.in_range(t)))
        };
        let streams_kept = || {
            let streams = batch
                .column_by_name("stream")
                .and_then(|c| c.as_string_opt::<i32>());
            streams.is_some_and(|s| s.iter().all(|s| s.is_some_and(|s| self.wants_stream(s))))
        };
        let timed = self.start.is_some() || self.end.is_some();
        (!timed || times_kept()) && (self.streams.is_empty() || streams_kept())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{StringArray, TimestampMicrosecondArray};

    use super::*;

    fn filters(start: Option<i64>, end: Option<i64>, streams: &[&str]) -> Filters {
        Filters {
            start: start.map(Timestamp::from_secs),
            end: end.map(Timestamp::from_secs),
            streams: streams.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Rows at seconds 10, 20 and 30 of streams a, a, b.
    fn batch() -> RecordBatch {
        let times = TimestampMicrosecondArray::from(vec![10_000_000, 20_000_000, 30_000_000]);
        RecordBatch::try_from_iter([
            (
                "stream",
                Arc::new(StringArray::from(vec!["a", "a", "b"])) as _,
            ),
            ("event_time", Arc::new(times) as _),
        ])
        .unwrap()
    }

    #[test]
    fn a_batch_is_kept_whole_only_when_every_row_passes_every_filter() {
        let batch = batch();
        assert!(filters(None, None, &[]).keeps_all(&batch, 0, None));
        assert!(filters(Some(10), Some(31), &["a", "b"]).keeps_all(&batch, 0, None));
        assert!(!filters(Some(11), None, &[]).keeps_all(&batch, 0, None));
        assert!(!filters(None, Some(30), &[]).keeps_all(&batch, 0, None));
        assert!(!filters(None, None, &["a"]).keeps_all(&batch, 0, None));
        // Resuming after row 5: a batch from row 5 holds it, one from row 6 does not.
        assert!(!filters(None, None, &[]).keeps_all(&batch, 5, Some(5)));
        assert!(filters(None, None, &[]).keeps_all(&batch, 6, Some(5)));
    }

    #[test]
    fn row_groups_are_skipped_only_when_wholly_out_of_range() {
        let f = filters(Some(10), Some(20), &[]);
        assert!(f.wanted((15_000_000, 25_000_000)));
        assert!(f.wanted((0, 10_000_000)));
        assert!(!f.wanted((0, 9_999_999)));
        assert!(!f.wanted((20_000_000, 30_000_000)));
    }
}
