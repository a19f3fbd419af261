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

/// A writer's claim on the temp files it writes: `.netpipe-<id>.lock` in
/// the root, locked (flock) for as long as the writer lives, and the same
/// `<id>` in every temp file's name. Several writers may share a root (lake
/// writers that scale out): a starting one removes only the temp files
/// whose writer's lock is free, that is, whose writer is gone.
pub struct Claim {
    id: String,
    lock_path: PathBuf,
    _lock: File,
}

impl Claim {
    /// Takes a new claim in `root` (which must exist).
    pub fn take(root: &Path) -> io::Result<Claim> {
        let id = format!("{:x}{:08x}", std::process::id(), rand::random::<u32>());
        let lock_path = lock_path(root, &id);
        let lock = File::create(&lock_path)?;
        lock.try_lock()
            .map_err(|e| io::Error::other(format!("cannot lock {}: {e}", lock_path.display())))?;
        Ok(Claim {
            id,
            lock_path,
            _lock: lock,
        })
    }

    /// A new part file's final name and its temporary name, in `dir`.
    pub fn part_paths(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let part = format!(
            "{:x}-{:016x}",
            chrono::Utc::now().timestamp_micros(),
            rand::random::<u64>()
        );
        (
            dir.join(format!("part-{part}.parquet")),
            dir.join(format!("{TEMP_PREFIX}{}.part-{part}.parquet.tmp", self.id)),
        )
    }

    /// Removes the temp files below `root` that no live writer claims (a
    /// crashed run's), and the locks of writers that are gone; returns how
    /// many temp files.
    pub fn remove_abandoned(&self, root: &Path) -> io::Result<usize> {
        let mut alive = std::collections::HashMap::new();
        alive.insert(self.id.clone(), true);
        let removed = remove_abandoned(root, root, &mut alive)?;
        // A gone writer's lock file goes too, once it is old enough that it
        // cannot be one a starting writer has made and not yet locked.
        for (owner, live) in alive {
            let path = lock_path(root, &owner);
            let old = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 60));
            if !live && old {
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(removed)
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

fn lock_path(root: &Path, id: &str) -> PathBuf {
    root.join(format!("{TEMP_PREFIX}{id}.lock"))
}

/// Whether the writer `owner` still holds its lock in `root`.
fn is_alive(root: &Path, owner: &str) -> bool {
    let Ok(lock) = File::open(lock_path(root, owner)) else {
        // No lock file: a crashed writer's, or one of a netpipe before locks.
        return false;
    };
    match lock.try_lock() {
        Ok(()) => {
            // Its writer is gone; free the lock again for the cleanup.
            let _ = lock.unlock();
            false
        }
        Err(_) => true,
    }
}

fn remove_abandoned(
    root: &Path,
    dir: &Path,
    alive: &mut std::collections::HashMap<String, bool>,
) -> io::Result<usize> {
    let mut removed = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_dir() {
            removed += remove_abandoned(root, &path, alive)?;
            continue;
        }
        let Some(owner) = name
            .strip_prefix(TEMP_PREFIX)
            .filter(|_| name.ends_with(".tmp"))
            .map(|rest| rest.split('.').next().unwrap_or(rest).to_string())
        else {
            continue;
        };
        let live = *alive
            .entry(owner.clone())
            .or_insert_with(|| is_alive(root, &owner));
        if !live {
            std::fs::remove_file(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(claim: &Claim, dir: &Path) -> PathBuf {
        let (_, temp) = claim.part_paths(dir);
        std::fs::write(&temp, b"half a file").unwrap();
        temp
    }

    #[test]
    fn only_the_temp_files_of_writers_that_are_gone_are_removed() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("demo.interface/date=2026-12-04");
        std::fs::create_dir_all(&dir).unwrap();
        let running = Claim::take(root.path()).unwrap();
        let mine = temp_file(&running, &dir);
        let crashed = Claim::take(root.path()).unwrap();
        let orphan = temp_file(&crashed, &dir);
        drop(crashed);
        let legacy = dir.join(".netpipe-part-crashed.parquet.tmp");
        std::fs::write(&legacy, b"from before locks").unwrap();
        let probe = root.path().join(".netpipe-probe-0123");
        std::fs::write(&probe, b"").unwrap();

        let starting = Claim::take(root.path()).unwrap();
        assert_eq!(starting.remove_abandoned(root.path()).unwrap(), 2);
        assert!(mine.exists(), "a running writer's temp file was removed");
        assert!(!orphan.exists() && !legacy.exists());
        assert!(probe.exists(), "only temp files are cleaned up");
        // Its own and the running writer's files survive each other's cleanup.
        let own = temp_file(&starting, &dir);
        assert_eq!(running.remove_abandoned(root.path()).unwrap(), 0);
        assert!(own.exists() && mine.exists());
    }
}
