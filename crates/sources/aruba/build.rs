//! Compiles `proto/aruba/*.proto` into a descriptor set with protox (pure
//! Rust), so the build needs no system `protoc`. The decoder reads the
//! descriptors at run time; nothing is generated as Rust code.

use std::path::PathBuf;

use prost::Message as _;

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
    let set = protox::compile(files, [&proto_dir]).expect("proto/aruba/*.proto must compile");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("aruba_descriptors.bin");
    std::fs::write(out, set.encode_to_vec()).unwrap();
}
