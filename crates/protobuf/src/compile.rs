//! `.proto` files compiled to descriptors with protox (pure Rust: no
//! system `protoc`), at build time for generated readers or at run time
//! for the walk.

use std::path::Path;

use prost::Message as _;
use prost_reflect::DescriptorPool;

/// A `.proto` file that does not compile, with protox's account of where.
#[derive(Debug)]
pub struct CompileError(pub String);

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CompileError {}

/// Compiles `files` (relative to one of `includes`) into a descriptor set,
/// encoded, and the pool it makes. The well-known types need no include.
pub fn compile(
    files: &[impl AsRef<Path>],
    includes: &[impl AsRef<Path>],
) -> Result<(Vec<u8>, DescriptorPool), CompileError> {
    let set = protox::compile(files, includes).map_err(|e| CompileError(e.to_string()))?;
    let bytes = set.encode_to_vec();
    let pool = DescriptorPool::decode(bytes.as_slice())
        .map_err(|e| CompileError(format!("descriptors: {e}")))?;
    Ok((bytes, pool))
}
