//! Every component type the binary knows: one line per source or sink
//! crate. A component's type carries everything else (options, docs,
//! stream schemas, simulator).

use netpipe_core::config::{OptionDoc, Registry};

pub fn registry() -> Registry {
    Registry::new(
        vec![
            netpipe_source_demo::source_type(),
            netpipe_source_aruba::source_type(),
            netpipe_source_parquet::source_type(),
            netpipe_source_packetfabric::source_type(),
            netpipe_source_kafka::source_type(),
            netpipe_source_nso::source_type(),
            netpipe_source_nso::bridge_source_type(),
            netpipe_source_cloudvision::source_type(),
        ],
        vec![
            netpipe_sink_stdout::sink_type(),
            netpipe_sink_blackhole::sink_type(),
            netpipe_sink_kafka::sink_type(),
            netpipe_sink_parquet::sink_type(),
        ],
    )
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
pub fn write_schemas(registry: &Registry, dir: &std::path::Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let schemas = &registry.schemas;
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

    /// The README's "Adding a source" list holds: a crate under
    /// crates/sources (or crates/sinks) is a component only through its one
    /// line in the registry, and each folder has one.
    #[test]
    fn every_component_crate_has_its_line_in_the_registry() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let folders = |kind: &str| {
            let mut names: Vec<String> = std::fs::read_dir(root.join("crates").join(kind))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let registry = registry();
        let components = include_str!("components.rs");
        let cargo = std::fs::read_to_string(root.join("crates/cli/Cargo.toml")).unwrap();
        for (kind, singular, count) in [
            ("sources", "source", registry.sources.len()),
            ("sinks", "sink", registry.sinks.len()),
        ] {
            let folders = folders(kind);
            // A crate registers each type it makes with a line of its own
            // (`nso` makes `nso` and `nso_bridge`).
            let lines_of = |folder: &str| {
                let prefix = format!("netpipe_{singular}_{folder}::");
                components
                    .lines()
                    .filter(|l| l.trim().starts_with(&prefix) && l.trim().ends_with("type(),"))
                    .count()
            };
            let lines: usize = folders.iter().map(|f| lines_of(f)).sum();
            assert_eq!(lines, count, "{kind}: {folders:?}");
            for folder in &folders {
                let line = format!("netpipe_{singular}_{folder}::{singular}_type(),");
                assert!(components.contains(&line), "no `{line}` in components.rs");
                let dependency = format!("netpipe-{singular}-{folder}.workspace = true");
                assert!(
                    cargo.contains(&dependency),
                    "no `{dependency}` in crates/cli/Cargo.toml"
                );
            }
        }
        let simulators: Vec<&str> = registry.simulators().map(|s| s.name).collect();
        assert_eq!(simulators, ["aruba", "packetfabric", "nso", "cloudvision"]);
    }

    /// Fuzz target (stable Rust, `arbtest`): the shipped pipelines edited at
    /// random (YAML's own characters, `${...}` references and words put in,
    /// runs cut out), with variables holding YAML-looking text: checking
    /// never panics, and a file that passes is one `run` would take.
    /// `ARBTEST_BUDGET_MS` sets how long.
    #[test]
    fn fuzz_edited_pipelines_are_checked_without_panicking() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines");
        let mut texts: Vec<String> = std::fs::read_dir(root)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        texts.sort();
        let pieces = [
            "{", "}", "[", "]", ":", ": ", ",", "-", "- ", "#", "'", "\"", "\n", "  ", "&a", "*a",
            "!!str ", "|", ">", "${", "${X}", "${Y:-", "$$", "~", "null", "1e999", "-1", "type",
            "sources", "sinks", "inputs", "batch", "kafka", "parquet", "demo", "\u{e000}",
        ];
        let registry = registry();
        arbtest::arbtest(|u| {
            let mut text = u.choose(&texts)?.clone();
            for _ in 0..u.int_in_range(1..=8)? {
                let mut at = u.int_in_range(0..=text.len())?;
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                if u.ratio(1, 3)? {
                    let mut end = u.int_in_range(at..=text.len().min(at + 40))?;
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    text.replace_range(at..end, "");
                } else {
                    text.insert_str(at, u.choose(&pieces)?);
                }
            }
            let x: String = u.arbitrary()?;
            let lookup = move |name: &str| match name {
                "X" => Some(x.clone()),
                "Y" => None,
                _ => Some("k3y #x: [y]".to_string()),
            };
            if let Ok(pipeline) = parse("fuzz.yaml", &text, &registry, &lookup) {
                assert!(!pipeline.sources.is_empty() && !pipeline.sinks.is_empty());
            }
            Ok(())
        });
    }
}
