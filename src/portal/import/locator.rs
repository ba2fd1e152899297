//! Which of a command's recorded locators to keep: the most stable one (an
//! id, then a name, then CSS without positions, link text, XPath by
//! attributes, last anything positional), the others kept as comments.

use crate::flow::{Locator, LocatorKind};

/// Lower is more stable.
pub fn rank(locator: &Locator) -> u8 {
    let value = locator.value.as_str();
    match locator.kind {
        LocatorKind::Id => 0,
        LocatorKind::Name => 1,
        LocatorKind::Css if !positional_css(value) => 2,
        LocatorKind::LinkText | LocatorKind::PartialLinkText => 3,
        LocatorKind::XPath if !positional_xpath(value) && value.contains('[') => 4,
        LocatorKind::Css => 5,
        LocatorKind::XPath => 6,
    }
}

/// `:nth-child(2)`, `:first-of-type`, ...: breaks when the page gains a row.
fn positional_css(value: &str) -> bool {
    [":nth-", ":first-", ":last-", ":only-", ":eq("]
        .iter()
        .any(|p| value.contains(p))
}

/// `[2]`, `position()`, `last()`, or a bare path without any predicate.
fn positional_xpath(value: &str) -> bool {
    let bytes = value.as_bytes();
    let indexed = bytes.iter().enumerate().any(|(i, b)| {
        *b == b'['
            && bytes[i + 1..]
                .iter()
                .position(|c| !c.is_ascii_digit())
                .is_some_and(|end| end > 0 && bytes[i + 1 + end] == b']')
    });
    indexed || value.contains("position()") || value.contains("last()")
}

/// Parses a recorded locator (also the old `link=` spelling).
pub fn parse(text: &str) -> Option<Locator> {
    let text = match text.strip_prefix("link=") {
        Some(rest) => format!("linkText={rest}"),
        None => text.to_string(),
    };
    Locator::parse(&text).ok()
}

/// The chosen locator and the others (as recorded), or `None` when nothing
/// parses. `skip` leaves out locators that must not be written (a secret).
pub fn choose(recorded: &[&str], skip: impl Fn(&str) -> bool) -> Option<(Locator, Vec<String>)> {
    let mut parsed: Vec<(&str, Locator)> = recorded
        .iter()
        .filter(|text| !skip(text))
        .filter_map(|text| parse(text).map(|l| (*text, l)))
        .collect();
    // A stable sort: among equals, the IDE's own order (its choice first).
    parsed.sort_by_key(|(_, l)| rank(l));
    let mut parsed = parsed.into_iter();
    let (_, best) = parsed.next()?;
    let others = parsed.map(|(text, _)| text.to_string()).collect();
    Some((best, others))
}

/// The submit button of the form holding the field, for a key press of
/// Enter in it: an XPath built from the field's id, name or XPath.
pub fn form_submit(recorded: &[&str]) -> Option<Locator> {
    let mut parsed: Vec<Locator> = recorded.iter().filter_map(|t| parse(t)).collect();
    parsed.sort_by_key(rank);
    let field = parsed.iter().find_map(|l| {
        let by_attribute = |attribute: &str, v: &str| {
            (!v.contains('\'')).then(|| format!("//*[@{attribute}='{v}']"))
        };
        match l.kind {
            LocatorKind::Id => by_attribute("id", &l.value),
            LocatorKind::Name => by_attribute("name", &l.value),
            LocatorKind::Css => l
                .value
                .strip_prefix('#')
                .filter(|id| {
                    id.chars()
                        .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
                })
                .and_then(|id| by_attribute("id", id)),
            LocatorKind::XPath => Some(format!("({})", l.value)),
            _ => None,
        }
    })?;
    Some(Locator {
        kind: LocatorKind::XPath,
        value: format!(
            "{field}/ancestor::form[1]//*[self::button[not(@type) or @type='submit'] or self::input[@type='submit' or @type='image']]"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_beats_a_name_which_beats_css_which_beats_xpath() {
        let recorded = [
            "xpath=//input",
            "css=form > input:nth-child(2)",
            "xpath=//input[@id='login']",
            "css=#login",
            "name=login",
            "id=login",
        ];
        let (best, others) = choose(&recorded, |_| false).unwrap();
        assert_eq!(best.to_string(), "id=login");
        assert_eq!(
            others,
            [
                "name=login",
                "css=#login",
                "xpath=//input[@id='login']",
                "css=form > input:nth-child(2)",
                "xpath=//input"
            ]
        );
    }

    #[test]
    fn positional_locators_come_last_and_a_skipped_one_is_never_kept() {
        let recorded = [
            "xpath=//div[2]/form/button",
            "css=.signin",
            "xpath=//button[contains(.,'Sign in')]",
            "xpath=//input[@value='hunter2']",
        ];
        let (best, others) = choose(&recorded, |t| t.contains("hunter2")).unwrap();
        assert_eq!(best.to_string(), ".signin");
        assert_eq!(
            others,
            [
                "xpath=//button[contains(.,'Sign in')]",
                "xpath=//div[2]/form/button"
            ]
        );
        assert_eq!(rank(&parse("linkText=Export CSV").unwrap()), 3);
        assert_eq!(rank(&parse("link=Export CSV").unwrap()), 3);
    }

    #[test]
    fn enter_in_a_field_becomes_its_forms_submit_button() {
        let submit = form_submit(&["css=input.pw:nth-child(3)", "id=password"]).unwrap();
        assert_eq!(submit.kind, LocatorKind::XPath);
        assert!(
            submit
                .value
                .starts_with("//*[@id='password']/ancestor::form[1]//*")
        );
        assert!(form_submit(&["css=.pw"]).is_none());
    }
}
