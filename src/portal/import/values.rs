//! The recorded values that become placeholders: the login, the password
//! (never written anywhere), the order id, the report's reason and comment;
//! and URLs under the recording's base made paths.

use crate::flow::percent_encode;

/// What the recording typed that stands for a placeholder.
#[derive(Debug, Default, Clone)]
pub struct Values {
    pub login: Option<String>,
    pub password: Option<String>,
    pub order: Option<String>,
    pub reason: Option<String>,
    pub comment: Option<String>,
    /// Absolute URLs under these become paths.
    pub bases: Vec<String>,
}

/// `{` and `}` written so a template keeps them as text.
pub fn escape(text: &str) -> String {
    text.replace('{', "{{").replace('}', "}}")
}

impl Values {
    /// Whether the text holds the password.
    pub fn has_password(&self, text: &str) -> bool {
        self.password
            .as_deref()
            .is_some_and(|p| !p.is_empty() && text.contains(p))
    }

    /// The text with the password replaced, for messages and comments.
    pub fn redact(&self, text: &str) -> String {
        match self.password.as_deref() {
            Some(p) if !p.is_empty() => text.replace(p, "(the password)"),
            _ => text.to_string(),
        }
    }

    /// A typed value as a template, and the placeholder it became.
    pub fn typed(&self, value: &str) -> (String, Option<&'static str>) {
        let whole = [
            (&self.password, "password"),
            (&self.login, "login"),
            (&self.reason, "reason"),
            (&self.comment, "comment"),
            (&self.order, "order"),
        ];
        for (known, name) in whole {
            if known
                .as_deref()
                .is_some_and(|k| !k.is_empty() && k == value)
            {
                return (format!("{{{name}}}"), Some(name));
            }
        }
        match self.order.as_deref() {
            Some(order) if !order.is_empty() && value.contains(order) => (
                escape(value).replace(&escape(order), "{order}"),
                Some("order"),
            ),
            _ => (escape(value), None),
        }
    }

    /// An `open` target as a `goto` template: a path when under the base,
    /// the order id (as is or percent-encoded) and the login as placeholders.
    pub fn url(&self, target: &str) -> (String, Vec<&'static str>) {
        let mut path = target.trim().to_string();
        for base in &self.bases {
            let base = base.trim_end_matches('/');
            if base.is_empty() {
                continue;
            }
            if let Some(rest) = path.strip_prefix(base)
                && (rest.is_empty() || rest.starts_with(['/', '?', '#']))
            {
                path = rest.to_string();
                break;
            }
        }
        if !path.contains("://") && !path.starts_with('/') {
            path.insert(0, '/');
        }
        let mut template = escape(&path);
        let mut used = Vec::new();
        for (known, name) in [(&self.order, "order"), (&self.login, "login")] {
            let Some(value) = known.as_deref().filter(|v| !v.is_empty()) else {
                continue;
            };
            for form in [percent_encode(value), value.to_string()] {
                let form = escape(&form);
                if template.contains(&form) {
                    template = template.replace(&form, &format!("{{{name}}}"));
                    if !used.contains(&name) {
                        used.push(name);
                    }
                }
            }
        }
        (template, used)
    }
}

/// Percent-decodes a URL path segment (invalid escapes kept as they are).
pub fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The order id an order page's URL shows: the last path segment, decoded,
/// that holds a digit, so that the words of the path around it are passed
/// over (`/orders/ORD-alice-00001`, `/app/orders/SO%2F2026-1`,
/// `/my/purchases/PO2400-77D40000/dispute`).
pub fn order_in_url(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next()?;
    if path.ends_with("://") {
        return None;
    }
    let path = path.split_once("://").map_or(path, |(_, rest)| {
        rest.split_once('/').map_or("", |(_, path)| path)
    });
    path.trim_end_matches('/')
        .rsplit('/')
        .map(percent_decode)
        .find(|segment| segment.chars().any(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Values {
        Values {
            login: Some("ana@example.com".into()),
            password: Some("s3cr{t".into()),
            order: Some("SO/2026-00017#B".into()),
            reason: Some("missing".into()),
            comment: Some("Filed by reporter".into()),
            bases: vec!["http://localhost:8080/".into()],
        }
    }

    #[test]
    fn typed_values_become_their_placeholders() {
        let v = values();
        assert_eq!(v.typed("ana@example.com").0, "{login}");
        assert_eq!(v.typed("s3cr{t"), ("{password}".into(), Some("password")));
        assert_eq!(v.typed("Filed by reporter").0, "{comment}");
        assert_eq!(v.typed("missing").0, "{reason}");
        assert_eq!(v.typed("About SO/2026-00017#B").0, "About {order}");
        assert_eq!(v.typed("a {b}").0, "a {{b}}");
        assert_eq!(v.redact("x s3cr{t y"), "x (the password) y");
    }

    #[test]
    fn urls_under_the_base_become_paths_with_the_order_as_a_placeholder() {
        let v = values();
        assert_eq!(
            v.url("http://localhost:8080/app/orders/SO%2F2026-00017%23B")
                .0,
            "/app/orders/{order}"
        );
        assert_eq!(v.url("http://localhost:8080").0, "/");
        assert_eq!(v.url("/account/signin").0, "/account/signin");
        assert_eq!(
            v.url("https://other.example/x").0,
            "https://other.example/x"
        );
        assert_eq!(
            order_in_url("http://h/app/orders/SO%2F2026-00017%23B").as_deref(),
            Some("SO/2026-00017#B")
        );
        assert_eq!(order_in_url("http://h/login"), None);
        assert_eq!(
            order_in_url("https://shop.example/my/purchases/PO2400-77D40000/dispute").as_deref(),
            Some("PO2400-77D40000")
        );
        assert_eq!(order_in_url("http://h:8080/account/signin"), None);
    }
}
