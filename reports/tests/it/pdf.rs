//! Renders a report full of awkward text and checks it with the real poppler tools (`pdfinfo`,
//! `pdftotext`), the way a reader's viewer would see it. Without poppler-utils the test is skipped
//! loudly, or fails when PATHWATCH_REQUIRE_SERVICES=1 (as in CI).

use std::path::PathBuf;
use std::process::Command;

use reports::document::{Block, Column, Document, Table};

/// Each hazard: the title as written in the document and as `pdftotext` must give it back
/// (characters the standard fonts lack come back as their stand-ins).
const HAZARDS: &[(&str, &str)] = &[
    ("H-001 Quotes \"double\" and 'single'", "H-001 Quotes \"double\" and 'single'"),
    ("H-002 Ampersands & <angle> brackets", "H-002 Ampersands & <angle> brackets"),
    ("H-003 Curly “quotes” and ‘apostrophes’", "H-003 Curly “quotes” and ‘apostrophes’"),
    ("H-004 Fees in £ at the café", "H-004 Fees in £ at the café"),
    ("H-005 Uptime ≥ 99.5 % and latency ≤ 2 s", "H-005 Uptime >= 99.5 % and latency <= 2 s"),
    ("H-006 Backslash \\ and (parentheses", "H-006 Backslash \\ and (parentheses"),
    ("H-007 Emoji 🚑 and arrows → ✓", "H-007 Emoji ? and arrows -> yes"),
];

fn hazard_document() -> Document {
    let mut blocks = vec![
        Block::Heading { level: 1, text: "1. Summary".into() },
        Block::Facts(vec![
            ("System".into(), "Pathwatch".into()),
            ("Reporting period".into(), "1 Oct 2026 to 1 Nov 2026".into()),
        ]),
        Block::Heading { level: 1, text: "2. Hazards".into() },
    ];
    for (title, _) in HAZARDS {
        blocks.push(Block::Heading { level: 2, text: (*title).into() });
        blocks.push(Block::Paragraph(format!("Cause and effect of {title}.")));
        blocks.push(Block::List(vec!["Control: alerting".into(), "Control: runbook ≥ v2".into()]));
    }
    // Exactly 500 characters, ending in a word the test looks for.
    let mut long = "The synthetic patient flow was retried with capped backoff. ".repeat(9);
    long.truncate(500 - " Zanzibar".len());
    long.push_str(" Zanzibar");
    assert_eq!(long.chars().count(), 500);
    blocks.push(Block::Heading { level: 2, text: "H-008 A 500-character paragraph".into() });
    blocks.push(Block::Paragraph(long));
    blocks.push(Block::Heading { level: 2, text: "H-009 The 200-row table".into() });
    blocks.push(Block::Table(Table {
        caption: "Canary runs".into(),
        columns: vec![Column::new("Run", 1.0), Column::new("Flow", 3.0), Column::new("Result", 1.5)],
        rows: (1..=200)
            .map(|i| vec![format!("R{i:03}"), format!("PDS lookup & GP Connect “{i}”"), "passed ✓".into()])
            .collect(),
        empty: "No runs.".into(),
    }));
    Document {
        title: "Clinical Safety Case — Pathwatch (DCB0129)".into(),
        subtitle: "Hazards with awkward text".into(),
        footer: "Pathwatch · 2026-10-01 to 2026-11-01".into(),
        blocks,
    }
}

/// Whether poppler is here; without it, skip loudly, or fail where services are required.
pub fn poppler_available() -> bool {
    if Command::new("pdftotext").arg("-v").output().is_ok() {
        return true;
    }
    domain::testing::skip("the PDF text checks", "pdftotext (poppler-utils) is not installed");
    false
}

pub fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(output.status.success(), "{program} {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap_or_else(|e| panic!("{program} printed invalid UTF-8: {e}"))
}

#[test]
fn poppler_reads_a_report_full_of_hazards() {
    if !poppler_available() {
        return;
    }
    let doc = hazard_document();
    let pdf = reports::pdf::render(&doc).expect("renders");
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("hazards-{}.pdf", std::process::id()));
    std::fs::write(&path, &pdf).expect("write the PDF");
    let file = path.to_str().expect("UTF-8 path");

    let info = run("pdfinfo", &[file]);
    let field =
        |name: &str| info.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned())).unwrap_or_default();
    let pages: usize = field("Pages:").parse().unwrap_or_else(|_| panic!("no page count in:\n{info}"));
    assert!(pages > 1, "{pages} page(s)");
    assert_eq!(field("Title:"), doc.title);
    assert_eq!(field("Producer:"), "Pathwatch");
    assert!(field("Page size:").starts_with("595.28 x 841.89"), "{info}");

    let text = run("pdftotext", &["-layout", file, "-"]);
    for (_, expected) in HAZARDS {
        assert!(text.contains(expected), "pdftotext lacks {expected:?}:\n{text}");
    }
    for expected in ["H-008 A 500-character paragraph", "capped backoff", "Zanzibar", "Canary runs (continued)", "R200"]
    {
        assert!(text.contains(expected), "pdftotext lacks {expected:?}");
    }
    assert!(text.contains(&format!("Page 1 of {pages}")));
    // Pages are separated by form feeds: each has its own footer, and each page the table runs
    // onto after its first repeats the header row.
    let page_texts: Vec<&str> = text.split('\u{c}').filter(|p| !p.trim().is_empty()).collect();
    assert_eq!(page_texts.len(), pages);
    for (n, page) in page_texts.iter().enumerate() {
        assert!(page.contains(&format!("Page {} of {pages}", n + 1)), "page {} lacks its footer", n + 1);
        assert!(page.contains("Pathwatch · 2026-10-01 to 2026-11-01"), "page {} lacks the footer text", n + 1);
        if page.contains("Canary runs (continued)") {
            assert!(page.contains("Run") && page.contains("Result"), "page {} lacks the header row", n + 1);
        }
    }
    let _ = std::fs::remove_file(&path);
}
