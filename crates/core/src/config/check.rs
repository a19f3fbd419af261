//! The checks a component makes of its options without the network, and
//! how their errors point at the pipeline file.
//!
//! A source's [`crate::SourceConfig::build`] is offline by contract, so it
//! is its check; a sink's build may connect, so its offline checks are
//! [`crate::SinkConfig::check`]. Both run when a file is loaded, by
//! `validate` as by `run`, so a file that validates does not fail at start
//! for a reason a file could show. A component names the option at fault
//! with [`OptionError`] (or several with [`OptionErrors`]); any other error
//! is reported at the component itself.

use std::fmt;
use std::path::Path;

use crate::BoxError;
use crate::buffer::BufferConfig;

use super::PipelineConfig;
use super::checker::Checker;

/// A problem with one of a component's options: which option (a dotted path
/// below the component, e.g. `customers.0.topics`; empty for the component
/// as a whole), what is wrong, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct OptionError {
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

impl OptionError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        OptionError {
            path: path.into(),
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Every problem a component found in its options at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct OptionErrors(pub Vec<OptionError>);

impl fmt::Display for OptionErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let messages: Vec<&str> = self.0.iter().map(|e| e.message.as_str()).collect();
        f.write_str(&messages.join("; "))
    }
}

/// The first placeholder of `template` (a `{...}`, or a brace left open)
/// that is not one of `known` (each written with its braces).
pub fn unknown_placeholder(template: &str, known: &[&str]) -> Option<String> {
    let mut rest = template;
    while let Some(at) = rest.find(['{', '}']) {
        let tail = &rest[at..];
        let Some(end) = tail.strip_prefix('{').and_then(|t| t.find(['{', '}'])) else {
            return Some(tail.to_string());
        };
        let placeholder = &tail[..end + 2];
        if !placeholder.ends_with('}') || !known.contains(&placeholder) {
            return Some(placeholder.trim_end_matches('{').to_string());
        }
        rest = &tail[end + 2..];
    }
    None
}

/// The nearest known placeholder to an unknown one, or the list of them.
pub fn placeholder_hint(unknown: &str, known: &[&str]) -> String {
    match super::nearest(unknown, known.iter().copied()) {
        Some(near) => format!("did you mean `{near}`?"),
        None => format!("placeholders: {}", known.join(", ")),
    }
}

/// The option errors in a component's error: its own when it named them,
/// else the whole error at the component.
pub(crate) fn option_errors(error: BoxError) -> Vec<OptionError> {
    let error = match error.downcast::<OptionErrors>() {
        Ok(errors) => return errors.0,
        Err(other) => other,
    };
    match error.downcast::<OptionError>() {
        Ok(error) => vec![*error],
        Err(other) => vec![OptionError::new("", other.to_string())],
    }
}

/// Each component's offline checks: a source's build, a sink's check.
pub(super) fn check_components(checker: &mut Checker<'_>, pipeline: &PipelineConfig) {
    let sources = pipeline.sources.iter().map(|spec| {
        let cx = pipeline.build_context(&spec.name);
        (
            format!("sources.{}", spec.name),
            spec.config.build(&cx).err(),
        )
    });
    let sinks = pipeline.sinks.iter().map(|spec| {
        let cx = pipeline.build_context(&spec.name);
        (format!("sinks.{}", spec.name), spec.config.check(&cx).err())
    });
    let buffers = check_buffers(pipeline);
    let failed: Vec<_> = sources
        .chain(sinks)
        .chain(buffers)
        .filter_map(|(path, error)| Some((path, error?)))
        .collect();
    for (component, error) in failed {
        for e in option_errors(error) {
            let path = match e.path.as_str() {
                "" => component.clone(),
                option => format!("{component}.{option}"),
            };
            checker.error(&path, format!("`{path}`: {}", e.message), e.hint);
        }
    }
}

/// Each disk buffer's directory can be written, and is no other sink's.
fn check_buffers(pipeline: &PipelineConfig) -> Vec<(String, Option<BoxError>)> {
    let mut seen: Vec<(std::path::PathBuf, &str)> = Vec::new();
    let mut errors = Vec::new();
    for spec in &pipeline.sinks {
        let BufferConfig::Disk { path, .. } = &spec.buffer else {
            continue;
        };
        let dir = pipeline.base_dir.join(path);
        let problem = match seen.iter().find(|(other, _)| *other == dir) {
            Some((_, other)) => Some(format!(
                "`{}` is also sink `{other}`'s disk buffer; each sink needs a directory of its own",
                path.display()
            )),
            None => writable_dir(&dir).err(),
        };
        seen.push((dir, &spec.name));
        if let Some(message) = problem {
            let error: BoxError = Box::new(OptionError::new("buffer.path", message));
            errors.push((format!("sinks.{}", spec.name), Some(error)));
        }
    }
    errors
}

/// Whether files can be written below `dir`: it is a directory, or can
/// become one, in a place this process may write (probed with a temp file,
/// which also catches read-only file systems and privileged users).
pub fn writable_dir(dir: &Path) -> Result<(), String> {
    let mut existing = dir;
    while !existing.exists() {
        existing = match existing.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
    }
    if !existing.is_dir() {
        return Err(format!(
            "cannot make {}: {} is not a directory",
            dir.display(),
            existing.display()
        ));
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let probe = existing.join(format!(".netpipe-probe-{}-{nanos}", std::process::id()));
    std::fs::File::create(&probe)
        .map_err(|e| format!("cannot write in {}: {e}", existing.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_options_keep_their_paths_and_others_point_at_the_component() {
        let one: BoxError = Box::new(OptionError::new("url", "bad").hint("fix it"));
        assert_eq!(
            option_errors(one),
            vec![OptionError::new("url", "bad").hint("fix it")]
        );
        let many: BoxError = Box::new(OptionErrors(vec![
            OptionError::new("a", "x"),
            OptionError::new("b.0", "y"),
        ]));
        let paths: Vec<String> = option_errors(many).into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["a", "b.0"]);
        let other: BoxError = "plain".into();
        assert_eq!(option_errors(other), vec![OptionError::new("", "plain")]);
    }

    #[test]
    fn placeholders_that_are_not_known_are_found_whole() {
        let known = ["{stream}", "{source}"];
        assert_eq!(
            unknown_placeholder("netops.{stream}.{source}", &known),
            None
        );
        assert_eq!(unknown_placeholder("plain", &known), None);
        assert_eq!(
            unknown_placeholder("x.{strem}", &known).as_deref(),
            Some("{strem}")
        );
        assert_eq!(
            unknown_placeholder("{stream}.{stream", &known).as_deref(),
            Some("{stream")
        );
        assert_eq!(unknown_placeholder("a}b", &known).as_deref(), Some("}b"));
        assert_eq!(
            unknown_placeholder("{a{stream}", &known).as_deref(),
            Some("{a")
        );
        assert_eq!(
            placeholder_hint("{strem}", &known),
            "did you mean `{stream}`?"
        );
        assert_eq!(
            placeholder_hint("{zzzzzzzzz}", &known),
            "placeholders: {stream}, {source}"
        );
    }
}
