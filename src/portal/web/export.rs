//! The portal's orders export: fetched by the page itself (so it reaches the
//! worker wherever the browser runs, and its HTTP status is known at once),
//! then read as CSV (RFC 4180: quotes, doubled quotes, quoted newlines, a
//! byte order mark, CRLF) by the column names of the config.

use std::collections::BTreeMap;

use crate::config::ExportFormat;
use crate::orders::ExportedOrder;

/// Finds the export's link or form button and fetches it with the page's
/// cookies. Arguments: (locator, timeoutMs, loginForm, done). Answers
/// `["ok", status, contentType, text]`, `["login"]` when the answer is the
/// login page, `["missing"]`, or `["error", text]`.
pub(super) const DOWNLOAD_JS: &str = r##"
const [loc, timeoutMs, loginForm, done] = arguments;
function find(loc, root) {
  root = root || document;
  switch (loc.kind) {
    case "xpath":
      return document.evaluate(loc.value, root, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
    case "id": return root.getElementById ? root.getElementById(loc.value) : root.querySelector("#" + CSS.escape(loc.value));
    case "name": return root.querySelector("[name=\"" + CSS.escape(loc.value) + "\"]");
    case "linkText": return [...root.querySelectorAll("a")].find((a) => a.textContent.trim() === loc.value) || null;
    case "partialLinkText": return [...root.querySelectorAll("a")].find((a) => a.textContent.includes(loc.value)) || null;
    default: return root.querySelector(loc.value);
  }
}
const deadline = Date.now() + timeoutMs;
function start() {
  try {
    const nav = performance.getEntriesByType("navigation")[0];
    if (nav && nav.responseStatus >= 400) return done(["http", nav.responseStatus]);
    if (loginForm && loginForm.some((l) => find(l))) return done(["login"]);
    const el = find(loc);
    if (!el) return Date.now() > deadline ? done(["missing"]) : setTimeout(start, 50);
    let url;
    const init = { credentials: "include", redirect: "follow" };
    if (el.href) {
      url = el.href;
    } else {
      const form = el.form || el.closest("form");
      if (!form) return done(["error", "the element is neither a link nor a button of a form"]);
      url = el.formAction || form.action;
      const method = (el.getAttribute("formmethod") || form.method || "get").toUpperCase();
      const data = new FormData(form);
      if (el.name) data.append(el.name, el.value);
      const query = new URLSearchParams(data);
      if (method === "GET") {
        url += (url.includes("?") ? "&" : "?") + query;
      } else {
        init.method = method;
        init.body = query;
      }
    }
    fetch(url, init)
      .then((r) => r.text().then((text) => {
        const type = r.headers.get("content-type") || "";
        if (loginForm && type.includes("html")) {
          const page = new DOMParser().parseFromString(text, "text/html");
          if (loginForm.some((l) => find(l, page))) return done(["login"]);
        }
        done(["ok", r.status, type, text]);
      }))
      .catch((err) => done(["error", String(err)]));
  } catch (err) {
    done(["error", String(err && err.message || err)]);
  }
}
start();
"##;

/// Why an export cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub enum ExportError {
    /// The file is not what the config describes (a column is missing):
    /// retrying cannot fix it.
    Columns(String),
    /// The file is damaged or cut short: worth another download.
    Damaged(String),
}

/// Parses the export by the configured columns.
pub fn parse(text: &str, format: &ExportFormat) -> Result<Vec<ExportedOrder>, ExportError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(format.delimiter)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| ExportError::Damaged(format!("cannot read the export's header: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if header.iter().all(String::is_empty) {
        return Err(ExportError::Damaged("the orders export is empty".into()));
    }
    let column = |name: &str, key: &str| {
        header
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                let delimiter = format.delimiter as char;
                ExportError::Columns(format!(
                    "the orders export has no `{name}` column (it has: {}); set portal.export.columns.{key} to one of them{}",
                    header.join(", "),
                    if header.len() == 1 {
                        format!(", or portal.export.delimiter if `{delimiter}` is not the export's delimiter")
                    } else {
                        String::new()
                    }
                ))
            })
    };
    let id_at = column(&format.order_id, "order_id")?;
    let status_at = column(&format.status, "status")?;
    let mut extra = Vec::new();
    for name in format.url_id.iter().chain(&format.extra) {
        extra.push((
            name.clone(),
            column(name, "url_id (or the report flow's {column:...})")?,
        ));
    }
    let mut orders = Vec::new();
    for (n, row) in reader.records().enumerate() {
        let row =
            row.map_err(|e| ExportError::Damaged(format!("the orders export is damaged: {e}")))?;
        if row.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let (Some(id), Some(status)) = (row.get(id_at), row.get(status_at)) else {
            return Err(ExportError::Damaged(format!(
                "record {} of the orders export has no order id or status",
                n + 1
            )));
        };
        if id.trim().is_empty() {
            return Err(ExportError::Damaged(format!(
                "record {} of the orders export has an empty order id",
                n + 1
            )));
        }
        let fields: BTreeMap<String, String> = extra
            .iter()
            .map(|(name, at)| {
                (
                    name.clone(),
                    row.get(*at).unwrap_or_default().trim().to_string(),
                )
            })
            .collect();
        orders.push(ExportedOrder {
            id: id.trim().to_string(),
            status: status.trim().to_string(),
            fields,
        });
    }
    Ok(orders)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(id: &str, status: &str) -> ExportedOrder {
        ExportedOrder {
            id: id.into(),
            status: status.into(),
            fields: BTreeMap::new(),
        }
    }

    #[test]
    fn the_export_is_read_by_column_name_with_quotes_and_a_byte_order_mark() {
        let csv = "\u{feff}date,order_id,\"amount\",status\r\n\
                   2024-01-01,ORD-1,\"1,200.00\",disputed\r\n\
                   2024-01-02,\"ORD-\"\"2\"\"\",3.00,delivered\r\n";
        let orders = parse(csv, &ExportFormat::default()).unwrap();
        assert_eq!(
            orders,
            vec![order("ORD-1", "disputed"), order("ORD-\"2\"", "delivered")]
        );
    }

    #[test]
    fn quoted_newlines_another_delimiter_and_other_header_names_are_read() {
        let csv = "\u{feff}Reference;Order state;Customer note;Total\r\n\
                   SO/2026-00001#B;Claim open;\"Left at door;\r\nring twice\";12,50\r\n\
                   SO 2026&00002;Closed;\"He said \"\"fragile\"\"\";3,00\r\n";
        let format = ExportFormat {
            delimiter: b';',
            order_id: "reference".into(),
            status: "ORDER STATE".into(),
            url_id: None,
            extra: vec!["Total".into()],
        };
        let orders = parse(csv, &format).unwrap();
        assert_eq!(orders.len(), 2);
        assert_eq!(orders[0].id, "SO/2026-00001#B");
        assert_eq!(orders[0].status, "Claim open");
        assert_eq!(orders[0].fields["Total"], "12,50");
        assert_eq!(orders[1].id, "SO 2026&00002");
    }

    #[test]
    fn an_export_without_the_needed_columns_says_which_it_has_and_what_to_set() {
        let err = parse("id,state\n1,x\n", &ExportFormat::default()).unwrap_err();
        let ExportError::Columns(message) = err else {
            panic!("{err:?}")
        };
        assert!(
            message.contains("no `order_id` column")
                && message.contains("id, state")
                && message.contains("portal.export.columns.order_id"),
            "{message}"
        );
    }
}
