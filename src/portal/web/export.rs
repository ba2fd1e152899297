//! The portal's orders export: fetched by the page itself (so it reaches the
//! worker wherever the browser runs, and its HTTP status is known at once),
//! then read as CSV (RFC 4180: quotes, doubled quotes, quoted newlines, a
//! byte order mark, CRLF) by the column names of the config.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::json;

use super::session::{WebSession, locator_json, login_form_json};
use super::steps::Flowed;
use crate::config::{ExportFormat, ExportKind};
use crate::flow::Step;
use crate::orders::ExportedOrder;
use crate::orders::sheet::{self, SheetError};
use crate::portal::StepError;

/// Takes the export through the page (`download.js`).
pub(super) const DOWNLOAD_JS: &str = concat!(
    include_str!("find.js"),
    include_str!("net.js"),
    include_str!("download.js")
);

impl WebSession {
    /// Runs the export flow and fetches the export through the page.
    pub(super) async fn download(&mut self) -> Result<Vec<u8>, StepError> {
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
                    return Ok(bytes);
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

/// Parses the export by the configured columns: CSV or an Excel workbook,
/// as `portal.export.format` says, else as its content shows.
pub fn parse(bytes: &[u8], format: &ExportFormat) -> Result<Vec<ExportedOrder>, ExportError> {
    let binary = sheet::binary_kind(bytes);
    let rows = match (format.kind, binary) {
        (Some(ExportKind::Xlsx), _) | (None, Some(sheet::ZIP | sheet::OLE)) => {
            sheet::read_rows(bytes, format.sheet.as_deref()).map_err(|err| match err {
                SheetError::Damaged(why) => ExportError::Damaged(why),
                SheetError::NoSuchSheet { wanted, found } => ExportError::Columns(format!(
                    "the orders export has no sheet `{wanted}` (it has: {}); set portal.export.sheet to one of them",
                    found.join(", ")
                )),
            })?
        }
        (_, Some(kind)) => {
            let hint = if matches!(kind, sheet::ZIP | sheet::OLE) {
                "; set portal.export.format = \"xlsx\""
            } else {
                ""
            };
            return Err(ExportError::Columns(format!(
                "the orders export is {kind}, not CSV{hint}"
            )));
        }
        (_, None) => csv_rows(bytes, format)?,
    };
    orders_from_rows(rows, format)
}

/// The records of a CSV export (RFC 4180), each field as it is written.
fn csv_rows(bytes: &[u8], format: &ExportFormat) -> Result<Vec<Vec<String>>, ExportError> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(format.delimiter)
        .flexible(true)
        .has_headers(false)
        .from_reader(bytes);
    let mut rows = Vec::new();
    for (n, row) in reader.byte_records().enumerate() {
        let row =
            row.map_err(|e| ExportError::Damaged(format!("the orders export is damaged: {e}")))?;
        let row = row
            .iter()
            .map(|field| String::from_utf8(field.to_vec()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                ExportError::Damaged(format!("record {n} of the orders export is not UTF-8 text"))
            })?;
        rows.push(row);
    }
    Ok(rows)
}

/// The orders of an export's rows: the first row names the columns.
fn orders_from_rows(
    rows: Vec<Vec<String>>,
    format: &ExportFormat,
) -> Result<Vec<ExportedOrder>, ExportError> {
    let mut rows = rows.into_iter();
    let header: Vec<String> = rows
        .next()
        .unwrap_or_default()
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
                    if header.len() == 1 && format.kind != Some(ExportKind::Xlsx) {
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
    for (n, row) in rows.enumerate() {
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
                    row.get(*at)
                        .map(|f| f.trim())
                        .unwrap_or_default()
                        .to_string(),
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
        let orders = parse(csv.as_bytes(), &ExportFormat::default()).unwrap();
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
            ..ExportFormat::default()
        };
        let orders = parse(csv.as_bytes(), &format).unwrap();
        assert_eq!(orders.len(), 2);
        assert_eq!(orders[0].id, "SO/2026-00001#B");
        assert_eq!(orders[0].status, "Claim open");
        assert_eq!(orders[0].fields["Total"], "12,50");
        assert_eq!(orders[1].id, "SO 2026&00002");
    }

    #[test]
    fn an_export_without_the_needed_columns_says_which_it_has_and_what_to_set() {
        let err = parse(b"id,state\n1,x\n", &ExportFormat::default()).unwrap_err();
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

    use crate::orders::sheet::xlsx;

    fn workbook() -> Vec<u8> {
        use xlsx::Cell;
        let date = chrono::NaiveDate::from_ymd_opt(2026, 11, 3).unwrap();
        xlsx::workbook(&[(
            "Claims",
            vec![
                vec![
                    Cell::text("Reference"),
                    Cell::text("State"),
                    Cell::text("Date"),
                ],
                vec![Cell::Number(1001.0), Cell::text("open"), Cell::Date(date)],
                vec![
                    Cell::Number(12345678901.0),
                    Cell::text("closed"),
                    Cell::Empty,
                ],
            ],
        )])
    }

    #[test]
    fn an_excel_export_is_read_by_its_content_with_ids_and_dates_as_a_person_reads_them() {
        let format = ExportFormat {
            order_id: "reference".into(),
            status: "state".into(),
            extra: vec!["Date".into()],
            ..ExportFormat::default()
        };
        let orders = parse(&workbook(), &format).unwrap();
        assert_eq!(orders[0].id, "1001");
        assert_eq!(orders[0].fields["Date"], "2026-11-03");
        assert_eq!(orders[1].id, "12345678901");
        let named = ExportFormat {
            sheet: Some("claims".into()),
            ..format.clone()
        };
        assert_eq!(parse(&workbook(), &named).unwrap().len(), 2);
        let missing = ExportFormat {
            sheet: Some("Orders".into()),
            ..format
        };
        let Err(ExportError::Columns(message)) = parse(&workbook(), &missing) else {
            panic!("a missing sheet")
        };
        assert!(
            message.contains("no sheet `Orders` (it has: Claims)"),
            "{message}"
        );
    }

    #[test]
    fn an_excel_file_read_as_csv_is_named_for_what_it_is_and_its_bytes_never_shown() {
        let format = ExportFormat {
            kind: Some(ExportKind::Csv),
            ..ExportFormat::default()
        };
        let Err(ExportError::Columns(message)) = parse(&workbook(), &format) else {
            panic!("an xlsx read as CSV")
        };
        assert_eq!(
            message,
            "the orders export is an Excel (.xlsx) or other ZIP file, not CSV; set portal.export.format = \"xlsx\""
        );
    }
}
