//! Page layout: turns a [`Document`] into A4 pages of positioned drawing operations.
//!
//! Everything about where things go lives here (and in `table` for tables): margins, type sizes,
//! word wrapping into the text width, page breaks, keeping a heading with what follows it. The
//! result is plain data, so the whole document is laid out before a byte is written and the
//! footer can say "Page n of N". This module must never write PDF syntax, read the clock or any
//! other outside state, or panic: any document, however odd, lays out into at least one page.

use super::metrics::Font;
use super::table;
use super::text::{encode, wrap};
use crate::document::{Block, Document};

/// A4 in PostScript points.
pub const PAGE_WIDTH: f32 = 595.28;
pub const PAGE_HEIGHT: f32 = 841.89;
/// The same margin on all four sides; the footer sits inside the bottom one.
pub const MARGIN: f32 = 56.0;
pub const TEXT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;
const TOP: f32 = PAGE_HEIGHT - MARGIN;
const BOTTOM: f32 = MARGIN;
/// The height available for content on every page.
pub const BODY_HEIGHT: f32 = TOP - BOTTOM;

/// A font, a size and the distance between baselines of consecutive lines.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub font: Font,
    pub size: f32,
    pub leading: f32,
}

impl Style {
    const fn new(font: Font, size: f32, leading: f32) -> Self {
        Style { font, size, leading }
    }

    /// The baseline of a line whose box (one leading high) starts at `top`: Helvetica's ink,
    /// ascender 0.718 to descender -0.207 of the size, is centred in the box.
    pub fn baseline(self, top: f32) -> f32 {
        top - (self.leading - 0.925 * self.size) / 2.0 - 0.718 * self.size
    }
}

pub const BODY: Style = Style::new(Font::Regular, 10.0, 13.0);
const TITLE: Style = Style::new(Font::Bold, 20.0, 24.0);
const SUBTITLE: Style = Style::new(Font::Regular, 11.0, 14.0);
pub const CAPTION: Style = Style::new(Font::Bold, 10.0, 13.0);
/// Gap after a paragraph, a list, facts or a table.
pub const BLOCK_GAP: f32 = 8.0;

/// One thing drawn on a page, in points from the page's bottom-left corner.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// WinAnsi-encoded text with its baseline starting at (x, y).
    Text { x: f32, y: f32, font: Font, size: f32, text: Vec<u8> },
    /// A thin rule (table grid lines, the line under the title).
    Line { x1: f32, y1: f32, x2: f32, y2: f32 },
    /// A filled rectangle in a shade of grey (0 black, 1 white) behind text.
    Fill { x: f32, y: f32, width: f32, height: f32, gray: f32 },
}

/// The drawing operations of one page, in painting order; the footer is added when writing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub ops: Vec<Op>,
}

/// Lays the whole document out into pages (always at least one).
pub fn layout(doc: &Document) -> Vec<Page> {
    let mut flow = Flow::new();
    title_block(&mut flow, doc);
    for (i, block) in doc.blocks.iter().enumerate() {
        match block {
            Block::Heading { level, text } => heading(&mut flow, *level, text, doc.blocks.get(i + 1)),
            Block::Paragraph(text) => {
                flow.lines(MARGIN, TEXT_WIDTH, BODY, &encode(text), 2);
                flow.gap(BLOCK_GAP);
            }
            Block::Facts(facts) => self::facts(&mut flow, facts),
            Block::List(items) => list(&mut flow, items),
            Block::Table(t) => table::layout(&mut flow, t),
        }
    }
    flow.finish()
}

/// The running state of the layout: pages done, the page being filled and how far down it is.
pub struct Flow {
    pages: Vec<Page>,
    page: Page,
    /// The top of the free space on the current page.
    y: f32,
}

impl Flow {
    fn new() -> Self {
        Flow { pages: Vec::new(), page: Page::default(), y: TOP }
    }

    fn finish(mut self) -> Vec<Page> {
        self.pages.push(self.page);
        self.pages
    }

    pub fn y(&self) -> f32 {
        self.y
    }

    /// Moves the top of the free space down past something just drawn.
    pub fn advance(&mut self, height: f32) {
        self.y -= height;
    }

    /// The height left above the bottom margin.
    pub fn remaining(&self) -> f32 {
        self.y - BOTTOM
    }

    /// True while nothing has been placed on the current page.
    pub fn at_top(&self) -> bool {
        self.y >= TOP
    }

    pub fn new_page(&mut self) {
        let done = std::mem::take(&mut self.page);
        self.pages.push(done);
        self.y = TOP;
    }

    /// Starts a new page unless `height` fits in what is left of this one. A fresh page is never
    /// left for another fresh page, so something taller than a page still makes progress.
    /// Returns whether it broke the page.
    pub fn ensure(&mut self, height: f32) -> bool {
        if height > self.remaining() && !self.at_top() {
            self.new_page();
            true
        } else {
            false
        }
    }

    /// Vertical space between blocks, dropped at the top of a page.
    pub fn gap(&mut self, height: f32) {
        if !self.at_top() {
            self.y -= height;
        }
    }

    pub fn push(&mut self, op: Op) {
        self.page.ops.push(op);
    }

    /// Draws one line of text whose box starts at the current top, staying there.
    pub fn text_at(&mut self, x: f32, style: Style, text: Vec<u8>) {
        if !text.is_empty() {
            let y = style.baseline(self.y);
            self.push(Op::Text { x, y, font: style.font, size: style.size, text });
        }
    }

    /// Draws one line of text whose box starts at the current top, then moves below it.
    pub fn text_line(&mut self, x: f32, style: Style, text: Vec<u8>) {
        self.text_at(x, style, text);
        self.y -= style.leading;
    }

    /// Wraps `text` into `width` and draws it line by line, breaking pages between lines but
    /// keeping at least the first `keep` lines together.
    pub fn lines(&mut self, x: f32, width: f32, style: Style, text: &[u8], keep: usize) {
        let lines = wrap(text, style.font, style.size, width);
        self.ensure(lines.len().min(keep) as f32 * style.leading);
        for line in lines {
            self.ensure(style.leading);
            self.text_line(x, style, line);
        }
    }
}

fn title_block(flow: &mut Flow, doc: &Document) {
    let title = encode(&doc.title);
    let subtitle = encode(&doc.subtitle);
    let mut drawn = false;
    for line in wrap(&title, TITLE.font, TITLE.size, TEXT_WIDTH) {
        flow.ensure(TITLE.leading);
        flow.text_line(MARGIN, TITLE, line);
        drawn = true;
    }
    for line in wrap(&subtitle, SUBTITLE.font, SUBTITLE.size, TEXT_WIDTH) {
        flow.ensure(SUBTITLE.leading);
        flow.text_line(MARGIN, SUBTITLE, line);
        drawn = true;
    }
    if drawn {
        flow.advance(6.0);
        let y = flow.y();
        flow.push(Op::Line { x1: MARGIN, y1: y, x2: MARGIN + TEXT_WIDTH, y2: y });
        flow.advance(16.0);
    }
}

/// Style and space before of a heading level; levels beyond 3 look like 3, level 0 like 1.
fn heading_style(level: u8) -> (Style, f32) {
    match level {
        0 | 1 => (Style::new(Font::Bold, 14.0, 18.0), 10.0),
        2 => (Style::new(Font::Bold, 12.0, 16.0), 6.0),
        _ => (Style::new(Font::Bold, 10.5, 14.0), 4.0),
    }
}

fn heading(flow: &mut Flow, level: u8, text: &str, next: Option<&Block>) {
    let (style, before) = heading_style(level);
    let lines = wrap(&encode(text), style.font, style.size, TEXT_WIDTH);
    if lines.is_empty() {
        return;
    }
    let height = lines.len() as f32 * style.leading;
    // Never strand a heading at the foot of a page: it moves on with the start of its section.
    let with_next = before + height + 2.0 + next.map_or(0.0, lead_height);
    flow.ensure(with_next.min(BODY_HEIGHT));
    flow.gap(before);
    for line in lines {
        flow.ensure(style.leading);
        flow.text_line(MARGIN, style, line);
    }
    flow.advance(2.0);
}

/// The height of the start of a block that a heading before it must stay with.
fn lead_height(block: &Block) -> f32 {
    let count = |text: &str, style: Style, width: f32| wrap(&encode(text), style.font, style.size, width).len();
    match block {
        Block::Heading { level, text } => {
            let (style, before) = heading_style(*level);
            before + count(text, style, TEXT_WIDTH).min(2) as f32 * style.leading
        }
        Block::Paragraph(text) => count(text, BODY, TEXT_WIDTH).min(3) as f32 * BODY.leading,
        Block::Facts(facts) => facts.first().map_or(0.0, |(label, value)| {
            let lines = count(label, FACT_LABEL, FACT_LABEL_WIDTH).max(count(value, BODY, FACT_VALUE_WIDTH));
            lines.min(3) as f32 * BODY.leading
        }),
        Block::List(items) => items
            .first()
            .map_or(0.0, |item| count(item, BODY, TEXT_WIDTH - BULLET_INDENT).clamp(1, 3) as f32 * BODY.leading),
        Block::Table(t) => table::lead_height(t),
    }
}

const FACT_LABEL: Style = Style::new(Font::Bold, 10.0, 13.0);
const FACT_LABEL_WIDTH: f32 = TEXT_WIDTH * 0.3;
const FACT_GAP: f32 = 12.0;
const FACT_VALUE_WIDTH: f32 = TEXT_WIDTH - FACT_LABEL_WIDTH - FACT_GAP;

/// Label and value pairs side by side: the bold label in the left 30 %, the value wrapped beside it.
fn facts(flow: &mut Flow, facts: &[(String, String)]) {
    for (label, value) in facts {
        let labels = wrap(&encode(label), FACT_LABEL.font, FACT_LABEL.size, FACT_LABEL_WIDTH);
        let values = wrap(&encode(value), BODY.font, BODY.size, FACT_VALUE_WIDTH);
        let rows = labels.len().max(values.len());
        if rows == 0 {
            continue;
        }
        flow.ensure(rows.min(3) as f32 * BODY.leading);
        let mut labels = labels.into_iter();
        let mut values = values.into_iter();
        for _ in 0..rows {
            flow.ensure(BODY.leading);
            if let Some(line) = labels.next() {
                flow.text_at(MARGIN, FACT_LABEL, line);
            }
            if let Some(line) = values.next() {
                flow.text_at(MARGIN + FACT_LABEL_WIDTH + FACT_GAP, BODY, line);
            }
            flow.advance(BODY.leading);
        }
        flow.advance(3.0);
    }
    flow.gap(BLOCK_GAP - 3.0);
}

const BULLET_INDENT: f32 = 16.0;

/// A bulleted list with a hanging indent: wrapped lines align with the item's first word.
fn list(flow: &mut Flow, items: &[String]) {
    for item in items {
        let lines = wrap(&encode(item), BODY.font, BODY.size, TEXT_WIDTH - BULLET_INDENT);
        flow.ensure(lines.len().clamp(1, 2) as f32 * BODY.leading);
        flow.text_at(MARGIN + 4.0, BODY, vec![0x95]);
        if lines.is_empty() {
            flow.advance(BODY.leading);
        }
        for line in lines {
            flow.ensure(BODY.leading);
            flow.text_line(MARGIN + BULLET_INDENT, BODY, line);
        }
        flow.advance(3.0);
    }
    flow.gap(BLOCK_GAP - 3.0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{Column, Table};
    use crate::pdf::tests::texts;

    fn doc(blocks: Vec<Block>) -> Document {
        Document { title: "Title".into(), subtitle: "Sub".into(), footer: "Foot".into(), blocks }
    }

    /// Every op stays on the paper and inside the margins (the footer is added later).
    fn assert_inside(pages: &[Page]) {
        for (n, page) in pages.iter().enumerate() {
            for op in &page.ops {
                let (x, y, right) = match op {
                    Op::Text { x, y, font, size, text } => (*x, *y, x + font.width(text, *size)),
                    Op::Line { x1, y1, x2, y2 } => (x1.min(*x2), y1.min(*y2), x1.max(*x2)),
                    Op::Fill { x, y, width, .. } => (*x, *y, x + width),
                };
                assert!(
                    x >= MARGIN - 0.01 && right <= PAGE_WIDTH - MARGIN + 0.01,
                    "page {n}: {op:?} overflows sideways"
                );
                assert!((BOTTOM - 3.0..=TOP).contains(&y), "page {n}: {op:?} outside the body");
            }
        }
    }

    #[test]
    fn empty_document_is_one_empty_page() {
        let empty = Document { title: String::new(), subtitle: String::new(), footer: String::new(), blocks: vec![] };
        let pages = layout(&empty);
        assert_eq!(pages.len(), 1);
        assert!(pages[0].ops.is_empty());
    }

    #[test]
    fn long_paragraphs_flow_over_pages_inside_the_margins() {
        let text = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(400);
        let pages = layout(&doc(vec![Block::Paragraph(text)]));
        assert!(pages.len() > 3);
        assert_inside(&pages);
    }

    #[test]
    fn a_heading_is_never_last_on_a_page() {
        // One-line paragraphs (21 pt with their gap) push the heading through two pages' worth of
        // positions, so some land it just above the foot.
        for filler in 0..80 {
            let mut blocks: Vec<Block> = (0..filler).map(|i| Block::Paragraph(format!("Line {i}"))).collect();
            blocks.push(Block::Heading { level: 1, text: "Section".into() });
            blocks.push(Block::Paragraph("First words of the section. ".repeat(30)));
            let pages = layout(&doc(blocks));
            for page in &pages {
                let last = texts(page).last().copied();
                assert_ne!(last, Some(&b"Section"[..]), "with {filler} fillers the heading ends a page");
            }
        }
    }

    #[test]
    fn a_heading_stays_with_the_first_table_row() {
        for filler in 0..80 {
            let mut blocks: Vec<Block> = (0..filler).map(|i| Block::Paragraph(format!("Line {i}"))).collect();
            blocks.push(Block::Heading { level: 2, text: "Hazards".into() });
            blocks.push(Block::Table(Table {
                caption: "Hazard log".into(),
                columns: vec![Column::new("Id", 1.0), Column::new("Text", 3.0)],
                rows: vec![vec!["H1".into(), "Row one".into()]; 3],
                empty: "None".into(),
            }));
            let pages = layout(&doc(blocks));
            let page = pages.iter().find(|p| texts(p).contains(&&b"Hazards"[..])).expect("heading drawn");
            assert!(texts(page).contains(&&b"Row one"[..]), "with {filler} fillers the table left its heading");
        }
    }

    #[test]
    fn facts_and_lists_stay_in_their_columns() {
        let long = "value that goes on and on ".repeat(20);
        let pages = layout(&doc(vec![
            Block::Facts(vec![
                ("Reporting period".into(), long.clone()),
                ("".into(), "".into()),
                ("Only label".into(), "".into()),
            ]),
            Block::List(vec![long.clone(), String::new(), "short".into()]),
            Block::Heading { level: 9, text: "Deep".into() },
            Block::Heading { level: 0, text: String::new() },
        ]));
        assert_inside(&pages);
        let all: Vec<&[u8]> = pages.iter().flat_map(texts).collect();
        assert!(all.contains(&&b"Reporting period"[..]));
        assert!(all.contains(&&b"Only label"[..]));
        assert_eq!(all.iter().filter(|t| **t == [0x95]).count(), 3, "one bullet per item");
        assert!(all.contains(&&b"Deep"[..]));
    }
}
