//! Every component type the binary knows, from the source and sink crates.

use netpipe_core::config::{OptionDoc, Registry};
use netpipe_core::schema::StreamSchemas;

/// Schemas of every stream the sources emit.
pub fn schemas() -> StreamSchemas {
    let mut schemas = StreamSchemas::with_common();
    schemas.extend(netpipe_source_demo::stream_schemas());
    schemas.extend(netpipe_source_aruba::stream_schemas());
    schemas.extend(netpipe_source_packetfabric::stream_schemas());
    schemas
}

pub fn registry() -> Registry {
    Registry {
        schemas: std::sync::Arc::new(schemas()),
        sources: vec![
            netpipe_source_demo::source_type(),
            netpipe_source_aruba::source_type(),
            netpipe_source_parquet::source_type(),
            netpipe_source_packetfabric::source_type(),
        ],
        sinks: vec![
            netpipe_sink_stdout::sink_type(),
            netpipe_sink_blackhole::sink_type(),
            netpipe_sink_kafka::sink_type(),
            netpipe_sink_parquet::sink_type(),
        ],
    }
}

fn option_line(o: &OptionDoc) -> String {
    let default = match (&o.default, o.required) {
        (_, true) => " (required)".to_string(),
        (Some(d), _) => format!(" (default: {d})"),
        (None, _) => String::new(),
    };
    format!(
        "    {:<20} {}{default}\n        {}\n",
        o.name, o.kind, o.description
    )
}

/// `netpipe list`: each type, what it does, its options.
pub fn listing(registry: &Registry) -> String {
    let mut out = String::from("Sources:\n");
    for t in &registry.sources {
        out.push_str(&format!("  {}: {}\n", t.name, t.about));
        t.options()
            .iter()
            .for_each(|o| out.push_str(&option_line(o)));
    }
    out.push_str("\nSinks (each also takes `inputs` and `batch`):\n");
    for t in &registry.sinks {
        out.push_str(&format!("  {}: {}\n", t.name, t.about));
        t.options()
            .iter()
            .for_each(|o| out.push_str(&option_line(o)));
    }
    out
}

/// Writes `DIR/<stream>.avsc` for every stream; returns how many.
pub fn write_schemas(dir: &std::path::Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let schemas = schemas();
    for (stream, schema) in schemas.iter() {
        let text = serde_json::to_string_pretty(schema).unwrap_or_default() + "\n";
        std::fs::write(dir.join(format!("{stream}.avsc")), text)?;
    }
    Ok(schemas.iter().count())
}

#[cfg(test)]
mod tests {
    use netpipe_core::config::parse;

    use super::*;

    /// Whether source `central` of a pipeline with these sinks (and one
    /// that reads another source) is told that its readers all write JSON.
    fn readers_write_json(sinks: &str) -> bool {
        let yaml = format!(
            "sources:\n  central: {{ type: aruba_central, url: \"ws://127.0.0.1:1/streaming/api\", customers: [{{ name: A, key: k, topic: monitoring }}] }}\n  other: {{ type: demo }}\nsinks:\n{sinks}  rest: {{ type: blackhole, inputs: [other] }}\n"
        );
        let pipeline = parse("test.yaml", &yaml, &registry(), &|_| None).unwrap();
        pipeline.readers_write_json("central")
    }

    #[test]
    fn a_source_renders_json_only_when_every_sink_reading_it_writes_json() {
        let stdout = "  out: { type: stdout, inputs: [central] }\n";
        let kafka = |options: &str| {
            format!(
                "  kafka: {{ type: kafka, inputs: [central], bootstrap_servers: b:9092{options} }}\n"
            )
        };
        assert!(readers_write_json(stdout));
        assert!(readers_write_json(&(kafka("") + stdout)));
        assert!(readers_write_json(&kafka(", key: none")));
        // A sink that reads records, or the original bytes, or a payload
        // field for its key, needs the payload as it came.
        assert!(!readers_write_json(
            "  out: { type: stdout, encoding: json_pretty, inputs: [central] }\n"
        ));
        assert!(!readers_write_json(&kafka(", encoding: protobuf")));
        assert!(!readers_write_json(&kafka(", key: serial")));
        assert!(!readers_write_json(
            &(kafka("") + "  lake: { type: parquet, path: lake, inputs: [central] }\n")
        ));
        assert!(!readers_write_json(
            "  none: { type: blackhole, inputs: [central] }\n"
        ));
        // Sinks of other sources do not count.
        assert!(readers_write_json(
            &(stdout.to_string() + "  lake: { type: parquet, path: lake, inputs: [other] }\n")
        ));
    }
}
