//! Text from outside (names, paths, Redis replies) made safe to print on one
//! line: control characters are escaped, so a newline cannot forge a second
//! `error:` line and an escape sequence cannot colour the terminal.

/// `text` with every control character escaped as Rust writes it (`\n`,
/// `\t`, `\u{1b}`); everything else, other scripts included, is kept.
pub fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escaped;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(escaped("a\nerror: b"), "a\\nerror: b");
        assert_eq!(escaped("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(escaped("tab\there"), "tab\\there");
        assert_eq!(escaped("José ü 東京"), "José ü 東京");
    }
}
