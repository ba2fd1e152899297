//! Locators: how a step finds an element.

use std::fmt;

/// How an element is found: CSS by default, or `xpath=`, `id=`, `name=`,
/// `linkText=`, `partialLinkText=` (and `css=`), as Selenium IDE writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locator {
    pub kind: LocatorKind,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocatorKind {
    Css,
    XPath,
    Id,
    Name,
    LinkText,
    PartialLinkText,
}

impl LocatorKind {
    /// The name the page scripts use.
    pub fn script_name(self) -> &'static str {
        match self {
            LocatorKind::Css => "css",
            LocatorKind::XPath => "xpath",
            LocatorKind::Id => "id",
            LocatorKind::Name => "name",
            LocatorKind::LinkText => "linkText",
            LocatorKind::PartialLinkText => "partialLinkText",
        }
    }
}

impl Locator {
    pub fn parse(text: &str) -> Result<Locator, String> {
        let prefixes = [
            ("css=", LocatorKind::Css),
            ("xpath=", LocatorKind::XPath),
            ("id=", LocatorKind::Id),
            ("name=", LocatorKind::Name),
            ("linkText=", LocatorKind::LinkText),
            ("partialLinkText=", LocatorKind::PartialLinkText),
        ];
        let (kind, value) = prefixes
            .iter()
            .find_map(|(prefix, kind)| text.strip_prefix(prefix).map(|rest| (*kind, rest)))
            .unwrap_or((LocatorKind::Css, text));
        let kind = if kind == LocatorKind::Css && value.starts_with("//") {
            LocatorKind::XPath
        } else {
            kind
        };
        if value.trim().is_empty() {
            return Err("give a selector, e.g. \"#login\" or \"xpath=//button\"".into());
        }
        Ok(Locator {
            kind,
            value: value.to_string(),
        })
    }
}

impl fmt::Display for Locator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            LocatorKind::Css => write!(f, "{}", self.value),
            kind => write!(f, "{}={}", kind.script_name(), self.value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locators_take_the_selenium_prefixes() {
        assert_eq!(Locator::parse("#a").unwrap().kind, LocatorKind::Css);
        assert_eq!(Locator::parse("//a").unwrap().kind, LocatorKind::XPath);
        let link = Locator::parse("linkText=Sign in").unwrap();
        assert_eq!(
            (link.kind, link.value.as_str()),
            (LocatorKind::LinkText, "Sign in")
        );
        assert!(Locator::parse("id=").is_err());
    }
}
