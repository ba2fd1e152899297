//! A strict reader of the Prometheus text exposition format (0.0.4), so tests
//! check what a scraper would accept, not what the code meant to print.

use std::collections::{BTreeMap, HashMap, HashSet};

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A whole page: every sample, and each family's type and help.
#[derive(Debug, Default)]
pub struct Page {
    pub samples: Vec<Sample>,
    pub types: HashMap<String, String>,
    pub helps: HashMap<String, String>,
}

impl Page {
    /// The value of the one sample with this name and exactly these labels.
    #[track_caller]
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == wanted)
            .unwrap_or_else(|| panic!("no sample {name}{wanted:?} in {:#?}", self.samples))
            .value
    }

    /// Every sample of one metric.
    pub fn named(&self, name: &str) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.name == name).collect()
    }
}

/// Parses a page, panicking with the line number and text of the first line
/// a scraper would reject.
#[track_caller]
pub fn parse(text: &str) -> Page {
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "the page must end with a line feed"
    );
    let mut page = Page::default();
    let mut finished: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    let mut seen: HashSet<(String, Vec<(String, String)>)> = HashSet::new();
    for (index, line) in text.lines().enumerate() {
        let fail = |why: &str| -> ! { panic!("line {}: {why}: {line:?}", index + 1) };
        if line.is_empty() {
            continue;
        }
        let family = if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            check_escapes(help, &['\\', 'n']).unwrap_or_else(|why| fail(why));
            if page.helps.insert(name.into(), help.into()).is_some() {
                fail("a second HELP for the family");
            }
            name.to_string()
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .unwrap_or_else(|| fail("TYPE without a type"));
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                fail("unknown type");
            }
            if page
                .samples
                .iter()
                .any(|s| family_of(&s.name, kind) == name)
            {
                fail("TYPE after the family's samples");
            }
            if page.types.insert(name.into(), kind.into()).is_some() {
                fail("a second TYPE for the family");
            }
            name.to_string()
        } else if line.starts_with('#') {
            continue;
        } else {
            let sample = parse_sample(line).unwrap_or_else(|why| fail(&why));
            let family = page
                .types
                .iter()
                .find(|(name, kind)| family_of(&sample.name, kind) == name.as_str())
                .map(|(name, _)| name.clone())
                .unwrap_or_else(|| fail("a sample whose family has no TYPE"));
            let key = (
                sample.name.clone(),
                sample.labels.clone().into_iter().collect(),
            );
            if !seen.insert(key) {
                fail("a repeated sample (same name and labels)");
            }
            page.samples.push(sample);
            family
        };
        if !valid_metric_name(&family) {
            fail("invalid metric name");
        }
        if current.as_deref() != Some(family.as_str()) {
            if finished.contains(&family) {
                fail("a family's lines are not together");
            }
            if let Some(previous) = current.replace(family) {
                finished.insert(previous);
            }
        }
    }
    page
}

/// The family a sample belongs to under a given type (`_bucket`, `_sum`,
/// `_count` belong to their histogram or summary).
fn family_of<'a>(sample: &'a str, kind: &str) -> &'a str {
    let suffixes: &[&str] = match kind {
        "histogram" => &["_bucket", "_sum", "_count"],
        "summary" => &["_sum", "_count"],
        _ => &[],
    };
    suffixes
        .iter()
        .find_map(|s| sample.strip_suffix(s))
        .unwrap_or(sample)
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !valid_metric_name(name) {
        return Err("invalid metric name".into());
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = inner;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find('=').ok_or("label without `=`")?;
            let key = &rest[..eq];
            if !valid_label_name(key) {
                return Err(format!("invalid label name `{key}`"));
            }
            let (value, after) = quoted(&rest[eq + 1..])?;
            if labels.insert(key.to_string(), value).is_some() {
                return Err(format!("label `{key}` twice"));
            }
            rest = after.strip_prefix(',').unwrap_or(after);
            if !after.starts_with([',', '}']) {
                return Err("labels must be separated by `,` and closed by `}`".into());
            }
        }
    }
    let rest = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let mut fields = rest.split(' ');
    let value = parse_value(fields.next().unwrap_or(""))?;
    if let Some(timestamp) = fields.next() {
        timestamp
            .parse::<i64>()
            .map_err(|_| format!("invalid timestamp `{timestamp}`"))?;
    }
    if fields.next().is_some() {
        return Err("text after the timestamp".into());
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// A double-quoted label value and what follows it, unescaped.
fn quoted(text: &str) -> Result<(String, &str), String> {
    let body = text.strip_prefix('"').ok_or("label value not quoted")?;
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &body[at + 1..])),
            '\\' => match chars.next() {
                Some((_, '\\')) => value.push('\\'),
                Some((_, '"')) => value.push('"'),
                Some((_, 'n')) => value.push('\n'),
                _ => return Err("invalid escape in a label value".into()),
            },
            c => value.push(c),
        }
    }
    Err("unterminated label value".into())
}

/// A float as Go's `strconv.ParseFloat` reads it in this format.
fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "NaN" => return Ok(f64::NAN),
        "+Inf" | "Inf" => return Ok(f64::INFINITY),
        "-Inf" => return Ok(f64::NEG_INFINITY),
        _ => {}
    }
    let digits = text.trim_start_matches(['+', '-']);
    let (mantissa, exponent) = match digits.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.trim_start_matches(['+', '-']))),
        None => (digits, None),
    };
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, fraction)) => {
            (numeric(whole) || whole.is_empty())
                && (numeric(fraction) || fraction.is_empty())
                && !(whole.is_empty() && fraction.is_empty())
        }
        None => numeric(mantissa),
    };
    if !mantissa_ok || exponent.is_some_and(|e| !numeric(e)) || text.len() - digits.len() > 1 {
        return Err(format!("invalid value `{text}`"));
    }
    text.parse().map_err(|_| format!("invalid value `{text}`"))
}

/// Backslash escapes in a HELP text: only these letters may follow one.
fn check_escapes(text: &str, allowed: &[char]) -> Result<(), &'static str> {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' && !chars.next().is_some_and(|n| allowed.contains(&n)) {
            return Err("invalid escape in HELP");
        }
    }
    Ok(())
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
fn valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved).
fn valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    !name.starts_with("__")
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[test]
fn the_parser_rejects_what_a_scraper_would() {
    let ok = "# HELP m A help \\\\ text\n# TYPE m gauge\nm{a=\"x\\\"y\",b=\"\"} -1.5e3\nm 2 1700000000000\n";
    let page = parse(ok);
    assert_eq!(page.value("m", &[("a", "x\"y"), ("b", "")]), -1500.0);
    for bad in [
        "m 1\n",                                                    // no TYPE
        "# TYPE m gauge\nm{a=\"x} 1\n",                             // unterminated label value
        "# TYPE m gauge\nm{a=x} 1\n",                               // unquoted label value
        "# TYPE m gauge\nm{1a=\"x\"} 1\n",                          // bad label name
        "# TYPE m gauge\nm 1.2.3\n",                                // bad float
        "# TYPE m gauge\nm inf\n",                                  // Rust's spelling, not Go's
        "# TYPE m gauge\nm{a=\"\\t\"} 1\n",                         // bad escape
        "# TYPE m gauge\nm 1\nm 2\n",                               // repeated sample
        "# TYPE m gauge\n# TYPE m counter\n",                       // two TYPEs
        "# TYPE 1m gauge\n",                                        // bad metric name
        "# TYPE m gauge\nm 1\n# TYPE n gauge\nn 1\nm{a=\"b\"} 2\n", // family split
        "# TYPE m gauge\nm 1",                                      // no final line feed
    ] {
        let rejected = std::panic::catch_unwind(|| parse(bad)).is_err();
        assert!(rejected, "accepted {bad:?}");
    }
}
