//! The component types a pipeline file may name, and their option docs.

use schemars::{JsonSchema, Schema};
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use crate::payload::StreamDecoders;
use crate::schema::StreamSchemas;
use crate::simulate::Simulator;
use crate::sink::SinkConfig;
use crate::source::SourceConfig;

/// Where in a component's options deserialization failed, and why.
#[derive(Debug)]
pub(crate) struct PathError {
    /// Dotted path below the component, e.g. `batch.max_events`; empty for the component itself.
    pub path: String,
    pub message: String,
}

type Parse<C> = fn(serde_yaml_ng::Value) -> Result<Box<C>, PathError>;

/// One component type: its name in `type:`, a one-line description, how to
/// parse its options, and their documentation; for a source, also the Avro
/// schemas of the streams it emits and its vendor's simulator. The binary
/// learns everything about a component from this one value.
pub struct ComponentType<C: ?Sized> {
    pub name: &'static str,
    pub about: &'static str,
    parse: Parse<C>,
    schema: fn() -> Schema,
    stream_schemas: fn() -> Vec<(String, Json)>,
    stream_decoders: fn() -> StreamDecoders,
    simulator: Option<Simulator>,
}

pub type SourceType = ComponentType<dyn SourceConfig>;
pub type SinkType = ComponentType<dyn SinkConfig>;

fn parse_options<T: DeserializeOwned>(value: serde_yaml_ng::Value) -> Result<T, PathError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e
            .path()
            .iter()
            .map(|s| s.to_string())
            .filter(|s| s != "?")
            .collect::<Vec<_>>()
            .join(".");
        PathError {
            path,
            message: e.into_inner().to_string(),
        }
    })
}

impl SourceType {
    pub fn new<T: SourceConfig + DeserializeOwned + JsonSchema + 'static>(
        name: &'static str,
        about: &'static str,
    ) -> Self {
        ComponentType {
            name,
            about,
            parse: |v| parse_options::<T>(v).map(|c| Box::new(c) as Box<dyn SourceConfig>),
            schema: || schemars::schema_for!(T),
            stream_schemas: Vec::new,
            stream_decoders: Vec::new,
            simulator: None,
        }
    }

    /// The Avro schemas of the streams the source emits.
    pub fn with_stream_schemas(mut self, schemas: fn() -> Vec<(String, Json)>) -> Self {
        self.stream_schemas = schemas;
        self
    }

    /// The decoders of the bytes the source receives, per stream, for the
    /// kafka source to read them back (`encoding: protobuf`).
    pub fn with_stream_decoders(mut self, decoders: fn() -> StreamDecoders) -> Self {
        self.stream_decoders = decoders;
        self
    }

    /// `netpipe simulate <name>`: the vendor's server, on loopback.
    pub fn with_simulator(mut self, simulator: Simulator) -> Self {
        self.simulator = Some(simulator);
        self
    }

    pub fn simulator(&self) -> Option<&Simulator> {
        self.simulator.as_ref()
    }
}

impl SinkType {
    pub fn new<T: SinkConfig + DeserializeOwned + JsonSchema + 'static>(
        name: &'static str,
        about: &'static str,
    ) -> Self {
        ComponentType {
            name,
            about,
            parse: |v| parse_options::<T>(v).map(|c| Box::new(c) as Box<dyn SinkConfig>),
            schema: || schemars::schema_for!(T),
            stream_schemas: Vec::new,
            stream_decoders: Vec::new,
            simulator: None,
        }
    }
}

impl<C: ?Sized> ComponentType<C> {
    pub(crate) fn parse(&self, options: serde_yaml_ng::Value) -> Result<Box<C>, PathError> {
        (self.parse)(options).map_err(|mut e| {
            // Options flattened in from a shared struct (TLS) make serde
            // report an unknown key without the valid ones: name them from
            // the documented options.
            if e.message.starts_with("unknown field") && !e.message.contains("expected") {
                let names: Vec<String> = self
                    .options()
                    .into_iter()
                    .map(|o| format!("`{}`", o.name))
                    .collect();
                e.message = format!("{}, expected one of {}", e.message, names.join(", "));
            }
            e
        })
    }

    /// The options' JSON schema.
    pub(crate) fn schema(&self) -> Schema {
        (self.schema)()
    }

    /// The documented options, in declaration order.
    pub fn options(&self) -> Vec<OptionDoc> {
        options_of(&(self.schema)())
    }
}

/// One documented option of a component.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionDoc {
    pub name: String,
    pub kind: String,
    pub default: Option<String>,
    pub required: bool,
    pub description: String,
}

fn type_of(schema: &Json) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Json::as_str) {
        return reference
            .rsplit('/')
            .next()
            .unwrap_or(reference)
            .to_string();
    }
    if let Some(values) = schema.get("enum").and_then(Json::as_array) {
        let names: Vec<String> = values
            .iter()
            .map(|v| v.to_string().replace('"', ""))
            .collect();
        return names.join(" | ");
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(variants) = schema.get(key).and_then(Json::as_array) {
            let kinds: Vec<String> = variants
                .iter()
                .map(type_of)
                .filter(|k| k != "null")
                .collect();
            return kinds.join(" | ");
        }
    }
    match schema.get("type") {
        Some(Json::String(t)) if t == "array" => {
            format!("[{}]", schema.get("items").map(type_of).unwrap_or_default())
        }
        Some(Json::String(t)) => t.clone(),
        Some(Json::Array(ts)) => ts
            .iter()
            .filter_map(Json::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" | "),
        _ => "any".to_string(),
    }
}

fn options_of(schema: &Schema) -> Vec<OptionDoc> {
    let json = schema.as_value();
    let required: Vec<&str> = json
        .get("required")
        .and_then(Json::as_array)
        .map(|r| r.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = json.get("properties").and_then(Json::as_object) else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, prop)| OptionDoc {
            name: name.clone(),
            kind: type_of(prop),
            default: prop
                .get("default")
                .filter(|d| !d.is_null())
                .map(|d| match d {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                }),
            required: required.contains(&name.as_str()),
            description: prop
                .get("description")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .replace('\n', " "),
        })
        .collect()
}

/// Every component type a pipeline may use. The binary assembles it from
/// the source and sink crates.
#[derive(Default)]
pub struct Registry {
    pub sources: Vec<SourceType>,
    pub sinks: Vec<SinkType>,
    /// The Avro schemas of the streams the sources emit, and the common ones.
    pub schemas: std::sync::Arc<StreamSchemas>,
}

impl Registry {
    pub fn new(sources: Vec<SourceType>, sinks: Vec<SinkType>) -> Self {
        let mut schemas = StreamSchemas::with_common();
        for source in &sources {
            schemas.extend((source.stream_schemas)());
            schemas.extend_decoders((source.stream_decoders)());
        }
        Registry {
            sources,
            sinks,
            schemas: std::sync::Arc::new(schemas),
        }
    }

    /// The sources' simulators.
    pub fn simulators(&self) -> impl Iterator<Item = &Simulator> {
        self.sources.iter().filter_map(SourceType::simulator)
    }

    pub fn source(&self, name: &str) -> Option<&SourceType> {
        self.sources.iter().find(|t| t.name == name)
    }

    pub fn sink(&self, name: &str) -> Option<&SinkType> {
        self.sinks.iter().find(|t| t.name == name)
    }

    /// A markdown reference of every component and its options.
    pub fn reference(&self) -> String {
        let mut out = String::new();
        let sections = [
            (
                "Sources",
                self.sources
                    .iter()
                    .map(|t| (t.name, t.about, t.options()))
                    .collect::<Vec<_>>(),
            ),
            (
                "Sinks",
                self.sinks
                    .iter()
                    .map(|t| (t.name, t.about, t.options()))
                    .collect(),
            ),
        ];
        out.push_str("Every sink also takes these options:\n\n");
        out.push_str(&options_table(&options_of(&schemars::schema_for!(
            super::SinkCommon
        ))));
        out.push_str("\n`batch` takes:\n\n");
        out.push_str(&options_table(&options_of(&schemars::schema_for!(
            crate::batch::BatchConfig
        ))));
        out.push_str("\n`buffer` is one of:\n\n");
        out.push_str(&variants_doc(&schemars::schema_for!(
            crate::buffer::BufferConfig
        )));
        for (title, types) in sections {
            out.push_str(&format!("### {title}\n\n"));
            for (name, about, options) in types {
                out.push_str(&format!("#### `{name}`\n\n{about}\n\n"));
                out.push_str(&options_table(&options));
                out.push('\n');
            }
        }
        out
    }
}

pub(crate) fn parse_common(value: serde_yaml_ng::Value) -> Result<super::SinkCommon, PathError> {
    parse_options(value)
}

pub(crate) fn parse_metrics(
    value: serde_yaml_ng::Value,
) -> Result<super::MetricsConfig, PathError> {
    parse_options(value)
}

/// The variants of an enum tagged by `type`: each one's tag and
/// description, and a table of its other options.
fn variants_doc(schema: &Schema) -> String {
    let mut out = String::new();
    let variants = schema.as_value().get("oneOf").and_then(Json::as_array);
    for variant in variants.into_iter().flatten() {
        let tag = variant
            .pointer("/properties/type/const")
            .and_then(Json::as_str)
            .unwrap_or("?");
        let about = variant
            .get("description")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .replace('\n', " ");
        out.push_str(&format!("- `type: {tag}`: {about}\n"));
        let options: Vec<OptionDoc> =
            options_of(&Schema::try_from(variant.clone()).unwrap_or_default())
                .into_iter()
                .filter(|o| o.name != "type")
                .collect();
        if !options.is_empty() {
            out.push('\n');
            out.push_str(&options_table(&options));
        }
        out.push('\n');
    }
    out
}

fn options_table(options: &[OptionDoc]) -> String {
    let mut out = String::from("| option | type | default | description |\n|---|---|---|---|\n");
    for o in options {
        let default = match (&o.default, o.required) {
            (_, true) => "required".to_string(),
            (Some(d), _) => format!("`{d}`"),
            (None, _) => String::new(),
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            o.name,
            o.kind.replace('|', "\\|"),
            default,
            o.description
        ));
    }
    out
}
