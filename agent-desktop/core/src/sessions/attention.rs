//! Whether a running session is waiting for its user: the program rang the terminal bell
//! since the last input, or printed something and has been quiet since. AI CLIs show a spinner
//! while they work and go quiet at their prompt, so a quiet spell after output is a good sign
//! that it is the user's turn. A BEL that ends an OSC string (a title change) is not a bell.

use std::time::{Duration, Instant};

/// Quiet time after output from which a session counts as waiting.
pub const QUIET_FOR: Duration = Duration::from_secs(20);

/// Where the scanner is within escape sequences (kept across output chunks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Scan {
    #[default]
    Text,
    Escape,
    /// Inside an OSC, DCS, APC or PM string, which BEL or ESC \ ends.
    String,
    StringEscape,
}

#[derive(Debug, Default)]
pub struct Attention {
    scan: Scan,
    bell: bool,
    /// When the program last printed, if it printed since the last input.
    printed_at: Option<Instant>,
}

impl Attention {
    /// Output from the program.
    pub fn output(&mut self, data: &[u8], now: Instant) {
        for &b in data {
            self.scan = match (self.scan, b) {
                (Scan::Text, 0x1b) => Scan::Escape,
                (Scan::Text, 0x07) => {
                    self.bell = true;
                    Scan::Text
                }
                (Scan::Text, _) => Scan::Text,
                (Scan::Escape, b']' | b'P' | b'_' | b'^') => Scan::String,
                (Scan::Escape, 0x1b) => Scan::Escape,
                (Scan::Escape, _) => Scan::Text,
                (Scan::String, 0x07) => Scan::Text,
                (Scan::String, 0x1b) => Scan::StringEscape,
                (Scan::String, _) => Scan::String,
                (Scan::StringEscape, b'\\') => Scan::Text,
                (Scan::StringEscape, _) => Scan::String,
            };
        }
        if !data.is_empty() {
            self.printed_at = Some(now);
        }
    }

    /// Input reached the program: whatever it asked for has been answered.
    pub fn input(&mut self) {
        self.bell = false;
        self.printed_at = None;
    }

    pub fn waiting(&self, now: Instant) -> bool {
        self.bell || self.printed_at.is_some_and(|t| now.saturating_duration_since(t) >= QUIET_FOR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bell_means_waiting_until_input() {
        let t = Instant::now();
        let mut a = Attention::default();
        a.output(b"Allow this edit? [y/n] \x07", t);
        assert!(a.waiting(t));
        a.input();
        assert!(!a.waiting(t + QUIET_FOR * 2), "answered, and nothing printed since");
    }

    #[test]
    fn title_changes_are_not_bells_even_split_across_chunks() {
        let t = Instant::now();
        let mut a = Attention::default();
        a.output(b"\x1b]0;claude: thinking", t);
        a.output(b"\x07working\x1b]2;x\x1b\\", t);
        assert!(!a.waiting(t));
        a.output(b"\x1b[1mdone\x1b[0m\x07", t);
        assert!(a.waiting(t), "a bell after the sequences ended counts");
    }

    #[test]
    fn quiet_after_output_means_waiting() {
        let t = Instant::now();
        let mut a = Attention::default();
        assert!(!a.waiting(t + QUIET_FOR * 2), "nothing printed yet");
        a.output(b"> ", t);
        assert!(!a.waiting(t + QUIET_FOR / 2), "still printing, perhaps");
        assert!(a.waiting(t + QUIET_FOR));
        a.output(b"more", t + QUIET_FOR);
        assert!(!a.waiting(t + QUIET_FOR + Duration::from_secs(1)), "printing again");
    }
}
