//! Pipeline files: YAML with named sources and sinks, checked whole before
//! anything starts.
//!
//! Parsing goes in steps, each collecting every error it finds: YAML syntax,
//! `${VAR}`s filled into the parsed values ([`interpolate`]), component
//! types and options (each component's own `deny_unknown_fields` struct),
//! then the graph (inputs that name
//! nothing, cycles, sources nobody reads), then each component's own checks
//! that need no network ([`check`]). Every error names the file, line and
//! column, and where a near miss is likely, the nearest valid name.

mod check;
mod checker;
mod graph;
mod interpolate;
mod locate;
mod registry;

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

use crate::batch::BatchConfig;
use crate::buffer::BufferConfig;
use crate::sink::SinkConfig;
use crate::source::{BuildContext, InputInfo, SourceConfig};

use check::check_components;
pub use check::{OptionError, OptionErrors, placeholder_hint, unknown_placeholder, writable_dir};
use checker::Checker;
use graph::check_graph;
use interpolate::{fill_in_variables, mask};
pub use locate::{Location, Locations};
pub use registry::{ComponentType, OptionDoc, Registry, SinkType, SourceType};

/// One problem in a pipeline file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: String,
    pub location: Option<Location>,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some(l) => write!(f, "{}:{}:{}: {}", self.file, l.line, l.column, self.message)?,
            None => write!(f, "{}: {}", self.file, self.message)?,
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every problem found in a pipeline file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Options every sink takes besides its own.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SinkCommon {
    /// The sources this sink reads: one name or a list.
    pub inputs: Inputs,
    /// When a batch is handed to the sink.
    #[serde(default)]
    pub batch: BatchConfig,
    /// Where events wait until the sink has written them.
    #[serde(default)]
    pub buffer: BufferConfig,
}

/// `inputs: demo` or `inputs: [a, b]`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Inputs {
    One(String),
    Many(Vec<String>),
}

impl Inputs {
    fn into_vec(self) -> Vec<String> {
        match self {
            Inputs::One(name) => vec![name],
            Inputs::Many(names) => names,
        }
    }
}

/// The optional `metrics:` section.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve Prometheus metrics at `http://ADDRESS/metrics`, e.g. `127.0.0.1:9598`.
    pub address: SocketAddr,
}

#[derive(Debug)]
pub struct SourceSpec {
    pub name: String,
    pub type_name: &'static str,
    pub config: Box<dyn SourceConfig>,
}

#[derive(Debug)]
pub struct SinkSpec {
    pub name: String,
    pub type_name: &'static str,
    pub inputs: Vec<String>,
    pub batch: BatchConfig,
    pub buffer: BufferConfig,
    pub config: Box<dyn SinkConfig>,
}

/// A checked pipeline, ready to run.
#[derive(Debug)]
pub struct PipelineConfig {
    pub sources: Vec<SourceSpec>,
    pub sinks: Vec<SinkSpec>,
    pub metrics: Option<MetricsConfig>,
    /// Relative paths in component options resolve against this directory.
    pub base_dir: PathBuf,
    /// Schemas of the streams the registry's sources emit.
    pub schemas: std::sync::Arc<crate::schema::StreamSchemas>,
    /// What is worth knowing but not wrong (an unset `${VAR}` under
    /// [`ParseOptions::unset_env_is_note`]).
    pub notes: Vec<ConfigError>,
}

impl PipelineConfig {
    /// What component `name` is told when it is checked and built.
    pub fn build_context(&self, name: &str) -> BuildContext {
        let inputs = self
            .sinks
            .iter()
            .find(|sink| sink.name == name)
            .map(|sink| {
                sink.inputs
                    .iter()
                    .filter_map(|input| self.sources.iter().find(|s| &s.name == input))
                    .map(|source| InputInfo {
                        name: source.name.as_str().into(),
                        type_name: source.type_name,
                        keeps_received_bytes: source.config.keeps_received_bytes(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        BuildContext {
            name: name.into(),
            base_dir: self.base_dir.clone(),
            schemas: self.schemas.clone(),
            readers_write_json: self.readers_write_json(name),
            inputs,
            metrics: Default::default(),
        }
    }

    /// Whether source `source` has readers, all of them sinks that write
    /// payloads as compact JSON: such a source may render JSON on arrival.
    pub fn readers_write_json(&self, source: &str) -> bool {
        let mut readers = self
            .sinks
            .iter()
            .filter(|sink| sink.inputs.iter().any(|input| input == source))
            .peekable();
        readers.peek().is_some() && readers.all(|sink| sink.config.writes_payload_json())
    }
}

const TOP_LEVEL_KEYS: [&str; 3] = ["sources", "sinks", "metrics"];

/// The options of [`SinkCommon`], taken out of a sink's before its own are read.
const SINK_COMMON_KEYS: [&str; 3] = ["inputs", "batch", "buffer"];

/// The largest pipeline file read. Checking a file costs a few hundred
/// times its size in memory (its tree, every key's location), and a
/// pipeline is a page or two; long lists belong in files of their own
/// (Aruba's `customers_file`).
pub const MAX_PIPELINE_BYTES: u64 = 4 << 20;

/// How a pipeline's text is read.
pub struct ParseOptions<'a> {
    /// Where relative paths in component options resolve: the file's directory.
    pub base_dir: PathBuf,
    /// Supplies `${VAR}` values.
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
    /// An unset `${VAR}` (with no default) is a note, not an error, and its
    /// value is checked as `$VAR`: for checking, in CI, files whose secrets
    /// come from the environment (`validate --no-env`).
    pub unset_env_is_note: bool,
}

/// Reads and checks a pipeline file, taking `${VAR}`s from the process environment.
pub fn load(path: &Path, registry: &Registry) -> Result<PipelineConfig, ConfigErrors> {
    load_with(path, registry, false)
}

/// [`load`], optionally with unset `${VAR}`s as notes ([`ParseOptions::unset_env_is_note`]).
pub fn load_with(
    path: &Path,
    registry: &Registry,
    unset_env_is_note: bool,
) -> Result<PipelineConfig, ConfigErrors> {
    let file = path.display().to_string();
    let error = |message: String, hint: Option<String>| {
        ConfigErrors(vec![ConfigError {
            file: file.clone(),
            location: None,
            message,
            hint,
        }])
    };
    let size = std::fs::metadata(path)
        .map_err(|e| error(format!("cannot read the pipeline file: {e}"), None))?
        .len();
    if size > MAX_PIPELINE_BYTES {
        return Err(error(
            format!(
                "the pipeline file is {:.1} MiB; netpipe reads at most {} MiB",
                size as f64 / f64::from(1 << 20),
                MAX_PIPELINE_BYTES >> 20
            ),
            Some("keep long lists in files of their own, e.g. Aruba's `customers_file`".into()),
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| error(format!("cannot read the pipeline file: {e}"), None))?;
    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let options = ParseOptions {
        base_dir,
        lookup: &|name| std::env::var(name).ok(),
        unset_env_is_note,
    };
    parse_with(&file, &text, registry, &options)
}

/// The nearest of `candidates` to `word`, if any is near enough to be a typo.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Checks pipeline text whose relative paths resolve against the current
/// directory; `lookup` supplies `${VAR}` values.
pub fn parse(
    file: &str,
    text: &str,
    registry: &Registry,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<PipelineConfig, ConfigErrors> {
    let options = ParseOptions {
        base_dir: PathBuf::from("."),
        lookup,
        unset_env_is_note: false,
    };
    parse_with(file, text, registry, &options)
}

/// Checks pipeline text: syntax, component options, the graph, and each
/// component's offline checks.
pub fn parse_with(
    file: &str,
    text: &str,
    registry: &Registry,
    options: &ParseOptions<'_>,
) -> Result<PipelineConfig, ConfigErrors> {
    // Variables are filled in after parsing, into values: what they hold is
    // never YAML (a `#` stays a `#`), and never in a syntax error.
    let masked = mask(text);
    let mut root: Value = serde_yaml_ng::from_str(&masked.text).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: file.to_string(),
            location: e.location().map(|l| Location {
                line: l.line(),
                column: l.column(),
            }),
            message: format!("invalid YAML: {e}"),
            hint: None,
        }])
    })?;
    let mut checker = Checker {
        file,
        locations: Locations::index(&masked.text),
        errors: Vec::new(),
        filled: HashSet::new(),
    };
    if root.is_null() {
        return Err(ConfigErrors(vec![ConfigError {
            file: file.to_string(),
            location: Some(Location { line: 1, column: 1 }),
            message: "the pipeline file is empty".into(),
            hint: Some("a pipeline has `sources:` and `sinks:`; see pipelines/demo.yaml".into()),
        }]));
    }
    let notes = fill_in_variables(&mut checker, &masked, &mut root, options);
    if !checker.errors.is_empty() {
        return Err(ConfigErrors(checker.errors));
    }
    let Some(root) = checker.mapping("", &root).cloned() else {
        return Err(ConfigErrors(checker.errors));
    };
    for key in root.keys() {
        let key = key.as_str().unwrap_or("?");
        if !TOP_LEVEL_KEYS.contains(&key) {
            let hint = nearest(key, TOP_LEVEL_KEYS).map(|n| format!("did you mean `{n}`?"));
            checker.error(key, format!("unknown top-level key `{key}`"), hint);
        }
    }

    let mut sources = Vec::new();
    let empty = Value::Mapping(Mapping::new());
    let source_map = checker
        .mapping("sources", root.get("sources").unwrap_or(&empty))
        .cloned()
        .unwrap_or_default();
    for (name, options) in source_map {
        let name = name.as_str().unwrap_or("?").to_string();
        let path = format!("sources.{name}");
        let Some(mut options) = checker.mapping(&path, &options).cloned() else {
            continue;
        };
        let Some(kind) = checker.component_type(&path, &mut options, &registry.sources) else {
            continue;
        };
        let options = checker.typed(&path, options, &kind.schema());
        match kind.parse(options) {
            Ok(config) => sources.push(SourceSpec {
                name,
                type_name: kind.name,
                config,
            }),
            Err(e) => checker.options_error(&path, e, &["type"]),
        }
    }

    let mut sinks = Vec::new();
    let sink_map = checker
        .mapping("sinks", root.get("sinks").unwrap_or(&empty))
        .cloned()
        .unwrap_or_default();
    for (name, options) in sink_map {
        let name = name.as_str().unwrap_or("?").to_string();
        let path = format!("sinks.{name}");
        let Some(mut options) = checker.mapping(&path, &options).cloned() else {
            continue;
        };
        let Some(kind) = checker.component_type(&path, &mut options, &registry.sinks) else {
            continue;
        };
        let mut common = Mapping::new();
        for key in SINK_COMMON_KEYS {
            if let Some(value) = options.remove(key) {
                common.insert(key.into(), value);
            }
        }
        let common = checker.typed(&path, common, &schemars::schema_for!(SinkCommon));
        let common = registry::parse_common(common);
        let config = kind.parse(checker.typed(&path, options, &kind.schema()));
        match (common, config) {
            (Ok(common), Ok(config)) => sinks.push(SinkSpec {
                name,
                type_name: kind.name,
                inputs: common.inputs.into_vec(),
                batch: common.batch,
                buffer: common.buffer,
                config,
            }),
            (common, config) => {
                for e in [common.err(), config.err()].into_iter().flatten() {
                    checker.options_error(&path, e, &["type", "inputs", "batch", "buffer"]);
                }
            }
        }
    }

    check_graph(&mut checker, &root, &sources, &sinks);

    let metrics = match root.get("metrics") {
        Some(value) => match registry::parse_metrics(match value {
            Value::Mapping(m) => {
                checker.typed("metrics", m.clone(), &schemars::schema_for!(MetricsConfig))
            }
            other => other.clone(),
        }) {
            Ok(m) => Some(m),
            Err(e) => {
                checker.options_error("metrics", e, &[]);
                None
            }
        },
        None => None,
    };

    let pipeline = PipelineConfig {
        sources,
        sinks,
        metrics,
        base_dir: options.base_dir.clone(),
        schemas: registry.schemas.clone(),
        notes,
    };
    check_components(&mut checker, &pipeline);
    if checker.errors.is_empty() {
        Ok(pipeline)
    } else {
        Err(ConfigErrors(checker.errors))
    }
}
