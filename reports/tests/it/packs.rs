//! Report packs built from a realistic hazard log and evidence history: each report's content,
//! the same bytes from the same inputs, and `verify` catching altered, missing and extra files.

use std::collections::BTreeMap;

use hazard_log::{ChainVerification, EvidenceInterval, EvidenceStatus};
use reports::inputs::{
    AuditRecord, CanaryRecord, DtacAnswer, FindingCount, HazardRecord, IncidentAction, IncidentRecord, OnCallIncident,
    ReviewRecord, SampleRecord, SignOffRecord, SloRecord, StratumCoverage,
};
use reports::{pack, Period, ReportInputs, ReportKind, SystemDescription};

use crate::pdf::{poppler_available, run};

const DAY: i64 = 86_400_000_000_000;

pub fn inputs() -> ReportInputs {
    let period = Period::from_dates("2026-10-01", "2026-11-01").unwrap();
    let period_start = period.from_ns as u64;
    let hazards: Vec<HazardRecord> = hazard_log::io::from_yaml(hazard_log::STARTER_LOG)
        .unwrap()
        .into_iter()
        .enumerate()
        .map(|(i, hazard)| HazardRecord {
            version: 2,
            changes: Vec::new(),
            // The first hazard is signed off at its current version, the second at an old one.
            sign_offs: match i {
                0 => vec![SignOffRecord {
                    version: 2,
                    at_ns: period.from_ns + DAY,
                    officer: "Dr Ada O'Neill & co".into(),
                    statement: "Residual risk acceptable for <release> 4.2".into(),
                }],
                1 => vec![SignOffRecord {
                    version: 1,
                    at_ns: period.from_ns,
                    officer: "Dr B".into(),
                    statement: "v1".into(),
                }],
                _ => Vec::new(),
            },
            hazard,
        })
        .collect();
    let interval = |hazard: &str, source: &str, status, since: i64, until: i64| EvidenceInterval {
        hazard_id: hazard.into(),
        control_id: "C1".into(),
        source: source.into(),
        status,
        since_ns: since,
        last_checked_ns: until,
        ended_ns: None,
        verified_ns: Some(until),
        detail: format!("{} since {since}", status.as_str()),
        link: None,
    };
    let evidence = vec![
        interval("HAZ-001", "canary pds, step read_patient", EvidenceStatus::Passing, period.from_ns, period.to_ns - 1),
        interval("HAZ-003", "canary mesh", EvidenceStatus::Passing, period.from_ns, period.from_ns + 10 * DAY),
        interval("HAZ-003", "canary mesh", EvidenceStatus::Failing, period.from_ns + 10 * DAY, period.to_ns - 1),
    ];
    let chain = vec![
        ChainVerification {
            at_ns: period.from_ns + DAY,
            full_walk: true,
            records_checked: 1200,
            head_seq: Some(1200),
            head_hash: Some("ab".repeat(32)),
            intact: true,
            detail: String::new(),
        },
        ChainVerification {
            at_ns: period.from_ns + 2 * DAY,
            full_walk: true,
            records_checked: 1299,
            head_seq: Some(1299),
            head_hash: Some("cd".repeat(32)),
            intact: false,
            detail: "record 1300 (event e-1300) was altered".into(),
        },
    ];
    let mut dtac = BTreeMap::new();
    dtac.insert(
        "C2.1".to_string(),
        DtacAnswer { answer: "ZA123456".into(), evidence: Some("https://ico.org.uk/ZA123456".into()) },
    );
    ReportInputs {
        generator: "pathwatch 0.1.0".into(),
        sources: vec!["hazard log".into(), "evidence history".into()],
        period,
        system: SystemDescription {
            name: "Example GP booking app".into(),
            clinical_safety_officer: "Dr Ada O'Neill".into(),
            dtac,
            ..SystemDescription::default()
        },
        sign_in: "OpenID Connect (NHS CIS2)".into(),
        hazards,
        evidence,
        chain,
        slos: vec![SloRecord {
            name: "pds-availability".into(),
            measures: "availability of canary pds".into(),
            objective: 0.99,
            good: 990,
            total: 1000,
        }],
        canaries: vec![CanaryRecord { flow: "pds".into(), runs: 44_640, failed: 12 }],
        audit: Some(AuditRecord {
            events: 1300,
            users: 14,
            patients: 820,
            organisations: 2,
            unattributed: 3,
            by_action: [("read".to_string(), 1200), ("search".to_string(), 100)].into_iter().collect(),
            by_outcome: [("success".to_string(), 1290), ("denied".to_string(), 10)].into_iter().collect(),
            retention_days: 2555,
        }),
        review: Some(ReviewRecord {
            samples: vec![SampleRecord {
                id: 3,
                drawn_ns: period_start + 86_400 * 1_000_000_000,
                drawn_by: "ig.lead".into(),
                unit: "events".into(),
                strata: "organisation".into(),
                seed: 2026,
                items: 20,
                reviewed: 18,
                inappropriate: 1,
                follow_up: 2,
            }],
            coverage: vec![
                StratumCoverage {
                    organisation: "A81001".into(),
                    role: "receptionist".into(),
                    action: "read".into(),
                    events: 900,
                    sampled: 10,
                    reviewed: 10,
                    inappropriate: 1,
                },
                StratumCoverage {
                    organisation: "B82005".into(),
                    role: "clinician".into(),
                    action: "search".into(),
                    events: 100,
                    sampled: 0,
                    reviewed: 0,
                    inappropriate: 0,
                },
            ],
            findings: vec![FindingCount {
                rule: "Family member or neighbour".into(),
                raised: 4,
                open: 1,
                investigating: 0,
                justified: 1,
                inappropriate: 1,
                false_positive: 1,
            }],
            incidents: vec![IncidentRecord {
                finding: 17,
                rule: "Family member or neighbour".into(),
                user_id: "recep1".into(),
                organisation: "A81001".into(),
                raised_ns: period_start + 2 * 86_400 * 1_000_000_000,
                closed_ns: period_start + 3 * 86_400 * 1_000_000_000,
                note: "Opened a relative's record; reported as incident INC-0042".into(),
            }],
        }),
        incidents: Some(vec![
            OnCallIncident {
                reference: "INC-7".into(),
                title: "Receptionists cannot look up patients".into(),
                severity: "sev2".into(),
                status: "resolved".into(),
                exercise: String::new(),
                pathways: vec!["Look up a patient".into()],
                declared_ns: period_start as i64 + 4 * 86_400 * 1_000_000_000,
                resolved_ns: Some(period_start as i64 + 4 * 86_400 * 1_000_000_000 + 3_600 * 1_000_000_000),
                impact: "Receptionists could not look up patients for 58 minutes".into(),
                hazard_id: "HAZ-001".into(),
                actions: vec![IncidentAction {
                    description: "Alert on client certificate expiry".into(),
                    owner: "sam".into(),
                    due: "2026-12-31".into(),
                    done_ns: None,
                }],
            },
            OnCallIncident {
                reference: "INC-8".into(),
                title: "A laptop holding a patient list is lost".into(),
                severity: "sev3".into(),
                status: "resolved".into(),
                exercise: "mock breach".into(),
                pathways: vec![],
                declared_ns: period_start as i64 + 10 * 86_400 * 1_000_000_000,
                resolved_ns: Some(period_start as i64 + 10 * 86_400 * 1_000_000_000 + 7_200 * 1_000_000_000),
                impact: String::new(),
                hazard_id: String::new(),
                actions: vec![],
            },
        ]),
        last_exercise_ns: Some(period_start as i64 + 10 * 86_400 * 1_000_000_000),
    }
}

#[test]
fn the_same_inputs_give_the_same_bytes_and_a_change_gives_different_ones() {
    let inputs = inputs();
    for kind in ReportKind::ALL {
        let a = pack::build(kind, &inputs).unwrap();
        let b = pack::build(kind, &inputs).unwrap();
        assert_eq!(a.files, b.files, "{kind:?}");
        assert_eq!(a.zip().unwrap(), b.zip().unwrap(), "{kind:?} zip");
        let names: Vec<&str> = a.files.iter().map(|(n, _)| n.as_str()).collect();
        let stem = kind.as_str();
        assert_eq!(
            names,
            [format!("{stem}.html"), format!("{stem}.json"), format!("{stem}.pdf"), "manifest.json".into()]
        );
        let mut changed = inputs.clone();
        changed.hazards[0].hazard.title.push('!');
        changed.audit.as_mut().unwrap().events += 1;
        assert_ne!(pack::build(kind, &changed).unwrap().files, a.files, "{kind:?} ignores its inputs");
    }
}

#[test]
fn the_manifest_lists_every_file_with_period_sources_and_generator() {
    let p = pack::build(ReportKind::Dcb0129, &inputs()).unwrap();
    let m = &p.manifest;
    assert_eq!((m.period.from.as_str(), m.period.to.as_str()), ("2026-10-01", "2026-11-01"));
    assert_eq!(m.generator, "pathwatch 0.1.0");
    assert_eq!(m.data_sources, ["hazard log", "evidence history"]);
    assert_eq!(m.files.len(), 3);
    for f in &m.files {
        let (_, bytes) = p.files.iter().find(|(n, _)| *n == f.path).unwrap();
        assert_eq!(f.bytes, bytes.len() as u64);
        let digest = sha2_hex(bytes);
        assert_eq!(f.sha256, digest);
    }
    assert_eq!(p.name, "pathwatch-dcb0129-2026-10-01-to-2026-11-01");
}

fn sha2_hex(bytes: &[u8]) -> String {
    // An independent digest: the system's sha256sum, not the crate's own code.
    let dir = tempfile_dir();
    let path = dir.join("f");
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("sha256sum").arg(&path).output().unwrap();
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "packs-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn verify_accepts_a_pack_and_names_an_altered_a_missing_and_an_extra_file() {
    let p = pack::build(ReportKind::Dtac, &inputs()).unwrap();
    let dir = tempfile_dir().join("pack");
    p.write_dir(&dir).unwrap();
    let ok = pack::verify(&dir).unwrap();
    assert!(ok.ok(), "{:?}", ok.problems);
    assert_eq!(ok.files_matched, 3);
    // A second pack into the same folder is refused rather than mixed in.
    let err = p.write_dir(&dir).unwrap_err().to_string();
    assert!(err.contains("already holds files"), "{err}");

    // One character of the HTML changed.
    let html = dir.join("dtac.html");
    let mut bytes = std::fs::read(&html).unwrap();
    let at = bytes.iter().position(|b| *b == b'C').unwrap();
    bytes[at] = b'X';
    std::fs::write(&html, &bytes).unwrap();
    let bad = pack::verify(&dir).unwrap();
    assert!(!bad.ok());
    assert_eq!(bad.problems.len(), 1, "{:?}", bad.problems);
    assert!(bad.problems[0].starts_with("dtac.html: ALTERED"), "{:?}", bad.problems);

    std::fs::remove_file(dir.join("dtac.pdf")).unwrap();
    std::fs::write(dir.join("extra.txt"), b"slipped in").unwrap();
    let bad = pack::verify(&dir).unwrap();
    assert!(bad.problems.iter().any(|p| p == "dtac.pdf: listed in the manifest but missing"), "{:?}", bad.problems);
    assert!(bad.problems.iter().any(|p| p == "extra.txt: not listed in the manifest"), "{:?}", bad.problems);

    // Not a pack at all.
    let empty = tempfile_dir();
    assert!(pack::verify(&empty).unwrap().problems[0].contains("no manifest.json"));
}

#[test]
fn a_zip_pack_verifies_and_an_altered_entry_is_caught() {
    let p = pack::build(ReportKind::Dspt, &inputs()).unwrap();
    let dir = tempfile_dir();
    let path = dir.join("pack.zip");
    std::fs::write(&path, p.zip().unwrap()).unwrap();
    let v = pack::verify(&path).unwrap();
    assert!(v.ok(), "{:?}", v.problems);

    // Rebuild the zip with one entry's content changed (the archive itself stays valid).
    let mut files = p.files.clone();
    files[1].1.extend_from_slice(b" ");
    let altered = pack::Pack { files, ..p.clone() };
    std::fs::write(&path, altered.zip().unwrap()).unwrap();
    let v = pack::verify(&path).unwrap();
    assert_eq!(v.problems.len(), 1);
    assert!(v.problems[0].starts_with("dspt.json: ALTERED"), "{:?}", v.problems);
    // Garbage is refused with a message, not a panic.
    std::fs::write(&path, b"PK not really").unwrap();
    assert!(pack::verify(&path).unwrap_err().to_string().contains("not a folder or a zip archive"));
}

#[test]
fn the_safety_case_reports_the_log_and_each_controls_evidence_over_the_period() {
    let inputs = inputs();
    let json: serde_json::Value =
        serde_json::from_slice(&reports::render_parts(ReportKind::Dcb0129, &inputs).unwrap().0).unwrap();
    let mesh = json["evidence"].as_array().unwrap().iter().find(|e| e["source"] == "canary mesh").unwrap();
    assert_eq!(mesh["state_at_end"], "failing");
    assert_eq!(mesh["problems"], 1);
    let passing = mesh["passing"].as_f64().unwrap();
    assert!((passing - 10.0 / 31.0).abs() < 1e-6, "{passing}");
    assert_eq!(json["summary"]["signed_off_current"], 1, "an old version's sign-off does not count");
    assert_eq!(json["summary"]["hazards"], inputs.hazards.len());

    let html = String::from_utf8(pack::build(ReportKind::Dcb0129, &inputs).unwrap().files[0].1.clone()).unwrap();
    for section in
        ["2. Scope and intended use", "5. Controls and their verification", "9. Clinical Safety Officer&#39;s approval"]
    {
        assert!(html.contains(section), "{section}");
    }
    assert!(html.contains("Dr Ada O&#39;Neill &amp; co"), "sign-off officer escaped");
    assert!(html.contains("Incidents during the period and their actions"), "{html}");
    assert!(html.contains("Alert on client certificate expiry") && html.contains("INC-7"), "{html}");
    assert_eq!(json["incidents"][0]["hazard_id"], "HAZ-001");
    let unread = ReportInputs { incidents: None, ..inputs.clone() };
    let html = reports::html::render(&reports::render_parts(ReportKind::Dcb0129, &unread).unwrap().1);
    assert!(html.contains("incident records were not read for this report"), "says so, never claims none");
    assert!(html.contains("Not stated (set reports.system.intended_use"), "unset text names its key");
}

#[test]
fn the_dtac_pack_shows_answers_and_names_the_key_for_unanswered_questions() {
    let inputs = inputs();
    let json: serde_json::Value =
        serde_json::from_slice(&reports::render_parts(ReportKind::Dtac, &inputs).unwrap().0).unwrap();
    let items = json["items"].as_array().unwrap();
    let sections: std::collections::BTreeSet<&str> = items.iter().map(|i| i["section"].as_str().unwrap()).collect();
    assert_eq!(sections.into_iter().collect::<Vec<_>>(), ["C1", "C2", "C3", "C4", "D1"]);
    let c21 = items.iter().find(|i| i["id"] == "C2.1").unwrap();
    assert_eq!(c21["answer"], "ZA123456");
    let c33 = items.iter().find(|i| i["id"] == "C3.3").unwrap();
    assert!(c33["answer"].is_null());
    assert_eq!(c33["pathwatch_evidence"][0], "Dashboard sign-in: OpenID Connect (NHS CIS2).");
    let c25 = items.iter().find(|i| i["id"] == "C2.5").unwrap();
    let text = c25["pathwatch_evidence"].to_string();
    assert!(
        text.contains("1300 audit events") && text.contains("verified 2 times") && text.contains("1 found it intact"),
        "{text}"
    );
}

#[test]
fn the_dspt_evidence_reports_access_and_a_broken_chain() {
    let json: serde_json::Value =
        serde_json::from_slice(&reports::render_parts(ReportKind::Dspt, &inputs()).unwrap().0).unwrap();
    assert_eq!(json["audit"]["events"], 1300);
    assert_eq!((json["chain_verifications"].as_u64(), json["chain_intact"].as_u64()), (Some(2), Some(1)));
    assert_eq!(json["first_break"]["detail"], "record 1300 (event e-1300) was altered");
    assert_eq!(json["review"]["samples"][0]["seed"], 2026);
    assert_eq!(json["review"]["incidents"][0]["user_id"], "recep1");
    let html = reports::html::render(&reports::render_parts(ReportKind::Dspt, &inputs()).unwrap().1);
    for text in [
        "1 samples were drawn during the period, holding 20 items; 18 were reviewed (90.0 %), 1 found inappropriate and 2 needing follow-up",
        "Coverage: 1 of 2 strata",
        "raised 4 findings during the period",
        "1 remain open or under investigation",
        "1 findings were closed as inappropriate access",
        "reported as incident INC-0042",
        "1 incidents were declared or open during the period, and 1 exercises",
        "Exercise (mock breach): A laptop holding a patient list is lost",
        "Alert on client certificate expiry",
        "Receptionists could not look up patients for 58 minutes Hazard HAZ-001.",
    ] {
        assert!(html.contains(&text.replace('\'', "&#39;")) || html.contains(text), "{text}");
    }
    // Without a review store, the report says so instead of claiming there was nothing.
    let bare = ReportInputs { review: None, ..inputs() };
    let html = reports::html::render(&reports::render_parts(ReportKind::Dspt, &bare).unwrap().1);
    assert_eq!(html.matches("keeps no audit reviews").count(), 3);
}

#[test]
fn the_pdf_of_each_report_holds_its_content_as_poppler_reads_it() {
    if !poppler_available() {
        return;
    }
    let inputs = inputs();
    let dir = tempfile_dir();
    for kind in ReportKind::ALL {
        let p = pack::build(kind, &inputs).unwrap();
        let (_, pdf) = p.files.iter().find(|(n, _)| n.ends_with(".pdf")).unwrap();
        let path = dir.join(format!("{}.pdf", kind.as_str()));
        std::fs::write(&path, pdf).unwrap();
        let text = run("pdftotext", &["-layout", path.to_str().unwrap(), "-"]);
        assert!(text.contains("Example GP booking app"), "{kind:?}");
        match kind {
            ReportKind::Dcb0129 => {
                for h in &inputs.hazards {
                    assert!(text.contains(&h.hazard.id), "{} missing", h.hazard.id);
                }
                assert!(text.contains("Wrong patient returned by a demographics lookup"));
                assert!(text.contains("Clinical Safety Officer's approval"));
            }
            ReportKind::Dtac => assert!(text.contains("ZA123456") && text.contains("C4 Interoperability")),
            ReportKind::Dspt => assert!(text.contains("BROKEN: record 1300")),
        }
    }
}
