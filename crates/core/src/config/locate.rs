//! Where each key of a YAML document stands, so that errors found after
//! parsing (a wrong type deep inside a component, an input naming nothing)
//! still point at a line and column.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser};

/// 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

/// Locations by dotted path: `sinks.out.inputs`, `sinks.out.inputs.0`.
#[derive(Debug, Default)]
pub struct Locations {
    by_path: HashMap<String, Location>,
    /// Where scalar values start (the keys are in `by_path`).
    values: HashMap<String, Location>,
}

enum Frame {
    Map {
        key: Option<String>,
        expecting_key: bool,
    },
    Seq {
        index: usize,
    },
}

impl Frame {
    fn segment(&self) -> Option<String> {
        match self {
            Frame::Map { key, .. } => key.clone(),
            Frame::Seq { index } => Some(index.to_string()),
        }
    }

    /// A value inside this frame is complete.
    fn value_done(&mut self) {
        match self {
            Frame::Map { expecting_key, .. } => *expecting_key = true,
            Frame::Seq { index } => *index += 1,
        }
    }
}

impl Locations {
    /// Indexes a document; a document that does not parse gives an empty index
    /// (its syntax error is reported by the YAML deserializer).
    pub fn index(text: &str) -> Self {
        let mut by_path = HashMap::new();
        let mut values = HashMap::new();
        let mut stack: Vec<Frame> = Vec::new();
        let path = |stack: &[Frame]| {
            let parts: Vec<String> = stack.iter().filter_map(Frame::segment).collect();
            parts.join(".")
        };
        for item in Parser::new_from_str(text) {
            let Ok((event, span)) = item else { break };
            let here = Location {
                line: span.start.line(),
                column: span.start.col() + 1,
            };
            match event {
                Event::Scalar(value, ..) => {
                    if let Some(Frame::Map { key, expecting_key }) = stack.last_mut()
                        && *expecting_key
                    {
                        *key = Some(value.into_owned());
                        *expecting_key = false;
                        by_path.insert(path(&stack), here);
                        continue;
                    }
                    if matches!(stack.last(), Some(Frame::Seq { .. })) {
                        by_path.insert(path(&stack), here);
                    }
                    values.insert(path(&stack), here);
                    if let Some(top) = stack.last_mut() {
                        top.value_done();
                    }
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    if let Some(Frame::Seq { .. }) = stack.last() {
                        by_path.insert(path(&stack), here);
                    }
                    stack.push(if matches!(event, Event::MappingStart(..)) {
                        Frame::Map {
                            key: None,
                            expecting_key: true,
                        }
                    } else {
                        Frame::Seq { index: 0 }
                    });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                    if let Some(top) = stack.last_mut() {
                        top.value_done();
                    }
                }
                Event::Alias(_) => {
                    if let Some(top) = stack.last_mut() {
                        top.value_done();
                    }
                }
                _ => {}
            }
        }
        Locations { by_path, values }
    }

    /// Where the scalar value at `path` starts, else where its key does.
    pub fn find_value(&self, path: &str) -> Option<Location> {
        self.values.get(path).copied().or_else(|| self.find(path))
    }

    /// The location of `path`, or of its nearest ancestor that has one.
    pub fn find(&self, path: &str) -> Option<Location> {
        let mut path = path;
        loop {
            if let Some(loc) = self.by_path.get(path) {
                return Some(*loc);
            }
            path = &path[..path.rfind('.')?];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_and_sequence_items() {
        let text = "sources:\n  demo:\n    type: demo\nsinks:\n  out:\n    inputs: [demo, other]\n    batch: { max_events: 5 }\n";
        let loc = Locations::index(text);
        assert_eq!(
            loc.find("sources.demo.type"),
            Some(Location { line: 3, column: 5 })
        );
        assert_eq!(
            loc.find("sinks.out.inputs"),
            Some(Location { line: 6, column: 5 })
        );
        assert_eq!(
            loc.find("sinks.out.inputs.1"),
            Some(Location {
                line: 6,
                column: 20
            })
        );
        assert_eq!(
            loc.find("sinks.out.batch.max_events"),
            Some(Location {
                line: 7,
                column: 14
            })
        );
        assert_eq!(
            loc.find("sinks.out.batch.nothing"),
            Some(Location { line: 7, column: 5 })
        );
    }
}
