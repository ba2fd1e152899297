//! A small .xlsx writer for the test portals' exports (and the unit tests
//! that read such exports): the least of Office Open XML that Excel,
//! LibreOffice and calamine open.
//!
//! A workbook is a ZIP of XML parts: `[Content_Types].xml`, `_rels/.rels`,
//! `xl/workbook.xml` with its `xl/_rels/workbook.xml.rels`, `xl/styles.xml`
//! and one `xl/worksheets/sheetN.xml` per sheet. Text is written inline
//! (`t="inlineStr"`, no shared strings table), numbers as they are, and
//! dates as serial numbers (days since 1899-12-30) in style 1, whose number
//! format is the built-in short date (`numFmtId` 14).
//!
//! ```ignore
//! #[path = "support/xlsx.rs"]
//! mod xlsx;
//! let bytes = xlsx::workbook(&[("Orders", vec![vec![xlsx::Cell::text("id")]])]);
//! ```

// Each example uses only part of it.
#![allow(dead_code)]

use std::io::{Cursor, Write};

use chrono::NaiveDate;
use zip::CompressionMethod;
use zip::ZipWriter;
use zip::write::SimpleFileOptions;

/// One cell of a sheet.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    /// A finite number (Excel has no NaN or infinity).
    Number(f64),
    /// Shown as a short date (the reader's locale decides the order).
    Date(NaiveDate),
    /// No cell is written: the next cell keeps its column.
    Empty,
}

impl Cell {
    /// A text cell.
    pub fn text(text: impl Into<String>) -> Cell {
        Cell::Text(text.into())
    }
}

/// The bytes of an .xlsx workbook holding `sheets` in order, each as its
/// name (at most 31 characters, none of `[]:*?/\`, as Excel wants) and its
/// rows from A1 on.
pub fn workbook(sheets: &[(&str, Vec<Vec<Cell>>)]) -> Vec<u8> {
    let mut parts = vec![
        (
            "[Content_Types].xml".to_string(),
            content_types(sheets.len()),
        ),
        ("_rels/.rels".to_string(), ROOT_RELS.to_string()),
        ("xl/workbook.xml".to_string(), workbook_xml(sheets)),
        (
            "xl/_rels/workbook.xml.rels".to_string(),
            workbook_rels(sheets.len()),
        ),
        ("xl/styles.xml".to_string(), STYLES.to_string()),
    ];
    for (index, (_, rows)) in sheets.iter().enumerate() {
        parts.push((
            format!("xl/worksheets/sheet{}.xml", index + 1),
            worksheet(rows),
        ));
    }
    zipped(&parts)
}

const XML_HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#;
const MAIN_NS: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
const REL_NS: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
const PACKAGE_REL_NS: &str = "http://schemas.openxmlformats.org/package/2006/relationships";

/// The package's relationships: the workbook is the main document.
const ROOT_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;

/// One font, the two fills Excel requires, one border, and two cell
/// formats: 0 is General, 1 the built-in short date (`numFmtId` 14).
const STYLES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>"#;

/// `[Content_Types].xml`: the type of every part.
fn content_types(sheet_count: usize) -> String {
    let ct = "application/vnd.openxmlformats-officedocument.spreadsheetml";
    let mut xml = format!(
        "{XML_HEAD}\n<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
         <Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
         <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
         <Override PartName=\"/xl/workbook.xml\" ContentType=\"{ct}.sheet.main+xml\"/>\
         <Override PartName=\"/xl/styles.xml\" ContentType=\"{ct}.styles+xml\"/>"
    );
    for number in 1..=sheet_count {
        xml.push_str(&format!(
            "<Override PartName=\"/xl/worksheets/sheet{number}.xml\" ContentType=\"{ct}.worksheet+xml\"/>"
        ));
    }
    xml.push_str("</Types>");
    xml
}

/// `xl/workbook.xml`: the sheets' names, each tied to its part by `rIdN`.
fn workbook_xml(sheets: &[(&str, Vec<Vec<Cell>>)]) -> String {
    let mut xml =
        format!("{XML_HEAD}\n<workbook xmlns=\"{MAIN_NS}\" xmlns:r=\"{REL_NS}\"><sheets>");
    for (index, (name, _)) in sheets.iter().enumerate() {
        let number = index + 1;
        xml.push_str(&format!(
            "<sheet name=\"{}\" sheetId=\"{number}\" r:id=\"rId{number}\"/>",
            escaped(name)
        ));
    }
    xml.push_str("</sheets></workbook>");
    xml
}

/// `xl/_rels/workbook.xml.rels`: `rIdN` is sheet N, the one after the last
/// sheet is the styles.
fn workbook_rels(sheet_count: usize) -> String {
    let mut xml = format!("{XML_HEAD}\n<Relationships xmlns=\"{PACKAGE_REL_NS}\">");
    for number in 1..=sheet_count {
        xml.push_str(&format!(
            "<Relationship Id=\"rId{number}\" Type=\"{REL_NS}/worksheet\" Target=\"worksheets/sheet{number}.xml\"/>"
        ));
    }
    xml.push_str(&format!(
        "<Relationship Id=\"rId{}\" Type=\"{REL_NS}/styles\" Target=\"styles.xml\"/>",
        sheet_count + 1
    ));
    xml.push_str("</Relationships>");
    xml
}

/// `xl/worksheets/sheetN.xml`: every row, numbered from 1.
fn worksheet(rows: &[Vec<Cell>]) -> String {
    let mut xml = format!("{XML_HEAD}\n<worksheet xmlns=\"{MAIN_NS}\"><sheetData>");
    for (row_index, row) in rows.iter().enumerate() {
        let number = row_index + 1;
        xml.push_str(&format!("<row r=\"{number}\">"));
        for (column, cell) in row.iter().enumerate() {
            let reference = format!("{}{number}", column_name(column));
            xml.push_str(&cell_xml(&reference, cell));
        }
        xml.push_str("</row>");
    }
    xml.push_str("</sheetData></worksheet>");
    xml
}

/// One `<c>` element at `reference` (such as `B7`); nothing for an empty
/// cell.
fn cell_xml(reference: &str, cell: &Cell) -> String {
    match cell {
        Cell::Text(text) => format!(
            "<c r=\"{reference}\" t=\"inlineStr\"><is><t xml:space=\"preserve\">{}</t></is></c>",
            escaped(text)
        ),
        Cell::Number(number) => format!("<c r=\"{reference}\"><v>{number}</v></c>"),
        Cell::Date(date) => format!(
            "<c r=\"{reference}\" s=\"1\"><v>{}</v></c>",
            date_serial(*date)
        ),
        Cell::Empty => String::new(),
    }
}

/// Excel's serial number of a date: days since 1899-12-30 (which, through
/// Excel's 1900 leap year bug, is right from 1900-03-01 on).
fn date_serial(date: NaiveDate) -> i64 {
    let epoch = NaiveDate::from_ymd_opt(1899, 12, 30).expect("a valid date");
    (date - epoch).num_days()
}

/// The letters of a column, from 0: `A`, ..., `Z`, `AA`, ...
fn column_name(index: usize) -> String {
    let mut letters = Vec::new();
    let mut rest = index + 1;
    while rest > 0 {
        let digit = (rest - 1) % 26;
        letters.push(b'A' + digit as u8);
        rest = (rest - 1) / 26;
    }
    letters.reverse();
    String::from_utf8(letters).expect("ASCII letters")
}

/// `text` escaped for XML content and attribute values; the control
/// characters (but tab, newline and carriage return) and the non-characters
/// U+FFFE and U+FFFF, which XML 1.0 cannot hold or advises against, are
/// dropped.
fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// The parts, deflated, as the bytes of a ZIP file.
fn zipped(parts: &[(String, String)]) -> Vec<u8> {
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, content) in parts {
        zip.start_file(name.as_str(), options)
            .expect("a ZIP entry starts in memory");
        zip.write_all(content.as_bytes())
            .expect("a ZIP entry is written in memory");
    }
    zip.finish()
        .expect("a ZIP file is finished in memory")
        .into_inner()
}
