//! The DTAC evidence pack: sections C1 clinical safety, C2 data protection, C3 technical security,
//! C4 interoperability and D1 usability and accessibility. Each question carries the answer the
//! organisation configured (`reports.system.dtac`) and, where Pathwatch holds evidence for it, that
//! evidence for the period. A question nobody answered says so and names the key to set.

use serde::Serialize;

use crate::document::{Block, Column, Document, Table};
use crate::inputs::ReportInputs;
use crate::summary::{evidence_records, percent, share};

/// The questions in the pack: (section, id, question).
pub const QUESTIONS: &[(&str, &str, &str)] = &[
    (
        "C1",
        "C1.1",
        "Have you undertaken clinical risk management activities for this product which comply with DCB0129?",
    ),
    ("C1", "C1.2", "Who is your Clinical Safety Officer, and what is their professional registration?"),
    ("C1", "C1.3", "Provide your Clinical Safety Case Report and hazard log summary."),
    ("C2", "C2.1", "What is your ICO registration number?"),
    ("C2", "C2.2", "Who is your Data Protection Officer?"),
    ("C2", "C2.3", "What is your Data Security and Protection Toolkit (DSPT) status?"),
    ("C2", "C2.4", "Have you completed a Data Protection Impact Assessment (DPIA)?"),
    ("C2", "C2.5", "Is access to personal data logged, attributable and monitored?"),
    ("C3", "C3.1", "Do you hold a current Cyber Essentials (Plus) certificate?"),
    ("C3", "C3.2", "When was your last independent penetration test, and are its findings resolved?"),
    ("C3", "C3.3", "Is multi-factor authentication used for access to the product and its administration?"),
    ("C3", "C3.4", "How is the product logged and monitored?"),
    ("C4", "C4.1", "Which interoperability standards does the product use?"),
    ("C4", "C4.2", "Are the product's APIs documented and available to integrators?"),
    ("C4", "C4.3", "How reliable are the product's connections to national NHS services?"),
    ("D1", "D1.1", "Does the product meet the NHS service standard?"),
    ("D1", "D1.2", "Does the product conform to WCAG 2.2 level AA?"),
];

const SECTIONS: &[(&str, &str)] = &[
    ("C1", "C1 Clinical safety"),
    ("C2", "C2 Data protection"),
    ("C3", "C3 Technical security"),
    ("C4", "C4 Interoperability"),
    ("D1", "D1 Usability and accessibility"),
];

/// One question with its answer and Pathwatch's evidence.
#[derive(Debug, Serialize, PartialEq)]
pub struct DtacItem {
    pub section: &'static str,
    pub id: &'static str,
    pub question: &'static str,
    /// The configured answer; None when nobody answered.
    pub answer: Option<String>,
    pub answer_evidence: Option<String>,
    /// What Pathwatch's own data shows for this question over the period (may be empty).
    pub pathwatch_evidence: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct DtacPack<'a> {
    pub report: &'static str,
    pub generator: &'a str,
    pub period: &'a crate::inputs::Period,
    pub system: &'a str,
    pub items: Vec<DtacItem>,
}

/// What Pathwatch can show for each question from the period's data.
fn pathwatch_evidence(id: &str, inputs: &ReportInputs) -> Vec<String> {
    let hazards = &inputs.hazards;
    match id {
        "C1.1" => {
            let signed = hazards.iter().filter(|r| r.sign_offs.iter().any(|o| o.version == r.version)).count();
            vec![
                format!(
                    "Hazard log kept in Pathwatch with full change history: {} hazards, {} signed off by the CSO at their current version.",
                    hazards.len(),
                    signed
                ),
                "The DCB0129 Clinical Safety Case Report for the same period is produced by `pathwatch report dcb0129`.".into(),
            ]
        }
        "C1.3" => {
            let records = evidence_records(&inputs.period, &inputs.evidence);
            let passing =
                records.iter().filter(|r| r.state_at_end == Some(hazard_log::EvidenceStatus::Passing)).count();
            let mut by_rating = [0usize; 5];
            for r in hazards {
                by_rating[usize::from(r.hazard.residual_rating().value()).clamp(1, 5) - 1] += 1;
            }
            vec![
                format!(
                    "Residual risk of the {} hazards: {} at 1, {} at 2, {} at 3, {} at 4, {} at 5.",
                    hazards.len(),
                    by_rating[0],
                    by_rating[1],
                    by_rating[2],
                    by_rating[3],
                    by_rating[4]
                ),
                format!(
                    "{} of {} control evidence sources were passing at the end of the period.",
                    passing,
                    records.len()
                ),
            ]
        }
        "C2.5" | "C3.4" => {
            let mut out = Vec::new();
            if let Some(a) = &inputs.audit {
                out.push(format!(
                    "{} audit events recorded during the period, by {} users about {} patients; {} without an identified user. Kept {} days.",
                    a.events, a.users, a.patients, a.unattributed, a.retention_days
                ));
            }
            let intact = inputs.chain.iter().filter(|v| v.intact).count();
            out.push(format!(
                "The audit trail's hash chain was verified {} times during the period; {} found it intact.",
                inputs.chain.len(),
                intact
            ));
            if id == "C3.4" {
                let runs: u64 = inputs.canaries.iter().map(|c| c.runs).sum();
                out.push(format!(
                    "{} synthetic end-to-end checks (canaries) of the NHS API connections ran during the period; {} SLOs with burn-rate alerting.",
                    runs,
                    inputs.slos.len()
                ));
            }
            out
        }
        "C3.3" => vec![format!("Dashboard sign-in: {}.", inputs.sign_in)],
        "C4.1" | "C4.3" => {
            let mut out: Vec<String> = inputs
                .canaries
                .iter()
                .map(|c| {
                    format!(
                        "Canary {}: {} runs during the period, {} of them passing.",
                        c.flow,
                        c.runs,
                        percent(c.passing())
                    )
                })
                .collect();
            if id == "C4.3" {
                out.extend(inputs.slos.iter().map(|s| {
                    let observed = if s.total == 0 { "no events".to_string() } else { percent(share(s.good, s.total)) };
                    format!(
                        "SLO {} ({}): objective {}, observed {} over the period.",
                        s.name,
                        s.measures,
                        percent(s.objective),
                        observed
                    )
                }));
            }
            out
        }
        _ => Vec::new(),
    }
}

pub fn data(inputs: &ReportInputs) -> DtacPack<'_> {
    let items = QUESTIONS
        .iter()
        .map(|(section, id, question)| {
            let answer = inputs.system.dtac.get(*id);
            DtacItem {
                section,
                id,
                question,
                answer: answer.map(|a| a.answer.clone()).filter(|a| !a.trim().is_empty()),
                answer_evidence: answer.and_then(|a| a.evidence.clone()),
                pathwatch_evidence: pathwatch_evidence(id, inputs),
            }
        })
        .collect();
    DtacPack {
        report: "dtac",
        generator: &inputs.generator,
        period: &inputs.period,
        system: &inputs.system.name,
        items,
    }
}

pub fn document(inputs: &ReportInputs) -> Document {
    let pack = data(inputs);
    let answered = pack.items.iter().filter(|i| i.answer.is_some()).count();
    let mut blocks = vec![
        Block::Facts(vec![
            ("System".into(), inputs.system.name.clone()),
            ("Reporting period".into(), inputs.period.describe()),
            ("Questions answered".into(), format!("{answered} of {}", pack.items.len())),
            ("Generated by".into(), inputs.generator.clone()),
        ]),
        Block::Paragraph(
            "Answers are the organisation's own (from the configuration); the evidence under each is what Pathwatch \
             recorded during the period."
                .into(),
        ),
    ];
    for (section, title) in SECTIONS {
        blocks.push(Block::Heading { level: 1, text: (*title).into() });
        blocks.push(Block::Table(Table {
            caption: format!("{title}: answers and evidence"),
            columns: vec![
                Column::new("Question", 0.7),
                Column::new("Asked", 2.6),
                Column::new("Answer", 2.6),
                Column::new("Evidence", 3.2),
            ],
            rows: pack
                .items
                .iter()
                .filter(|i| i.section == *section)
                .map(|i| {
                    let answer = i
                        .answer
                        .clone()
                        .unwrap_or_else(|| format!("Not answered (set reports.system.dtac.\"{}\".answer).", i.id));
                    let mut evidence: Vec<String> = i.answer_evidence.iter().cloned().collect();
                    evidence.extend(i.pathwatch_evidence.iter().cloned());
                    vec![i.id.into(), i.question.into(), answer, evidence.join(" ")]
                })
                .collect(),
            empty: String::new(),
        }));
    }
    Document {
        title: "DTAC evidence pack".into(),
        subtitle: format!("{} · {}", inputs.system.name, inputs.period.describe()),
        footer: format!("{} · DTAC evidence · {}", inputs.system.name, inputs.period.describe()),
        blocks,
    }
}
