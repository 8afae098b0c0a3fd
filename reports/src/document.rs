//! The printable shape of a report: a title, a running footer and a list of blocks.
//!
//! Each report (DCB0129, DTAC, DSPT) builds one `Document` from its data; the HTML and PDF renderers
//! turn the same `Document` into bytes, so the two formats can never say different things. The JSON
//! export is the report's data itself, not this document. Nothing here may depend on the clock, the
//! machine or a random source: the same document must always render to the same bytes.

/// A report ready to render.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The report's title, e.g. "Clinical Safety Case Report (DCB0129)".
    pub title: String,
    /// One line under the title, e.g. the system and the reporting period.
    pub subtitle: String,
    /// Printed at the foot of every page beside "Page n of N", e.g. "Pathwatch · 2026-10-01 to 2026-11-01".
    pub footer: String,
    pub blocks: Vec<Block>,
}

/// One block of a report, in reading order.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A section heading; level 1 is a numbered section ("3. Hazard log"), 2 and 3 are subsections.
    Heading {
        level: u8,
        text: String,
    },
    /// A paragraph of plain text (no markup; line breaks are not significant).
    Paragraph(String),
    /// Label and value pairs, shown as a two-column list ("Reporting period" → "1 Oct 2026 to …").
    Facts(Vec<(String, String)>),
    /// A bulleted list.
    List(Vec<String>),
    Table(Table),
}

/// A table whose rows may run over several pages: the PDF repeats the header row on every page.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Shown above the table (and, continued, above each later page's part of it).
    pub caption: String,
    pub columns: Vec<Column>,
    /// Each row has exactly one cell per column.
    pub rows: Vec<Vec<String>>,
    /// Said instead of the table when there are no rows, e.g. "No hazards are recorded."
    pub empty: String,
}

/// A table column: its header and its share of the table's width (relative to the other columns).
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub header: String,
    pub weight: f32,
}

impl Column {
    pub fn new(header: impl Into<String>, weight: f32) -> Self {
        Column { header: header.into(), weight }
    }
}
