//! The replay position on disk: the last acknowledged file and row, written
//! atomically (temp file, then rename) as acknowledgements advance, at most
//! once per [`SAVE_EVERY`], and once more when the replay ends: a replay
//! killed part-way resumes at most about a second of rows back.

use std::path::{Path, PathBuf};
use std::time::Duration;

use netpipe_core::Position;
use netpipe_core::ack::Acknowledgements;
use serde::{Deserialize, Serialize};
use tracing::warn;

/// The longest a saved checkpoint trails the acknowledgements.
pub const SAVE_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub file: String,
    pub row: u64,
}

pub fn load(path: &Path) -> Result<Option<Checkpoint>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("checkpoint {} is not valid: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read checkpoint {}: {e}", path.display())),
    }
}

pub fn save(path: &Path, checkpoint: &Checkpoint) -> std::io::Result<()> {
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, serde_json::to_vec(checkpoint).unwrap_or_default())?;
    std::fs::rename(&temp, path)
}

impl From<&Position> for Checkpoint {
    fn from(position: &Position) -> Self {
        Checkpoint {
            file: position.partition.to_string(),
            row: position.offset,
        }
    }
}

/// Saves the acknowledged position to `path` as it advances, at most once
/// per `every`, until the task is aborted.
pub fn keep_saving(
    path: PathBuf,
    mut acks: Acknowledgements,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut saved: Option<Position> = None;
        while acks.changed().await.is_some() {
            // Gather what else is acknowledged meanwhile: one write per period.
            tokio::time::sleep(every).await;
            let Some(position) = acks.position() else {
                continue;
            };
            if saved.as_ref() == Some(&position) {
                continue;
            }
            match save(&path, &Checkpoint::from(&position)) {
                Ok(()) => saved = Some(position),
                Err(e) => warn!("cannot save the replay checkpoint {}: {e}", path.display()),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_checkpoints_load_back_and_bad_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replay.json");
        assert_eq!(load(&path), Ok(None), "no checkpoint yet: start over");
        let checkpoint = Checkpoint {
            file: "demo.interface/date=2026-12-04/part-1.parquet".into(),
            row: 4097,
        };
        save(&path, &checkpoint).unwrap();
        assert_eq!(load(&path), Ok(Some(checkpoint)));
        // Written by rename: no temp file is left beside it.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["replay.json"]);
        std::fs::write(&path, "{\"file\": 3").unwrap();
        let error = load(&path).unwrap_err();
        assert!(
            error.contains(&path.display().to_string()) && error.contains("not valid"),
            "{error}"
        );
    }
}
