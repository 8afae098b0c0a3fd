//! Table layout: column widths, wrapped cells, grid lines and splitting a table over pages.
//!
//! A row stays on one page unless it alone is taller than a page's body, in which case it is split
//! between lines. Every page a table continues onto repeats its caption, marked "(continued)", and
//! its header row. This module must never trust the table's shape: missing cells are blank, extra
//! cells are ignored, and weights that are not positive finite numbers are replaced, so no input
//! can make it panic or draw outside the text width.

use super::layout::{Flow, Op, Style, BLOCK_GAP, BODY, BODY_HEIGHT, CAPTION, MARGIN, TEXT_WIDTH};
use super::metrics::Font;
use super::text::{encode, wrap};
use crate::document::{Column, Table};

const CELL: Style = Style { font: Font::Regular, size: 9.0, leading: 11.0 };
const HEADER: Style = Style { font: Font::Bold, size: 9.0, leading: 11.0 };
/// The header row's background; body rows have none.
const HEADER_GRAY: f32 = 0.88;
/// Space between a cell's grid lines and its text, on all four sides.
const PAD: f32 = 4.0;
const CAPTION_GAP: f32 = 3.0;

/// The x positions of the column boundaries, left to right: one more than there are columns.
///
/// Widths are each column's weight over the sum. A weight that is zero, negative, infinite or NaN
/// counts as the average of the sensible ones (all columns share equally when none is sensible).
pub fn column_bounds(columns: &[Column]) -> Vec<f32> {
    let valid = |w: f32| w.is_finite() && w > 0.0;
    // Scaling by the largest weight first keeps the sum finite even for weights near f32::MAX.
    let largest = columns.iter().map(|c| c.weight).filter(|&w| valid(w)).fold(0.0_f32, f32::max);
    let scaled: Vec<f32> =
        columns.iter().map(|c| if valid(c.weight) { c.weight / largest } else { f32::NAN }).collect();
    let sensible: Vec<f32> = scaled.iter().copied().filter(|w| valid(*w)).collect();
    let fallback = if sensible.is_empty() { 1.0 } else { sensible.iter().sum::<f32>() / sensible.len() as f32 };
    let weights: Vec<f32> = scaled.into_iter().map(|w| if valid(w) { w } else { fallback }).collect();
    let total: f32 = weights.iter().sum();
    let mut bounds = Vec::with_capacity(weights.len() + 1);
    let mut acc = 0.0;
    bounds.push(MARGIN);
    for (i, w) in weights.iter().enumerate() {
        acc += w;
        // The last boundary is exactly the right margin, whatever the rounding did.
        bounds.push(if i + 1 == weights.len() { MARGIN + TEXT_WIDTH } else { MARGIN + TEXT_WIDTH * acc / total });
    }
    bounds
}

/// One row's cells, wrapped into their columns.
#[derive(Clone)]
struct Row {
    /// The header row is bold on a grey background.
    header: bool,
    cells: Vec<Vec<Vec<u8>>>,
    /// The tallest cell's line count, at least one so an empty row still shows.
    lines: usize,
}

impl Row {
    fn header(columns: &[Column], bounds: &[f32]) -> Row {
        let headers: Vec<String> = columns.iter().map(|c| c.header.clone()).collect();
        Row::new(&headers, bounds, true)
    }

    fn new(texts: &[String], bounds: &[f32], header: bool) -> Row {
        let style = if header { HEADER } else { CELL };
        let cells: Vec<Vec<Vec<u8>>> = bounds
            .windows(2)
            .enumerate()
            .map(|(i, edge)| {
                let text = encode(texts.get(i).map_or("", String::as_str));
                wrap(&text, style.font, style.size, edge[1] - edge[0] - 2.0 * PAD)
            })
            .collect();
        let lines = cells.iter().map(Vec::len).max().unwrap_or(0).max(1);
        Row { header, cells, lines }
    }

    fn style(&self) -> Style {
        if self.header {
            HEADER
        } else {
            CELL
        }
    }

    fn height_all(&self) -> f32 {
        self.height(self.lines)
    }

    /// The height of `lines` of this row's lines with the padding above and below.
    fn height(&self, lines: usize) -> f32 {
        lines as f32 * self.style().leading + 2.0 * PAD
    }
}

fn caption_lines(caption: &str, continued: bool) -> Vec<Vec<u8>> {
    if caption.trim().is_empty() {
        return Vec::new();
    }
    let text = if continued { format!("{caption} (continued)") } else { caption.to_owned() };
    wrap(&encode(&text), CAPTION.font, CAPTION.size, TEXT_WIDTH)
}

fn caption_height(lines: &[Vec<u8>]) -> f32 {
    if lines.is_empty() {
        0.0
    } else {
        lines.len() as f32 * CAPTION.leading + CAPTION_GAP
    }
}

/// How much of the page a heading right before this table must share with it: the caption, the
/// header row and the first row (or the empty sentence).
pub fn lead_height(table: &Table) -> f32 {
    let caption = caption_height(&caption_lines(&table.caption, false));
    if table.columns.is_empty() || table.rows.is_empty() {
        let sentence = wrap(&encode(&table.empty), BODY.font, BODY.size, TEXT_WIDTH).len().min(2);
        return caption + sentence as f32 * BODY.leading;
    }
    let bounds = column_bounds(&table.columns);
    let header = Row::header(&table.columns, &bounds);
    let first = table.rows.first().map_or(0.0, |r| Row::new(r, &bounds, false).height_all());
    caption + header.height_all() + first
}

/// What is drawn again at the top of each page the table continues onto.
struct Continuation {
    caption: Vec<Vec<u8>>,
    header: Row,
}

pub fn layout(flow: &mut Flow, table: &Table) {
    let caption = caption_lines(&table.caption, false);
    if table.columns.is_empty() || table.rows.is_empty() {
        let sentence = encode(&table.empty);
        let sentence_lines = wrap(&sentence, BODY.font, BODY.size, TEXT_WIDTH).len();
        flow.ensure(caption_height(&caption) + sentence_lines.min(2) as f32 * BODY.leading);
        draw_caption(flow, &caption);
        flow.lines(MARGIN, TEXT_WIDTH, BODY, &sentence, 2);
        flow.gap(BLOCK_GAP);
        return;
    }
    let bounds = column_bounds(&table.columns);
    let header = Row::header(&table.columns, &bounds);
    let repeat = Continuation { caption: caption_lines(&table.caption, true), header: header.clone() };
    // A header so tall that repeating it would leave under three lines for rows is not repeated.
    let overhead = caption_height(&repeat.caption) + header.height_all();
    let repeat = (BODY_HEIGHT - overhead >= 3.0 * CELL.leading + 2.0 * PAD).then_some(repeat);
    let capacity = BODY_HEIGHT - repeat.as_ref().map_or(0.0, |_| overhead);

    let first = table.rows.first().map_or(0.0, |r| Row::new(r, &bounds, false).height_all());
    flow.ensure(caption_height(&caption) + header.height_all() + first.min(capacity));
    draw_caption(flow, &caption);
    draw_row(flow, &bounds, &header, None, BODY_HEIGHT);
    for cells in &table.rows {
        draw_row(flow, &bounds, &Row::new(cells, &bounds, false), repeat.as_ref(), capacity);
    }
    flow.gap(BLOCK_GAP);
}

fn draw_caption(flow: &mut Flow, lines: &[Vec<u8>]) {
    for line in lines {
        flow.ensure(CAPTION.leading);
        flow.text_line(MARGIN, CAPTION, line.clone());
    }
    if !lines.is_empty() {
        flow.advance(CAPTION_GAP);
    }
}

/// Starts a new page and, if the table repeats them, draws the continued caption and header row.
fn continue_on_new_page(flow: &mut Flow, bounds: &[f32], repeat: Option<&Continuation>) {
    flow.new_page();
    if let Some(repeat) = repeat {
        draw_caption(flow, &repeat.caption);
        draw_segment(flow, bounds, &repeat.header, 0..repeat.header.lines);
    }
}

/// Draws a row, on the next page if it does not fit here but fits on a fresh page (`capacity` is
/// what a fresh page leaves for rows), otherwise split between lines over as many pages as needed.
fn draw_row(flow: &mut Flow, bounds: &[f32], row: &Row, repeat: Option<&Continuation>, capacity: f32) {
    let leading = row.style().leading;
    let mut start = 0;
    let mut fresh = false;
    while start < row.lines {
        let rest = row.lines - start;
        if row.height(rest) <= flow.remaining() {
            draw_segment(flow, bounds, row, start..row.lines);
            return;
        }
        if start == 0 && !fresh && row.height(rest) <= capacity {
            continue_on_new_page(flow, bounds, repeat);
            fresh = true;
            continue;
        }
        let room = ((flow.remaining() - 2.0 * PAD) / leading).floor();
        let mut fit = if room >= 1.0 { (room as usize).min(rest) } else { 0 };
        if fit == 0 {
            if !fresh {
                continue_on_new_page(flow, bounds, repeat);
                fresh = true;
                continue;
            }
            // Not even one line fits on a fresh page: draw one anyway so the table ends.
            fit = 1;
        }
        draw_segment(flow, bounds, row, start..start + fit);
        start += fit;
        if start < row.lines {
            continue_on_new_page(flow, bounds, repeat);
            fresh = true;
        }
    }
}

/// Draws lines `range` of every cell of `row` as one band of the table, with its grid lines.
fn draw_segment(flow: &mut Flow, bounds: &[f32], row: &Row, range: std::ops::Range<usize>) {
    let (Some(&left), Some(&right)) = (bounds.first(), bounds.last()) else { return };
    let style = row.style();
    let top = flow.y();
    let height = row.height(range.len());
    let bottom = top - height;
    if row.header {
        flow.push(Op::Fill { x: left, y: bottom, width: right - left, height, gray: HEADER_GRAY });
    }
    for (cell, edge) in row.cells.iter().zip(bounds.windows(2)) {
        for (k, line) in cell.iter().enumerate().take(range.end).skip(range.start) {
            let line_top = top - PAD - (k - range.start) as f32 * style.leading;
            let y = style.baseline(line_top);
            flow.push(Op::Text { x: edge[0] + PAD, y, font: style.font, size: style.size, text: line.clone() });
        }
    }
    flow.push(Op::Line { x1: left, y1: top, x2: right, y2: top });
    flow.push(Op::Line { x1: left, y1: bottom, x2: right, y2: bottom });
    for &x in bounds {
        flow.push(Op::Line { x1: x, y1: top, x2: x, y2: bottom });
    }
    flow.advance(height);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn widths(weights: &[f32]) -> Vec<f32> {
        let columns: Vec<Column> = weights.iter().map(|&w| Column::new("c", w)).collect();
        column_bounds(&columns).windows(2).map(|e| e[1] - e[0]).collect()
    }

    fn assert_close(actual: &[f32], expected: &[f32]) {
        assert_eq!(actual.len(), expected.len());
        for (a, e) in actual.iter().zip(expected) {
            assert!((a - e).abs() < 0.01, "{actual:?} != {expected:?}");
        }
    }

    #[test]
    fn widths_follow_the_weights_and_fill_the_text_width() {
        let w = TEXT_WIDTH;
        assert_close(&widths(&[1.0, 3.0]), &[w / 4.0, w * 3.0 / 4.0]);
        assert_close(&widths(&[2.0, 2.0, 4.0]), &[w / 4.0, w / 4.0, w / 2.0]);
        assert_close(&widths(&[5.0]), &[w]);
        assert!(widths(&[]).is_empty());
        let bounds = column_bounds(&[Column::new("a", 0.3), Column::new("b", 0.7)]);
        assert_eq!(bounds.first(), Some(&MARGIN));
        assert_eq!(bounds.last(), Some(&(MARGIN + TEXT_WIDTH)));
    }

    #[test]
    fn senseless_weights_take_an_equal_share() {
        let w = TEXT_WIDTH;
        assert_close(&widths(&[0.0, -1.0, f32::NAN, f32::INFINITY]), &[w / 4.0; 4]);
        assert_close(&widths(&[1.0, 0.0]), &[w / 2.0; 2]);
        assert_close(&widths(&[1.0, 3.0, f32::NAN]), &[w / 6.0, w / 2.0, w / 3.0]);
        assert_close(&widths(&[f32::MAX, f32::MAX]), &[w / 2.0; 2]);
    }

    #[test]
    fn missing_cells_are_blank_and_extra_cells_ignored() {
        let bounds = column_bounds(&[Column::new("a", 1.0), Column::new("b", 1.0)]);
        let short = Row::new(&["only".into()], &bounds, false);
        assert_eq!(short.cells, vec![vec![b"only".to_vec()], vec![]]);
        assert_eq!(short.lines, 1);
        let long = Row::new(&["a".into(), "b".into(), "extra".into()], &bounds, false);
        assert_eq!(long.cells, vec![vec![b"a".to_vec()], vec![b"b".to_vec()]]);
        let empty = Row::new(&[], &bounds, false);
        assert_eq!(empty.lines, 1, "an empty row still has the height of a line");
    }
}
