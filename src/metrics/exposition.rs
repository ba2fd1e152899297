//! The Prometheus text exposition format (version 0.0.4): a `# HELP` and a
//! `# TYPE` line per metric family, then its samples, label values escaped.

use std::fmt::Write as _;

/// A page of metric families, written in the order they are added.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// Starts a gauge family: its help and type lines.
    pub fn gauge(&mut self, name: &str, help: &str) -> &mut Self {
        let help = help.replace('\\', r"\\").replace('\n', r"\n");
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} gauge");
        self
    }

    /// One sample of the family started last.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.text.push_str(name);
        if !labels.is_empty() {
            let labels: Vec<String> = labels
                .iter()
                .map(|(key, value)| format!("{key}=\"{}\"", escape_label(value)))
                .collect();
            let _ = write!(self.text, "{{{}}}", labels.join(","));
        }
        let _ = writeln!(self.text, " {}", number(value));
        self
    }

    pub fn into_text(self) -> String {
        self.text
    }
}

/// A label value with backslash, double quote and line feed escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// A sample value as Go's `strconv.ParseFloat` reads it.
fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_backslash_quote_and_line_feed() {
        let mut page = Exposition::default();
        page.gauge("m", "help with \\ and\nbreak")
            .sample("m", &[("worker", "a\\b\"c\nd")], 1.5);
        assert_eq!(
            page.into_text(),
            "# HELP m help with \\\\ and\\nbreak\n# TYPE m gauge\nm{worker=\"a\\\\b\\\"c\\nd\"} 1.5\n"
        );
    }

    #[test]
    fn whole_numbers_print_without_a_fraction_and_infinities_as_go_reads_them() {
        assert_eq!(number(6.0), "6");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(1_764_300_000.25), "1764300000.25");
    }
}
