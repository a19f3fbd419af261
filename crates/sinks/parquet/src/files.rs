//! Paths and atomic commits.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use netpipe_core::Event;

/// Files being written start with this: hidden from readers, and removed at
/// start if a crash left them behind.
pub const TEMP_PREFIX: &str = ".netpipe-";

/// The partition directory of an event: the template with `{stream}`,
/// `{source}`, `{date}` and `{hour}` (UTC event time) filled in.
pub fn partition_dir(template: &str, event: &Event) -> String {
    let time = chrono::DateTime::from_timestamp_nanos(event.event_time.as_nanos());
    template
        .replace("{stream}", &event.stream)
        .replace("{source}", &event.source)
        .replace("{date}", &time.format("%Y-%m-%d").to_string())
        .replace("{hour}", &time.format("%H").to_string())
}

/// Whether files can be written below `root`: it is a directory, or can
/// become one, in a place this process may write (probed with a temp file,
/// which also catches read-only file systems and privileged users).
pub fn check_root(root: &Path) -> Result<(), String> {
    let mut existing = root;
    while !existing.exists() {
        existing = match existing.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
    }
    if !existing.is_dir() {
        return Err(format!(
            "cannot make {}: {} is not a directory",
            root.display(),
            existing.display()
        ));
    }
    let probe = existing.join(format!("{TEMP_PREFIX}probe-{:016x}", rand::random::<u64>()));
    File::create(&probe).map_err(|e| format!("cannot write in {}: {e}", existing.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// A new part file's final name and its temporary name, in `dir`.
pub fn part_paths(dir: &Path) -> (PathBuf, PathBuf) {
    let id = format!(
        "{:x}-{:016x}",
        chrono::Utc::now().timestamp_micros(),
        rand::random::<u64>()
    );
    (
        dir.join(format!("part-{id}.parquet")),
        dir.join(format!("{TEMP_PREFIX}part-{id}.parquet.tmp")),
    )
}

/// Makes a written temp file visible under its final name, durably.
pub fn commit(file: File, temp: &Path, final_path: &Path) -> io::Result<()> {
    file.sync_all()?;
    drop(file);
    std::fs::rename(temp, final_path)?;
    if let Some(dir) = final_path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Removes temp files left by a crash anywhere below `root`; returns how many.
pub fn remove_leftovers(root: &Path) -> io::Result<usize> {
    let mut removed = 0;
    let Ok(entries) = std::fs::read_dir(root) else {
        return Ok(0);
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            removed += remove_leftovers(&path)?;
        } else if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            std::fs::remove_file(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}
