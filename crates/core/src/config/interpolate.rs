//! `${VAR}` and `${VAR:-default}` from the environment, so that secrets stay
//! out of pipeline files. `$$` writes a literal `$`.
//!
//! Variables are filled into the parsed document's values, never pasted
//! into its text: a value holding `#` or `: ` stays whole, and a YAML error
//! cannot show one. Before parsing, each reference is masked by a token of
//! private-use characters (a plain scalar anywhere, even inside `{ }`,
//! and as long as the reference where it fits, so columns stay true); after
//! parsing, the tokens in values are replaced by the variables' values.
//!
//! A filled-in value stays text (a key of digits is a key, with its leading
//! zeros), except where the option it fills is a number or a boolean and
//! nothing else ([`retype`], from the component's documented options): so
//! `count: ${N}` works too.

use std::collections::HashSet;

use serde_json::Value as Json;
use serde_yaml_ng::Value;

use super::checker::Checker;
use super::{ConfigError, ParseOptions};

const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';
const PAD: char = '\u{E002}';

/// One `${NAME}` or `${NAME:-default}` of a text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference {
    name: String,
    default: Option<String>,
}

/// A pipeline's text with its variable references masked.
#[derive(Debug)]
pub(crate) struct Masked {
    pub text: String,
    references: Vec<Reference>,
}

/// A `${VAR}` with no value and no default, in the value at `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MissingAt {
    pub path: String,
    pub name: String,
}

/// What [`Masked::substitute`] did: the variables with no value, and the
/// paths of the values it filled.
#[derive(Debug, Default)]
pub(crate) struct Filled {
    pub missing: Vec<MissingAt>,
    pub paths: HashSet<String>,
}

/// Masks every `${...}` of `text` (`$$` and lone `$` are left as they are).
pub(crate) fn mask(text: &str) -> Masked {
    let mut out = String::with_capacity(text.len());
    let mut references = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$$") {
            out.push_str("$$");
            rest = after;
            continue;
        }
        let Some(close) = tail.strip_prefix("${").and_then(|t| t.find('}')) else {
            out.push('$');
            rest = &tail[1..];
            continue;
        };
        let inner = &tail[2..2 + close];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default.to_string())),
            None => (inner, None),
        };
        let token = format!("{OPEN}{}{CLOSE}", references.len());
        let original = tail[..close + 3].chars().count();
        out.push_str(&token);
        out.extend(std::iter::repeat_n(
            PAD,
            original.saturating_sub(token.chars().count()),
        ));
        references.push(Reference {
            name: name.to_string(),
            default,
        });
        rest = &tail[close + 3..];
    }
    out.push_str(rest);
    Masked {
        text: out,
        references,
    }
}

impl Masked {
    /// Fills the variables into every string value below `root` (keys are
    /// names, and left alone); returns the ones that have no value.
    pub fn substitute(&self, root: &mut Value, lookup: &dyn Fn(&str) -> Option<String>) -> Filled {
        let mut filled = Filled::default();
        self.walk(root, String::new(), lookup, &mut filled);
        filled
    }

    fn walk(
        &self,
        value: &mut Value,
        path: String,
        lookup: &dyn Fn(&str) -> Option<String>,
        filled: &mut Filled,
    ) {
        let child = |segment: &str| {
            if path.is_empty() {
                segment.to_string()
            } else {
                format!("{path}.{segment}")
            }
        };
        match value {
            Value::Mapping(mapping) => {
                for (key, value) in mapping.iter_mut() {
                    let segment = key.as_str().map(str::to_string).unwrap_or_default();
                    self.walk(value, child(&segment), lookup, filled);
                }
            }
            Value::Sequence(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.walk(item, child(&i.to_string()), lookup, filled);
                }
            }
            Value::Tagged(tagged) => self.walk(&mut tagged.value, path, lookup, filled),
            Value::String(text) if text.contains([OPEN, '$']) => {
                let before = filled.missing.len();
                let text = self.fill(text, lookup, &path, &mut filled.missing);
                if filled.missing.len() == before {
                    *value = Value::String(text);
                    filled.paths.insert(path);
                }
            }
            _ => {}
        }
    }

    /// `text` with its tokens replaced and `$$` made `$`.
    fn fill(
        &self,
        text: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
        path: &str,
        missing: &mut Vec<MissingAt>,
    ) -> String {
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '$' if chars.peek() == Some(&'$') => {
                    chars.next();
                    out.push('$');
                }
                OPEN => {
                    let index: String = chars.by_ref().take_while(|c| *c != CLOSE).collect();
                    while chars.peek() == Some(&PAD) {
                        chars.next();
                    }
                    let Some(reference) = index
                        .parse()
                        .ok()
                        .and_then(|i: usize| self.references.get(i))
                    else {
                        continue;
                    };
                    let value = lookup(&reference.name)
                        .filter(|v| !v.is_empty() || reference.default.is_none())
                        .or_else(|| reference.default.clone());
                    match value {
                        Some(value) => out.push_str(&value),
                        None => missing.push(MissingAt {
                            path: path.to_string(),
                            name: reference.name.clone(),
                        }),
                    }
                }
                c => out.push(c),
            }
        }
        out
    }
}

/// Makes the filled-in values below `value` (at `path`; `filled` holds the
/// paths) numbers or booleans where `schema` (in the JSON schema `root`)
/// allows only those, and the text reads as one.
pub(crate) fn retype(
    value: &mut Value,
    path: &str,
    schema: &Json,
    root: &Json,
    filled: &HashSet<String>,
) {
    let schema = resolve(schema, root);
    match value {
        Value::Mapping(mapping) => {
            for (key, child) in mapping.iter_mut() {
                let Some(key) = key.as_str() else { continue };
                let child_path = format!("{path}.{key}");
                if let Some(child_schema) = member(schema, root, key) {
                    retype(child, &child_path, child_schema, root, filled);
                }
            }
        }
        Value::Sequence(items) => {
            if let Some(items_schema) = items_of(schema, root) {
                for (i, item) in items.iter_mut().enumerate() {
                    retype(item, &format!("{path}.{i}"), items_schema, root, filled);
                }
            }
        }
        Value::String(text) if filled.contains(path) => {
            let types = types_of(schema, root);
            let only =
                |allowed: &[&str]| !types.is_empty() && types.iter().all(|t| allowed.contains(t));
            let typed = if only(&["integer", "number", "null"]) {
                serde_yaml_ng::from_str::<Value>(text)
                    .ok()
                    .filter(Value::is_number)
            } else if only(&["boolean", "null"]) {
                text.parse::<bool>().ok().map(Value::Bool)
            } else {
                None
            };
            if let Some(typed) = typed {
                *value = typed;
            }
        }
        _ => {}
    }
}

/// A schema with its `$ref` followed.
fn resolve<'a>(schema: &'a Json, root: &'a Json) -> &'a Json {
    match schema.get("$ref").and_then(Json::as_str) {
        Some(reference) => reference
            .strip_prefix("#/")
            .and_then(|p| root.pointer(&format!("/{p}")))
            .unwrap_or(schema),
        None => schema,
    }
}

/// The variants of a schema: itself, or its `anyOf`/`oneOf`/`allOf` members.
fn variants<'a>(schema: &'a Json, root: &'a Json) -> Vec<&'a Json> {
    let schema = resolve(schema, root);
    let nested: Vec<&Json> = ["anyOf", "oneOf", "allOf"]
        .iter()
        .filter_map(|k| schema.get(*k).and_then(Json::as_array))
        .flatten()
        .collect();
    if nested.is_empty() {
        vec![schema]
    } else {
        nested.into_iter().flat_map(|v| variants(v, root)).collect()
    }
}

fn member<'a>(schema: &'a Json, root: &'a Json, key: &str) -> Option<&'a Json> {
    variants(schema, root).into_iter().find_map(|v| {
        v.get("properties")
            .and_then(|p| p.get(key))
            .or_else(|| v.get("additionalProperties").filter(|a| a.is_object()))
    })
}

fn items_of<'a>(schema: &'a Json, root: &'a Json) -> Option<&'a Json> {
    variants(schema, root)
        .into_iter()
        .find_map(|v| v.get("items"))
}

fn types_of<'a>(schema: &'a Json, root: &'a Json) -> Vec<&'a str> {
    let mut types = Vec::new();
    for v in variants(schema, root) {
        match v.get("type") {
            Some(Json::String(t)) => types.push(t.as_str()),
            Some(Json::Array(ts)) => types.extend(ts.iter().filter_map(Json::as_str)),
            // No type: anything (an enum's strings, a free value).
            _ => return vec!["any"],
        }
    }
    types
}

/// Fills in the `${VAR}`s of every value; unset ones are errors, or notes
/// (left as `$VAR`).
pub(super) fn fill_in_variables(
    checker: &mut Checker<'_>,
    masked: &Masked,
    root: &mut Value,
    options: &ParseOptions<'_>,
) -> Vec<ConfigError> {
    let filled = masked.substitute(root, options.lookup);
    checker.filled = filled.paths;
    let missing = filled.missing;
    if missing.is_empty() {
        return Vec::new();
    }
    if !options.unset_env_is_note {
        for m in &missing {
            checker.errors.push(ConfigError {
                file: checker.file.to_string(),
                location: checker.locations.find_value(&m.path),
                message: format!("environment variable `{}` is not set", m.name),
                hint: Some(format!("set it, or give a default: ${{{}:-value}}", m.name)),
            });
        }
        return Vec::new();
    }
    let unset = |name: &str| missing.iter().any(|m| m.name == name);
    let keep =
        |name: &str| (options.lookup)(name).or_else(|| unset(name).then(|| format!("${name}")));
    checker.filled.extend(masked.substitute(root, &keep).paths);
    missing
        .iter()
        .map(|m| ConfigError {
            file: checker.file.to_string(),
            location: checker.locations.find_value(&m.path),
            message: format!(
                "note: environment variable `{}` is not set; checked as `${}`",
                m.name, m.name
            ),
            hint: Some("it must be set when the pipeline runs".into()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "KEY" => Some("s3cret".into()),
            "EMPTY" => Some(String::new()),
            "HASH" => Some("k3y #x: y".into()),
            "NUM" => Some("0123".into()),
            "COUNT" => Some("10".into()),
            _ => None,
        }
    }

    fn filled(text: &str) -> (Value, Vec<MissingAt>) {
        let masked = mask(text);
        let mut root: Value = serde_yaml_ng::from_str(&masked.text).unwrap();
        let filled = masked.substitute(&mut root, &env);
        (root, filled.missing)
    }

    #[test]
    fn replaces_variables_and_defaults() {
        let (root, missing) = filled(
            "key: ${KEY}\nhost: ${HOST:-localhost}\nempty: ${EMPTY:-fallback}\ncost: $$5 $x",
        );
        assert!(missing.is_empty());
        assert_eq!(root["key"], Value::String("s3cret".into()));
        assert_eq!(root["host"], Value::String("localhost".into()));
        assert_eq!(root["empty"], Value::String("fallback".into()));
        assert_eq!(root["cost"], Value::String("$5 $x".into()));
    }

    #[test]
    fn values_stay_whole_text_and_flow_collections_take_references() {
        let (root, missing) =
            filled("hash: ${HASH}\nzero: ${NUM}\nflow: { a: ${KEY}, b: [x${KEY}, ${NOPE}] }\n");
        assert_eq!(
            missing,
            vec![MissingAt {
                path: "flow.b.1".into(),
                name: "NOPE".into()
            }]
        );
        assert_eq!(root["hash"], Value::String("k3y #x: y".into()));
        assert_eq!(root["zero"], Value::String("0123".into()));
        assert_eq!(root["flow"]["a"], Value::String("s3cret".into()));
        assert_eq!(root["flow"]["b"][0], Value::String("xs3cret".into()));
    }

    #[test]
    fn filled_values_become_numbers_or_booleans_only_where_the_option_is_one() {
        #[derive(schemars::JsonSchema)]
        #[allow(dead_code)]
        struct Options {
            count: Option<u64>,
            rate: f64,
            on: bool,
            name: String,
            key: String,
            nested: Vec<Inner>,
        }
        #[derive(schemars::JsonSchema)]
        #[allow(dead_code)]
        struct Inner {
            size: usize,
        }
        let text = "count: ${COUNT}\nrate: ${COUNT}\non: ${ON}\nname: ${COUNT}\nkey: ${NUM}\nnested: [{ size: ${COUNT} }]\nliteral: '10'\n";
        let env = |name: &str| match name {
            "COUNT" => Some("10".to_string()),
            "ON" => Some("true".to_string()),
            _ => env(name),
        };
        let masked = mask(text);
        let mut root: Value = serde_yaml_ng::from_str(&masked.text).unwrap();
        let done = masked.substitute(&mut root, &env);
        let schema = schemars::schema_for!(Options);
        let schema = schema.as_value();
        let Value::Mapping(mapping) = &mut root else {
            panic!()
        };
        for (key, value) in mapping.iter_mut() {
            let key = key.as_str().unwrap();
            if let Some(s) = schema["properties"].get(key) {
                retype(value, key, s, schema, &done.paths);
            }
        }
        let number = |n: &str| serde_yaml_ng::from_str::<Value>(n).unwrap();
        assert_eq!(root["count"], number("10"));
        assert_eq!(root["rate"], number("10"));
        assert_eq!(root["on"], Value::Bool(true));
        assert_eq!(root["name"], Value::String("10".into()));
        assert_eq!(root["key"], Value::String("0123".into()));
        assert_eq!(root["nested"][0]["size"], number("10"));
        // Only filled-in values change.
        assert_eq!(root["literal"], Value::String("10".into()));
    }

    #[test]
    fn masks_keep_the_columns_of_what_follows() {
        let text = "a: { x: ${KEY}, y: 1 }\n";
        let masked = mask(text);
        let index = super::super::Locations::index(&masked.text);
        assert_eq!(
            index.find("a.y"),
            Some(super::super::Location {
                line: 1,
                column: 17
            })
        );
    }
}
