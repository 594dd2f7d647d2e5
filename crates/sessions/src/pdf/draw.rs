//! The report's blocks onto A4 pages, then the PDF objects: pages, font subsets with their
//! widths and ToUnicode maps, pictures.

use miniz_oxide::deflate::compress_to_vec_zlib;
use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str};

use super::text::{Line, Typesetter};
use super::{Block, Pictures, MAX_PAGES};

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 50.0;
const LABEL_W: f32 = 100.0;
const BODY: f32 = 10.0;
const LEADING: f32 = 14.0;

const INK: [f32; 3] = [0.1, 0.1, 0.12];
const MUTED: [f32; 3] = [0.4, 0.4, 0.45];
// The console's zone colours (web/console/style.css): declined, in review, approved.
const DECLINE: [f32; 3] = [0.96, 0.80, 0.80];
const REVIEW: [f32; 3] = [0.99, 0.90, 0.70];
const PASS: [f32; 3] = [0.82, 0.93, 0.84];

struct Page {
    content: Content,
    images: Vec<usize>,
}

struct Writer<'a> {
    ts: Typesetter<'a>,
    pages: Vec<Page>,
    y: f32,
    truncated: bool,
}

impl Writer<'_> {
    fn page(&mut self) -> &mut Page {
        self.pages.last_mut().expect("a page is always open")
    }

    /// Room for `height` points below the cursor, on a new page if needed; false once the
    /// report has its maximum of pages.
    fn room(&mut self, height: f32) -> bool {
        if self.truncated {
            return false;
        }
        if self.y - height >= MARGIN {
            return true;
        }
        if self.pages.len() >= MAX_PAGES {
            self.truncated = true;
            return false;
        }
        self.pages.push(Page {
            content: Content::new(),
            images: Vec::new(),
        });
        self.y = PAGE_H - MARGIN;
        true
    }

    fn line(&mut self, line: &Line, x: f32, size: f32, color: [f32; 3]) {
        let y = self.y;
        let faces = &self.ts.faces;
        let c = &mut self.pages.last_mut().expect("a page is always open").content;
        c.begin_text();
        c.set_fill_rgb(color[0], color[1], color[2]);
        let mut pen = x;
        let mut i = 0;
        while i < line.glyphs.len() {
            let g = line.glyphs[i];
            c.set_font(Name(format!("F{}", g.face).as_bytes()), size);
            c.set_text_matrix([1.0, 0.0, 0.0, 1.0, pen + g.dx, y + g.dy]);
            // A run of one face without offsets is one TJ; its kerning and the
            // shaper's advances become adjustments against the font's widths.
            let mut j = i;
            let mut items = Vec::new();
            while j < line.glyphs.len() {
                let h = line.glyphs[j];
                if h.face != g.face || (j > i && (h.dx != 0.0 || h.dy != 0.0)) {
                    break;
                }
                items.push(h);
                pen += h.advance;
                j += 1;
                if h.dx != 0.0 || h.dy != 0.0 {
                    break;
                }
            }
            let mut tj = c.show_positioned();
            let mut list = tj.items();
            for h in &items {
                list.show(Str(&h.cid.to_be_bytes()));
                let natural = faces[h.face].widths[&h.cid] * size / 1000.0;
                let adjust = (natural - h.advance) * 1000.0 / size;
                if adjust.abs() > 0.01 {
                    list.adjust(adjust);
                }
            }
            list.finish();
            tj.finish();
            i = j;
        }
        c.end_text();
    }

    /// A paragraph at `x`, `width` wide; returns false if the report ran out of pages.
    fn paragraph(&mut self, s: &str, x: f32, width: f32, size: f32, color: [f32; 3]) -> bool {
        let lines = self.ts.paragraph(s, size, width);
        for l in &lines {
            if !self.room(size * 1.4) {
                return false;
            }
            self.y -= size * 1.4;
            self.line(l, x, size, color);
        }
        true
    }

    /// A label with its value beside it, row by row, so a long value can run onto the next
    /// page.
    fn field(&mut self, label: &str, value: &str) {
        let labels = self.ts.paragraph(label, BODY, LABEL_W - 8.0);
        let values = self.ts.paragraph(value, BODY, PAGE_W - 2.0 * MARGIN - LABEL_W);
        for row in 0..labels.len().max(values.len()) {
            if !self.room(LEADING) {
                return;
            }
            self.y -= LEADING;
            if let Some(l) = labels.get(row) {
                self.line(l, MARGIN, BODY, MUTED);
            }
            if let Some(v) = values.get(row) {
                self.line(v, MARGIN + LABEL_W, BODY, INK);
            }
        }
    }

    /// The score bar of web/console/evidence.js `meter`: zones below the decline and the
    /// review thresholds, the score as a filled bar, each threshold as a mark with its value.
    fn meter(&mut self, score: f64, decline: Option<f64>, review: Option<f64>) {
        if !self.room(40.0) {
            return;
        }
        let x0 = MARGIN + LABEL_W;
        let w = PAGE_W - 2.0 * MARGIN - LABEL_W;
        let at = |v: f64| x0 + w * (v.clamp(0.0, 100.0) as f32) / 100.0;
        let track_y = self.y - 22.0;
        let h = 10.0;
        let labels: Vec<(String, f32, f32)> = [
            review.map(|r| (format!("review {}", round(r)), at(r), track_y + h + 3.0)),
            decline.map(|d| (format!("decline {}", round(d)), at(d), track_y - 10.0)),
        ]
        .into_iter()
        .flatten()
        .collect();
        let c = &mut self.page().content;
        let zone = |c: &mut Content, color: [f32; 3], from: f32, to: f32| {
            if to > from {
                c.set_fill_rgb(color[0], color[1], color[2]);
                c.rect(from, track_y, to - from, h);
                c.fill_nonzero();
            }
        };
        let start = x0;
        let pass_from = review.or(decline).map_or(start, at);
        if let Some(d) = decline {
            zone(c, DECLINE, start, at(d));
        }
        if let Some(r) = review {
            zone(c, REVIEW, decline.map_or(start, at), at(r));
        }
        zone(c, PASS, pass_from, x0 + w);
        c.set_fill_rgb(INK[0], INK[1], INK[2]);
        c.rect(x0, track_y + 3.0, at(score) - x0, h - 6.0);
        c.fill_nonzero();
        c.set_stroke_rgb(MUTED[0], MUTED[1], MUTED[2]);
        c.set_line_width(0.5);
        c.rect(x0, track_y, w, h);
        c.stroke();
        c.set_line_width(1.2);
        for (_, x, _) in &labels {
            c.move_to(*x, track_y - 2.0);
            c.line_to(*x, track_y + h + 2.0);
        }
        c.stroke();
        for (label, x, y) in labels {
            let lines = self.ts.paragraph(&label, 7.5, 80.0);
            let width: f32 = lines[0].glyphs.iter().map(|g| g.advance).sum();
            // Labels near either end are anchored to it, as in the console.
            let left = (x - width / 2.0).clamp(x0, x0 + w - width);
            let saved = self.y;
            self.y = y;
            self.line(&lines[0], left, 7.5, MUTED);
            self.y = saved;
        }
        self.y -= 40.0;
    }

    fn pictures(&mut self, pictures: &Pictures, images: &mut Vec<Image>) {
        let box_w = (PAGE_W - 2.0 * MARGIN - 20.0) / 2.0;
        let box_h = box_w * 0.75;
        if !self.room(box_h + 20.0) {
            return;
        }
        let top = self.y;
        for (k, (caption, bytes)) in [
            ("Captured", &pictures.captured),
            ("Enrolled", &pictures.enrolled),
        ]
        .into_iter()
        .enumerate()
        {
            let x = MARGIN + k as f32 * (box_w + 20.0);
            self.y = top;
            let lines = self.ts.paragraph(caption, BODY, box_w);
            self.y -= LEADING;
            self.line(&lines[0], x, BODY, MUTED);
            let y = top - LEADING - 6.0 - box_h;
            let image = bytes.as_deref().and_then(Image::decode);
            let c = &mut self.page().content;
            match image {
                Some(img) => {
                    // Fitted into the box, aspect kept.
                    let scale = (box_w / img.width as f32).min(box_h / img.height as f32);
                    let (w, h) = (img.width as f32 * scale, img.height as f32 * scale);
                    c.save_state();
                    c.transform([w, 0.0, 0.0, h, x + (box_w - w) / 2.0, y + (box_h - h) / 2.0]);
                    c.x_object(Name(format!("Im{}", images.len()).as_bytes()));
                    c.restore_state();
                    let n = images.len();
                    images.push(img);
                    self.page().images.push(n);
                }
                None => {
                    c.set_stroke_rgb(MUTED[0], MUTED[1], MUTED[2]);
                    c.set_line_width(0.5);
                    c.rect(x, y, box_w, box_h);
                    c.stroke();
                    self.y = y + box_h / 2.0;
                    let lines = self.ts.paragraph("No picture kept", BODY, box_w);
                    self.line(&lines[0], x + 10.0, BODY, MUTED);
                }
            }
        }
        self.y = top - LEADING - 6.0 - box_h - 10.0;
    }
}

fn round(v: f64) -> String {
    format!("{}", (v * 10.0).round() / 10.0)
}

/// A picture as the PDF holds it: JPEG as is (DCTDecode), anything else decoded to RGB.
struct Image {
    width: u32,
    height: u32,
    data: Vec<u8>,
    jpeg: bool,
    gray: bool,
}

impl Image {
    fn decode(bytes: &[u8]) -> Option<Image> {
        if let Some((width, height, components)) = jpeg_size(bytes) {
            return (components == 1 || components == 3).then(|| Image {
                width,
                height,
                data: bytes.to_vec(),
                jpeg: true,
                gray: components == 1,
            });
        }
        let rgb = image::load_from_memory(bytes).ok()?.into_rgb8();
        Some(Image {
            width: rgb.width(),
            height: rgb.height(),
            data: compress_to_vec_zlib(rgb.as_raw(), 6),
            jpeg: false,
            gray: false,
        })
    }
}

/// Width, height and components from a JPEG's start-of-frame marker.
pub(super) fn jpeg_size(b: &[u8]) -> Option<(u32, u32, u8)> {
    if !b.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut i = 2;
    while i + 9 < b.len() {
        if b[i] != 0xFF {
            return None;
        }
        let marker = b[i + 1];
        if marker == 0xFF {
            i += 1;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
        if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
            let h = u32::from(u16::from_be_bytes([b[i + 5], b[i + 6]]));
            let w = u32::from(u16::from_be_bytes([b[i + 7], b[i + 8]]));
            return (w > 0 && h > 0).then_some((w, h, b[i + 9]));
        }
        i += 2 + len;
    }
    None
}

pub(super) fn document(ts: Typesetter<'_>, blocks: &[Block], pictures: Option<&Pictures>) -> Vec<u8> {
    let mut w = Writer {
        ts,
        pages: Vec::new(),
        y: 0.0,
        truncated: false,
    };
    let mut images = Vec::new();
    for block in blocks {
        if w.truncated {
            break;
        }
        match block {
            Block::Title(s) => {
                w.paragraph(s, MARGIN, PAGE_W - 2.0 * MARGIN, 18.0, INK);
                w.y -= 10.0;
            }
            Block::Heading(s) => {
                w.y -= 10.0;
                w.paragraph(s, MARGIN, PAGE_W - 2.0 * MARGIN, 13.0, INK);
                w.y -= 2.0;
            }
            Block::Field(label, value) => w.field(label, value),
            Block::Para(s) => {
                w.paragraph(s, MARGIN, PAGE_W - 2.0 * MARGIN, BODY, INK);
            }
            Block::Meter {
                score,
                decline,
                review,
            } => w.meter(*score, *decline, *review),
            Block::Pictures => {
                if let Some(p) = pictures {
                    w.pictures(p, &mut images);
                }
            }
        }
    }
    if w.truncated {
        // The last line of the last page says the report was cut.
        w.truncated = false;
        w.y = w.y.max(MARGIN + LEADING);
        let note = format!("… the report was cut at {MAX_PAGES} pages");
        let lines = w.ts.paragraph(&note, BODY, PAGE_W - 2.0 * MARGIN);
        w.y = MARGIN - 4.0;
        w.line(&lines[0], MARGIN, BODY, MUTED);
    }
    write(w, &images)
}

fn write(w: Writer<'_>, images: &[Image]) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let mut next = Ref::new(1);
    let catalog = next.bump();
    let tree = next.bump();
    let page_ids: Vec<Ref> = w.pages.iter().map(|_| next.bump()).collect();
    let font_ids: Vec<Ref> = w.ts.faces.iter().map(|_| next.bump()).collect();
    let image_ids: Vec<Ref> = images.iter().map(|_| next.bump()).collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_ids.iter().copied())
        .count(page_ids.len() as i32);

    for (k, page) in w.pages.into_iter().enumerate() {
        let content_id = next.bump();
        let mut p = pdf.page(page_ids[k]);
        p.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
        p.parent(tree);
        p.contents(content_id);
        let mut res = p.resources();
        let mut fonts = res.fonts();
        for (i, id) in font_ids.iter().enumerate() {
            fonts.pair(Name(format!("F{i}").as_bytes()), *id);
        }
        fonts.finish();
        let mut xo = res.x_objects();
        for &n in &page.images {
            xo.pair(Name(format!("Im{n}").as_bytes()), image_ids[n]);
        }
        xo.finish();
        res.finish();
        p.finish();
        let content = compress_to_vec_zlib(&page.content.finish(), 6);
        pdf.stream(content_id, &content).filter(Filter::FlateDecode);
    }

    for (i, face) in w.ts.faces.iter().enumerate() {
        let (cid_id, descriptor_id, file_id, cmap_id) = (next.bump(), next.bump(), next.bump(), next.bump());
        // A subset's name carries a six-letter tag (ISO 32000 9.6.4), unique per font here.
        let tag: String = (0..6).map(|k| (b'A' + ((i * 7 + k) % 26) as u8) as char).collect();
        let name = format!("{tag}+{}", face.id.postscript_name());
        let system = SystemInfo {
            registry: Str(b"Adobe"),
            ordering: Str(b"Identity"),
            supplement: 0,
        };
        pdf.type0_font(font_ids[i])
            .base_font(Name(name.as_bytes()))
            .encoding_predefined(Name(b"Identity-H"))
            .descendant_font(cid_id)
            .to_unicode(cmap_id);
        let mut cid = pdf.cid_font(cid_id);
        cid.subtype(CidFontType::Type2)
            .base_font(Name(name.as_bytes()))
            .system_info(system)
            .font_descriptor(descriptor_id)
            .default_width(0.0)
            .cid_to_gid_map_predefined(Name(b"Identity"));
        let mut widths = cid.widths();
        for (&c, &width) in &face.widths {
            widths.consecutive(c, [width]);
        }
        widths.finish();
        cid.finish();
        let (ascent, descent, cap, bbox) = face.metrics();
        pdf.font_descriptor(descriptor_id)
            .name(Name(name.as_bytes()))
            .flags(FontFlags::SYMBOLIC)
            .bbox(Rect::new(bbox[0], bbox[1], bbox[2], bbox[3]))
            .italic_angle(0.0)
            .ascent(ascent)
            .descent(descent)
            .cap_height(cap)
            .stem_v(80.0)
            .font_file2(file_id);
        // A font that fails to subset is embedded whole rather than not at all.
        let subset = subsetter::subset(face.data, 0, &face.remap).unwrap_or_else(|_| face.data.to_vec());
        let file = compress_to_vec_zlib(&subset, 6);
        pdf.stream(file_id, &file).filter(Filter::FlateDecode);
        let mut cmap = UnicodeCmap::new(Name(b"Custom"), system);
        for (&c, s) in &face.unicode {
            cmap.pair_with_multiple(c, s.chars());
        }
        pdf.cmap(cmap_id, &cmap.finish());
    }

    for (img, id) in images.iter().zip(&image_ids) {
        let mut x = pdf.image_xobject(*id, &img.data);
        x.filter(if img.jpeg { Filter::DctDecode } else { Filter::FlateDecode });
        x.width(img.width as i32);
        x.height(img.height as i32);
        if img.gray {
            x.color_space().device_gray();
        } else {
            x.color_space().device_rgb();
        }
        x.bits_per_component(8);
    }
    pdf.finish()
}
