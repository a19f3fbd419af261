//! The resume file of the `nso` source: for each stream, the last
//! `eventTime` written (every sink acknowledged it) and how many
//! notifications of that time were, as JSON, saved atomically (temp file,
//! then rename) as acknowledgements advance, at most once per
//! [`SAVE_EVERY`], and once more when the run ends.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use netpipe_core::Timestamp;
use netpipe_core::ack::Acknowledgements;
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::notification::{Mark, start_time_text};

/// The longest a saved checkpoint trails the acknowledgements.
pub const SAVE_EVERY: Duration = Duration::from_secs(1);

/// Where each stream (`nso.<name>`) is.
pub type Written = BTreeMap<String, Mark>;

/// A stream's entry in the file.
#[derive(Serialize, Deserialize)]
struct Entry {
    #[serde(rename = "eventTime")]
    event_time: String,
    /// Notifications of that time written.
    count: u64,
}

pub fn load(path: &Path) -> Result<Written, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Written::new()),
        Err(e) => return Err(format!("cannot read checkpoint {}: {e}", path.display())),
    };
    let entries: BTreeMap<String, Entry> = serde_json::from_str(&text)
        .map_err(|e| format!("checkpoint {} is not valid: {e}", path.display()))?;
    entries
        .into_iter()
        .map(
            |(stream, entry)| match Timestamp::parse_rfc3339(&entry.event_time) {
                Some(time) => Ok((
                    stream,
                    Mark {
                        time,
                        count: entry.count,
                    },
                )),
                None => Err(format!(
                    "checkpoint {}: `{}` of stream `{stream}` is not a time",
                    path.display(),
                    entry.event_time
                )),
            },
        )
        .collect()
}

pub fn save(path: &Path, written: &Written) -> std::io::Result<()> {
    let entries: BTreeMap<&str, Entry> = written
        .iter()
        .map(|(stream, mark)| {
            let entry = Entry {
                event_time: start_time_text(mark.time),
                count: mark.count,
            };
            (stream.as_str(), entry)
        })
        .collect();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let temp = path.with_extension("tmp");
    std::fs::write(
        &temp,
        serde_json::to_vec_pretty(&entries).unwrap_or_default(),
    )?;
    std::fs::rename(&temp, path)
}

/// The acknowledged marks: each event's position is its stream and its
/// [`Mark`]'s offset.
pub fn acknowledged(acks: &Acknowledgements) -> Written {
    acks.partitions()
        .into_iter()
        .map(|(stream, offset)| (stream.to_string(), Mark::from_offset(offset)))
        .collect()
}

/// Saves the acknowledged times to `path` as they advance, at most once
/// per `every`, on top of `start` (streams not read this run keep theirs),
/// until the task is aborted.
pub fn keep_saving(
    path: PathBuf,
    start: Written,
    mut acks: Acknowledgements,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut saved = start.clone();
        while acks.changed().await.is_some() {
            // Gather what else is acknowledged meanwhile: one write per period.
            tokio::time::sleep(every).await;
            let mut now = start.clone();
            now.extend(acknowledged(&acks));
            if now != saved {
                if let Err(e) = save(&path, &now) {
                    warn!("cannot save checkpoint {}: {e}", path.display());
                }
                saved = now;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_survive_a_save_and_a_bad_file_says_where() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nso.json");
        assert!(load(&path).unwrap().is_empty(), "no file yet");
        let written = Written::from([(
            "nso.ncs-alarms".to_string(),
            Mark {
                time: Timestamp::parse_rfc3339("2026-12-05T10:00:00.123456Z").unwrap(),
                count: 2,
            },
        )]);
        save(&path, &written).unwrap();
        assert_eq!(load(&path).unwrap(), written);
        std::fs::write(&path, r#"{"nso.x": {"eventTime": "soon", "count": 1}}"#).unwrap();
        let error = load(&path).unwrap_err();
        assert!(
            error.contains("`soon`") && error.contains("nso.x"),
            "{error}"
        );
    }
}
