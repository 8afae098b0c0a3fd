//! The PDF renderer: a [`Document`] becomes a printable A4 PDF.
//!
//! Rendering runs in two passes: `layout` places every line, rule and fill on pages, then this
//! module writes those pages with pdf-writer, adding each page's footer ("Page n of N" needs the
//! page count). The PDF uses the standard Helvetica and Helvetica-Bold fonts with
//! WinAnsiEncoding, unembedded, so files stay small and text stays selectable. The output is a
//! pure function of the document: this module must never write a date, a random file ID or
//! anything else that would make two renderings of one document differ, and must never panic.

mod layout;
mod metrics;
mod table;
mod text;

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use crate::document::Document;
use layout::{Op, Page, MARGIN, PAGE_HEIGHT, PAGE_WIDTH, TEXT_WIDTH};
use metrics::Font;

/// Why a document could not be rendered. Only absurdly large documents fail: the PDF format
/// numbers objects with 31-bit integers and measures streams with them.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("the document needs {pages} pages, more than a PDF can number")]
    TooManyPages { pages: usize },
    #[error("page {page} has {bytes} bytes of drawing, more than a PDF stream can hold")]
    PageTooLarge { page: usize, bytes: usize },
}

const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");
const FOOTER_SIZE: f32 = 8.5;
/// The footer's baseline, inside the bottom margin.
const FOOTER_Y: f32 = MARGIN - 26.0;
const GRID_WIDTH: f32 = 0.5;
const GRID_GRAY: f32 = 0.45;
const FOOTER_GRAY: f32 = 0.3;

/// Renders `doc` as an A4 PDF. The same document always gives the same bytes.
pub fn render(doc: &Document) -> Result<Vec<u8>, PdfError> {
    write(doc, &layout::layout(doc))
}

fn write(doc: &Document, pages: &[Page]) -> Result<Vec<u8>, PdfError> {
    // Objects: 1 catalog, 2 page tree, 3 and 4 the fonts, 5 the document info, then a page and its
    // content stream for each page.
    let too_many = || PdfError::TooManyPages { pages: pages.len() };
    let last_id = pages.len().checked_mul(2).and_then(|n| n.checked_add(5)).ok_or_else(too_many)?;
    if i32::try_from(last_id).is_err() {
        return Err(too_many());
    }
    // Every id is at most `last_id`, checked above to fit an i32, so the cast is exact and
    // `Ref::new` (which panics on ids below 1) always gets a valid one.
    let id = |n: usize| Ref::new(n as i32);
    let (catalog, tree, regular, bold, info) = (id(1), id(2), id(3), id(4), id(5));
    let page_ids: Vec<(Ref, Ref)> = (0..pages.len()).map(|i| (id(6 + 2 * i), id(7 + 2 * i))).collect();

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids(page_ids.iter().map(|&(page, _)| page)).count(pages.len() as i32);
    for (font_id, font) in [(regular, Font::Regular), (bold, Font::Bold)] {
        pdf.type1_font(font_id)
            .base_font(Name(font.base_font()))
            .encoding_predefined(Name(b"WinAnsiEncoding"))
            .first_char(32)
            .last_char(255)
            .widths(font.widths().iter().map(|&w| f32::from(w)));
    }
    pdf.document_info(info).title(TextStr(&doc.title)).producer(TextStr("Pathwatch"));

    let footer = text::encode(&doc.footer);
    for (n, (page, &(page_id, content_id))) in pages.iter().zip(&page_ids).enumerate() {
        let content = page_content(page, &footer, n + 1, pages.len());
        if i32::try_from(content.len()).is_err() {
            return Err(PdfError::PageTooLarge { page: n + 1, bytes: content.len() });
        }
        let mut page_writer = pdf.page(page_id);
        page_writer.parent(tree).media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT)).contents(content_id);
        page_writer.resources().fonts().pair(REGULAR, regular).pair(BOLD, bold);
        page_writer.finish();
        pdf.stream(content_id, &content);
    }
    Ok(pdf.finish())
}

fn font_name(font: Font) -> Name<'static> {
    match font {
        Font::Regular => REGULAR,
        Font::Bold => BOLD,
    }
}

/// The content stream of one page: fills first, then grid lines, then text on top, then the footer.
fn page_content(page: &Page, footer: &[u8], number: usize, count: usize) -> Vec<u8> {
    let mut content = Content::new();
    for op in &page.ops {
        if let Op::Fill { x, y, width, height, gray } = *op {
            content.save_state().set_fill_gray(gray).rect(x, y, width, height).fill_nonzero().restore_state();
        }
    }
    let mut lines = page.ops.iter().filter_map(|op| match *op {
        Op::Line { x1, y1, x2, y2 } => Some((x1, y1, x2, y2)),
        _ => None,
    });
    if let Some(first) = lines.next() {
        content.save_state().set_line_width(GRID_WIDTH).set_stroke_gray(GRID_GRAY);
        for (x1, y1, x2, y2) in std::iter::once(first).chain(lines) {
            content.move_to(x1, y1).line_to(x2, y2);
        }
        content.stroke().restore_state();
    }
    for op in &page.ops {
        if let Op::Text { x, y, font, size, text } = op {
            show(&mut content, *font, *size, *x, *y, text);
        }
    }

    let label = format!("Page {number} of {count}").into_bytes();
    let label_width = Font::Regular.width(&label, FOOTER_SIZE);
    let footer = fit(footer, TEXT_WIDTH - label_width - 18.0);
    content.save_state().set_fill_gray(FOOTER_GRAY);
    show(&mut content, Font::Regular, FOOTER_SIZE, MARGIN, FOOTER_Y, &footer);
    show(&mut content, Font::Regular, FOOTER_SIZE, MARGIN + TEXT_WIDTH - label_width, FOOTER_Y, &label);
    content.restore_state();
    content.finish().into_vec()
}

fn show(content: &mut Content, font: Font, size: f32, x: f32, y: f32, text: &[u8]) {
    if !text.is_empty() {
        content.begin_text().set_font(font_name(font), size).next_line(x, y).show(Str(text)).end_text();
    }
}

/// Shortens footer text with an ellipsis so it never runs into the page number.
fn fit(text: &[u8], width: f32) -> Vec<u8> {
    let font = Font::Regular;
    if font.width(text, FOOTER_SIZE) <= width {
        return text.to_vec();
    }
    const ELLIPSIS: u8 = 0x85;
    let room = width - font.width(&[ELLIPSIS], FOOTER_SIZE);
    let mut out = Vec::new();
    let mut used = 0.0;
    for &byte in text {
        let w = font.width(&[byte], FOOTER_SIZE);
        if used + w > room {
            break;
        }
        used += w;
        out.push(byte);
    }
    out.push(ELLIPSIS);
    out
}

#[cfg(test)]
mod tests;
