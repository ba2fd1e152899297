//! Adds imported flows to a config file as text, keeping every other line
//! and comment: the tables of the flow are replaced where they stood (or
//! appended), nothing else is touched.

/// How the config writes the export's steps: `[[portal.export]]`, or
/// `[[portal.export.steps]]` under a `[portal.export]` table that also holds
/// the CSV's delimiter and columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportForm {
    Array,
    Table,
}

impl ExportForm {
    pub fn of(config: &str) -> ExportForm {
        let table = lines_outside_strings(config)
            .iter()
            .any(|(line, outside)| *outside && header_name(line) == Some(("portal.export", false)));
        if table {
            ExportForm::Table
        } else {
            ExportForm::Array
        }
    }
}

/// `[name]` -> (name, false), `[[name]]` -> (name, true).
fn header_name(line: &str) -> Option<(&str, bool)> {
    let line = line.trim();
    let line = match line.find('#') {
        // A `#` after the closing bracket starts a comment.
        Some(at) if line[..at].trim_end().ends_with(']') => line[..at].trim_end(),
        _ => line,
    };
    if let Some(inner) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
        return Some((inner.trim(), true));
    }
    let inner = line.strip_prefix('[')?.strip_suffix(']')?;
    Some((inner.trim(), false))
}

/// Each line and whether it starts outside a multi-line string.
fn lines_outside_strings(text: &str) -> Vec<(&str, bool)> {
    let mut inside: Option<&str> = None;
    text.split_inclusive('\n')
        .map(|line| {
            let outside = inside.is_none();
            for quote in ["\"\"\"", "'''"] {
                let count = line.matches(quote).count();
                if count % 2 == 1 {
                    inside = match inside {
                        None => Some(quote),
                        Some(q) if q == quote => None,
                        other => other,
                    };
                }
            }
            (line, outside)
        })
        .collect()
}

/// The config text with the `[[header]]` tables of each given header
/// replaced by the given text (put where the first of them stood, else at
/// the end).
pub fn replace_flows(config: &str, flows: &[(String, String)]) -> String {
    let mut out = String::new();
    // Comment and blank lines seen while skipping: they belong to the next
    // table if that one is kept.
    let mut pending = String::new();
    let mut skipping: Option<usize> = None;
    let mut placed = vec![false; flows.len()];
    let replaced = |line: &str| {
        header_name(line).and_then(|(name, array)| {
            flows
                .iter()
                .position(|(header, _)| array && header.trim_matches(['[', ']']) == name)
        })
    };
    for (line, outside) in lines_outside_strings(config) {
        let is_header = outside && header_name(line).is_some();
        if is_header {
            if let Some(flow) = replaced(line) {
                pending.clear();
                if !placed[flow] {
                    out.push_str(&flows[flow].1);
                    placed[flow] = true;
                }
                skipping = Some(flow);
                continue;
            }
            if skipping.take().is_some() {
                flush(&mut out, &mut pending);
            }
        }
        if skipping.is_some() {
            let trimmed = line.trim();
            if outside && (trimmed.is_empty() || trimmed.starts_with('#')) {
                pending.push_str(line);
            } else {
                pending.clear();
            }
            continue;
        }
        out.push_str(line);
    }
    flush(&mut out, &mut pending);
    for (flow, (_, text)) in flows.iter().enumerate() {
        if !placed[flow] {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            if !out.is_empty() && !out.ends_with("\n\n") {
                out.push('\n');
            }
            out.push_str(text);
        }
    }
    out
}

/// Adds the kept lines after a replaced table, without doubling its blank line.
fn flush(out: &mut String, pending: &mut String) {
    let mut kept = pending.as_str();
    if out.ends_with("\n\n") {
        kept = kept.trim_start_matches(['\n', '\r']);
    }
    out.push_str(kept);
    pending.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "# The config\nrange_size = 50\n\n[portal]\nkind = \"web\" # real\n\n\
        [[portal.login]]\ngoto = \"/old\"\n# inside the old login\n[[portal.login]]\nclick = \"#old\"\n\n\
        # The browser, kept\n[browser]\nchromium = \"chromium\"\n\n[portal.export]\ndelimiter = \";\"\n";

    #[test]
    fn the_old_flow_tables_are_replaced_in_place_and_every_other_line_is_kept() {
        let login = (
            "[[portal.login]]".to_string(),
            "[[portal.login]]\ngoto = \"/new\"\n".to_string(),
        );
        let steps = (
            "[[portal.export.steps]]".to_string(),
            "[[portal.export.steps]]\ndownload = \"#export\"\n".to_string(),
        );
        let text = replace_flows(CONFIG, &[login, steps]);
        assert_eq!(
            text,
            "# The config\nrange_size = 50\n\n[portal]\nkind = \"web\" # real\n\n\
             [[portal.login]]\ngoto = \"/new\"\n\n\
             # The browser, kept\n[browser]\nchromium = \"chromium\"\n\n[portal.export]\ndelimiter = \";\"\n\n\
             [[portal.export.steps]]\ndownload = \"#export\"\n"
        );
        assert_eq!(ExportForm::of(CONFIG), ExportForm::Table);
        assert_eq!(ExportForm::of("[portal]\n"), ExportForm::Array);
    }

    #[test]
    fn a_header_inside_a_multi_line_string_is_text() {
        let config = "note = \"\"\"\n[[portal.login]]\n\"\"\"\n";
        let text = replace_flows(
            config,
            &[("[[portal.login]]".into(), "[[portal.login]]\n".into())],
        );
        assert_eq!(text, format!("{config}\n[[portal.login]]\n"));
    }
}
