//! Turning report text into WinAnsi bytes and breaking it into lines that fit a width.
//!
//! The standard fonts are not embedded, so only WinAnsiEncoding's 218 characters can be drawn:
//! everything else is replaced here by a readable ASCII stand-in (≥ becomes ">=") or "?", so that
//! the rest of the renderer deals in bytes it can measure exactly. This module must never escape
//! bytes for the PDF syntax (pdf-writer's `Str` does that), never lose a visible character without
//! a stand-in, and never panic, whatever the input.

use super::metrics::Font;

/// Encodes `text` as WinAnsiEncoding bytes.
///
/// Tabs and line breaks become spaces (line breaks in report text are not significant), other
/// control and invisible formatting characters (zero-width spaces, variation selectors, combining
/// accents, soft hyphens) are dropped, and characters the encoding lacks get a stand-in.
pub fn encode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '\t' | '\n' | '\r' => out.push(b' '),
            ' '..='~' => out.push(ch as u8),
            // Latin-1 maps one to one, except the non-breaking space (a plain space to us) and
            // the soft hyphen (invisible unless a line breaks there, which we never do).
            '\u{a0}' => out.push(b' '),
            '\u{ad}' => {}
            '\u{a1}'..='\u{ff}' => out.push(ch as u8),
            _ if ch.is_control() || is_invisible(ch) => {}
            _ if ch.is_whitespace() => out.push(b' '),
            _ => match cp1252_extra(ch) {
                Some(byte) => out.push(byte),
                None => out.extend_from_slice(substitute(ch).as_bytes()),
            },
        }
    }
    out
}

/// The characters Windows-1252 places at 0x80..=0x9F, where Latin-1 has control codes.
fn cp1252_extra(ch: char) -> Option<u8> {
    Some(match ch {
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '†' => 0x86,
        '‡' => 0x87,
        'ˆ' => 0x88,
        '‰' => 0x89,
        'Š' => 0x8a,
        '‹' => 0x8b,
        'Œ' => 0x8c,
        'Ž' => 0x8e,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '˜' => 0x98,
        '™' => 0x99,
        'š' => 0x9a,
        '›' => 0x9b,
        'œ' => 0x9c,
        'ž' => 0x9e,
        'Ÿ' => 0x9f,
        _ => return None,
    })
}

/// A readable ASCII stand-in for a character WinAnsi cannot show.
fn substitute(ch: char) -> &'static str {
    match ch {
        '≥' => ">=",
        '≤' => "<=",
        '→' => "->",
        '←' => "<-",
        '≈' => "~",
        '✓' | '✔' => "yes",
        '✗' | '✘' => "no",
        // Hyphens and the minus sign that look exactly like "-".
        '\u{2010}' | '\u{2011}' | '\u{2212}' => "-",
        _ => "?",
    }
}

/// Characters that draw nothing on their own: replacing them with "?" would litter emoji
/// sequences ("👍🏽" is two characters, "✔️" carries a variation selector) and decomposed accents.
fn is_invisible(ch: char) -> bool {
    matches!(ch,
        '\u{300}'..='\u{36f}'        // combining diacritical marks
        | '\u{200b}'..='\u{200f}'    // zero-width space, joiners, direction marks
        | '\u{202a}'..='\u{202e}'    // bidirectional embedding controls
        | '\u{2060}'..='\u{206f}'    // word joiner and invisible operators
        | '\u{fe00}'..='\u{fe0f}'    // variation selectors
        | '\u{feff}'                 // byte-order mark
        | '\u{1f3fb}'..='\u{1f3ff}'  // emoji skin-tone modifiers
        | '\u{e0000}'..='\u{e007f}'  // tag characters
    )
}

/// Breaks encoded `text` into lines no wider than `max_width` points at `size` in `font`.
///
/// Words are separated by runs of spaces (which collapse); a word wider than a line is broken
/// between characters. Text with no words gives no lines. The one case where a line can exceed
/// `max_width` is a single character wider than the whole width: it still gets a line of its own,
/// so the text always makes progress.
pub fn wrap(text: &[u8], font: Font, size: f32, max_width: f32) -> Vec<Vec<u8>> {
    // A NaN width would make every comparison false and never break a line.
    let max_width = if max_width.is_nan() { 0.0 } else { max_width };
    let space = font.width(b" ", size);
    let mut lines = Vec::new();
    let mut line: Vec<u8> = Vec::new();
    let mut line_width = 0.0;
    for word in text.split(|&b| b == b' ').filter(|w| !w.is_empty()) {
        let word_width = font.width(word, size);
        if !line.is_empty() {
            if line_width + space + word_width <= max_width {
                line.push(b' ');
                line.extend_from_slice(word);
                line_width += space + word_width;
                continue;
            }
            lines.push(std::mem::take(&mut line));
        }
        if word_width <= max_width {
            line.extend_from_slice(word);
            line_width = word_width;
            continue;
        }
        // A word longer than a line: fill whole lines with its characters, keep the tail open
        // so the next word may join it.
        line_width = 0.0;
        for &byte in word {
            let glyph = font.width(&[byte], size);
            if !line.is_empty() && line_width + glyph > max_width {
                lines.push(std::mem::take(&mut line));
                line_width = 0.0;
            }
            line.push(byte);
            line_width += glyph;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_and_latin1_map_to_themselves() {
        assert_eq!(encode("Hello (world) \\ 100%"), b"Hello (world) \\ 100%".to_vec());
        assert_eq!(
            encode("£5 café × ½ ÿ"),
            vec![0xa3, b'5', b' ', b'c', b'a', b'f', 0xe9, b' ', 0xd7, b' ', 0xbd, b' ', 0xff]
        );
    }

    #[test]
    fn cp1252_extras_use_the_0x80_block() {
        assert_eq!(encode("€‚ƒ„…†‡ˆ‰Š‹ŒŽ"), (0x80..=0x8c).filter(|&b| b != 0x81).chain([0x8e]).collect::<Vec<u8>>());
        assert_eq!(encode("‘’“”•–—˜™š›œžŸ"), (0x91..=0x9f).filter(|&b| b != 0x9d).collect::<Vec<u8>>());
    }

    #[test]
    fn missing_characters_get_readable_substitutes() {
        assert_eq!(encode("a ≥ b ≤ c"), b"a >= b <= c".to_vec());
        assert_eq!(encode("x → y ← z ≈ 3"), b"x -> y <- z ~ 3".to_vec());
        assert_eq!(encode("✓ ✗"), b"yes no".to_vec());
        assert_eq!(encode("漢字 😀"), b"?? ?".to_vec());
        assert_eq!(encode("−1"), b"-1".to_vec());
    }

    #[test]
    fn spaces_controls_and_invisibles() {
        assert_eq!(encode("a\u{a0}b\u{2009}c\u{3000}d"), b"a b c d".to_vec());
        assert_eq!(encode("a\tb\nc\r\n"), b"a b c  ".to_vec());
        assert_eq!(encode("a\u{0}\u{7}\u{1b}\u{7f}\u{85}\u{9d}b"), b"ab".to_vec());
        assert_eq!(encode("soft\u{ad}hyphen zero\u{200b}width"), b"softhyphen zerowidth".to_vec());
        // Decomposed é keeps its letter; an emoji with a skin tone and one with a variation
        // selector each become a single "?".
        assert_eq!(encode("e\u{301} 👍🏽 ❤\u{fe0f}"), b"e ? ?".to_vec());
        assert_eq!(encode(""), Vec::<u8>::new());
    }

    fn assert_fits(lines: &[Vec<u8>], font: Font, size: f32, width: f32) {
        for line in lines {
            let w = font.width(line, size);
            assert!(w <= width + 1e-3, "line {:?} is {w} pt wide, more than {width}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn wrap_never_exceeds_the_width() {
        let text = encode(&"The quick brown fox jumps over the lazy dog; ".repeat(40));
        for width in [30.0, 55.5, 100.0, 233.3, 483.28] {
            for font in [Font::Regular, Font::Bold] {
                let lines = wrap(&text, font, 10.0, width);
                assert!(lines.len() > 1);
                assert_fits(&lines, font, 10.0, width);
                // Nothing but collapsed spaces is lost.
                let words: Vec<&[u8]> = text.split(|&b| b == b' ').filter(|w| !w.is_empty()).collect();
                let rejoined = lines.join(&b' ');
                let rewords: Vec<&[u8]> = rejoined.split(|&b| b == b' ').filter(|w| !w.is_empty()).collect();
                if width >= 100.0 {
                    assert_eq!(words, rewords);
                }
            }
        }
    }

    #[test]
    fn long_words_break_between_characters() {
        let word = vec![b'W'; 300];
        let lines = wrap(&word, Font::Bold, 10.0, 100.0);
        assert!(lines.len() > 20);
        assert_fits(&lines, Font::Bold, 10.0, 100.0);
        assert_eq!(lines.concat(), word);
        // The tail of a broken word is joined by the next word when it fits.
        // Twenty x's (5 pt each) fill a 100 pt line; the other ten share theirs with "end".
        let lines = wrap(&encode(&format!("{} end", "x".repeat(30))), Font::Regular, 10.0, 100.0);
        assert_eq!(lines, vec![vec![b'x'; 20], format!("{} end", "x".repeat(10)).into_bytes()]);
    }

    #[test]
    fn degenerate_widths_and_empty_text() {
        assert!(wrap(b"", Font::Regular, 10.0, 100.0).is_empty());
        assert!(wrap(b"    ", Font::Regular, 10.0, 100.0).is_empty());
        // Narrower than a character, zero, negative: one character a line, never a panic.
        for width in [1.0, 0.0, -50.0, f32::NAN] {
            let lines = wrap(b"abc de", Font::Regular, 10.0, width);
            assert_eq!(lines, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec(), b"d".to_vec(), b"e".to_vec()]);
        }
    }
}
