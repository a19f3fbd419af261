//! `${VAR}` and `${VAR:-default}` from the environment, so that secrets stay
//! out of pipeline files. `$$` writes a literal `$`.

/// A `${VAR}` with no value and no default, at a byte offset of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingVariable {
    pub name: String,
    pub offset: usize,
}

/// Replaces every `${NAME}` / `${NAME:-default}`; collects every missing name.
pub fn interpolate(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Vec<MissingVariable>> {
    let mut out = String::with_capacity(text.len());
    let mut missing = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$$") {
            out.push('$');
            rest = after;
            offset += at + 2;
            continue;
        }
        let close = tail.strip_prefix("${").and_then(|t| t.find('}'));
        let Some(close) = close else {
            out.push('$');
            rest = &tail[1..];
            offset += at + 1;
            continue;
        };
        let inner = &tail[2..2 + close];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        match lookup(name).filter(|v| !v.is_empty() || default.is_none()) {
            Some(value) => out.push_str(&value),
            None => match default {
                Some(default) => out.push_str(default),
                None => missing.push(MissingVariable {
                    name: name.to_string(),
                    offset: offset + at,
                }),
            },
        }
        rest = &tail[close + 3..];
        offset += at + close + 3;
    }
    out.push_str(rest);
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "KEY" => Some("s3cret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn replaces_variables_and_defaults() {
        let text = "key: ${KEY}\nhost: ${HOST:-localhost}\nempty: ${EMPTY:-fallback}\ncost: $$5 $x";
        assert_eq!(
            interpolate(text, &env).unwrap(),
            "key: s3cret\nhost: localhost\nempty: fallback\ncost: $5 $x"
        );
    }

    #[test]
    fn names_every_missing_variable_with_its_offset() {
        let err = interpolate("a: ${NOPE}\nb: ${ALSO_NOPE}", &env).unwrap_err();
        let names: Vec<_> = err.iter().map(|m| (m.name.as_str(), m.offset)).collect();
        assert_eq!(names, vec![("NOPE", 3), ("ALSO_NOPE", 14)]);
    }
}
