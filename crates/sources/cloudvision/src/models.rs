//! The resource models a `cloudvision` source reads, as descriptors: the
//! built-in `arista.event.v1` (the project's own `.proto` files, compiled
//! in), plus every `.proto` file below the `proto_path` directories,
//! compiled at start with protox, so other models (inventory, bugexposure,
//! ...) need no rebuild of netpipe.
//!
//! A model `<package>.<Model>` is served by `<package>.<Model>Service` and
//! answered with `<package>.<Model>StreamResponse` (the value, its time, the
//! operation): the response message is what events carry, so every record
//! says its operation and time, typed by the same descriptors.

use std::path::{Path, PathBuf};

use prost_reflect::{DescriptorPool, MessageDescriptor};
use protox::file::{
    ChainFileResolver, File, FileResolver, GoogleFileResolver, IncludeFileResolver,
};

/// The project's own `.proto` files of the built-in model.
const BUILT_IN: [(&str, &str); 4] = [
    (
        "arista/event.v1/event.proto",
        include_str!("../../../../proto/arista/event.v1/event.proto"),
    ),
    (
        "arista/event.v1/services.gen.proto",
        include_str!("../../../../proto/arista/event.v1/services.gen.proto"),
    ),
    (
        "arista/subscriptions/subscriptions.proto",
        include_str!("../../../../proto/arista/subscriptions/subscriptions.proto"),
    ),
    (
        "arista/time/time.proto",
        include_str!("../../../../proto/arista/time/time.proto"),
    ),
];

/// The model netpipe reads with no `proto_path`.
pub const EVENT_MODEL: &str = "arista.event.v1.Event";

struct BuiltIn;

impl FileResolver for BuiltIn {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match BUILT_IN.iter().find(|(file, _)| *file == name) {
            Some((file, source)) => File::from_source(file, source),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

/// Compiles the built-in files and every `.proto` below `proto_path`
/// (a vendor file of the same name as a built-in one wins).
pub fn compile(proto_path: &[PathBuf]) -> Result<DescriptorPool, String> {
    let mut resolver = ChainFileResolver::new();
    for dir in proto_path {
        resolver.add(IncludeFileResolver::new(dir.clone()));
    }
    resolver.add(BuiltIn);
    resolver.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_imports(true);
    let mut files: Vec<String> = BUILT_IN.iter().map(|(name, _)| name.to_string()).collect();
    for dir in proto_path {
        let mut found = Vec::new();
        proto_files(dir, dir, &mut found)
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        files.extend(found);
    }
    for file in &files {
        compiler.open_file(file).map_err(|e| e.to_string())?;
    }
    Ok(compiler.descriptor_pool())
}

/// The `.proto` files below `dir`, named relative to `root`.
fn proto_files(root: &Path, dir: &Path, found: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            proto_files(root, &path, found)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            let name = path.strip_prefix(root).unwrap_or(&path);
            found.push(name.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

/// A model the resource API serves, found in the descriptors.
#[derive(Debug, Clone)]
pub struct Model {
    pub value: MessageDescriptor,
    /// `<Model>StreamResponse`: what events carry.
    pub response: MessageDescriptor,
    /// `/<package>.<Model>Service/Subscribe`.
    pub subscribe_path: String,
    /// `cloudvision.<package>.<model>`, lower case.
    pub stream: String,
}

impl Model {
    /// Looks `name` (`arista.event.v1.Event`) up in `pool`.
    pub fn find(pool: &DescriptorPool, name: &str) -> Result<Model, String> {
        let value = pool.get_message_by_name(name).ok_or_else(|| {
            format!("no message `{name}` in the descriptors (give `proto_path` for models other than `{EVENT_MODEL}`)")
        })?;
        if value.get_field_by_name("key").is_none() {
            return Err(format!("`{name}` has no `key` field: not a resource model"));
        }
        let response_name = format!("{name}StreamResponse");
        let response = pool.get_message_by_name(&response_name).ok_or_else(|| {
            format!("no `{response_name}` in the descriptors (the model's services.gen.proto must be in `proto_path`)")
        })?;
        let (package, model) = name.rsplit_once('.').unwrap_or(("", name));
        Ok(Model {
            subscribe_path: format!("/{package}.{model}Service/Subscribe"),
            stream: stream_name(package, model),
            value,
            response,
        })
    }
}

/// `cloudvision.<package>.<model>`: the package without `arista.` and its
/// version (`arista.event.v1` → `event`), all lower case.
fn stream_name(package: &str, model: &str) -> String {
    let parts: Vec<&str> = package
        .split('.')
        .filter(|p| *p != "arista")
        .filter(|p| {
            !(p.len() > 1 && p.starts_with('v') && p[1..].chars().all(|c| c.is_ascii_digit()))
        })
        .collect();
    format!("cloudvision.{}.{model}", parts.join(".")).to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_model_is_found_with_its_service_and_stream() {
        let pool = compile(&[]).unwrap();
        let model = Model::find(&pool, EVENT_MODEL).unwrap();
        assert_eq!(
            model.subscribe_path,
            "/arista.event.v1.EventService/Subscribe"
        );
        assert_eq!(model.stream, "cloudvision.event.event");
        assert_eq!(
            model.response.full_name(),
            "arista.event.v1.EventStreamResponse"
        );
        assert!(
            Model::find(&pool, "arista.inventory.v1.Device")
                .unwrap_err()
                .contains("proto_path")
        );
        assert_eq!(
            stream_name("arista.tag.v2", "TagAssignment"),
            "cloudvision.tag.tagassignment"
        );
    }
}
