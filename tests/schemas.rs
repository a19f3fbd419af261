//! `schemas/` holds the Avro schema of every stream, written by
//! `netpipe schemas` from the definitions the sources decode with. This
//! keeps the committed files and the code from drifting apart.

mod support;

use support::*;

#[test]
fn committed_schemas_match_the_generated_ones() {
    let dir = tempfile::tempdir().unwrap();
    let output = netpipe()
        .args(["schemas", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let committed = repo_root().join("schemas");
    let mut generated: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let mut in_repo: Vec<_> = std::fs::read_dir(&committed)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    generated.sort();
    in_repo.sort();
    assert_eq!(generated, in_repo, "run scripts/update-docs.sh");
    assert!(
        generated.len() > 40,
        "every aruba stream, split element, demo, gap and dead letter"
    );
    for name in generated {
        let fresh = std::fs::read_to_string(dir.path().join(&name)).unwrap();
        let old = std::fs::read_to_string(committed.join(&name)).unwrap();
        assert!(
            fresh == old,
            "{name:?} is stale: run scripts/update-docs.sh"
        );
    }
}

/// The field's Avro type, without its `["null", T]` union.
fn field_type(schema: &serde_json::Value, name: &str) -> serde_json::Value {
    let field = schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no field `{name}`"));
    match &field["type"] {
        serde_json::Value::Array(union) => union[1].clone(),
        other => other.clone(),
    }
}

/// A few schemas checked by hand against what they come from, so that a
/// schema that is wrong (and committed) fails, not only one that changed.
#[test]
fn schemas_say_what_the_protos_and_the_docs_say() {
    let read = |stream: &str| -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(repo_root().join(format!("schemas/{stream}.avsc"))).unwrap(),
        )
        .unwrap()
    };
    // proto/aruba/audit.proto, message audit_message, in declaration order:
    // uint32 timestamp is a long, the classification enum a name, the
    // ip_address message a rendered string, config a nested record.
    let audit = read("aruba.audit");
    let names: Vec<&str> = audit["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "customer_id",
            "timestamp",
            "service",
            "group_name",
            "target",
            "client_ip",
            "username",
            "config_info",
            "firmware_info",
            "dm_info"
        ]
    );
    assert_eq!(field_type(&audit, "timestamp"), "long");
    assert_eq!(field_type(&audit, "service"), "string");
    assert_eq!(field_type(&audit, "client_ip"), "string");
    let config = field_type(&audit, "config_info");
    assert_eq!(config["type"], "record");
    assert_eq!(field_type(&config, "data"), "string");
    // proto/aruba/location.proto, stream_location: float coordinates are
    // doubles, `optional bool associated` a boolean, repeated strings an array.
    let location = read("aruba.location");
    assert_eq!(field_type(&location, "sta_location_x"), "double");
    assert_eq!(field_type(&location, "associated"), "boolean");
    assert_eq!(field_type(&location, "geofence_ids")["items"], "string");
    // Gaps: the scope is a map of strings; times are timestamp-micros.
    let gap = read("netpipe.gap");
    assert_eq!(field_type(&gap, "scope")["type"], "map");
    assert_eq!(field_type(&gap, "scope")["values"], "string");
    assert_eq!(field_type(&gap, "from")["logicalType"], "timestamp-micros");
    // Dead letters keep the raw bytes.
    assert_eq!(field_type(&read("netpipe.dead_letter"), "raw"), "bytes");
}

/// Records whose fields share a name in `schema`, anywhere in it.
fn repeated_fields(schema: &serde_json::Value, out: &mut Vec<String>) {
    match schema {
        serde_json::Value::Object(object) => {
            if let Some(fields) = object.get("fields").and_then(|f| f.as_array()) {
                let mut seen = std::collections::HashSet::new();
                for name in fields.iter().filter_map(|f| f["name"].as_str()) {
                    if !seen.insert(name) {
                        out.push(format!("{}.{name}", object["name"]));
                    }
                }
            }
            object.values().for_each(|v| repeated_fields(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| repeated_fields(v, out)),
        _ => {}
    }
}

/// Avro names a record's field once; so do a record's JSON and columns.
/// (A split monitoring element with a `timestamp` of its own once carried
/// two.)
#[test]
fn no_record_names_a_field_twice() {
    let mut repeated = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("schemas")).unwrap() {
        let path = entry.unwrap().path();
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut found = Vec::new();
        repeated_fields(&schema, &mut found);
        repeated.extend(
            found
                .into_iter()
                .map(|f| format!("{}: {f}", path.display())),
        );
    }
    assert!(repeated.is_empty(), "{repeated:#?}");
}
