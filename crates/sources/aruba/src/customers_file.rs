//! The vendor sample's input file: `{"customers": {NAME: {"username",
//! "wsskey", "topic"}}}`. Renewed keys are written back atomically (a temp
//! file in the same directory, same permissions, then rename), so a crash
//! never leaves a half-written file and the next start uses the new key.

use std::path::Path;

use serde_json::Value as Json;

use crate::connect::Entry;

#[derive(Debug, thiserror::Error)]
pub enum CustomersFileError {
    #[error("cannot read customers file {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("customers file {path}: {message}")]
    Format { path: String, message: String },
    #[error("cannot write the renewed key to {path}: {error}")]
    Write { path: String, error: std::io::Error },
}

fn load(path: &Path) -> Result<Json, CustomersFileError> {
    let text = std::fs::read_to_string(path).map_err(|error| CustomersFileError::Read {
        path: path.display().to_string(),
        error,
    })?;
    serde_json::from_str(&text).map_err(|e| CustomersFileError::Format {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// One entry per (customer, topic) in the file.
pub fn read(path: &Path) -> Result<Vec<Entry>, CustomersFileError> {
    let format = |message: String| CustomersFileError::Format {
        path: path.display().to_string(),
        message,
    };
    let json = load(path)?;
    let customers = json
        .get("customers")
        .and_then(Json::as_object)
        .ok_or_else(|| format("no `customers` object".into()))?;
    customers
        .iter()
        .map(|(name, c)| {
            let field = |f: &str| c.get(f).and_then(Json::as_str).map(str::to_string);
            let key = field("wsskey").ok_or_else(|| format(format!("`{name}` has no `wsskey`")))?;
            let topic = field("topic")
                .ok_or_else(|| format(format!("`{name}` has no `topic`")))?
                .parse()
                .map_err(|e| format(format!("`{name}`: {e}")))?;
            Ok(Entry {
                name: name.clone(),
                username: field("username"),
                key: netpipe_core::Secret::new(key),
                topic,
                file_entry: Some(name.clone()),
            })
        })
        .collect()
}

/// Replaces `customers.<entry>.wsskey` and writes the file back atomically.
pub fn write_key(path: &Path, entry: &str, key: &str) -> Result<(), CustomersFileError> {
    let write_error = |error| CustomersFileError::Write {
        path: path.display().to_string(),
        error,
    };
    let mut json = load(path)?;
    if let Some(c) = json.get_mut("customers").and_then(|c| c.get_mut(entry)) {
        c["wsskey"] = Json::String(key.to_string());
    }
    let text = serde_json::to_string_pretty(&json).unwrap_or_default();
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.netpipe-tmp"));
    let permissions = std::fs::metadata(path).map_err(write_error)?.permissions();
    std::fs::write(&temp, text + "\n").map_err(write_error)?;
    std::fs::set_permissions(&temp, permissions).map_err(write_error)?;
    std::fs::File::open(&temp)
        .and_then(|f| f.sync_all())
        .map_err(write_error)?;
    std::fs::rename(&temp, path).map_err(write_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn renewed_keys_are_written_back_keeping_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("input.json");
        std::fs::write(
            &path,
            r#"{"customers": {"test": {"wsskey": "old", "topic": "monitoring"}}}"#,
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let entries = read(&path).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].key.expose(), "old");
        write_key(&path, "test", "new").unwrap();
        assert_eq!(read(&path).unwrap()[0].key.expose(), "new");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }
}
