//! Lakes in object storage: a `path` of `s3://bucket/prefix` (or `gs://`,
//! `az://`), for the Parquet sink and the Parquet replay alike. The sink
//! writes and commits files in a local staging directory exactly as on
//! disk, then uploads each under the same relative path before its batches
//! are acknowledged ([`Remote::upload`]): one PUT for a small file, a
//! multipart upload streamed in parts for a large one, so an object appears
//! only when complete and memory stays bounded by the part size ([`upload`]
//! says how uploads a crash left behind are found and aborted). Replay
//! lists the objects below the prefix ([`Remote::list`]) and reads each by
//! ranges ([`Remote::read_range`]): the footer, then the row groups it
//! wants. The object store's client retries throttling and server errors
//! with backoff; what is left is an error of the caller.
//!
//! The sink's writer and the replay's reader are synchronous code, so the
//! blocking calls here wait on the current runtime from where they are
//! (a blocking thread, or a worker of a multi-threaded runtime, which
//! hands its other tasks on meanwhile).

pub mod upload;

use std::future::Future;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt as _;

use object_store::multipart::MultipartStore;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _};

use netpipe_core::Secret;
use schemars::JsonSchema;
use serde::Deserialize;

/// How to reach an object store `path`. Credentials come from the
/// provider's usual chain (for S3: `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, profiles, instance
/// metadata) unless given here.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// An S3-compatible endpoint (MinIO, Ceph, moto), e.g. `http://127.0.0.1:9000`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The bucket's region, e.g. `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// Allow an `http://` endpoint.
    #[serde(default)]
    pub allow_http: bool,
    /// S3 access key id (use a `${VAR}`).
    #[serde(default)]
    pub access_key_id: Option<Secret>,
    /// S3 secret access key (use a `${VAR}`).
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    /// S3 session token (use a `${VAR}`).
    #[serde(default)]
    pub session_token: Option<Secret>,
}

/// An object store root.
#[derive(Clone)]
pub struct Remote {
    store: Arc<dyn ObjectStore>,
    /// The same store, for multipart uploads by their ids.
    multipart: Arc<dyn MultipartStore>,
    prefix: ObjectPath,
    /// The `path` as given (it holds no secret: credentials are options).
    url: String,
    scheme: String,
    bucket: String,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("url", &self.url).finish()
    }
}

/// A store as both of its interfaces.
type Stores = (Arc<dyn ObjectStore>, Arc<dyn MultipartStore>);

fn stores<S: ObjectStore + MultipartStore>(store: S) -> Stores {
    let store = Arc::new(store);
    (store.clone(), store)
}

/// An object of the lake.
#[derive(Debug, Clone)]
pub struct Object {
    pub location: ObjectPath,
    pub size: u64,
}

/// Whether `path` names an object store rather than a directory.
pub fn is_remote(path: &str) -> bool {
    ["s3://", "gs://", "az://", "abfs://", "abfss://"]
        .iter()
        .any(|scheme| path.starts_with(scheme))
}

impl Remote {
    /// The store `path` names, with `storage`'s options over the
    /// provider's usual credential chain. Offline: nothing is sent.
    pub fn parse(path: &str, storage: &Storage) -> Result<Remote, String> {
        let url = url::Url::parse(path).map_err(|e| format!("`{path}` is not a URL: {e}"))?;
        let bucket = url.host_str().unwrap_or_default().to_string();
        if bucket.is_empty() {
            return Err(format!("`{path}` names no bucket (`s3://BUCKET/prefix`)"));
        }
        let built = match url.scheme() {
            "s3" => {
                let mut builder = object_store::aws::AmazonS3Builder::from_env()
                    .with_url(path)
                    .with_allow_http(storage.allow_http);
                if let Some(endpoint) = &storage.endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                if let Some(region) = &storage.region {
                    builder = builder.with_region(region);
                }
                if let Some(key) = &storage.access_key_id {
                    builder = builder.with_access_key_id(key.expose());
                }
                if let Some(secret) = &storage.secret_access_key {
                    builder = builder.with_secret_access_key(secret.expose());
                }
                if let Some(token) = &storage.session_token {
                    builder = builder.with_token(token.expose());
                }
                builder.build().map(stores)
            }
            "gs" => object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(path)
                .build()
                .map(stores),
            _ => object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_url(path)
                .build()
                .map(stores),
        };
        // The builders' errors name options, never their values.
        let (store, multipart) = built.map_err(|e| format!("cannot use `{path}`: {e}"))?;
        let prefix = ObjectPath::from(url.path().trim_matches('/'));
        Ok(Remote {
            store,
            multipart,
            prefix,
            url: path.to_string(),
            scheme: url.scheme().to_string(),
            bucket,
        })
    }

    /// The `path` as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Checks at start that the bucket is there and may be listed with
    /// these credentials: a clear error now, not at the first commit.
    pub async fn check(&self) -> Result<(), String> {
        let error = match self.store.list_with_delimiter(Some(&self.prefix)).await {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let code = store_code(&error);
        Err(match code.as_deref() {
            Some("NoSuchBucket") => {
                format!("bucket `{}` of `{}` does not exist", self.bucket, self.url)
            }
            Some(
                "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AccessDenied" | "ExpiredToken",
            ) => format!(
                "the store refused these credentials for `{}` ({})",
                self.url,
                code.unwrap_or_default()
            ),
            _ => format!("cannot list `{}`: {}", self.url, cause(&error)),
        })
    }

    /// The objects below the prefix (or the one object it names) whose
    /// names end in `suffix`, skipping hidden ones (a name part starting
    /// with `.` or `_`, as Spark and Hive write them), sorted by name.
    pub async fn list(&self, suffix: &str) -> Result<Vec<Object>, String> {
        let mut objects = self.list_in("", suffix).await?;
        if objects.is_empty() && self.prefix.as_ref().ends_with(suffix) {
            // The path names one object rather than a prefix.
            if let Ok(meta) = self.store.head(&self.prefix).await {
                objects.push(Object {
                    location: meta.location,
                    size: meta.size,
                });
            }
        }
        Ok(objects)
    }

    /// As [`Remote::list`], below `relative` (a directory of the lake).
    pub async fn list_in(&self, relative: &str, suffix: &str) -> Result<Vec<Object>, String> {
        let failed = |e: &object_store::Error| format!("cannot list `{}`: {}", self.url, cause(e));
        let below = match relative {
            "" => self.prefix.clone(),
            relative => self.below_prefix(relative),
        };
        let listed: Vec<_> = self
            .store
            .list(Some(&below))
            .try_collect()
            .await
            .map_err(|e| failed(&e))?;
        let mut objects: Vec<Object> = listed
            .into_iter()
            .filter(|meta| {
                let relative = meta.location.prefix_match(&self.prefix);
                let hidden = relative.is_some_and(|mut parts| {
                    parts.any(|p| p.as_ref().starts_with('.') || p.as_ref().starts_with('_'))
                });
                !hidden && meta.location.as_ref().ends_with(suffix)
            })
            .map(|meta| Object {
                location: meta.location,
                size: meta.size,
            })
            .collect();
        objects.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(objects)
    }

    /// The URL of `object`, as a user would write it (`s3://bucket/key`).
    pub fn object_url(&self, object: &Object) -> String {
        format!("{}://{}/{}", self.scheme, self.bucket, object.location)
    }

    /// Bytes `range` of `object`, in one request. Blocking.
    pub fn read_range(&self, object: &Object, range: Range<u64>) -> Result<Bytes, String> {
        wait(self.store.get_range(&object.location, range.clone())).map_err(|e| {
            format!(
                "cannot read bytes {}..{} of {}: {}",
                range.start,
                range.end,
                self.object_url(object),
                cause(&e)
            )
        })
    }
}

/// Runs `future` to its end from synchronous code (see the module docs).
fn wait<F: Future>(future: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(future))
}

/// The store's own error code (`<Code>NoSuchBucket</Code>` in S3's
/// answer), when it gave one.
fn store_code(error: &object_store::Error) -> Option<String> {
    let text = error.to_string();
    let start = text.find("<Code>")? + "<Code>".len();
    let end = start + text[start..].find("</Code>")?;
    Some(text[start..end].to_string())
}

/// An object store error as a user can act on it: the store's code when it
/// gave one, else the client's message, cut short (it may quote a whole
/// XML answer).
fn cause(error: &object_store::Error) -> String {
    if let Some(code) = store_code(error) {
        return format!("the store answered {code}");
    }
    let text = error.to_string();
    match text.char_indices().nth(300) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use object_store::PutPayload;
    use object_store::memory::InMemory;

    use super::*;

    /// Listing finds the lake's files below the prefix, not hidden or other
    /// files, nor those of a neighbouring prefix; a path may name one file.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn listing_finds_the_lakes_files_and_ranges_read_them() {
        let store = Arc::new(InMemory::new());
        for key in [
            "lake/b/part-2.parquet",
            "lake/a/part-1.parquet",
            "lake/a/_staging/part-3.parquet",
            "lake/.tmp-part-4.parquet",
            "lake/a/notes.txt",
            "lakeside/part-5.parquet",
        ] {
            let payload = PutPayload::from(key.as_bytes().to_vec());
            store.put(&ObjectPath::from(key), payload).await.unwrap();
        }
        let remote = |prefix: &str| Remote {
            store: store.clone(),
            multipart: store.clone(),
            prefix: ObjectPath::from(prefix),
            url: format!("memory://{prefix}"),
            scheme: "memory".into(),
            bucket: "bucket".into(),
        };
        let lake = remote("lake");
        let found = lake.list(".parquet").await.unwrap();
        let urls: Vec<String> = found.iter().map(|o| lake.object_url(o)).collect();
        assert_eq!(
            urls,
            [
                "memory://bucket/lake/a/part-1.parquet",
                "memory://bucket/lake/b/part-2.parquet"
            ]
        );
        let one = remote("lake/b/part-2.parquet")
            .list(".parquet")
            .await
            .unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].size, "lake/b/part-2.parquet".len() as u64);
        let bytes = lake.read_range(&found[1], 7..11).unwrap();
        assert_eq!(&bytes[..], b"part");
    }

    #[test]
    fn paths_without_a_bucket_or_of_other_schemes_are_told_apart() {
        assert!(is_remote("s3://lake/x") && is_remote("gs://lake") && !is_remote("lake/x"));
        let error = Remote::parse("s3:///x", &Storage::default()).unwrap_err();
        assert!(error.contains("names no bucket"), "{error}");
    }
}
