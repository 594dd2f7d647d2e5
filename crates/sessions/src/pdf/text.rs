//! Text to positioned glyphs: each character to a font that has it, runs shaped with
//! rustybuzz (Arabic joining, Indic conjuncts, Thai marks), lines broken greedily to a width
//! and put in visual order by the Unicode bidi algorithm. Every glyph drawn is remembered
//! with the text it stands for, which becomes the font's ToUnicode map: the PDF's text can
//! be searched and copied.

use std::collections::BTreeMap;
use std::ops::Range;

use rustybuzz::{Direction, UnicodeBuffer};
use subsetter::GlyphRemapper;
use unicode_bidi::BidiInfo;

use super::fonts::{has_kana, script_font, FontId};

/// One loaded font and what the document used of it.
pub(super) struct Face<'a> {
    pub id: FontId,
    pub data: &'a [u8],
    face: rustybuzz::Face<'a>,
    upem: f32,
    /// Old glyph id → new (the CID in the PDF, the glyph id in the subset).
    pub remap: GlyphRemapper,
    /// CID → advance in thousandths of an em, for the CIDFont's /W.
    pub widths: BTreeMap<u16, f32>,
    /// CID → the text it stands for, for the ToUnicode CMap.
    pub unicode: BTreeMap<u16, String>,
}

impl Face<'_> {
    pub fn metrics(&self) -> (f32, f32, f32, [f32; 4]) {
        let k = 1000.0 / self.upem;
        let b = self.face.global_bounding_box();
        (
            f32::from(self.face.ascender()) * k,
            f32::from(self.face.descender()) * k,
            f32::from(self.face.capital_height().unwrap_or(self.face.ascender())) * k,
            [
                f32::from(b.x_min) * k,
                f32::from(b.y_min) * k,
                f32::from(b.x_max) * k,
                f32::from(b.y_max) * k,
            ],
        )
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Glyph {
    pub face: usize,
    pub cid: u16,
    /// In points at the size the line was set.
    pub advance: f32,
    pub dx: f32,
    pub dy: f32,
}

#[derive(Debug, Default)]
pub(super) struct Line {
    pub glyphs: Vec<Glyph>,
}

pub(super) struct Typesetter<'a> {
    pub faces: Vec<Face<'a>>,
    kana: bool,
    /// What a character no font has is drawn as: U+FFFD if the Latin font has it.
    replacement: char,
}

/// Characters that draw nothing and steer bidi or shaping: kept, whatever the font.
fn invisible(c: char) -> bool {
    matches!(c as u32, 0x00AD | 0x034F | 0x061C | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E
        | 0x2060..=0x206F | 0xFE00..=0xFE0F | 0xFEFF)
}

/// Characters that belong to no script: they stay in the font of the text around them.
fn common(c: char) -> bool {
    !c.is_alphabetic() || matches!(c as u32, 0x0300..=0x036F)
}

impl<'a> Typesetter<'a> {
    /// `all_text` decides how Han characters are drawn (as Japanese when there is kana).
    /// Fonts that do not parse are left out; `None` if the Latin font is not among the rest.
    pub fn new(fonts: &[(FontId, &'a [u8])], all_text: &str) -> Option<Self> {
        let mut faces: Vec<Face<'a>> = Vec::new();
        for (id, data) in fonts {
            if faces.iter().any(|f| f.id == *id) {
                continue;
            }
            let Some(face) = rustybuzz::Face::from_slice(data, 0) else {
                continue;
            };
            faces.push(Face {
                id: *id,
                data,
                upem: face.units_per_em() as f32,
                face,
                remap: GlyphRemapper::new(),
                widths: BTreeMap::new(),
                unicode: BTreeMap::new(),
            });
        }
        // Latin first: it is the fallback for whatever no script font claims.
        let latin = faces.iter().position(|f| f.id == FontId::Latin)?;
        faces.swap(0, latin);
        let replacement = if faces[0].face.glyph_index('\u{FFFD}').is_some() {
            '\u{FFFD}'
        } else {
            '?'
        };
        Some(Typesetter {
            faces,
            kana: has_kana(all_text),
            replacement,
        })
    }

    fn has(&self, face: usize, c: char) -> bool {
        self.faces[face].face.glyph_index(c).is_some()
    }

    /// The text made drawable (controls to spaces, what no font has to the replacement
    /// character) and the face of each of its characters, by byte offset.
    fn itemize(&self, text: &str) -> (String, Vec<(usize, usize)>) {
        let mut clean = String::with_capacity(text.len());
        let mut faces = Vec::with_capacity(text.len());
        let mut current = 0;
        for c in text.chars() {
            let c = if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            };
            let wanted = script_font(c, self.kana)
                .and_then(|id| self.faces.iter().position(|f| f.id == id))
                .filter(|&i| self.has(i, c));
            let (c, face) = if let Some(i) = wanted {
                (c, i)
            } else if invisible(c) || (common(c) && self.has(current, c)) {
                (c, current)
            } else if let Some(i) = (0..self.faces.len()).find(|&i| self.has(i, c)) {
                (c, i)
            } else {
                (self.replacement, 0)
            };
            current = face;
            faces.push((clean.len(), face));
            clean.push(c);
        }
        (clean, faces)
    }

    /// Shapes one run of one face; records the glyphs for the subset and ToUnicode when
    /// `out` is given, and returns the run's width in points.
    fn shape(
        &mut self,
        text: &str,
        face: usize,
        rtl: bool,
        size: f32,
        out: Option<&mut Vec<Glyph>>,
    ) -> f32 {
        let mut buffer = UnicodeBuffer::new();
        buffer.push_str(text);
        buffer.set_direction(if rtl {
            Direction::RightToLeft
        } else {
            Direction::LeftToRight
        });
        buffer.guess_segment_properties();
        let f = &mut self.faces[face];
        let shaped = rustybuzz::shape(&f.face, &[], buffer);
        let k = size / f.upem;
        let width = shaped
            .glyph_positions()
            .iter()
            .map(|p| p.x_advance as f32 * k)
            .sum();
        let Some(out) = out else {
            return width;
        };
        let infos = shaped.glyph_infos();
        let mut starts: Vec<usize> = infos.iter().map(|i| i.cluster as usize).collect();
        starts.sort_unstable();
        starts.dedup();
        let mut seen = Vec::new();
        for (info, pos) in infos.iter().zip(shaped.glyph_positions()) {
            let gid = u16::try_from(info.glyph_id).unwrap_or(0);
            let cid = f.remap.remap(gid);
            let advance = f
                .face
                .glyph_hor_advance(rustybuzz::ttf_parser::GlyphId(gid))
                .unwrap_or(0);
            f.widths
                .entry(cid)
                .or_insert(f32::from(advance) * 1000.0 / f.upem);
            // A cluster's text goes to its first glyph; the others of it (Indic marks, a
            // split vowel) map to nothing, so the text is extracted once.
            let start = info.cluster as usize;
            if !seen.contains(&start) && gid != 0 {
                seen.push(start);
                let end = starts
                    .iter()
                    .find(|&&s| s > start)
                    .copied()
                    .unwrap_or(text.len());
                let cluster = text.get(start..end).unwrap_or_default();
                if !cluster.is_empty() {
                    f.unicode.entry(cid).or_insert_with(|| cluster.to_owned());
                }
            }
            out.push(Glyph {
                face,
                cid,
                advance: pos.x_advance as f32 * k,
                dx: pos.x_offset as f32 * k,
                dy: pos.y_offset as f32 * k,
            });
        }
        width
    }

    /// The face runs of a byte range of itemized text, in logical order.
    fn runs(faces: &[(usize, usize)], range: Range<usize>) -> Vec<(Range<usize>, usize)> {
        let mut runs: Vec<(Range<usize>, usize)> = Vec::new();
        for (i, &(at, face)) in faces.iter().enumerate() {
            if at < range.start || at >= range.end {
                continue;
            }
            let end = faces.get(i + 1).map_or(range.end, |n| n.0.min(range.end));
            match runs.last_mut() {
                Some((r, f)) if *f == face && r.end == at => r.end = end,
                _ => runs.push((at..end, face)),
            }
        }
        runs
    }

    fn measure(&mut self, text: &str, faces: &[(usize, usize)], range: Range<usize>, size: f32) -> f32 {
        Self::runs(faces, range)
            .into_iter()
            .map(|(r, face)| self.shape(&text[r], face, false, size, None))
            .sum()
    }

    /// A paragraph set in lines no wider than `width` points.
    pub fn paragraph(&mut self, text: &str, size: f32, width: f32) -> Vec<Line> {
        let (clean, faces) = self.itemize(text);
        // Break opportunities: after a space, and around each CJK or Thai letter (those
        // scripts put no spaces between words).
        let mut segments: Vec<Range<usize>> = Vec::new();
        let mut start = 0;
        let mut chars = clean.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let end = i + c.len_utf8();
            let next = chars.peek().map(|&(_, n)| n);
            let spaceless = |c: char| {
                matches!(c as u32, 0x0E00..=0x0E7F | 0x2E80..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF | 0x20000..=0x3FFFF)
            };
            let mark = |c: char| matches!(c as u32, 0x0E31 | 0x0E34..=0x0E3A | 0x0E47..=0x0E4E);
            let breaks = match next {
                None => true,
                Some(n) => c.is_whitespace() || ((spaceless(c) || spaceless(n)) && !mark(n) && !n.is_whitespace()),
            };
            if breaks {
                segments.push(start..end);
                start = end;
            }
        }
        let mut lines: Vec<Range<usize>> = Vec::new();
        let mut line: Option<(Range<usize>, f32)> = None;
        for segment in segments {
            let w = self.measure(&clean, &faces, segment.clone(), size);
            let trimmed = clean[segment.clone()].trim_end();
            let w_ink = if trimmed.len() == segment.len() {
                w
            } else {
                self.measure(&clean, &faces, segment.start..segment.start + trimmed.len(), size)
            };
            match &mut line {
                Some((r, lw)) if *lw + w_ink <= width => {
                    r.end = segment.end;
                    *lw += w;
                }
                _ if w_ink <= width => {
                    if let Some((r, _)) = line.take() {
                        lines.push(r);
                    }
                    line = Some((segment, w));
                }
                _ => {
                    // A word wider than the line (an id, a URL): cut between characters.
                    if let Some((r, _)) = line.take() {
                        lines.push(r);
                    }
                    let mut from = segment.start;
                    let mut lw = 0.0;
                    for (i, c) in clean[segment.clone()].char_indices() {
                        let at = segment.start + i;
                        let cw = self.measure(&clean, &faces, at..at + c.len_utf8(), size);
                        if lw + cw > width && at > from {
                            lines.push(from..at);
                            from = at;
                            lw = 0.0;
                        }
                        lw += cw;
                    }
                    line = Some((from..segment.end, lw));
                }
            }
        }
        if let Some((r, _)) = line {
            lines.push(r);
        }
        if lines.is_empty() {
            return vec![Line::default()];
        }
        let bidi = BidiInfo::new(&clean, None);
        lines
            .into_iter()
            .map(|r| {
                let r = r.start..r.start + clean[r.clone()].trim_end().len();
                let mut glyphs = Vec::new();
                for para in bidi.paragraphs.iter() {
                    let r = r.start.max(para.range.start)..r.end.min(para.range.end);
                    if r.is_empty() {
                        continue;
                    }
                    let (levels, visual) = bidi.visual_runs(para, r);
                    for run in visual {
                        let rtl = levels[run.start].is_rtl();
                        let mut pieces = Self::runs(&faces, run);
                        if rtl {
                            pieces.reverse();
                        }
                        for (piece, face) in pieces {
                            self.shape(&clean[piece], face, rtl, size, Some(&mut glyphs));
                        }
                    }
                }
                Line { glyphs }
            })
            .collect()
    }
}
