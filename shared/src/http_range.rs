//! The HTTP `Range` request header (RFC 9110 §14), as the server's artifact downloads answer it:
//! one `bytes=` range (first-last, first-, or a -suffix) resolved against the file's size. Any
//! other form is ignored (the whole file is sent), which RFC 9110 allows. Pure, so that it can be
//! fuzzed without the server.

/// An inclusive byte range `start..=end` that lies inside the file (`start <= end < size`);
/// only [`parse`] makes one, so that holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    start: u64,
    end: u64,
}

impl ByteRange {
    /// The first byte sent.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// The last byte sent (inclusive, as in `Content-Range`).
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Bytes in the range (at least 1).
    pub fn length(&self) -> u64 {
        self.end - self.start + 1
    }
}

/// The range asked for lies outside the file (answer 416 with `Content-Range: bytes */SIZE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unsatisfiable;

/// A single `bytes=` range in `header` resolved against `size`: `Ok(None)` means "send
/// everything" (no header, several ranges, or a form we do not understand).
pub fn parse(header: Option<&str>, size: u64) -> Result<Option<ByteRange>, Unsatisfiable> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None); // several ranges: answering with the whole file is allowed
    }
    let Some((a, b)) = spec.split_once('-') else { return Ok(None) };
    let (a, b) = (a.trim(), b.trim());
    let last = size.saturating_sub(1);
    let (start, end) = match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
        (Some(s), Some(e)) if s <= e => (s, e.min(last)),
        (Some(s), None) if b.is_empty() => (s, last),
        (None, Some(n)) if a.is_empty() && n > 0 => (size.saturating_sub(n), last),
        _ => return Ok(None), // not a range we understand: ignore it, as RFC 9110 allows
    };
    if size == 0 || start >= size {
        return Err(Unsatisfiable);
    }
    Ok(Some(ByteRange { start, end }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: u64, end: u64) -> Result<Option<ByteRange>, Unsatisfiable> {
        Ok(Some(ByteRange { start, end }))
    }

    #[test]
    fn ranges() {
        assert_eq!(parse(None, 100), Ok(None));
        assert_eq!(parse(Some("bytes=0-9"), 100), range(0, 9));
        assert_eq!(parse(Some("bytes=90-"), 100), range(90, 99));
        assert_eq!(parse(Some("bytes=-10"), 100), range(90, 99));
        assert_eq!(parse(Some("bytes=95-200"), 100), range(95, 99));
        assert_eq!(parse(Some("bytes=-500"), 100), range(0, 99));
        assert_eq!(parse(Some("bytes=100-"), 100), Err(Unsatisfiable));
        assert_eq!(parse(Some("bytes=0-1,5-6"), 100), Ok(None));
        assert_eq!(parse(Some("bytes=9-2"), 100), Ok(None));
        assert_eq!(parse(Some("items=1-2"), 100), Ok(None));
    }

    #[test]
    fn edges_of_empty_and_huge_files() {
        assert_eq!(parse(Some("bytes=0-0"), 0), Err(Unsatisfiable));
        assert_eq!(parse(Some("bytes=-1"), 0), Err(Unsatisfiable));
        assert_eq!(parse(Some("bytes=-0"), 100), Ok(None));
        assert_eq!(parse(Some(" bytes= 3 - 4 "), 100), range(3, 4));
        let max = u64::MAX;
        assert_eq!(parse(Some(&format!("bytes=0-{max}")), max), range(0, max - 1));
        assert_eq!(parse(Some(&format!("bytes=-{max}")), max), range(0, max - 1));
        assert_eq!(parse(Some("bytes=0-99999999999999999999"), 100), Ok(None), "past u64: not understood");
        assert_eq!(range(5, 5).map(|r| r.map(|r| r.length())), Ok(Some(1)));
    }
}
