//! Compiles `proto/aruba/*.proto` into a descriptor set with protox (pure
//! Rust), so the build needs no system `protoc`. The plans read the
//! descriptors at run time; from the same descriptors and rendering rules
//! (`src/rules.rs`) this also generates a reader per message type
//! (`build/readers.rs`).

use std::path::PathBuf;

use prost::Message as _;

#[path = "build/readers.rs"]
mod readers;
#[path = "src/rules.rs"]
mod rules;

fn main() {
    let proto_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../proto/aruba");
    let files = [
        "streaming.proto",
        "audit.proto",
        "apprf.proto",
        "location.proto",
        "monitoring.proto",
        "presence.proto",
        "security.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={}", proto_dir.join(f).display());
    }
    println!("cargo:rerun-if-changed=build/readers.rs");
    println!("cargo:rerun-if-changed=src/rules.rs");
    let set = protox::compile(files, [&proto_dir]).expect("proto/aruba/*.proto must compile");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let bytes = set.encode_to_vec();
    let pool = prost_reflect::DescriptorPool::decode(bytes.as_slice())
        .expect("protox's descriptors decode");
    std::fs::write(out.join("aruba_descriptors.bin"), &bytes).unwrap();
    std::fs::write(out.join("readers.rs"), readers::generate(&pool)).unwrap();
}
