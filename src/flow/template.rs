//! Templates: texts with placeholders such as `{order}`, filled in when a
//! step runs, and percent-encoded where they go into a URL.

/// A text with placeholders such as `{order}` or `{column:Reference}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(pub String);

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

impl Template {
    /// Its pieces; `{{` and `}}` are literal braces.
    pub fn pieces(&self) -> Result<Vec<Piece<'_>>, String> {
        let text = self.0.as_str();
        let mut pieces = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("{{") {
                pieces.push(Piece::Text("{"));
                rest = after;
            } else if let Some(after) = rest.strip_prefix("}}") {
                pieces.push(Piece::Text("}"));
                rest = after;
            } else if let Some(after) = rest.strip_prefix('{') {
                let end = after
                    .find('}')
                    .ok_or_else(|| format!("`{text}` has a `{{` without its `}}`"))?;
                pieces.push(Piece::Placeholder(&after[..end]));
                rest = &after[end + 1..];
            } else if rest.starts_with('}') {
                return Err(format!(
                    "`{text}` has a `}}` without its `{{` (write `}}}}` for a brace)"
                ));
            } else {
                let end = rest.find(['{', '}']).unwrap_or(rest.len());
                pieces.push(Piece::Text(&rest[..end]));
                rest = &rest[end..];
            }
        }
        Ok(pieces)
    }

    /// The placeholders it uses.
    pub fn placeholders(&self) -> Vec<&str> {
        self.pieces()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| match p {
                Piece::Placeholder(name) => Some(name),
                Piece::Text(_) => None,
            })
            .collect()
    }

    /// Fills the placeholders with `value`, each passed through `encode`.
    pub fn render(
        &self,
        value: impl Fn(&str) -> Option<String>,
        encode: impl Fn(&str) -> String,
    ) -> Result<String, String> {
        let mut out = String::new();
        for piece in self.pieces()? {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Placeholder(name) => {
                    let v = value(name).ok_or_else(|| format!("no value for `{{{name}}}`"))?;
                    out.push_str(&encode(&v));
                }
            }
        }
        Ok(out)
    }
}

/// Percent-encodes a value for a URL: everything but unreserved characters.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_percent_encoded_in_urls() {
        let url = Template("/orders/{order}?x={{y}}".into())
            .render(|_| Some("SO/2026#1 &ü".into()), percent_encode)
            .unwrap();
        assert_eq!(url, "/orders/SO%2F2026%231%20%26%C3%BC?x={y}");
        assert!(Template("/a/{order".into()).pieces().is_err());
    }
}
