//! The portal's orders export: a CSV file with a header row; the columns
//! `order_id` and `status` are used, the others ignored.

use super::ExportedOrder;

/// Parses the export, or says what is wrong with it.
pub fn parse(text: &str) -> Result<Vec<ExportedOrder>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = text.lines().filter(|l| !l.trim().is_empty()).map(fields);
    let header = rows.next().ok_or("the orders export is empty")?;
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                format!(
                    "the orders export has no `{name}` column (it has: {})",
                    header.join(", ")
                )
            })
    };
    let (id_at, status_at) = (column("order_id")?, column("status")?);
    rows.enumerate()
        .map(|(n, row)| match (row.get(id_at), row.get(status_at)) {
            (Some(id), Some(status)) if !id.trim().is_empty() => Ok(ExportedOrder {
                id: id.trim().to_string(),
                status: status.trim().to_string(),
            }),
            _ => Err(format!(
                "line {} of the orders export has no order id or status",
                n + 2
            )),
        })
        .collect()
}

/// The fields of one CSV line; double quotes quote, `""` is a quote.
fn fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().expect("a field").push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(String::new()),
            (c, _) => out.last_mut().expect("a field").push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_export_is_read_by_column_name_with_quotes_and_a_byte_order_mark() {
        let csv = "\u{feff}date,order_id,\"amount\",status\r\n\
                   2024-01-01,ORD-1,\"1,200.00\",disputed\r\n\
                   2024-01-02,\"ORD-\"\"2\"\"\",3.00,delivered\r\n";
        let orders = parse(csv).unwrap();
        assert_eq!(
            orders,
            vec![
                ExportedOrder {
                    id: "ORD-1".into(),
                    status: "disputed".into()
                },
                ExportedOrder {
                    id: "ORD-\"2\"".into(),
                    status: "delivered".into()
                },
            ]
        );
    }

    #[test]
    fn an_export_without_the_needed_columns_says_which_it_has() {
        let err = parse("id,state\n1,x\n").unwrap_err();
        assert!(
            err.contains("no `order_id` column") && err.contains("id, state"),
            "{err}"
        );
    }
}
