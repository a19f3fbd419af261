//! The checker a pipeline file goes through: it collects every error with
//! its location, and reports component options, mappings and types the
//! same way everywhere.

use std::collections::HashSet;

use serde_yaml_ng::{Mapping, Value};

use super::interpolate::retype;
use super::registry::{self, ComponentType};
use super::{ConfigError, Locations, nearest};

/// The backticked names in a serde "unknown field" message, after "expected".
fn expected_names(message: &str) -> Vec<&str> {
    let Some((_, expected)) = message.split_once("expected") else {
        return Vec::new();
    };
    expected.split('`').skip(1).step_by(2).collect()
}

pub(super) struct Checker<'a> {
    pub file: &'a str,
    pub locations: Locations,
    pub errors: Vec<ConfigError>,
    /// Paths of the values `${VAR}`s filled in.
    pub filled: HashSet<String>,
}

impl Checker<'_> {
    pub fn error(&mut self, path: &str, message: String, hint: Option<String>) {
        self.errors.push(ConfigError {
            file: self.file.to_string(),
            location: self.locations.find(path),
            message,
            hint,
        });
    }

    /// Reports a component-options error at the deepest path it names.
    pub fn options_error(
        &mut self,
        component: &str,
        error: registry::PathError,
        extra_keys: &[&str],
    ) {
        let mut path = component.to_string();
        if !error.path.is_empty() {
            path = format!("{path}.{}", error.path);
        }
        let unknown = error
            .message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next());
        match unknown {
            Some(key) => {
                // The path may or may not already end with the unknown key.
                let parent = path
                    .strip_suffix(&format!(".{key}"))
                    .unwrap_or(&path)
                    .to_string();
                let at_top = parent == component;
                let path = parent;
                let mut valid = expected_names(&error.message);
                if at_top {
                    valid.extend_from_slice(extra_keys);
                }
                let hint = nearest(key, valid.iter().copied())
                    .map(|n| format!("did you mean `{n}`?"))
                    .or_else(|| Some(format!("valid keys: {}", valid.join(", "))));
                self.error(
                    &format!("{path}.{key}"),
                    format!("unknown key `{key}` in `{path}`"),
                    hint,
                );
            }
            None => self.error(&path, format!("`{path}`: {}", error.message), None),
        }
    }

    /// The options of the component at `path` as its type's `schema` reads
    /// them: filled-in values made numbers or booleans where it wants one.
    pub fn typed(&self, path: &str, options: Mapping, schema: &schemars::Schema) -> Value {
        let mut options = Value::Mapping(options);
        let root = schema.as_value();
        retype(&mut options, path, root, root, &self.filled);
        options
    }

    pub fn mapping<'v>(&mut self, path: &str, value: &'v Value) -> Option<&'v Mapping> {
        match value {
            Value::Mapping(m) => Some(m),
            _ => {
                self.error(
                    path,
                    format!("`{path}` must be a mapping of names to options"),
                    None,
                );
                None
            }
        }
    }

    /// Splits `type` off a component's options and checks it names a known type.
    pub fn component_type<'r, C: ?Sized>(
        &mut self,
        path: &str,
        options: &mut Mapping,
        types: &'r [ComponentType<C>],
    ) -> Option<&'r ComponentType<C>> {
        let names = || types.iter().map(|t| t.name);
        match options.remove("type") {
            Some(Value::String(name)) => match types.iter().find(|t| t.name == name) {
                Some(t) => Some(t),
                None => {
                    let hint = nearest(&name, names())
                        .map(|n| format!("did you mean `{n}`?"))
                        .unwrap_or_else(|| {
                            format!("known types: {}", names().collect::<Vec<_>>().join(", "))
                        });
                    self.error(
                        &format!("{path}.type"),
                        format!("unknown component type `{name}`"),
                        Some(hint),
                    );
                    None
                }
            },
            Some(_) => {
                self.error(
                    &format!("{path}.type"),
                    "`type` must be a string".into(),
                    None,
                );
                None
            }
            None => {
                let known = names().collect::<Vec<_>>().join(", ");
                self.error(
                    path,
                    format!("`{path}` has no `type`"),
                    Some(format!("known types: {known}")),
                );
                None
            }
        }
    }
}
