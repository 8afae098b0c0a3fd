//! A report as one self-contained HTML file: semantic markup (headings, tables with captions and
//! header cells, definition lists), one embedded style sheet, no script and nothing fetched, so it
//! opens the same anywhere and prints sensibly. Every piece of text is escaped.

use crate::document::{Block, Document};

const STYLE: &str = "body{font-family:Arial,Helvetica,sans-serif;color:#212b32;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.45}\
h1{font-size:1.9rem;margin-bottom:.2rem}.subtitle{color:#4c6272;margin-top:0}\
h2{font-size:1.35rem;margin-top:2rem;border-bottom:2px solid #005eb8}h3{font-size:1.1rem;margin-top:1.4rem}\
table{border-collapse:collapse;width:100%;margin:.8rem 0 1.2rem;font-size:.92rem}\
caption{text-align:left;font-weight:bold;padding:.3rem 0}th,td{border:1px solid #aeb7bd;padding:.3rem .45rem;text-align:left;vertical-align:top}\
th{background:#e8edee}dl{display:grid;grid-template-columns:minmax(10rem,30%) 1fr;gap:.25rem 1rem}dt{font-weight:bold}dd{margin:0}\
footer{margin-top:3rem;color:#4c6272;font-size:.85rem;border-top:1px solid #aeb7bd;padding-top:.5rem}\
@media print{body{margin:0;max-width:none}thead{display:table-header-group}tr{break-inside:avoid}h2,h3{break-after:avoid}}";

/// Escapes text for element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

pub fn render(doc: &Document) -> String {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    h.push_str(&format!("<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n", escape(&doc.title)));
    h.push_str(&format!("<h1>{}</h1>\n<p class=\"subtitle\">{}</p>\n", escape(&doc.title), escape(&doc.subtitle)));
    for block in &doc.blocks {
        match block {
            Block::Heading { level, text } => {
                // The document title is the page's h1; report levels 1..3 become h2..h4.
                let n = (*level).clamp(1, 3) + 1;
                h.push_str(&format!("<h{n}>{}</h{n}>\n", escape(text)));
            }
            Block::Paragraph(text) => h.push_str(&format!("<p>{}</p>\n", escape(text))),
            Block::Facts(facts) => {
                h.push_str("<dl>\n");
                for (label, value) in facts {
                    h.push_str(&format!("<dt>{}</dt><dd>{}</dd>\n", escape(label), escape(value)));
                }
                h.push_str("</dl>\n");
            }
            Block::List(items) => {
                h.push_str("<ul>\n");
                for item in items {
                    h.push_str(&format!("<li>{}</li>\n", escape(item)));
                }
                h.push_str("</ul>\n");
            }
            Block::Table(t) if t.rows.is_empty() || t.columns.is_empty() => {
                if !t.empty.is_empty() {
                    h.push_str(&format!("<p><strong>{}:</strong> {}</p>\n", escape(&t.caption), escape(&t.empty)));
                }
            }
            Block::Table(t) => {
                h.push_str(&format!("<table>\n<caption>{}</caption>\n<thead><tr>", escape(&t.caption)));
                for c in &t.columns {
                    h.push_str(&format!("<th scope=\"col\">{}</th>", escape(&c.header)));
                }
                h.push_str("</tr></thead>\n<tbody>\n");
                for row in &t.rows {
                    h.push_str("<tr>");
                    for i in 0..t.columns.len() {
                        let cell = row.get(i).map(String::as_str).unwrap_or("");
                        h.push_str(&format!("<td>{}</td>", escape(cell)));
                    }
                    h.push_str("</tr>\n");
                }
                h.push_str("</tbody>\n</table>\n");
            }
        }
    }
    h.push_str(&format!("</main>\n<footer>{}</footer>\n</body>\n</html>\n", escape(&doc.footer)));
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{Column, Table};

    #[test]
    fn text_is_escaped_everywhere_and_tables_are_semantic() {
        let doc = Document {
            title: "A <b>title</b>".into(),
            subtitle: "\"quoted\" & 'single'".into(),
            footer: "foot".into(),
            blocks: vec![
                Block::Heading { level: 1, text: "<script>alert(1)</script>".into() },
                Block::Table(Table {
                    caption: "Cap".into(),
                    columns: vec![Column::new("A", 1.0), Column::new("B", 1.0)],
                    rows: vec![vec!["x<y".into()]],
                    empty: "none".into(),
                }),
                Block::Table(Table {
                    caption: "Empty".into(),
                    columns: vec![],
                    rows: vec![],
                    empty: "none here".into(),
                }),
            ],
        };
        let html = render(&doc);
        assert!(!html.contains("<script>") && !html.contains("<b>"), "{html}");
        assert!(html.contains("<title>A &lt;b&gt;title&lt;/b&gt;</title>"));
        assert!(html.contains("&quot;quoted&quot; &amp; &#39;single&#39;"));
        assert!(html.contains("<h2>&lt;script&gt;"));
        assert!(html.contains("<th scope=\"col\">B</th>"));
        assert!(html.contains("<td>x&lt;y</td><td></td>"), "a short row is padded: {html}");
        assert!(html.contains("<strong>Empty:</strong> none here"));
    }
}
