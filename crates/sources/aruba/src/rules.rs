//! Aruba's rules for the protobuf codec: which fields key and time a
//! payload, which `bytes` are names, and that `{addr}` / `{af, addr}`
//! messages are addresses. Plain data, shared with `build.rs` (which
//! generates the readers by the same rules) by `#[path]`.

use netpipe_protobuf::Rules;

pub const RULES: Rules = Rules {
    // Fields that identify a device or client, in order of preference.
    key_paths: &[
        "serial_number",
        "serial",
        "device_id",
        "sta_eth_mac",
        "macaddr",
        "mac",
        "ap_mac",
        "client_mac",
    ],
    // Its unit is not documented: told apart by magnitude (`events.rs`).
    time_path: Some("timestamp"),
    // Network names (ESSIDs) and URL prefixes.
    text_bytes: &["essid", "network", "dest_url_prefix"],
    addresses: true,
};
