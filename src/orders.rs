//! The orders a download finds and a report job works through: shared by the
//! portal (which reads and reports them) and the queue (which records them),
//! so neither reaches into the other.

pub mod sheet;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One row of a portal's orders export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedOrder {
    pub id: String,
    pub status: String,
    /// The export's other columns that the report flow uses (by header name,
    /// as configured), kept with the order until it is reported.
    pub fields: BTreeMap<String, String>,
}

/// An order a report job must report, with the export columns its flow uses.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OrderToReport {
    pub id: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
}

impl OrderToReport {
    pub fn new(id: impl Into<String>) -> OrderToReport {
        OrderToReport {
            id: id.into(),
            fields: BTreeMap::new(),
        }
    }
}

/// What a download step found.
#[derive(Debug, Clone, PartialEq)]
pub enum Pending {
    /// The portal itself says which orders need a report, in order.
    Decided(Vec<OrderToReport>),
    /// The orders export, to compare with the orders known for the user: an
    /// order needs a report when its status is one of `report_statuses` and
    /// it was not reported since it entered that status.
    Export {
        orders: Vec<ExportedOrder>,
        report_statuses: Vec<String>,
    },
}
