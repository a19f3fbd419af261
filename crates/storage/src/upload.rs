//! Uploading committed files, and cleaning up after a writer that died
//! mid-upload.
//!
//! A file up to [`PART_SIZE`] is one PUT. A larger one is a multipart
//! upload, sent in parts of that size (at most [`PARTS_IN_FLIGHT`] at a
//! time, so memory stays bounded) and completed at the end: the object
//! appears whole or not at all.
//!
//! A writer killed mid-upload leaves its parts behind: invisible, but
//! stored (and billed). Stores list such uploads only for a whole bucket,
//! and `object_store` does not list them at all, so each multipart upload
//! is announced by a marker object below the prefix,
//! `_netpipe/uploads/<host>-<pid>-<n>`, holding the object's key and the
//! upload's id, and the marker is deleted when the upload ends. At start a
//! sink aborts the uploads whose writer is gone: a process of this host
//! that no longer runs, or any writer whose marker is older than
//! [`ABANDONED_AFTER`] (one on another machine). Names starting with `_`
//! are skipped by replay and by query engines (Spark, pyarrow, DuckDB's
//! Hive partitioning), so the markers never read as data.

use std::fs::File;
use std::io::Read as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use futures::StreamExt as _;
use futures::TryStreamExt as _;
use futures::stream::FuturesOrdered;
use object_store::multipart::PartId;
use object_store::path::Path as ObjectPath;
use object_store::{MultipartId, ObjectMeta, ObjectStoreExt as _, PutPayload};

use crate::{Remote, cause, store_code, wait};

/// Files up to this size are one PUT; larger ones are sent in parts of it.
pub(crate) const PART_SIZE: usize = 8 << 20;

/// Parts in flight for one multipart file.
const PARTS_IN_FLIGHT: usize = 2;

/// A marker this old is abandoned whoever wrote it: no file of a lake
/// takes a day to upload.
pub const ABANDONED_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Where the markers of in-flight multipart uploads are, below the prefix.
const MARKERS: &str = "_netpipe/uploads";

impl Remote {
    /// Uploads `local` as `relative` below the prefix, whole or not at
    /// all. Blocking: for the writer's thread.
    pub fn upload(&self, local: &Path, relative: &str) -> Result<(), String> {
        let location = self.below_prefix(relative);
        let failed =
            |e: &dyn std::fmt::Display| format!("cannot upload {location} to {}: {e}", self.url);
        let mut file = File::open(local).map_err(|e| failed(&e))?;
        let size = file.metadata().map_err(|e| failed(&e))?.len();
        if size <= PART_SIZE as u64 {
            let mut bytes = Vec::with_capacity(size as usize);
            file.read_to_end(&mut bytes).map_err(|e| failed(&e))?;
            return wait(self.store.put(&location, PutPayload::from(bytes)))
                .map(drop)
                .map_err(|e| failed(&cause(&e)));
        }
        wait(self.upload_parts(&mut file, &location)).map_err(|e| failed(&e))
    }

    /// Aborts the multipart uploads that writers now gone left below the
    /// prefix (see the module docs); returns how many.
    pub async fn abort_abandoned_uploads(&self) -> Result<usize, String> {
        let markers: Vec<ObjectMeta> = self
            .store
            .list(Some(&self.below_prefix(MARKERS)))
            .try_collect()
            .await
            .map_err(|e| format!("cannot list {MARKERS} of `{}`: {}", self.url, cause(&e)))?;
        let mut aborted = 0;
        for marker in markers.iter().filter(|m| abandoned(m, SystemTime::now())) {
            let failed = |e: &object_store::Error| {
                format!("upload marker {}: {}", marker.location, cause(e))
            };
            let body = self
                .store
                .get(&marker.location)
                .await
                .map_err(|e| failed(&e));
            let body = match body {
                Ok(body) => body.bytes().await.map_err(|e| failed(&e))?,
                Err(e) => return Err(e),
            };
            let text = String::from_utf8_lossy(&body);
            if let Some((location, id)) = text.split_once('\n') {
                let id: MultipartId = id.trim_end().to_string();
                match self.multipart.abort_multipart(&location.into(), &id).await {
                    Ok(()) => aborted += 1,
                    // Completed or aborted after all: only the marker is left.
                    Err(e) if store_code(&e).as_deref() == Some("NoSuchUpload") => {}
                    Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(failed(&e)),
                }
            }
            self.store
                .delete(&marker.location)
                .await
                .map_err(|e| failed(&e))?;
        }
        Ok(aborted)
    }

    /// `relative` below the prefix.
    pub(crate) fn below_prefix(&self, relative: &str) -> ObjectPath {
        ObjectPath::from(format!("{}/{relative}", self.prefix).trim_start_matches('/'))
    }

    /// A multipart upload of `file`, announced by a marker while it runs.
    async fn upload_parts(&self, file: &mut File, location: &ObjectPath) -> Result<(), String> {
        let id = self
            .multipart
            .create_multipart(location)
            .await
            .map_err(|e| cause(&e))?;
        let marker = self.below_prefix(&format!("{MARKERS}/{}", marker_name()));
        let announced = format!("{location}\n{id}\n");
        if let Err(e) = self.store.put(&marker, announced.into()).await {
            let _ = self.multipart.abort_multipart(location, &id).await;
            return Err(cause(&e));
        }
        let result = match self.send_parts(file, location, &id).await {
            Ok(parts) => self
                .multipart
                .complete_multipart(location, &id, parts)
                .await
                .map(drop)
                .map_err(|e| cause(&e)),
            Err(e) => {
                let _ = self.multipart.abort_multipart(location, &id).await;
                Err(e)
            }
        };
        // A marker left here names an ended upload: the next start
        // removes it.
        let _ = self.store.delete(&marker).await;
        result
    }

    async fn send_parts(
        &self,
        file: &mut File,
        location: &ObjectPath,
        id: &MultipartId,
    ) -> Result<Vec<PartId>, String> {
        let mut in_flight = FuturesOrdered::new();
        let mut parts = Vec::new();
        for index in 0.. {
            let mut part = Vec::with_capacity(PART_SIZE);
            let read = (&mut *file).take(PART_SIZE as u64).read_to_end(&mut part);
            if read.map_err(|e| e.to_string())? == 0 {
                break;
            }
            if in_flight.len() == PARTS_IN_FLIGHT {
                let sent: object_store::Result<PartId> =
                    in_flight.next().await.expect("parts in flight");
                parts.push(sent.map_err(|e| cause(&e))?);
            }
            let payload = PutPayload::from(part);
            in_flight.push_back(self.multipart.put_part(location, id, index, payload));
        }
        while let Some(sent) = in_flight.next().await {
            parts.push(sent.map_err(|e| cause(&e))?);
        }
        Ok(parts)
    }
}

/// This writer's next marker name: `<host>-<pid>-<n>`.
fn marker_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{}-{}-{n}", host(), std::process::id())
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Whether `marker`'s writer is gone: a process of this host that no
/// longer runs, or any writer at all once the marker is old.
fn abandoned(marker: &ObjectMeta, now: SystemTime) -> bool {
    let age = now
        .duration_since(SystemTime::from(marker.last_modified))
        .unwrap_or_default();
    if age > ABANDONED_AFTER {
        return true;
    }
    let name = marker.location.filename().unwrap_or_default();
    let mut parts = name.rsplitn(3, '-');
    let (_, pid, marker_host) = (parts.next(), parts.next(), parts.next());
    // Where processes cannot be looked up, only age tells.
    let can_look = Path::new("/proc/self").exists();
    can_look
        && marker_host == Some(host().as_str())
        && pid.is_some_and(|pid| !Path::new("/proc").join(pid).exists())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::ObjectStore;
    use object_store::memory::InMemory;
    use object_store::multipart::MultipartStore as _;

    use super::*;

    fn remote(store: Arc<InMemory>) -> Remote {
        Remote {
            store: store.clone(),
            multipart: store,
            prefix: ObjectPath::from("lake"),
            url: "memory://lake".into(),
            scheme: "memory".into(),
            bucket: "lake".into(),
        }
    }

    /// A file larger than a part goes up in parts and arrives whole, a
    /// small one in one PUT; no marker is left.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn files_of_any_size_arrive_whole() {
        let store = Arc::new(InMemory::new());
        let remote = remote(store.clone());
        let dir = tempfile::tempdir().unwrap();
        for (name, len) in [
            ("small.parquet", 1000),
            ("large.parquet", 2 * PART_SIZE + 12345),
        ] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let local = dir.path().join(name);
            std::fs::write(&local, &bytes).unwrap();
            let (remote, relative) = (remote.clone(), format!("s/date=x/{name}"));
            tokio::task::spawn_blocking(move || remote.upload(&local, &relative))
                .await
                .unwrap()
                .unwrap();
            let location = ObjectPath::from(format!("lake/s/date=x/{name}"));
            let stored = store.get(&location).await.unwrap().bytes().await.unwrap();
            assert!(
                stored == bytes,
                "{name}: {} bytes stored of {len}",
                stored.len()
            );
        }
        let all: Vec<ObjectMeta> = store.list(None).try_collect().await.unwrap();
        assert_eq!(all.len(), 2, "{all:?}");
    }

    /// The upload of a process that is gone is aborted and its marker
    /// removed; a running process's upload is left alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn uploads_of_writers_that_are_gone_are_aborted() {
        let store = Arc::new(InMemory::new());
        let remote = remote(store.clone());
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        gone.wait().unwrap();
        let mut uploads = Vec::new();
        for pid in [gone.id(), std::process::id()] {
            let location = ObjectPath::from(format!("lake/s/part-{pid}.parquet"));
            let id = store.create_multipart(&location).await.unwrap();
            let part = store.put_part(&location, &id, 0, vec![1; 10].into());
            let part = part.await.unwrap();
            let marker = format!("lake/{MARKERS}/{}-{pid}-0", host());
            let body = format!("{location}\n{id}\n");
            store.put(&marker.into(), body.into()).await.unwrap();
            uploads.push((location, id, part));
        }
        assert_eq!(remote.abort_abandoned_uploads().await.unwrap(), 1);
        let completed: Vec<bool> = {
            let mut completed = Vec::new();
            for (location, id, part) in uploads {
                let done = store.complete_multipart(&location, &id, vec![part]).await;
                completed.push(done.is_ok());
            }
            completed
        };
        assert_eq!(completed, [false, true], "the gone writer's was aborted");
        let markers: Vec<ObjectMeta> = store
            .list(Some(&"lake/_netpipe".into()))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(markers.len(), 1, "{markers:?}");
        assert!(
            markers[0]
                .location
                .as_ref()
                .ends_with(&format!("-{}-0", std::process::id()))
        );
    }

    #[test]
    fn old_markers_are_abandoned_whoever_wrote_them() {
        let marker = |host: &str, age: Duration| ObjectMeta {
            location: format!("lake/{MARKERS}/{host}-1-0").into(),
            last_modified: (SystemTime::now() - age).into(),
            size: 0,
            e_tag: None,
            version: None,
        };
        let now = SystemTime::now();
        let elsewhere = "some-other-host";
        assert!(!abandoned(&marker(elsewhere, Duration::from_secs(60)), now));
        assert!(abandoned(&marker(elsewhere, ABANDONED_AFTER * 2), now));
    }
}
