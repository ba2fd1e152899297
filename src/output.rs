//! Printing data: a table for people or JSON for scripts, always on stdout.

use std::io::Write;

use anyhow::Result;
use comfy_table::presets::UTF8_BORDERS_ONLY;
use comfy_table::{ContentArrangement, Table};
use serde::Serialize;

/// Writes a value as pretty JSON and a newline. Rendered first and written
/// as one, so a closed pipe surfaces as the `io::Error` it is (serde_json
/// would wrap it into an error of its own, which reads as a failure).
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(value)?;
    text.push(b'\n');
    let mut out = std::io::stdout().lock();
    out.write_all(&text)?;
    out.flush()?;
    Ok(())
}

/// Writes a table with the given header and rows.
pub fn print_table(header: &[&str], rows: Vec<Vec<String>>) -> Result<()> {
    let mut table = Table::new();
    table
        .load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    for row in rows {
        table.add_row(row);
    }
    println_out(&table.to_string())
}

/// Writes one line to stdout, surfacing a closed pipe as an error.
pub fn println_out(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    Ok(())
}

/// An optional value for a table cell.
pub fn cell<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}
