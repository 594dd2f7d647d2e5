//! Which Noto font draws which character. The fonts are files the caller loads (the worker from
//! its MODELS bucket, tests from models/fonts/), by the keys of models/fonts.tsv; a report asks
//! only for the fonts its text needs, so a Latin-only report loads one 630 kB file and the
//! 5-10 MB CJK fonts are read only for CJK text.

/// One font of models/fonts.tsv.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FontId {
    /// Latin, Greek and Cyrillic (and every language of the hosted page written with them).
    Latin,
    Arabic,
    Hebrew,
    Devanagari,
    Bengali,
    Thai,
    Armenian,
    Georgian,
    Japanese,
    Korean,
    Chinese,
}

impl FontId {
    pub const ALL: [FontId; 11] = [
        FontId::Latin,
        FontId::Arabic,
        FontId::Hebrew,
        FontId::Devanagari,
        FontId::Bengali,
        FontId::Thai,
        FontId::Armenian,
        FontId::Georgian,
        FontId::Japanese,
        FontId::Korean,
        FontId::Chinese,
    ];

    /// The key in models/fonts.tsv: the file is `models/fonts/{key}.ttf`, the R2 object
    /// `font/{key}`.
    pub fn key(self) -> &'static str {
        match self {
            FontId::Latin => "latin",
            FontId::Arabic => "arabic",
            FontId::Hebrew => "hebrew",
            FontId::Devanagari => "devanagari",
            FontId::Bengali => "bengali",
            FontId::Thai => "thai",
            FontId::Armenian => "armenian",
            FontId::Georgian => "georgian",
            FontId::Japanese => "japanese",
            FontId::Korean => "korean",
            FontId::Chinese => "chinese",
        }
    }

    /// The PDF name of the embedded subset's font.
    pub(super) fn postscript_name(self) -> &'static str {
        match self {
            FontId::Latin => "NotoSans-Regular",
            FontId::Arabic => "NotoSansArabic-Regular",
            FontId::Hebrew => "NotoSansHebrew-Regular",
            FontId::Devanagari => "NotoSansDevanagari-Regular",
            FontId::Bengali => "NotoSansBengali-Regular",
            FontId::Thai => "NotoSansThai-Regular",
            FontId::Armenian => "NotoSansArmenian-Regular",
            FontId::Georgian => "NotoSansGeorgian-Regular",
            FontId::Japanese => "NotoSansJP-Regular",
            FontId::Korean => "NotoSansKR-Regular",
            FontId::Chinese => "NotoSansSC-Regular",
        }
    }
}

/// The script-specific font a character asks for, or `None` for what Noto Sans itself covers
/// (Latin, Greek, Cyrillic) and for the characters every script shares (digits, punctuation,
/// spaces), which stay in the font of the text around them. `kana` says whether the document
/// has Japanese kana: Han characters are then drawn as Japanese, else as Simplified Chinese.
pub(super) fn script_font(c: char, kana: bool) -> Option<FontId> {
    let u = c as u32;
    Some(match u {
        0x0600..=0x06FF | 0x0750..=0x077F | 0x0870..=0x08FF | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF => {
            FontId::Arabic
        }
        0x0590..=0x05FF | 0xFB1D..=0xFB4F => FontId::Hebrew,
        0x0900..=0x097F | 0xA8E0..=0xA8FF => FontId::Devanagari,
        0x0980..=0x09FF => FontId::Bengali,
        0x0E00..=0x0E7F => FontId::Thai,
        0x0530..=0x058F | 0xFB13..=0xFB17 => FontId::Armenian,
        0x10A0..=0x10FF | 0x2D00..=0x2D2F | 0x1C90..=0x1CBF => FontId::Georgian,
        0x1100..=0x11FF | 0x3130..=0x318F | 0xA960..=0xA97F | 0xAC00..=0xD7FF => FontId::Korean,
        0x3040..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F => FontId::Japanese,
        0x2E80..=0x2FDF | 0x3000..=0x303F | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF
        | 0xFF00..=0xFF65 | 0x20000..=0x3FFFF => {
            if kana {
                FontId::Japanese
            } else {
                FontId::Chinese
            }
        }
        _ => return None,
    })
}

pub(super) fn has_kana(text: &str) -> bool {
    text.chars()
        .any(|c| matches!(c as u32, 0x3040..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F))
}

/// The fonts a text needs, Latin first and always (the report's own words are English).
pub fn fonts_for(text: &str) -> Vec<FontId> {
    let kana = has_kana(text);
    let mut ids = vec![FontId::Latin];
    for c in text.chars() {
        if let Some(id) = script_font(c, kana) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids.sort();
    ids
}
