//! The graph of a pipeline: what sinks read.

use serde_yaml_ng::{Mapping, Value};

use super::checker::Checker;
use super::{SinkSpec, SourceSpec, nearest};

/// Inputs that name nothing, name a sink (a sink reading a sink would loop
/// back on itself), and sources that no sink reads.
pub(super) fn check_graph(
    checker: &mut Checker<'_>,
    root: &Mapping,
    sources: &[SourceSpec],
    sinks: &[SinkSpec],
) {
    let declared = |section: &str| -> Vec<String> {
        root.get(section)
            .and_then(Value::as_mapping)
            .map(|m| {
                m.keys()
                    .filter_map(|k| k.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let source_names = declared("sources");
    let sink_names = declared("sinks");
    if source_names.is_empty() {
        checker.error(
            "sources",
            "the pipeline has no sources".into(),
            Some("add a `sources:` section".into()),
        );
    }
    if sink_names.is_empty() {
        checker.error(
            "sinks",
            "the pipeline has no sinks".into(),
            Some("add a `sinks:` section".into()),
        );
    }
    for sink in sinks {
        for (i, input) in sink.inputs.iter().enumerate() {
            let path = format!("sinks.{}.inputs.{i}", sink.name);
            if *input == sink.name {
                checker.error(
                    &path,
                    format!(
                        "sink `{}` lists itself as an input: that is a cycle",
                        sink.name
                    ),
                    Some("inputs name sources".into()),
                );
            } else if sink_names.contains(input) {
                checker.error(
                    &path,
                    format!(
                        "input `{input}` of sink `{}` is a sink, and sinks only read sources",
                        sink.name
                    ),
                    None,
                );
            } else if !source_names.contains(input) {
                let hint = nearest(input, source_names.iter().map(String::as_str))
                    .map(|n| format!("did you mean `{n}`?"))
                    .or_else(|| Some(format!("sources: {}", source_names.join(", "))));
                checker.error(
                    &path,
                    format!("input `{input}` of sink `{}` names no source", sink.name),
                    hint,
                );
            }
        }
        if sink.inputs.is_empty() {
            checker.error(
                &format!("sinks.{}.inputs", sink.name),
                format!("sink `{}` has no inputs", sink.name),
                None,
            );
        }
    }
    for source in sources {
        if !sinks.iter().any(|s| s.inputs.contains(&source.name)) {
            checker.error(
                &format!("sources.{}", source.name),
                format!("source `{}` is read by no sink", source.name),
                Some("add it to a sink's `inputs`, or remove it".into()),
            );
        }
    }
}
