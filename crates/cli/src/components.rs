//! Every component type the binary knows, from the source and sink crates.

use netpipe_core::config::{OptionDoc, Registry};

pub fn registry() -> Registry {
    Registry {
        sources: vec![
            netpipe_source_demo::source_type(),
            netpipe_source_aruba::source_type(),
        ],
        sinks: vec![
            netpipe_sink_stdout::sink_type(),
            netpipe_sink_blackhole::sink_type(),
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
