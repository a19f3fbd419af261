//! The replay position on disk: the last acknowledged file and row, written
//! atomically (temp file, then rename).

use std::path::Path;

use serde::{Deserialize, Serialize};

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
