//! Kafka → Parquet exactly once. When every input of the sink is a kafka
//! source, each file holds the rows of one Kafka partition, and its name
//! carries that partition and the first and last offsets in it:
//! `part-<topic>+<partition>+<first>+<last>.parquet`, offsets zero-padded
//! to 20 digits, so names sort by offset.
//!
//! Before it writes a partition's rows into a directory, the sink reads the
//! names there once and passes over the offsets that a committed file
//! already holds, acknowledging them with the rest: messages read again
//! after a crash (written to the lake, not yet committed to Kafka) are not
//! written twice, and their offsets are committed. A flush (the source's
//! partitions changing hands) makes it read the names again, for another
//! writer may have written there meanwhile. One name always holds the same
//! rows, so writing it again (a local rename, an upload) replaces a file
//! with its equal.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use netpipe_storage::Remote;

use crate::sink::ParquetSinkError;

/// Offsets of a partition in one file: first and last.
pub type Range = (u64, u64);

/// The name of the file of `partition` (`topic/partition`) holding `range`.
pub fn file_name(partition: &str, (first, last): Range) -> String {
    format!(
        "part-{}+{first:020}+{last:020}.parquet",
        partition.replace('/', "+")
    )
}

/// The partition (`topic/partition`) and range a file name carries.
fn parse(name: &str) -> Option<(String, Range)> {
    let stem = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    let mut parts = stem.rsplitn(4, '+');
    let last = parts.next()?.parse().ok()?;
    let first = parts.next()?.parse().ok()?;
    let partition = parts.next()?;
    let topic = parts.next()?;
    Some((format!("{topic}/{partition}"), (first, last)))
}

/// The offsets already in the lake, per directory and partition, read
/// from file names when first needed.
pub struct LakeOffsets {
    root: PathBuf,
    remote: Option<Arc<Remote>>,
    known: HashMap<String, HashMap<String, Vec<Range>>>,
}

impl LakeOffsets {
    /// The offsets below `root`, or below `remote` when the lake is there.
    pub fn new(root: PathBuf, remote: Option<Arc<Remote>>) -> Self {
        LakeOffsets {
            root,
            remote,
            known: HashMap::new(),
        }
    }

    /// Forgets what was read: another writer may have written since.
    pub fn forget(&mut self) {
        self.known.clear();
    }

    /// The ranges of `partition`'s files in `dir`, sorted.
    pub async fn ranges(
        &mut self,
        dir: &str,
        partition: &str,
    ) -> Result<&[Range], ParquetSinkError> {
        if !self.known.contains_key(dir) {
            let names = match &self.remote {
                Some(remote) => remote_names(remote, dir).await?,
                None => local_names(&self.root.join(dir))?,
            };
            let mut by_partition: HashMap<String, Vec<Range>> = HashMap::new();
            for (partition, range) in names.iter().filter_map(|n| parse(n)) {
                by_partition.entry(partition).or_default().push(range);
            }
            for ranges in by_partition.values_mut() {
                ranges.sort_unstable();
            }
            self.known.insert(dir.to_string(), by_partition);
        }
        Ok(self.known[dir].get(partition).map_or(&[], Vec::as_slice))
    }
}

/// Whether a file of `ranges` (sorted) holds `offset`.
pub fn covered(ranges: &[Range], offset: u64) -> bool {
    let after = ranges.partition_point(|(first, _)| *first <= offset);
    ranges[..after]
        .iter()
        .rev()
        .any(|(_, last)| offset <= *last)
}

fn local_names(dir: &Path) -> Result<Vec<String>, ParquetSinkError> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(ParquetSinkError::Write {
            path: dir.display().to_string(),
            detail: format!("cannot read the offsets already written: {e}"),
        }),
    }
}

async fn remote_names(remote: &Remote, dir: &str) -> Result<Vec<String>, ParquetSinkError> {
    let objects =
        remote
            .list_in(dir, ".parquet")
            .await
            .map_err(|detail| ParquetSinkError::Write {
                path: format!("{}/{dir}", remote.url().trim_end_matches('/')),
                detail,
            })?;
    Ok(objects
        .iter()
        .filter_map(|o| o.location.filename().map(str::to_string))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_partition_and_range_and_read_back() {
        let name = file_name("aruba.monitoring/3", (120, 4500));
        assert_eq!(
            name,
            "part-aruba.monitoring+3+00000000000000000120+00000000000000004500.parquet"
        );
        assert_eq!(
            parse(&name),
            Some(("aruba.monitoring/3".into(), (120, 4500)))
        );
        assert_eq!(
            parse("part-18f3a-0123abcd.parquet"),
            None,
            "a file of another sink"
        );
    }

    #[test]
    fn an_offset_is_covered_only_inside_a_files_range() {
        let ranges = [(0, 9), (10, 19), (40, 49)];
        let covered_offsets: Vec<u64> = (0..60).filter(|o| covered(&ranges, *o)).collect();
        let expected: Vec<u64> = (0..20).chain(40..50).collect();
        assert_eq!(covered_offsets, expected);
        assert!(!covered(&[], 0));
    }
}
