//! Checks for text that other people will see: names of orgs, machines, keys and people, and
//! what agents report about their machine and sessions. Control characters could forge log
//! lines or terminal output; bidirectional overrides could make one name look like another
//! (U+202E turns "exe.txt" into "txt.exe" on screen).

/// Unicode bidirectional formatting characters: embeddings, overrides, isolates and marks.
const BIDI_CONTROLS: &[char] = &[
    '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}',
    '\u{2067}', '\u{2068}', '\u{2069}',
];

/// Whether `c` may appear in text shown to others: no control characters, no bidi controls.
pub fn is_display_safe_char(c: char) -> bool {
    !c.is_control() && !BIDI_CONTROLS.contains(&c)
}

/// Whether `s` is at most `max` characters of display-safe text.
pub fn is_display_safe(s: &str, max: usize) -> bool {
    s.chars().count() <= max && s.chars().all(is_display_safe_char)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_controls_and_bidi_overrides() {
        assert!(is_display_safe("Team Ünïcode 🚀", 100));
        assert!(!is_display_safe("evil\u{202E}txt.exe", 100));
        assert!(!is_display_safe("a\u{2066}b", 100));
        assert!(!is_display_safe("line\nbreak", 100));
        assert!(!is_display_safe("bell\u{7}", 100));
        assert!(!is_display_safe("toolong", 3));
    }
}
