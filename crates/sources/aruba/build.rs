//! Compiles `proto/aruba/*.proto` (protox: no system `protoc`) and
//! generates a reader per message type by Aruba's rules (`src/rules.rs`),
//! with the codec's generator.

use std::path::PathBuf;

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
    println!("cargo:rerun-if-changed=src/rules.rs");
    netpipe_protobuf::codegen::build(&proto_dir, &files, &rules::RULES, "aruba");
}
