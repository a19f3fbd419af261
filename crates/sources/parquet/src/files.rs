//! Which files to replay, and what their footers say.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::file::statistics::Statistics;

use crate::location::Location;

/// Files below `patterns` (files, directories searched recursively, globs),
/// skipping hidden files (partial writes) and sorted by path.
pub fn find(patterns: &[String]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for pattern in patterns {
        let path = Path::new(pattern);
        if path.is_dir() {
            walk(path, &mut files).map_err(|e| format!("cannot read {pattern}: {e}"))?;
        } else if path.is_file() {
            files.push(path.to_path_buf());
        } else {
            let matches =
                glob::glob(pattern).map_err(|e| format!("invalid glob `{pattern}`: {e}"))?;
            let before = files.len();
            for entry in matches.flatten() {
                if entry.is_dir() {
                    walk(&entry, &mut files)
                        .map_err(|e| format!("cannot read {}: {e}", entry.display()))?;
                } else {
                    files.push(entry);
                }
            }
            if files.len() == before {
                return Err(format!("no Parquet files at `{pattern}`"));
            }
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        if entry.file_type()?.is_dir() {
            walk(&entry.path(), out)?;
        } else if name.ends_with(".parquet") {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// A file's metadata and its row groups' event-time ranges (microseconds).
pub struct FileInfo {
    pub location: Location,
    /// Its path or URL.
    pub name: Arc<str>,
    pub metadata: ArrowReaderMetadata,
    pub groups: Vec<(i64, i64)>,
}

impl FileInfo {
    pub fn read(location: Location) -> Result<Self, String> {
        let name: Arc<str> = Arc::from(location.name());
        let error = |e: String| format!("{name}: {e}");
        let footer = location.metadata().map_err(error)?;
        let metadata = ArrowReaderMetadata::try_new(Arc::new(footer), ArrowReaderOptions::new())
            .map_err(|e| error(e.to_string()))?;
        let column = metadata
            .metadata()
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .position(|c| c.name() == "event_time")
            .ok_or_else(|| error("no event_time column: not written by netpipe".into()))?;
        let groups = metadata
            .metadata()
            .row_groups()
            .iter()
            .map(|g| match g.column(column).statistics() {
                Some(Statistics::Int64(s)) => (
                    s.min_opt().copied().unwrap_or(i64::MIN),
                    s.max_opt().copied().unwrap_or(i64::MAX),
                ),
                _ => (i64::MIN, i64::MAX),
            })
            .collect();
        Ok(FileInfo {
            location,
            name,
            metadata,
            groups,
        })
    }

    pub fn first_time(&self) -> i64 {
        self.groups.iter().map(|g| g.0).min().unwrap_or(i64::MAX)
    }

    pub fn rows(&self) -> u64 {
        self.metadata.metadata().file_metadata().num_rows() as u64
    }

    pub fn bytes(&self) -> u64 {
        self.metadata
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.compressed_size() as u64)
            .sum()
    }
}
