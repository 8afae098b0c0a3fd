//! Character widths of the two standard fonts the PDF uses, Helvetica and Helvetica-Bold.
//!
//! The widths are the public Adobe Core-14 AFM metrics (in 1/1000 of the font size), indexed by
//! WinAnsiEncoding code 32..=255, so the layout can measure exactly what a viewer will draw with the
//! non-embedded standard fonts. This module only measures already-encoded bytes: it must never
//! decide how text is encoded or wrapped (that is `text`), and it must never panic on any byte.

/// One of the two fonts a report uses; both are standard Type1 fonts that every viewer has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Font {
    Regular,
    Bold,
}

impl Font {
    /// The PostScript name written as the font's `/BaseFont`.
    pub fn base_font(self) -> &'static [u8] {
        match self {
            Font::Regular => b"Helvetica",
            Font::Bold => b"Helvetica-Bold",
        }
    }

    /// The advance widths of codes 32..=255 in 1/1000 of the font size, as written to the font's
    /// `/Widths` so that viewers position glyphs exactly where the layout measured them.
    pub fn widths(self) -> &'static [u16; 224] {
        match self {
            Font::Regular => &HELVETICA,
            Font::Bold => &HELVETICA_BOLD,
        }
    }

    /// Advance width of one WinAnsi byte, in 1/1000 of the font size. Codes below 32 are never
    /// produced by the encoder; should one slip through it measures as zero rather than panicking.
    pub fn glyph_width(self, byte: u8) -> u16 {
        usize::from(byte).checked_sub(32).and_then(|i| self.widths().get(i)).copied().unwrap_or(0)
    }

    /// Width in points of WinAnsi-encoded `text` set at `size` points.
    pub fn width(self, text: &[u8], size: f32) -> f32 {
        let units: u32 = text.iter().map(|&b| u32::from(self.glyph_width(b))).sum();
        units as f32 * size / 1000.0
    }
}

// Adobe Core-14 AFM `WX` values in WinAnsiEncoding order. The AFMs have no Euro glyph; 556 is the
// width viewers substitute. The five codes WinAnsi leaves unassigned (0x81, 0x8d, 0x8f, 0x90,
// 0x9d) are never emitted; they carry the bullet's width, which is what viewers draw for them.
#[rustfmt::skip]
const HELVETICA: [u16; 224] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // 0x20..=0x2f
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0x30..=0x3f
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // 0x40..=0x4f
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // 0x50..=0x5f
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // 0x60..=0x6f
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, 350, // 0x70..=0x7f
    556, 350, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333, 1000, 350, 611, 350, // 0x80..=0x8f
    350, 222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 350, 500, 667, // 0x90..=0x9f
    278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737, 333, // 0xa0..=0xaf
    400, 584, 333, 333, 333, 556, 537, 278, 333, 333, 365, 556, 834, 834, 834, 611, // 0xb0..=0xbf
    667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278, // 0xc0..=0xcf
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611, // 0xd0..=0xdf
    556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278, 278, // 0xe0..=0xef
    556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556, 500, // 0xf0..=0xff
];

#[rustfmt::skip]
const HELVETICA_BOLD: [u16; 224] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, // 0x20..=0x2f
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, // 0x30..=0x3f
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, // 0x40..=0x4f
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, // 0x50..=0x5f
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, // 0x60..=0x6f
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, 350, // 0x70..=0x7f
    556, 350, 278, 556, 500, 1000, 556, 556, 333, 1000, 667, 333, 1000, 350, 611, 350, // 0x80..=0x8f
    350, 278, 278, 500, 500, 350, 556, 1000, 333, 1000, 556, 333, 944, 350, 500, 667, // 0x90..=0x9f
    278, 333, 556, 556, 556, 556, 280, 556, 333, 737, 370, 556, 584, 333, 737, 333, // 0xa0..=0xaf
    400, 584, 333, 333, 333, 611, 556, 278, 333, 333, 365, 556, 834, 834, 834, 611, // 0xb0..=0xbf
    722, 722, 722, 722, 722, 722, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278, // 0xc0..=0xcf
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611, // 0xd0..=0xdf
    556, 556, 556, 556, 556, 556, 889, 556, 556, 556, 556, 556, 278, 278, 278, 278, // 0xe0..=0xef
    611, 611, 611, 611, 611, 611, 611, 584, 611, 611, 611, 611, 611, 556, 611, 556, // 0xf0..=0xff
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_in_helvetica_10pt_matches_the_afm() {
        // H 722 + e 556 + l 222 + l 222 + o 556 = 2278 units.
        assert!((Font::Regular.width(b"Hello", 10.0) - 22.78).abs() < 1e-4);
        // H 722 + e 556 + l 278 + l 278 + o 611 = 2445 units.
        assert!((Font::Bold.width(b"Hello", 10.0) - 24.45).abs() < 1e-4);
    }

    #[test]
    fn known_widths_of_winansi_extras() {
        assert_eq!(Font::Regular.glyph_width(0x20), 278);
        assert_eq!(Font::Regular.glyph_width(0x95), 350); // bullet
        assert_eq!(Font::Regular.glyph_width(0x97), 1000); // em dash
        assert_eq!(Font::Regular.glyph_width(0xa3), 556); // sterling
        assert_eq!(Font::Bold.glyph_width(0xe9), 556); // eacute
        assert_eq!(Font::Bold.glyph_width(b'W'), 944);
        assert_eq!(Font::Bold.glyph_width(0xff), 556); // ydieresis
    }

    #[test]
    fn control_bytes_measure_zero_instead_of_panicking() {
        assert_eq!(Font::Regular.glyph_width(0), 0);
        assert_eq!(Font::Bold.width(&[0, 10, 31], 12.0), 0.0);
    }
}
