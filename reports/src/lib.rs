//! Reports: DCB0129, DTAC and DSPT assurance exports generated from the hazard log and evidence.
//!
//! Each report is built as data (exported as JSON) and as a [`document::Document`] rendered to HTML
//! and PDF; a pack holds the three files and a manifest of their SHA-256 digests. The same inputs
//! produce the same bytes: nothing reads the clock or a random source while rendering.

pub mod dcb0129;
pub mod document;
pub mod dspt;
pub mod dtac;
pub mod html;
pub mod incidents;
pub mod inputs;
pub mod pack;
pub mod pdf;
pub mod summary;

pub use inputs::{Period, ReportInputs, SystemDescription};
pub use pack::{Manifest, Pack, Verification};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("rendering the report: {0}")]
    Render(String),
    #[error("{0}")]
    Io(String),
}

/// The reports Pathwatch produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportKind {
    /// Clinical Safety Case Report.
    Dcb0129,
    /// DTAC evidence pack (C1–C4, D1).
    Dtac,
    /// DSPT evidence: access monitoring and audit.
    Dspt,
}

impl ReportKind {
    pub const ALL: [ReportKind; 3] = [ReportKind::Dcb0129, ReportKind::Dtac, ReportKind::Dspt];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Dcb0129 => "dcb0129",
            ReportKind::Dtac => "dtac",
            ReportKind::Dspt => "dspt",
        }
    }

    pub fn parse(text: &str) -> Option<ReportKind> {
        ReportKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// What people call it.
    pub fn title(self) -> &'static str {
        match self {
            ReportKind::Dcb0129 => "DCB0129 Clinical Safety Case Report",
            ReportKind::Dtac => "DTAC evidence pack",
            ReportKind::Dspt => "DSPT evidence",
        }
    }
}

/// The report's data as JSON (with a final newline) and its printable document.
pub fn render_parts(kind: ReportKind, inputs: &ReportInputs) -> Result<(Vec<u8>, document::Document), ReportError> {
    let json = |value: Result<Vec<u8>, serde_json::Error>| {
        value
            .map(|mut v| {
                v.push(b'\n');
                v
            })
            .map_err(|e| ReportError::Render(e.to_string()))
    };
    Ok(match kind {
        ReportKind::Dcb0129 => (json(serde_json::to_vec_pretty(&dcb0129::data(inputs)))?, dcb0129::document(inputs)),
        ReportKind::Dtac => (json(serde_json::to_vec_pretty(&dtac::data(inputs)))?, dtac::document(inputs)),
        ReportKind::Dspt => (json(serde_json::to_vec_pretty(&dspt::data(inputs)))?, dspt::document(inputs)),
    })
}
