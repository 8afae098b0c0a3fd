//! A hazard as DCB0129 describes it, and the rules an entry must keep. Risk ratings are derived
//! from severity and likelihood (never stored), so they cannot disagree with the matrix.

use serde::{Deserialize, Serialize};

use crate::risk::{Assessment, RiskRating};
use crate::HazardError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HazardStatus {
    Open,
    /// Passed to another organisation's log (a deploying organisation under DCB0160, say).
    Transferred,
    Closed,
}

impl HazardStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HazardStatus::Open => "open",
            HazardStatus::Transferred => "transferred",
            HazardStatus::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Result<HazardStatus, HazardError> {
        match text {
            "open" => Ok(HazardStatus::Open),
            "transferred" => Ok(HazardStatus::Transferred),
            "closed" => Ok(HazardStatus::Closed),
            other => Err(HazardError::Invalid {
                field: "status".into(),
                message: format!("{other:?}: use open, transferred or closed"),
            }),
        }
    }
}

/// A control added to reduce the risk, and how it is shown to work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// Short identifier, unique within the hazard ("C1").
    pub id: String,
    pub description: String,
    /// How it is verified (a test, a canary step, a review), in words.
    #[serde(default)]
    pub verification: String,
    /// Live evidence that it works; the dashboard checks each source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
}

fn a_day() -> u32 {
    24
}

fn an_hour() -> u32 {
    1
}

fn a_week() -> u32 {
    7
}

/// A source of live evidence for a control. Each has a freshness window: evidence not verified
/// within it is stale, which counts against the control like a failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Evidence {
    /// The newest run of a canary flow (or one step of it) passed.
    CanaryFlow {
        flow: String,
        #[serde(default)]
        step: Option<String>,
        #[serde(default = "a_day")]
        fresh_hours: u32,
    },
    /// An SLO's error budget is not exhausted.
    Slo { slo: String },
    /// The audit chain verified intact.
    AuditChain {
        #[serde(default = "a_day")]
        fresh_hours: u32,
    },
    /// A test suite's newest result, as the JUnit XML file a CI run leaves (every test passed,
    /// and the file is newer than `fresh_hours`).
    TestSuite {
        name: String,
        /// Path of the JUnit XML file, as the dashboard's process sees it.
        junit: String,
        #[serde(default = "a_day")]
        fresh_hours: u32,
    },
    /// The audit anomaly rules keep running and what they find is reviewed: the rules ran within
    /// `fresh_hours`, no finding (of `rule`, when one is named) has waited more than
    /// `review_within_days` to be closed, and, when `sample_days` is set, at least one sampled
    /// access was reviewed in the last `sample_days` days.
    AuditReview {
        #[serde(default)]
        rule: Option<String>,
        #[serde(default = "a_week")]
        review_within_days: u32,
        #[serde(default)]
        sample_days: u32,
        #[serde(default = "an_hour")]
        fresh_hours: u32,
    },
    /// A document (a test report, a DPIA, a penetration test) that is current until its review date.
    Document {
        title: String,
        #[serde(default)]
        url: Option<String>,
        /// YYYY-MM-DD.
        review_by: String,
    },
}

impl Evidence {
    /// The evidence in words, for pages and reports.
    pub fn describe(&self) -> String {
        match self {
            Evidence::CanaryFlow { flow, step: Some(step), .. } => format!("canary {flow}, step {step}"),
            Evidence::CanaryFlow { flow, step: None, .. } => format!("canary {flow}"),
            Evidence::Slo { slo } => format!("SLO {slo}"),
            Evidence::AuditChain { .. } => "audit chain verification".into(),
            Evidence::TestSuite { name, .. } => format!("test suite {name}"),
            Evidence::AuditReview { rule: Some(rule), .. } => format!("audit review of {rule} findings"),
            Evidence::AuditReview { rule: None, .. } => "audit review of anomaly findings".into(),
            Evidence::Document { title, review_by, .. } => format!("{title} (review by {review_by})"),
        }
    }
}

/// One entry of the hazard log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Hazard {
    /// "HAZ-001": letters, digits, '-' and '_'.
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub causes: Vec<String>,
    #[serde(default)]
    pub effects: Vec<String>,
    #[serde(default)]
    pub possible_harm: String,
    #[serde(default)]
    pub existing_controls: Vec<String>,
    pub initial: Assessment,
    #[serde(default)]
    pub additional_controls: Vec<Control>,
    pub residual: Assessment,
    #[serde(default)]
    pub owner: String,
    pub status: HazardStatus,
    /// When the entry is next reviewed, YYYY-MM-DD.
    #[serde(default)]
    pub review_date: Option<String>,
    /// Why a hazard may be closed with residual risk 3 or above (required then).
    #[serde(default)]
    pub closing_justification: Option<String>,
}

/// A date written YYYY-MM-DD.
pub fn parse_date(text: &str) -> Option<chrono::NaiveDate> {
    // chrono's `%Y-%m-%d` also takes `2027-1-5`, short years and spaces: only the strict shape (an
    // optional sign, then 4, 2 and 2 digits) is a date here.
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    let strict = digits.len() == 10
        && digits.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    if !strict {
        return None;
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// Whether the date (YYYY-MM-DD) is today or later, in UTC, at `now_ns`; None if it is not a date.
pub fn not_before_today(date: &str, now_ns: u64) -> Option<bool> {
    let today = chrono::DateTime::from_timestamp((now_ns / 1_000_000_000) as i64, 0)?.date_naive();
    Some(parse_date(date)? >= today)
}

impl Hazard {
    pub fn initial_rating(&self) -> RiskRating {
        self.initial.rating()
    }

    pub fn residual_rating(&self) -> RiskRating {
        self.residual.rating()
    }

    /// Checks the entry; the error names the field.
    pub fn validate(&self) -> Result<(), HazardError> {
        let invalid = |field: &str, message: String| Err(HazardError::Invalid { field: field.into(), message });
        let ok_id = !self.id.is_empty()
            && self.id.len() <= 64
            && self.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok_id {
            return invalid("id", format!("{:?}: use letters, digits, '-' and '_' (at most 64)", self.id));
        }
        if self.title.trim().is_empty() {
            return invalid("title", "a hazard needs a title".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, c) in self.additional_controls.iter().enumerate() {
            if c.id.trim().is_empty() || !seen.insert(c.id.as_str()) {
                return invalid(&format!("additional_controls[{i}].id"), format!("{:?} is empty or used twice", c.id));
            }
        }
        if let Some(date) = &self.review_date {
            if parse_date(date).is_none() {
                return invalid("review_date", format!("{date:?} is not a date like 2027-01-31"));
            }
        }
        for (i, c) in self.additional_controls.iter().enumerate() {
            for (j, e) in c.evidence.iter().enumerate() {
                let field = format!("additional_controls[{i}].evidence[{j}]");
                match e {
                    Evidence::Document { review_by, .. } if parse_date(review_by).is_none() => {
                        return invalid(&field, format!("review_by {review_by:?} is not a date like 2027-01-31"));
                    }
                    Evidence::CanaryFlow { fresh_hours: 0, .. }
                    | Evidence::AuditChain { fresh_hours: 0 }
                    | Evidence::TestSuite { fresh_hours: 0, .. }
                    | Evidence::AuditReview { fresh_hours: 0, .. } => {
                        return invalid(&field, "fresh_hours must be at least 1".into());
                    }
                    Evidence::TestSuite { name, junit, .. } if name.trim().is_empty() || junit.trim().is_empty() => {
                        return invalid(&field, "a test suite needs a name and the path of its JUnit XML".into());
                    }
                    Evidence::AuditReview { review_within_days: 0, .. } => {
                        return invalid(&field, "review_within_days must be at least 1".into());
                    }
                    Evidence::CanaryFlow { flow, .. } if flow.trim().is_empty() => {
                        return invalid(&field, "name the canary flow".into());
                    }
                    _ => {}
                }
            }
        }
        let justified = self.closing_justification.as_deref().is_some_and(|j| !j.trim().is_empty());
        if self.status == HazardStatus::Closed && self.residual_rating().value() >= 3 && !justified {
            return invalid(
                "closing_justification",
                format!("closing with residual risk {} needs a recorded justification", self.residual_rating().value()),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::risk::{Likelihood, Severity};

    pub fn hazard(id: &str) -> Hazard {
        let assess = |s, l| Assessment { severity: Severity::new(s).unwrap(), likelihood: Likelihood::new(l).unwrap() };
        Hazard {
            id: id.into(),
            title: "Wrong patient returned by a demographics lookup".into(),
            description: "PDS answers with a superseded record".into(),
            causes: vec!["merged records".into()],
            effects: vec!["clinician reads another patient's details".into()],
            possible_harm: "wrong treatment".into(),
            existing_controls: vec!["NHS number check".into()],
            initial: assess(4, 3),
            additional_controls: vec![Control {
                id: "C1".into(),
                description: "The canary checks the id returned".into(),
                verification: "canary pds read_patient".into(),
                evidence: vec![Evidence::CanaryFlow {
                    flow: "pds".into(),
                    step: Some("read_patient".into()),
                    fresh_hours: 24,
                }],
            }],
            residual: assess(4, 1),
            owner: "CSO".into(),
            status: HazardStatus::Open,
            review_date: Some("2027-01-31".into()),
            closing_justification: None,
        }
    }

    #[test]
    fn closing_with_residual_risk_three_or_more_needs_a_justification() {
        let mut h = hazard("HAZ-001");
        assert_eq!((h.initial_rating().value(), h.residual_rating().value()), (3, 2));
        h.status = HazardStatus::Closed;
        assert!(h.validate().is_ok(), "residual 2 closes without one");
        h.residual.likelihood = Likelihood::new(3).unwrap();
        let err = h.validate().unwrap_err().to_string();
        assert!(err.contains("closing_justification") && err.contains("residual risk 3"), "{err}");
        h.closing_justification = Some("  ".into());
        assert!(h.validate().is_err(), "blank is not a justification");
        h.closing_justification = Some("Residual risk accepted by the CSO: no further control is practical.".into());
        assert!(h.validate().is_ok());
        h.status = HazardStatus::Open;
        h.closing_justification = None;
        assert!(h.validate().is_ok(), "open hazards may carry any residual risk");
    }

    #[test]
    fn evidence_is_checked_and_document_dates_compare_with_today() {
        let mut h = hazard("HAZ-1");
        h.additional_controls[0].evidence.push(Evidence::Document {
            title: "Penetration test".into(),
            url: None,
            review_by: "next spring".into(),
        });
        let err = h.validate().unwrap_err().to_string();
        assert!(err.contains("additional_controls[0].evidence[1]") && err.contains("next spring"), "{err}");
        h.additional_controls[0].evidence[0] = Evidence::CanaryFlow { flow: "pds".into(), step: None, fresh_hours: 0 };
        h.additional_controls[0].evidence.truncate(1);
        assert!(h.validate().unwrap_err().to_string().contains("fresh_hours"));
        let noon_2027_01_31 = 1_801_396_800u64 * 1_000_000_000;
        assert_eq!(not_before_today("2027-01-31", noon_2027_01_31), Some(true));
        assert_eq!(not_before_today("2027-01-30", noon_2027_01_31), Some(false));
        assert_eq!(not_before_today("soon", noon_2027_01_31), None);
        let yaml: Evidence = yaml_serde::from_str("{ kind: canary_flow, flow: mesh }").unwrap();
        assert_eq!(yaml, Evidence::CanaryFlow { flow: "mesh".into(), step: None, fresh_hours: 24 }, "a day by default");
        assert!(yaml_serde::from_str::<Evidence>("{ kind: horoscope }").is_err());
        let suite: Evidence =
            yaml_serde::from_str("{ kind: test_suite, name: regression, junit: out/junit.xml }").unwrap();
        let review: Evidence = yaml_serde::from_str("{ kind: audit_review, rule: sensitive_record }").unwrap();
        assert_eq!(
            review,
            Evidence::AuditReview {
                rule: Some("sensitive_record".into()),
                review_within_days: 7,
                sample_days: 0,
                fresh_hours: 1
            }
        );
        assert_eq!(review.describe(), "audit review of sensitive_record findings");
        assert_eq!(suite.describe(), "test suite regression");
        h.additional_controls[0].evidence[0] =
            Evidence::TestSuite { name: "regression".into(), junit: " ".into(), fresh_hours: 24 };
        assert!(h.validate().unwrap_err().to_string().contains("JUnit XML"));
    }

    #[test]
    fn bad_fields_are_named() {
        let mut h = hazard("HAZ 1");
        assert!(h.validate().unwrap_err().to_string().contains("id"));
        h.id = "HAZ-1".into();
        h.review_date = Some("31/01/2027".into());
        assert!(h.validate().unwrap_err().to_string().contains("review_date"));
        h.review_date = None;
        h.additional_controls.push(h.additional_controls[0].clone());
        assert!(h.validate().unwrap_err().to_string().contains("additional_controls[1].id"));
    }
}
