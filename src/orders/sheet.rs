//! Orders exports that are workbooks: the rows of one sheet of an .xlsx
//! (or .xls, .xlsb, .ods), each cell as the text a person reads in it, and
//! what an export that is not text is, for the error when one was read as
//! CSV.

use std::fmt;
use std::io::Cursor;

use calamine::{
    Data, ExcelDateTime, Ods, Range, Reader, Sheets, Xls, Xlsb, Xlsx, open_workbook_from_rs,
};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// Why a workbook cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SheetError {
    /// Not a workbook, or one that cannot be read; the message says so.
    Damaged(String),
    /// The workbook has no sheet of that name; `found` are the ones it has.
    NoSuchSheet { wanted: String, found: Vec<String> },
}

impl fmt::Display for SheetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SheetError::Damaged(message) => f.write_str(message),
            SheetError::NoSuchSheet { wanted, found } => write!(
                f,
                "the export has no sheet named {wanted:?}; its sheets are {}",
                quoted_list(found)
            ),
        }
    }
}

impl std::error::Error for SheetError {}

/// The names, each quoted, separated by commas (`"Orders", "Notes"`).
fn quoted_list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("{name:?}")).collect();
    quoted.join(", ")
}

/// The rows of one sheet of an .xlsx (or other workbook calamine reads),
/// each cell as the text a person reads in it.
///
/// `sheet` is `None` for the first sheet, or a sheet's name matched
/// case-insensitively. The rows are those of the sheet's used range, which
/// starts at its first used cell (not necessarily A1), so the first row is
/// the header; empty rows inside keep their place, trailing ones are
/// dropped.
pub fn read_rows(bytes: &[u8], sheet: Option<&str>) -> Result<Vec<Vec<String>>, SheetError> {
    let mut workbook = open(bytes)?;
    let name = chosen_sheet(&workbook.sheet_names(), sheet)?;
    let range = workbook
        .worksheet_range(&name)
        .map_err(|err| damaged(format!("sheet {name:?}: {err}")))?;
    Ok(rows_as_text(&range))
}

/// What `bytes` are, by their first bytes, for an error message when an
/// export that is not text was read as CSV: a ZIP file (which .xlsx files
/// are), an old Excel (OLE) file, a PDF, gzip or HTML; `None` for anything
/// else, taken as text.
pub fn binary_kind(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        Some(ZIP)
    } else if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        Some(OLE)
    } else if bytes.starts_with(b"%PDF-") {
        Some("a PDF")
    } else if bytes.starts_with(&[0x1F, 0x8B]) {
        Some("a gzip file")
    } else if looks_like_html(bytes) {
        Some("an HTML page")
    } else {
        None
    }
}

pub const ZIP: &str = "an Excel (.xlsx) or other ZIP file";
pub const OLE: &str = "an old Excel (.xls) file";

/// Whether the bytes start, after a byte order mark and white space, with
/// a tag that opens an HTML page.
fn looks_like_html(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return false;
    };
    let head = &bytes[start..bytes.len().min(start + 16)];
    let head = head.to_ascii_lowercase();
    ["<!doctype html", "<html", "<head", "<body"]
        .iter()
        .any(|tag| head.starts_with(tag.as_bytes()))
}

/// The error for bytes that are not a workbook calamine can read.
fn damaged(reason: impl fmt::Display) -> SheetError {
    SheetError::Damaged(format!(
        "the export is not a readable Excel workbook: {reason}"
    ))
}

/// A workbook read from `bytes`, of the format their first bytes tell.
fn open(bytes: &[u8]) -> Result<Sheets<Cursor<&[u8]>>, SheetError> {
    let data = Cursor::new(bytes);
    match binary_kind(bytes) {
        Some(ZIP) => open_zip(data),
        Some(OLE) => open_workbook_from_rs::<Xls<_>, _>(data)
            .map(Sheets::Xls)
            .map_err(damaged),
        Some(kind) => Err(damaged(format_args!("it is {kind}"))),
        None => Err(damaged("it is neither an .xlsx (ZIP) nor an .xls file")),
    }
}

/// A ZIP file as .xlsx, else .ods, else .xlsb; when it is none of them,
/// the error says why it is no .xlsx, the one an export most likely is.
fn open_zip(data: Cursor<&[u8]>) -> Result<Sheets<Cursor<&[u8]>>, SheetError> {
    let xlsx_error = match open_workbook_from_rs::<Xlsx<_>, _>(data.clone()) {
        Ok(workbook) => return Ok(Sheets::Xlsx(workbook)),
        Err(err) => err,
    };
    if let Ok(workbook) = open_workbook_from_rs::<Ods<_>, _>(data.clone()) {
        return Ok(Sheets::Ods(workbook));
    }
    if let Ok(workbook) = open_workbook_from_rs::<Xlsb<_>, _>(data) {
        return Ok(Sheets::Xlsb(workbook));
    }
    Err(damaged(xlsx_error))
}

/// The name of the sheet to read: the first one, or the one named `wanted`
/// in any case.
fn chosen_sheet(names: &[String], wanted: Option<&str>) -> Result<String, SheetError> {
    let found = match wanted {
        None => names.first(),
        Some(wanted) => {
            let wanted = wanted.to_lowercase();
            names.iter().find(|name| name.to_lowercase() == wanted)
        }
    };
    match (found, wanted) {
        (Some(name), _) => Ok(name.clone()),
        (None, None) => Err(damaged("it has no sheets")),
        (None, Some(wanted)) => Err(SheetError::NoSuchSheet {
            wanted: wanted.to_string(),
            found: names.to_vec(),
        }),
    }
}

/// Every row of the range as text, without the trailing empty rows.
fn rows_as_text(range: &Range<Data>) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = range
        .rows()
        .map(|row| row.iter().map(cell_text).collect())
        .collect();
    while rows
        .last()
        .is_some_and(|row| row.iter().all(|cell| cell.is_empty()))
    {
        rows.pop();
    }
    rows
}

/// A cell as a person reads it in Excel (with the formats that matter for
/// ids and dates, not the sheet's own number formats).
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(text) => text.clone(),
        Data::Int(number) => number.to_string(),
        Data::Float(number) => number_text(*number),
        Data::Bool(true) => "TRUE".to_string(),
        Data::Bool(false) => "FALSE".to_string(),
        Data::DateTime(datetime) => excel_datetime_text(datetime),
        Data::DateTimeIso(text) => iso_datetime_text(text),
        Data::DurationIso(text) => iso_duration_text(text),
        Data::Error(error) => error.to_string(),
    }
}

/// A number in its shortest form that reads back the same, never with an
/// exponent: `1001`, `12345678901`, `12.5`.
fn number_text(number: f64) -> String {
    if number == 0.0 {
        // Not `-0`.
        "0".to_string()
    } else {
        // Rust's `Display` for floats is the shortest round-trip digits,
        // without an exponent and without a `.0` for whole numbers.
        number.to_string()
    }
}

/// An Excel date, time or duration: `2026-11-03`, `2026-11-03 14:05:00`, a
/// time of day alone (a serial below 1) as `14:05:00`, a duration as
/// `H:MM:SS` (hours past 24 included).
fn excel_datetime_text(datetime: &ExcelDateTime) -> String {
    let serial = datetime.as_f64();
    if datetime.is_duration() {
        return duration_text((serial * 86_400.0).round() as i64);
    }
    let (year, month, day, hour, minute, second, _milli) = datetime.to_ymd_hms_milli();
    let time = format!("{hour:02}:{minute:02}:{second:02}");
    if (0.0..1.0).contains(&serial) {
        time
    } else if (hour, minute, second) == (0, 0, 0) {
        format!("{year:04}-{month:02}-{day:02}")
    } else {
        format!("{year:04}-{month:02}-{day:02} {time}")
    }
}

/// An ISO 8601 date, date and time, or time (as OpenDocument stores them)
/// in the same forms as Excel's; any other text as it is.
fn iso_datetime_text(text: &str) -> String {
    if let Ok(datetime) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        if datetime.time() == NaiveTime::MIN {
            datetime.format("%Y-%m-%d").to_string()
        } else {
            datetime.format("%Y-%m-%d %H:%M:%S").to_string()
        }
    } else if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        date.format("%Y-%m-%d").to_string()
    } else if let Ok(time) = NaiveTime::parse_from_str(text, "%H:%M:%S%.f") {
        time.with_nanosecond(0)
            .unwrap_or(time)
            .format("%H:%M:%S")
            .to_string()
    } else {
        text.to_string()
    }
}

/// An ISO 8601 duration as OpenDocument stores times (`PT14H05M00S`) as
/// `H:MM:SS`; any other text as it is.
fn iso_duration_text(text: &str) -> String {
    iso_duration_seconds(text).map_or_else(|| text.to_string(), duration_text)
}

/// The whole seconds of a duration `[-]P[nD]T[nH][nM][n[.n]S]`, if it is one.
fn iso_duration_seconds(text: &str) -> Option<i64> {
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) => (-1.0, rest),
        None => (1.0, text),
    };
    let rest = rest.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((days, time)) => (days, time),
        None => (rest, ""),
    };
    let mut seconds = 0.0;
    if !days.is_empty() {
        seconds += days.strip_suffix('D')?.parse::<f64>().ok()? * 86_400.0;
    }
    let mut number = String::new();
    for c in time.chars() {
        let unit = match c {
            'H' => 3_600.0,
            'M' => 60.0,
            'S' => 1.0,
            c if c.is_ascii_digit() || c == '.' => {
                number.push(c);
                continue;
            }
            _ => return None,
        };
        seconds += number.parse::<f64>().ok()? * unit;
        number.clear();
    }
    if !number.is_empty() {
        return None;
    }
    Some((sign * seconds).round() as i64)
}

/// Seconds as `H:MM:SS`, with a `-` before a negative duration.
fn duration_text(seconds: i64) -> String {
    let sign = if seconds < 0 { "-" } else { "" };
    let seconds = seconds.unsigned_abs();
    format!(
        "{sign}{}:{:02}:{:02}",
        seconds / 3_600,
        seconds / 60 % 60,
        seconds % 60
    )
}

#[cfg(test)]
#[path = "../../examples/support/xlsx.rs"]
pub(crate) mod xlsx;

#[cfg(test)]
mod tests {
    use super::xlsx::{Cell, workbook};
    use super::*;

    fn text(value: &str) -> Cell {
        Cell::text(value)
    }

    fn date(year: i32, month: u32, day: u32) -> Cell {
        Cell::Date(NaiveDate::from_ymd_opt(year, month, day).unwrap())
    }

    #[test]
    fn ids_stored_as_numbers_read_as_whole_numbers() {
        let bytes = workbook(&[(
            "Orders",
            vec![
                vec![text("id"), text("amount")],
                vec![Cell::Number(1001.0), Cell::Number(12.5)],
                vec![Cell::Number(12345678901.0), Cell::Number(0.1)],
            ],
        )]);
        let rows = read_rows(&bytes, None).unwrap();
        assert_eq!(
            rows,
            vec![
                vec!["id", "amount"],
                vec!["1001", "12.5"],
                vec!["12345678901", "0.1"],
            ]
        );
    }

    #[test]
    fn a_date_cell_reads_as_an_iso_date() {
        let bytes = workbook(&[(
            "Orders",
            vec![
                vec![text("id"), text("placed")],
                vec![text("ORD-1"), date(2026, 11, 3)],
            ],
        )]);
        let rows = read_rows(&bytes, None).unwrap();
        assert_eq!(rows[1], vec!["ORD-1", "2026-11-03"]);
    }

    #[test]
    fn text_is_kept_as_it_is_and_empty_cells_keep_their_place() {
        let bytes = workbook(&[(
            "Orders",
            vec![
                vec![text("id"), text("status"), text("note")],
                vec![text(" ORD-1 "), Cell::Empty, text("a < b & \"c\"")],
                vec![],
                vec![text("ORD-2"), text("disputed"), Cell::Empty],
                vec![Cell::Empty],
            ],
        )]);
        let rows = read_rows(&bytes, None).unwrap();
        assert_eq!(
            rows,
            vec![
                vec!["id", "status", "note"],
                vec![" ORD-1 ", "", "a < b & \"c\""],
                vec!["", "", ""],
                vec!["ORD-2", "disputed", ""],
            ]
        );
    }

    #[test]
    fn a_named_sheet_is_picked_case_insensitively() {
        let bytes = workbook(&[
            ("Summary", vec![vec![text("total")]]),
            ("Orders", vec![vec![text("id")], vec![text("ORD-1")]]),
        ]);
        assert_eq!(read_rows(&bytes, None).unwrap(), vec![vec!["total"]]);
        assert_eq!(
            read_rows(&bytes, Some("oRDERS")).unwrap(),
            vec![vec!["id"], vec!["ORD-1"]]
        );
    }

    #[test]
    fn a_missing_sheet_lists_the_ones_there_are() {
        let bytes = workbook(&[
            ("Summary", vec![vec![text("total")]]),
            ("Orders", vec![vec![text("id")]]),
        ]);
        let err = read_rows(&bytes, Some("Exports")).unwrap_err();
        assert_eq!(
            err,
            SheetError::NoSuchSheet {
                wanted: "Exports".to_string(),
                found: vec!["Summary".to_string(), "Orders".to_string()],
            }
        );
        assert_eq!(
            err.to_string(),
            "the export has no sheet named \"Exports\"; its sheets are \"Summary\", \"Orders\""
        );
    }

    #[test]
    fn random_bytes_are_damaged() {
        let random: Vec<u8> = (0..512u32).map(|i| (i * 7919 % 251) as u8).collect();
        let mut zip_like = b"PK\x03\x04".to_vec();
        zip_like.extend_from_slice(&random);
        for bytes in [random, zip_like, b"id,status\n1,disputed\n".to_vec()] {
            match read_rows(&bytes, None) {
                Err(SheetError::Damaged(message)) => assert!(
                    message.starts_with("the export is not a readable Excel workbook: "),
                    "{message}"
                ),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn binary_kind_tells_zip_pdf_html_and_text_apart() {
        let xlsx = workbook(&[("Orders", vec![vec![text("id")]])]);
        assert_eq!(
            binary_kind(&xlsx),
            Some("an Excel (.xlsx) or other ZIP file")
        );
        assert_eq!(binary_kind(b"%PDF-1.7\n..."), Some("a PDF"));
        assert_eq!(
            binary_kind(b"\xEF\xBB\xBF\n  <!DOCTYPE html><html>"),
            Some("an HTML page")
        );
        assert_eq!(binary_kind(b"<HTML><body>"), Some("an HTML page"));
        assert_eq!(binary_kind(b"\x1F\x8B\x08\x00"), Some("a gzip file"));
        assert_eq!(
            binary_kind(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0]),
            Some("an old Excel (.xls) file")
        );
        assert_eq!(binary_kind(b"id,status\n1,disputed\n"), None);
        assert_eq!(binary_kind(b"<id>,status\n"), None);
        assert_eq!(binary_kind(b""), None);
    }

    #[test]
    fn cells_read_as_excel_shows_them() {
        use calamine::{CellErrorType, ExcelDateTimeType};
        let at = |serial| {
            Data::DateTime(ExcelDateTime::new(
                serial,
                ExcelDateTimeType::DateTime,
                false,
            ))
        };
        assert_eq!(cell_text(&Data::Bool(true)), "TRUE");
        assert_eq!(cell_text(&Data::Bool(false)), "FALSE");
        assert_eq!(cell_text(&Data::Error(CellErrorType::NA)), "#N/A");
        assert_eq!(cell_text(&Data::Int(-7)), "-7");
        assert_eq!(cell_text(&Data::Float(-0.0)), "0");
        assert_eq!(cell_text(&Data::Float(1e21)), "1000000000000000000000");
        // 2026-11-03 is serial 46329; 14:05 is 845/1440 of a day.
        assert_eq!(cell_text(&at(46329.0)), "2026-11-03");
        assert_eq!(
            cell_text(&at(46329.0 + 845.0 / 1440.0)),
            "2026-11-03 14:05:00"
        );
        assert_eq!(cell_text(&at(845.0 / 1440.0)), "14:05:00");
        let duration = ExcelDateTime::new(1.5, ExcelDateTimeType::TimeDelta, false);
        assert_eq!(cell_text(&Data::DateTime(duration)), "36:00:00");
        let iso = |text: &str| Data::DateTimeIso(text.to_string());
        assert_eq!(cell_text(&iso("2026-11-03")), "2026-11-03");
        assert_eq!(cell_text(&iso("2026-11-03T00:00:00")), "2026-11-03");
        assert_eq!(
            cell_text(&iso("2026-11-03T14:05:00.25")),
            "2026-11-03 14:05:00"
        );
        assert_eq!(cell_text(&iso("14:05:00")), "14:05:00");
        let duration = |text: &str| Data::DurationIso(text.to_string());
        assert_eq!(cell_text(&duration("PT14H05M00S")), "14:05:00");
        assert_eq!(cell_text(&duration("P1DT2H")), "26:00:00");
        assert_eq!(cell_text(&duration("-PT30M")), "-0:30:00");
        assert_eq!(cell_text(&duration("soon")), "soon");
    }
}
