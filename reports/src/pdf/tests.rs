//! Unit tests of the whole renderer: file structure, determinism, tables over pages, hostile input.

use super::layout::{layout, Op, Page};
use super::*;
use crate::document::{Block, Column, Table};

fn doc(blocks: Vec<Block>) -> Document {
    Document {
        title: "Clinical Safety Case Report (DCB0129)".into(),
        subtitle: "Pathwatch · 1 Oct 2026 to 1 Nov 2026".into(),
        footer: "Pathwatch · 2026-10-01 to 2026-11-01".into(),
        blocks,
    }
}

fn table(rows: usize) -> Table {
    Table {
        caption: "Hazard log".into(),
        columns: vec![Column::new("Hazard ID", 1.0), Column::new("Description", 4.0), Column::new("Risk", 1.0)],
        rows: (0..rows)
            .map(|i| vec![format!("H-{i:04}"), format!("Hazard number {i} of the log"), "3".into()])
            .collect(),
        empty: "No hazards are recorded.".into(),
    }
}

/// The text a page draws, in drawing order (shared with `layout`'s own tests).
pub(super) fn texts(page: &Page) -> Vec<&[u8]> {
    page.ops
        .iter()
        .filter_map(|op| match op {
            Op::Text { text, .. } => Some(text.as_slice()),
            _ => None,
        })
        .collect()
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).filter(|w| *w == needle).count()
}

#[test]
fn output_is_a_complete_pdf_file() {
    let pdf = render(&doc(vec![Block::Paragraph("Hello".into())])).expect("renders");
    assert!(pdf.starts_with(b"%PDF-"));
    let end = String::from_utf8_lossy(&pdf[pdf.len() - 8..]).into_owned();
    assert!(end.trim_end().ends_with("%%EOF"), "ends with {end:?}");
    assert_eq!(count(&pdf, b"/BaseFont /Helvetica-Bold"), 1);
    assert_eq!(count(&pdf, b"/WinAnsiEncoding"), 2);
    assert_eq!(count(&pdf, b"/Producer (Pathwatch)"), 1);
    // Balanced parentheses need no escaping in a PDF string.
    assert_eq!(count(&pdf, b"/Title (Clinical Safety Case Report (DCB0129))"), 1);
    assert_eq!(count(&pdf, b"(Page 1 of 1) Tj"), 1);
    // Nothing that changes from run to run.
    assert_eq!(count(&pdf, b"/CreationDate"), 0);
    assert_eq!(count(&pdf, b"/ModDate"), 0);
    assert_eq!(count(&pdf, b"/ID"), 0);
}

#[test]
fn rendering_twice_gives_identical_bytes() {
    let d = doc(vec![
        Block::Heading { level: 1, text: "1. Scope".into() },
        Block::Paragraph("Words “quoted” & £ é ≥ 3. ".repeat(50)),
        Block::Table(table(120)),
    ]);
    let first = render(&d).expect("renders");
    let second = render(&d.clone()).expect("renders");
    assert!(first == second, "two renderings differ");
}

#[test]
fn a_300_row_table_repeats_caption_and_header_on_every_page() {
    let d = doc(vec![Block::Table(table(300))]);
    let pages = layout(&d);
    assert!(pages.len() >= 4, "300 rows on {} pages", pages.len());
    for (n, page) in pages.iter().enumerate() {
        let t = texts(page);
        assert!(t.contains(&&b"Hazard ID"[..]), "page {} lacks the header row", n + 1);
        let continued = t.contains(&&b"Hazard log (continued)"[..]);
        assert_eq!(continued, n > 0, "page {}: continued caption", n + 1);
    }
    // Every row drawn exactly once, in order.
    let ids: Vec<&[u8]> = pages.iter().flat_map(texts).filter(|t| t.starts_with(b"H-")).collect();
    let expected: Vec<Vec<u8>> = (0..300).map(|i| format!("H-{i:04}").into_bytes()).collect();
    assert_eq!(ids, expected.iter().map(Vec::as_slice).collect::<Vec<_>>());
    // And the written file shows the header once per page.
    let pdf = render(&d).expect("renders");
    assert_eq!(count(&pdf, b"(Hazard ID) Tj"), pages.len());
    assert_eq!(count(&pdf, format!("(Page {} of {}) Tj", pages.len(), pages.len()).as_bytes()), 1);
}

#[test]
fn a_row_taller_than_a_page_is_split_by_lines() {
    let mut t = table(2);
    t.rows.insert(1, vec!["H-big".into(), "tall ".repeat(3000), "5".into()]);
    let pages = layout(&doc(vec![Block::Table(t)]));
    assert!(pages.len() >= 3);
    let all: Vec<&[u8]> = pages.iter().flat_map(texts).collect();
    let words: usize = all.iter().map(|t| count(t, b"tall")).sum();
    assert_eq!(words, 3000, "every line of the tall row is drawn once");
    for page in &pages {
        assert!(texts(page).contains(&&b"Hazard ID"[..]));
    }
}

#[test]
fn short_rows_are_never_split() {
    // Rows of one to five lines: whatever space a page has left, a break falls between rows, so
    // all lines of a row's description are on one page.
    let mut t = table(0);
    t.rows = (0..120).map(|i| vec![format!("R{i}"), format!("r{i}w ").repeat(1 + (i % 5) * 14), "x".into()]).collect();
    let pages = layout(&doc(vec![Block::Table(t)]));
    assert!(pages.len() > 2);
    let first_word = |t: &[u8]| t.split(|&b| b == b' ').next().map(<[u8]>::to_vec).unwrap_or_default();
    for i in 0..120 {
        let word = format!("r{i}w").into_bytes();
        let per_page: Vec<usize> =
            pages.iter().map(|p| texts(p).iter().filter(|t| first_word(t) == word).count()).collect();
        let on = per_page.iter().filter(|&&n| n > 0).count();
        assert_eq!(on, 1, "row {i} is spread over pages: {per_page:?}");
    }
}

#[test]
fn empty_tables_print_their_sentence() {
    let mut t = table(0);
    let pages = layout(&doc(vec![Block::Table(t.clone())]));
    let all: Vec<&[u8]> = pages.iter().flat_map(texts).collect();
    assert!(all.contains(&&b"No hazards are recorded."[..]));
    assert!(!all.contains(&&b"Hazard ID"[..]));
    // No columns: the sentence too, even when there are rows.
    t.columns.clear();
    t.rows = vec![vec!["orphan".into()]];
    let pages = layout(&doc(vec![Block::Table(t)]));
    let all: Vec<&[u8]> = pages.iter().flat_map(texts).collect();
    assert!(all.contains(&&b"No hazards are recorded."[..]));
    assert!(!all.contains(&&b"orphan"[..]));
}

#[test]
fn hostile_documents_render() {
    let weird_columns = vec![
        Column::new("zero", 0.0),
        Column::new("negative", -3.0),
        Column::new("nan", f32::NAN),
        Column::new("inf", f32::INFINITY),
        Column::new("max", f32::MAX),
        Column::new("", 1.0),
    ];
    let cases = vec![
        Document { title: String::new(), subtitle: String::new(), footer: String::new(), blocks: vec![] },
        doc(vec![Block::Paragraph(String::new()), Block::List(vec![]), Block::Facts(vec![])]),
        doc(vec![Block::Heading { level: 255, text: "x".repeat(5000) }]),
        doc(vec![Block::Paragraph("W".repeat(20_000))]),
        doc(vec![Block::Paragraph("😀🏳️‍🌈👍🏽 \u{0}\u{1b}[31m \u{202e}evil \u{fffd}".repeat(100))]),
        doc(vec![Block::Table(Table { caption: String::new(), columns: vec![], rows: vec![], empty: String::new() })]),
        doc(vec![Block::Table(Table {
            caption: "c".repeat(3000),
            columns: weird_columns,
            rows: vec![vec![], vec!["only one".into()], vec!["a".into(); 40], vec!["W".repeat(2000); 6]],
            empty: String::new(),
        })]),
        doc(vec![Block::Table(Table {
            caption: "Many columns".into(),
            columns: (0..500).map(|i| Column::new(format!("c{i}"), 1.0)).collect(),
            rows: vec![vec!["value".into(); 500]; 3],
            empty: String::new(),
        })]),
        doc(vec![Block::Table(Table {
            caption: "Header taller than a page".into(),
            columns: vec![Column::new("head ".repeat(4000), 1.0), Column::new("b", 1.0)],
            rows: vec![vec!["r".into(), "s".into()]; 100],
            empty: String::new(),
        })]),
        Document {
            title: "t".repeat(10_000),
            subtitle: "s".repeat(10_000),
            footer: "f ".repeat(10_000),
            blocks: vec![Block::Heading { level: 1, text: "Last".into() }],
        },
    ];
    for (i, d) in cases.iter().enumerate() {
        let pdf = render(d).unwrap_or_else(|e| panic!("case {i}: {e}"));
        assert!(pdf.starts_with(b"%PDF-") && count(&pdf, b"%%EOF") == 1, "case {i}");
        assert!(!String::from_utf8_lossy(&pdf).contains("NaN"), "case {i} wrote a NaN");
    }
}

#[test]
fn ten_thousand_rows_render() {
    let pdf = render(&doc(vec![Block::Table(table(10_000))])).expect("renders");
    assert!(count(&pdf, b"(Hazard log (continued)) Tj") > 100);
}

#[test]
fn long_footers_are_shortened_before_the_page_number() {
    let d = Document { footer: "Pathwatch ".repeat(100), ..doc(vec![]) };
    let pdf = render(&d).expect("renders");
    assert_eq!(count(&pdf, b"(Page 1 of 1) Tj"), 1);
    let footer = fit(&text::encode(&d.footer), 300.0);
    assert_eq!(footer.last(), Some(&0x85));
    assert!(Font::Regular.width(&footer, FOOTER_SIZE) <= 300.0);
}
