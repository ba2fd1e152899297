//! `[portal] kind = "web"`: where the portal is, how its pages are found
//! (paths and CSS selectors, or flows of steps, so an operator can point
//! `reporter` at the real portal without a rebuild), and where the passwords
//! are.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use serde::Deserialize;

use super::file::FilePortal;
use super::flow::{self, FileStep};
use super::values::{Origin, bad, check, check_http_url, seconds};
use crate::flow::{Flow, FlowName, Locator, Step};

/// The web portal's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct WebPortal {
    /// `http://host:port`, without a trailing slash.
    pub base_url: String,
    /// One file per user, named as the user, holding the password. Without
    /// it: `$CREDENTIALS_DIRECTORY` (files `portal_<user>`), else
    /// `/etc/reporter/credentials`.
    pub credentials_dir: Option<PathBuf>,
    /// An exported order needs a report when its status is one of these and
    /// it was not reported since it entered that status.
    pub report_statuses: Vec<String>,
    /// The value chosen in the report form's reason list.
    pub report_reason: String,
    pub report_comment: String,
    /// Longest wait for one page or one download; a stuck page fails the step
    /// (retryable).
    pub page_timeout: Duration,
    /// After a confirmed report, load the order's page afresh and record the
    /// report only if `reported_if` shows there.
    pub verify_after_submit: bool,
    /// Where screenshots and page HTML of failed steps go; without it, beside
    /// the database in `artifacts/`.
    pub artifacts_dir: Option<PathBuf>,
    pub paths: PortalPaths,
    pub selectors: PortalSelectors,
    /// The flows: written in the config, or the defaults from `paths` and
    /// `selectors`.
    pub login: Flow,
    pub export: Flow,
    pub report: Flow,
    /// How the export is read.
    pub csv: ExportFormat,
    /// The login form is shown (on the login page, or on any page once the
    /// session ended) when one of these is: `selectors.login_form`, else the
    /// login flow's password field (and its first field, in a two-step login).
    pub login_form: Vec<Locator>,
    /// Shown after a refused login.
    pub login_error: Option<Locator>,
    /// Shown once logged in (optional: without it, the login form gone is
    /// success).
    pub logged_in: Option<Locator>,
}

/// What the export is: a CSV file or an Excel workbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    Csv,
    Xlsx,
}

/// The export's kind (told by its content when not given), its CSV dialect
/// or sheet, and the columns used (header names, case-insensitive).
#[derive(Debug, Clone, PartialEq)]
pub struct ExportFormat {
    pub kind: Option<ExportKind>,
    /// The workbook's sheet; the first when not given.
    pub sheet: Option<String>,
    pub delimiter: u8,
    pub order_id: String,
    pub status: String,
    /// The column that addresses the order's page, when it is not the id:
    /// `{order}` in a `goto` of the report flow is then this column's value.
    pub url_id: Option<String>,
    /// The other columns the report flow uses (`{column:NAME}`).
    pub extra: Vec<String>,
}

impl Default for ExportFormat {
    fn default() -> Self {
        ExportFormat {
            kind: None,
            sheet: None,
            delimiter: b',',
            order_id: "order_id".into(),
            status: "status".into(),
            url_id: None,
            extra: Vec::new(),
        }
    }
}

/// Paths under `base_url`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortalPaths {
    pub login: String,
    /// The page with the export link.
    pub orders: String,
    /// One order's page; `{order}` is replaced by the order id.
    pub order: String,
}

/// CSS selectors of the elements the browser steps use.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortalSelectors {
    pub login_user: String,
    pub login_password: String,
    pub login_submit: String,
    /// Shown on the login page after a wrong password.
    pub login_error: String,
    /// The link that downloads the orders export (CSV).
    pub export_link: String,
    /// Shown on an order's page once it has a report.
    pub already_reported: String,
    pub report_form: String,
    pub report_reason: String,
    pub report_comment: String,
    pub report_submit: String,
    /// Shown once a report is received.
    pub confirmation: String,
    /// Shown on the login page, or on any page once the session ended;
    /// without it, the login flow's password field.
    pub login_form: Option<String>,
    /// Shown once logged in; without it, the login form gone means success.
    pub logged_in: Option<String>,
    /// Shown when the portal rejects a submitted report form.
    pub form_error: Option<String>,
}

impl Default for PortalPaths {
    fn default() -> Self {
        PortalPaths {
            login: "/login".into(),
            orders: "/orders".into(),
            order: "/orders/{order}".into(),
        }
    }
}

impl Default for PortalSelectors {
    fn default() -> Self {
        PortalSelectors {
            login_user: "#login".into(),
            login_password: "#password".into(),
            login_submit: "#login-submit".into(),
            login_error: "#login-error".into(),
            export_link: "#export".into(),
            already_reported: "#already-reported".into(),
            report_form: "#report-form".into(),
            report_reason: "#reason".into(),
            report_comment: "#comment".into(),
            report_submit: "#report-submit".into(),
            confirmation: "#confirmation".into(),
            login_form: None,
            logged_in: None,
            form_error: None,
        }
    }
}

impl WebPortal {
    /// The URL of a path under the portal (a full URL is kept as it is).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base_url)
        }
    }
}

/// `[portal.export]`: the steps alone, or a table with the CSV dialect, the
/// columns and the steps.
#[derive(Debug)]
pub(super) enum FileExport {
    Steps(Vec<FileStep>),
    Table(FileExportTable),
}

/// Told apart by the TOML's shape, so that a wrong key inside is refused by
/// its name (`unknown field `format``), not as "no variant matched".
impl<'de> Deserialize<'de> for FileExport {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = toml::Value::deserialize(deserializer)?;
        let shape = value.type_str();
        let parsed = match value {
            toml::Value::Array(_) => value.try_into().map(FileExport::Steps),
            toml::Value::Table(_) => value.try_into().map(FileExport::Table),
            _ => {
                return Err(D::Error::custom(format!(
                    "`portal.export` is a {shape}; give its steps ([[portal.export]]) or a table with delimiter, columns and steps"
                )));
            }
        };
        parsed.map_err(|err| D::Error::custom(format!("in `portal.export`: {}", err.message())))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileExportTable {
    format: Option<String>,
    sheet: Option<String>,
    delimiter: Option<String>,
    columns: Option<FileColumns>,
    steps: Option<Vec<FileStep>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileColumns {
    order_id: Option<String>,
    status: Option<String>,
    url_id: Option<String>,
}

/// The web keys of the `[portal]` table as written.
impl FilePortal {
    /// Builds the web portal's settings, every value checked.
    pub(super) fn into_web(self, origin: Origin) -> Result<WebPortal> {
        let Some(base_url) = self.base_url else {
            return Err(bad(
                origin,
                "portal.base_url",
                "(missing)",
                "a web portal needs its address, e.g. base_url = \"https://portal.example.com\"",
            ));
        };
        let base_url = check(
            origin,
            "portal.base_url",
            &base_url,
            check_http_url(&base_url),
        )?;
        let mut paths = PortalPaths::default();
        let mut selectors = PortalSelectors::default();
        let mut report_statuses = vec!["disputed".to_string()];
        let mut report_reason = "not_received".to_string();
        let mut report_comment = "Reported automatically by reporter".to_string();
        let mut page_timeout = Duration::from_secs(30);
        if let Some(v) = self.report_statuses {
            if v.is_empty() || v.iter().any(|s| s.trim().is_empty()) {
                return Err(bad(
                    origin,
                    "portal.report_statuses",
                    &format!("{v:?}"),
                    "give at least one status, e.g. [\"disputed\"]",
                ));
            }
            report_statuses = v;
        }
        if let Some(v) = self.report_reason {
            report_reason = v;
        }
        if let Some(v) = self.report_comment {
            report_comment = v;
        }
        if let Some(v) = self.page_timeout {
            page_timeout = check(origin, "portal.page_timeout", v, seconds(v, 1.0))?;
        }
        if let Some(given) = self.paths {
            for (key, path) in [
                ("portal.paths.login", &given.login),
                ("portal.paths.orders", &given.orders),
                ("portal.paths.order", &given.order),
            ] {
                if !path.starts_with('/') {
                    return Err(bad(origin, key, path, "give a path that starts with `/`"));
                }
            }
            if !given.order.contains("{order}") {
                return Err(bad(
                    origin,
                    "portal.paths.order",
                    &given.order,
                    "it must contain `{order}`, where the order id goes",
                ));
            }
            paths = given;
        }
        if let Some(given) = self.selectors {
            selectors = given;
        }
        let defaults = flow::default_flows(&paths, &selectors)
            .map_err(|why| bad(origin, "portal.selectors", &"(a selector)", &why))?;
        let mut csv = ExportFormat::default();
        let export_steps = match self.export {
            None => None,
            Some(FileExport::Steps(steps)) => Some(steps),
            Some(FileExport::Table(table)) => {
                if let Some(f) = table.format {
                    csv.kind = Some(match f.to_ascii_lowercase().as_str() {
                        "csv" => ExportKind::Csv,
                        "xlsx" => ExportKind::Xlsx,
                        _ => {
                            return Err(bad(
                                origin,
                                "portal.export.format",
                                &format!("{f:?}"),
                                "give \"csv\" or \"xlsx\" (or leave it out: the export's content tells)",
                            ));
                        }
                    });
                }
                if let Some(sheet) = table.sheet {
                    if sheet.trim().is_empty() {
                        return Err(bad(
                            origin,
                            "portal.export.sheet",
                            &"\"\"",
                            "give the sheet's name, or leave it out for the first sheet",
                        ));
                    }
                    if csv.kind == Some(ExportKind::Csv) {
                        return Err(bad(
                            origin,
                            "portal.export.sheet",
                            &sheet,
                            "a CSV export has no sheets: set format = \"xlsx\" or leave sheet out",
                        ));
                    }
                    csv.sheet = Some(sheet);
                }
                if let Some(d) = table.delimiter {
                    csv.delimiter = match d.as_bytes() {
                        [b] if d.is_ascii() && *b != b'"' && *b != b'\n' => *b,
                        _ if d == "\\t" => b'\t',
                        _ => {
                            return Err(bad(
                                origin,
                                "portal.export.delimiter",
                                &format!("{d:?}"),
                                "give one ASCII character, e.g. \",\", \";\" or \"\\t\"",
                            ));
                        }
                    };
                }
                if let Some(columns) = table.columns {
                    for (key, given, slot) in [
                        (
                            "portal.export.columns.order_id",
                            columns.order_id,
                            &mut csv.order_id,
                        ),
                        (
                            "portal.export.columns.status",
                            columns.status,
                            &mut csv.status,
                        ),
                    ] {
                        if let Some(v) = given {
                            if v.trim().is_empty() {
                                return Err(bad(
                                    origin,
                                    key,
                                    &"\"\"",
                                    "give the column's header name",
                                ));
                            }
                            *slot = v.trim().to_string();
                        }
                    }
                    csv.url_id = columns.url_id.map(|v| v.trim().to_string());
                }
                table.steps
            }
        };
        let login = flow_from(origin, FlowName::Login, self.login, defaults.login)?;
        let export = flow_from(origin, FlowName::Export, export_steps, defaults.export)?;
        let report = flow_from(origin, FlowName::Report, self.report, defaults.report)?;
        csv.extra = report.columns();
        let locator = |key: &str, v: &Option<String>| {
            v.as_deref()
                .map(|text| Locator::parse(text).map_err(|why| bad(origin, key, &text, &why)))
                .transpose()
        };
        let login_form = match locator("portal.selectors.login_form", &selectors.login_form)? {
            Some(form) => vec![form],
            None => login.login_form(),
        };
        let login_error = if selectors.login_error.trim().is_empty() {
            None
        } else {
            Some(Locator::parse(&selectors.login_error).map_err(|why| {
                bad(
                    origin,
                    "portal.selectors.login_error",
                    &selectors.login_error,
                    &why,
                )
            })?)
        };
        let logged_in = locator("portal.selectors.logged_in", &selectors.logged_in)?;
        Ok(WebPortal {
            base_url,
            credentials_dir: self.credentials_dir,
            report_statuses,
            report_reason,
            report_comment,
            page_timeout,
            verify_after_submit: self.verify_after_submit.unwrap_or(false),
            artifacts_dir: self.artifacts_dir,
            paths,
            selectors,
            login,
            export,
            report,
            csv,
            login_form,
            login_error,
            logged_in,
        })
    }
}

/// A flow from its steps as written, or the default one.
fn flow_from(
    origin: Origin,
    name: FlowName,
    written: Option<Vec<FileStep>>,
    default: Vec<Step>,
) -> Result<Flow> {
    let steps = match written {
        None => default,
        Some(written) => written
            .into_iter()
            .enumerate()
            .map(|(i, step)| {
                step.into_step().map_err(|why| {
                    bad(
                        origin,
                        &format!("{}[{}]", name.key(), i + 1),
                        &"(step)",
                        &why,
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?,
    };
    Flow::check(name, steps).map_err(|(key, why)| bad(origin, &key, &"(steps)", &why))
}
