//! Import and export: YAML (a `hazards:` list, the fields as `Hazard` names them) and CSV (one row
//! per hazard; list cells hold JSON arrays so any text survives the round trip; the rating columns
//! are derived and, when present on import, must agree with the matrix). Errors say where:
//! `hazards[2].residual.severity`, `line 4, column initial_severity`.

use serde::{Deserialize, Serialize};

use crate::risk::{Assessment, Likelihood, Severity};
use crate::{Control, Hazard, HazardError, HazardStatus};

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct YamlLog {
    hazards: Vec<Hazard>,
}

pub fn to_yaml(hazards: &[Hazard]) -> Result<String, HazardError> {
    yaml_serde::to_string(&YamlLog { hazards: hazards.to_vec() }).map_err(|e| HazardError::Format(e.to_string()))
}

/// Reads and checks a YAML log; every hazard must pass `Hazard::validate`, and ids must be unique.
pub fn from_yaml(text: &str) -> Result<Vec<Hazard>, HazardError> {
    let log: YamlLog = yaml_serde::from_str(text).map_err(|e| HazardError::Format(format!("YAML: {e}")))?;
    check_all(log.hazards, |i| format!("hazards[{i}]"))
}

fn check_all(hazards: Vec<Hazard>, place: impl Fn(usize) -> String) -> Result<Vec<Hazard>, HazardError> {
    let mut ids = std::collections::BTreeSet::new();
    for (i, h) in hazards.iter().enumerate() {
        if let Err(HazardError::Invalid { field, message }) = h.validate() {
            return Err(HazardError::Invalid { field: format!("{}.{field}", place(i)), message });
        }
        if !ids.insert(h.id.clone()) {
            return Err(HazardError::Invalid {
                field: format!("{}.id", place(i)),
                message: format!("{:?} is used twice", h.id),
            });
        }
    }
    Ok(hazards)
}

pub const CSV_COLUMNS: [&str; 18] = [
    "id",
    "title",
    "description",
    "causes",
    "effects",
    "possible_harm",
    "existing_controls",
    "initial_severity",
    "initial_likelihood",
    "initial_rating",
    "additional_controls",
    "residual_severity",
    "residual_likelihood",
    "residual_rating",
    "owner",
    "status",
    "review_date",
    "closing_justification",
];

fn json<T: Serialize>(value: &T) -> Result<String, HazardError> {
    serde_json::to_string(value).map_err(|e| HazardError::Format(e.to_string()))
}

/// Characters a spreadsheet takes as the start of a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A cell a spreadsheet will not run: one starting like a formula is prefixed with `'` (OWASP's
/// advice against CSV injection); `from_inert` takes it off again on import.
fn inert(cell: String) -> String {
    // A cell that starts with the apostrophe itself gets one more, so import gives it back whole.
    if cell.starts_with(FORMULA_STARTS) || cell.starts_with('\'') {
        format!("'{cell}")
    } else {
        cell
    }
}

fn from_inert(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) || rest.starts_with('\'') => rest,
        _ => cell,
    }
}

/// The log as CSV, one hazard a line, every cell inert in a spreadsheet (and read back as written).
pub fn to_csv(hazards: &[Hazard]) -> Result<String, HazardError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| HazardError::Format(e.to_string());
    w.write_record(CSV_COLUMNS).map_err(fail)?;
    for h in hazards {
        let record = [
            h.id.clone(),
            h.title.clone(),
            h.description.clone(),
            json(&h.causes)?,
            json(&h.effects)?,
            h.possible_harm.clone(),
            json(&h.existing_controls)?,
            h.initial.severity.value().to_string(),
            h.initial.likelihood.value().to_string(),
            h.initial_rating().value().to_string(),
            json(&h.additional_controls)?,
            h.residual.severity.value().to_string(),
            h.residual.likelihood.value().to_string(),
            h.residual_rating().value().to_string(),
            h.owner.clone(),
            h.status.as_str().to_string(),
            h.review_date.clone().unwrap_or_default(),
            h.closing_justification.clone().unwrap_or_default(),
        ];
        w.write_record(record.map(inert)).map_err(fail)?;
    }
    let bytes = w.into_inner().map_err(|e| HazardError::Format(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| HazardError::Format(e.to_string()))
}

/// Reads a CSV log with the columns of `CSV_COLUMNS` (any order; the rating columns optional).
pub fn from_csv(text: &str) -> Result<Vec<Hazard>, HazardError> {
    let mut r = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let headers = r.headers().map_err(|e| HazardError::Format(format!("CSV header: {e}")))?.clone();
    for needed in CSV_COLUMNS.iter().filter(|c| !c.ends_with("_rating")) {
        if !headers.iter().any(|h| h == *needed) {
            return Err(HazardError::Format(format!("CSV header: no column {needed:?}")));
        }
    }
    if let Some(unknown) = headers.iter().find(|h| !CSV_COLUMNS.contains(h)) {
        return Err(HazardError::Format(format!("CSV header: unknown column {unknown:?}")));
    }
    let mut hazards = Vec::new();
    for (n, record) in r.records().enumerate() {
        let line = n + 2;
        let record = record.map_err(|e| HazardError::Format(format!("line {line}: {e}")))?;
        let cell = |name: &str| {
            let cell = headers.iter().position(|h| h == name).and_then(|i| record.get(i)).unwrap_or("");
            from_inert(cell)
        };
        let bad = |column: &str, message: String| HazardError::Invalid {
            field: format!("line {line}, column {column}"),
            message,
        };
        let list = |column: &str| -> Result<Vec<String>, HazardError> {
            match cell(column) {
                "" => Ok(Vec::new()),
                text => serde_json::from_str(text).map_err(|e| bad(column, format!("not a JSON list of text: {e}"))),
            }
        };
        let scale = |column: &str| -> Result<u8, HazardError> {
            cell(column)
                .trim()
                .parse::<u8>()
                .map_err(|_| bad(column, format!("{:?} is not a number from 1 to 5", cell(column))))
        };
        let assess = |prefix: &str| -> Result<Assessment, HazardError> {
            let severity = Severity::new(scale(&format!("{prefix}_severity"))?)
                .map_err(|e| bad(&format!("{prefix}_severity"), e.to_string()))?;
            let likelihood = Likelihood::new(scale(&format!("{prefix}_likelihood"))?)
                .map_err(|e| bad(&format!("{prefix}_likelihood"), e.to_string()))?;
            let a = Assessment { severity, likelihood };
            let column = format!("{prefix}_rating");
            let given = cell(&column).trim();
            if !given.is_empty() && given != a.rating().value().to_string() {
                return Err(bad(
                    &column,
                    format!("{given} disagrees with the matrix, which gives {}", a.rating().value()),
                ));
            }
            Ok(a)
        };
        let controls: Vec<Control> = match cell("additional_controls") {
            "" => Vec::new(),
            text => serde_json::from_str(text)
                .map_err(|e| bad("additional_controls", format!("not a JSON list of controls: {e}")))?,
        };
        let optional = |column: &str| Some(cell(column).to_string()).filter(|v| !v.is_empty());
        let hazard = Hazard {
            id: cell("id").to_string(),
            title: cell("title").to_string(),
            description: cell("description").to_string(),
            causes: list("causes")?,
            effects: list("effects")?,
            possible_harm: cell("possible_harm").to_string(),
            existing_controls: list("existing_controls")?,
            initial: assess("initial")?,
            additional_controls: controls,
            residual: assess("residual")?,
            owner: cell("owner").to_string(),
            status: HazardStatus::parse(cell("status")).map_err(|e| bad("status", e.to_string()))?,
            review_date: optional("review_date"),
            closing_justification: optional("closing_justification"),
        };
        hazards.push(hazard);
    }
    check_all(hazards, |i| format!("line {}", i + 2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::hazard;

    /// Text that breaks naive formats: quotes, commas, newlines, pipes, unicode, YAML and JSON syntax.
    fn awkward() -> Vec<Hazard> {
        let mut a = hazard("HAZ-001");
        a.title = "O'Brien's \"record\", merged: yes | no".into();
        a.description = "Line one\nline two, with a comma\r\nand CRLF; ends with a backslash \\".into();
        a.causes = vec!["- looks like a YAML item".into(), "[\"json\", 1]".into(), "tab\there".into(), String::new()];
        a.effects = vec!["Ünïcödé — é, 中文, 🩺".into()];
        a.additional_controls[0].verification = "# not a comment\n  indented: true".into();
        a.closing_justification = Some("null".into());
        a.review_date = None;
        let mut b = hazard("HAZ-002");
        b.status = HazardStatus::Closed;
        b.existing_controls.clear();
        b.additional_controls.clear();
        vec![a, b]
    }

    #[test]
    fn yaml_and_csv_round_trip_without_loss() {
        let hazards = awkward();
        assert_eq!(from_yaml(&to_yaml(&hazards).unwrap()).unwrap(), hazards);
        assert_eq!(from_csv(&to_csv(&hazards).unwrap()).unwrap(), hazards);
        // CSV → YAML → CSV gives the same bytes.
        let csv_text = to_csv(&hazards).unwrap();
        assert_eq!(to_csv(&from_yaml(&to_yaml(&from_csv(&csv_text).unwrap()).unwrap()).unwrap()).unwrap(), csv_text);
    }

    #[test]
    fn csv_cells_that_start_like_a_formula_are_inert_and_read_back_as_written() {
        let mut hazards = awkward();
        hazards[0].title = "=HYPERLINK(\"http://evil.example\",\"click\")".into();
        hazards[0].owner = "@SUM(1+1)".into();
        hazards[1].description = "-2+3".into();
        hazards[1].possible_harm = "\tindent".into();
        hazards[1].title = "'=already quoted".into();
        let text = to_csv(&hazards).unwrap();
        for line in text.lines().skip(1) {
            for cell in line.split(',') {
                let cell = cell.trim_start_matches('"');
                assert!(!cell.starts_with(FORMULA_STARTS), "{cell:?} in {line}");
            }
        }
        assert!(text.contains("'=HYPERLINK"), "{text}");
        assert_eq!(from_csv(&text).unwrap(), hazards);
    }

    #[test]
    fn import_errors_say_where() {
        let mut hazards = awkward();
        hazards[1].residual.likelihood = Likelihood::new(5).unwrap();
        // Closed with residual rating 4 and no justification.
        let csv_text = to_csv(&hazards).unwrap();
        let err = from_csv(&csv_text).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("closing_justification"), "{err}");
        let err = from_yaml(&to_yaml(&hazards).unwrap()).unwrap_err().to_string();
        assert!(err.contains("hazards[1].closing_justification"), "{err}");
        let good = to_csv(&awkward()).unwrap();
        let err = from_csv(&good.replacen(",4,3,3,", ",4,3,5,", 1)).unwrap_err().to_string();
        assert!(err.contains("initial_rating") && err.contains("gives 3"), "{err}");
        let err = from_csv(&good.replacen(",4,3,3,", ",9,3,3,", 1)).unwrap_err().to_string();
        assert!(err.contains("line 2, column initial_severity"), "{err}");
        let err = from_csv("id,title\nA,B\n").unwrap_err().to_string();
        assert!(err.contains("no column \"description\""), "{err}");
        let err = from_yaml("hazards:\n  - id: X\n    colour: red\n").unwrap_err().to_string();
        assert!(err.contains("colour"), "{err}");
        let dup = [awkward()[0].clone(), awkward()[0].clone()];
        assert!(from_yaml(&to_yaml(&dup).unwrap()).unwrap_err().to_string().contains("hazards[1].id"));
    }

    #[test]
    fn the_starter_log_is_valid() {
        let log = from_yaml(crate::STARTER_LOG).unwrap();
        assert!(log.len() >= 6, "{}", log.len());
        let titles: Vec<&str> = log.iter().map(|h| h.title.as_str()).collect();
        for needed in ["wrong patient", "stale demographics", "MESH", "duplicate", "restricted", "audit trail"] {
            assert!(
                titles.iter().any(|t| t.to_lowercase().contains(&needed.to_lowercase())),
                "no {needed}: {titles:?}"
            );
        }
    }
}
