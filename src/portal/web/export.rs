//! The portal's orders export: fetched by the page itself (so it reaches the
//! worker wherever the browser runs, and its HTTP status is known at once),
//! then read as CSV (RFC 4180: quotes, doubled quotes, quoted newlines, a
//! byte order mark, CRLF) by the column names of the config.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::json;

use super::session::{WebSession, locator_json, login_form_json};
use super::steps::Flowed;
use crate::config::ExportFormat;
use crate::flow::Step;
use crate::orders::ExportedOrder;
use crate::portal::StepError;

/// Takes the export through the page (`download.js`).
pub(super) const DOWNLOAD_JS: &str = concat!(
    include_str!("find.js"),
    include_str!("net.js"),
    include_str!("download.js")
);

impl WebSession {
    /// Runs the export flow and fetches the export through the page.
    pub(super) async fn download(&mut self) -> Result<String, StepError> {
        let settings = self.settings();
        let flow = &settings.export;
        let last = flow.steps.len() - 1;
        let Some(Step::Download(target)) = flow.steps.last() else {
            unreachable!("checked at load: the export flow ends with download");
        };
        for fresh in [false, true] {
            let flowed = self.run(flow, None, 0, last).await?;
            if let Flowed::LoggedOut = flowed {
                if fresh {
                    break;
                }
                self.sign_in().await?;
                continue;
            }
            let timeout_ms = (settings.page_timeout.as_millis() as u64 * 4 / 5).max(500);
            let args = vec![
                locator_json(target),
                json!(timeout_ms),
                login_form_json(&settings.login_form),
            ];
            let what = flow.describe(last);
            let answer = self.browser().run_async(&what, DOWNLOAD_JS, args).await?;
            if let Some(trace) = &self.parts.trace {
                trace.after(self.browser(), flow, last).await;
            }
            match answer[0].as_str().unwrap_or_default() {
                "ok" => {
                    let status = answer[1].as_u64().unwrap_or(0);
                    if !(200..300).contains(&status) {
                        return Err(StepError::Retryable(format!(
                            "{what}: the export answered HTTP {status}"
                        )));
                    }
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(answer[3].as_str().unwrap_or_default())
                        .map_err(|err| {
                            StepError::Retryable(format!(
                                "{what}: the page sent the export garbled: {err}"
                            ))
                        })?;
                    return Ok(String::from_utf8_lossy(&bytes).into_owned());
                }
                "html" => {
                    let status = answer[1].as_u64().unwrap_or(0);
                    let title = answer[2].as_str().unwrap_or_default();
                    return Err(StepError::Retryable(if status >= 400 {
                        format!("{what}: the export answered HTTP {status} ({title:?})")
                    } else {
                        format!("{what}: the export answered a web page ({title:?}), not CSV")
                    }));
                }
                "login" if !fresh => self.sign_in().await?,
                "login" => break,
                "http" => {
                    return Err(StepError::Retryable(format!(
                        "{what}: the page answered HTTP {}",
                        answer[1]
                    )));
                }
                "missing" => {
                    return Err(StepError::Unfit(format!(
                        "{what}: {} after portal.page_timeout; check the selector against the page saved beside this error",
                        answer[1]
                            .as_str()
                            .unwrap_or("nothing on the page matches it")
                    )));
                }
                _ => {
                    return Err(StepError::Retryable(format!(
                        "{what}: {}",
                        answer[1].as_str().unwrap_or("the download failed")
                    )));
                }
            }
        }
        Err(StepError::Retryable(
            "the portal asked to log in again right after a login".into(),
        ))
    }
}

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
