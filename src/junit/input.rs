//! The byte pipeline under the XML reader: gzip detection by magic bytes, the
//! decompressed-size limit, encoding detection and transcoding to UTF-8, and a
//! `BufRead` that tracks line/column and bounds the size of a single token.

use encoding_rs::{Decoder, Encoding, UTF_8};
use flate2::read::MultiGzDecoder;
use std::fmt;
use std::io::{self, BufRead, Read};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Enough of the head to hold any sane XML declaration.
const SNIFF_LEN: usize = 1024;
const BUFFER_LEN: usize = 64 * 1024;

/// Limits raised from inside the byte pipeline; carried through `io::Error` so that
/// quick-xml passes them back to us untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InputFault {
    TooLarge(u64),
    TokenTooLarge(usize),
    Gzip(String),
    GzipTruncated,
}

impl fmt::Display for InputFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for InputFault {}

impl InputFault {
    fn into_io(self) -> io::Error {
        io::Error::other(self)
    }

    /// The fault behind an `io::Error`, if it is one of ours.
    pub(crate) fn from_io(err: &io::Error) -> Option<&InputFault> {
        err.get_ref()?.downcast_ref::<InputFault>()
    }
}

/// Reads `head` first, then the rest of `inner`: lets us peek without losing bytes.
pub(crate) struct Prefixed<R> {
    head: Vec<u8>,
    pos: usize,
    inner: R,
}

impl<R: Read> Prefixed<R> {
    /// Reads up to `len` bytes from `inner` into the head.
    fn peek(mut inner: R, len: usize) -> io::Result<Self> {
        let mut head = vec![0; len];
        let mut filled = 0;
        while filled < len {
            match inner.read(&mut head[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        head.truncate(filled);
        Ok(Prefixed {
            head,
            pos: 0,
            inner,
        })
    }

    fn head(&self) -> &[u8] {
        &self.head[self.pos..]
    }

    fn skip(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.head.len());
    }
}

impl<R: Read> Read for Prefixed<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.head.len() {
            let n = out.len().min(self.head.len() - self.pos);
            out[..n].copy_from_slice(&self.head[self.pos..self.pos + n]);
            self.pos += n;
            if self.pos == self.head.len() {
                self.head = Vec::new();
                self.pos = 0;
            }
            return Ok(n);
        }
        self.inner.read(out)
    }
}

/// The raw input, gunzipped when it starts with the gzip magic bytes.
pub(crate) enum Source<R: Read> {
    Plain(Prefixed<R>),
    Gzip(Box<MultiGzDecoder<Prefixed<R>>>),
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Plain(r) => r.read(out),
            Source::Gzip(r) => r.read(out).map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => InputFault::GzipTruncated.into_io(),
                io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => {
                    InputFault::Gzip(e.to_string()).into_io()
                }
                _ => e,
            }),
        }
    }
}

/// Counts decompressed bytes and stops at the limit (gzip-bomb guard).
pub(crate) struct Limited<R> {
    inner: R,
    count: u64,
    limit: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.count > self.limit {
            return Err(InputFault::TooLarge(self.limit).into_io());
        }
        // Never ask for more than one byte past the limit, so a bomb cannot make us
        // inflate a whole buffer's worth beyond it.
        let room = (self.limit - self.count).saturating_add(1);
        let want = out.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut out[..want])?;
        self.count += n as u64;
        if self.count > self.limit {
            return Err(InputFault::TooLarge(self.limit).into_io());
        }
        Ok(n)
    }
}

/// The report as valid UTF-8: quick-xml 0.42 works on `str`, so invalid bytes are
/// replaced with U+FFFD rather than failing the report. UTF-8 input is checked in
/// place; other encodings go through encoding_rs.
pub(crate) enum Decoded<R: Read> {
    Utf8(Utf8Checked<Prefixed<Limited<Source<R>>>>),
    Other(Box<Transcoder<Prefixed<Limited<Source<R>>>>>),
}

impl<R: Read> Decoded<R> {
    fn limited(&self) -> &Limited<Source<R>> {
        match self {
            Decoded::Utf8(u) => &u.inner.inner,
            Decoded::Other(t) => &t.inner.inner,
        }
    }

    fn replaced(&self) -> bool {
        match self {
            Decoded::Utf8(u) => u.replaced,
            Decoded::Other(t) => t.replaced,
        }
    }
}

impl<R: Read> Read for Decoded<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoded::Utf8(u) => u.read(out),
            Decoded::Other(t) => t.read(out),
        }
    }
}

/// Passes UTF-8 through, validated in the caller's buffer (no copy on the fast path).
pub(crate) struct Utf8Checked<R> {
    inner: R,
    /// Start of a character cut by the previous read.
    carry: [u8; 4],
    carry_len: usize,
    /// Repaired text waiting to be handed out (only after invalid bytes).
    repaired: Vec<u8>,
    repaired_pos: usize,
    replaced: bool,
}

impl<R: Read> Utf8Checked<R> {
    fn new(inner: R) -> Self {
        Utf8Checked {
            inner,
            carry: [0; 4],
            carry_len: 0,
            repaired: Vec::new(),
            repaired_pos: 0,
            replaced: false,
        }
    }
}

impl<R: Read> Read for Utf8Checked<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.len() < 8 && self.repaired_pos == self.repaired.len() {
            // Too small to hold a checked chunk: check a bigger one, keep the rest.
            let mut tmp = [0u8; 64];
            let n = self.read(&mut tmp)?;
            let give = n.min(out.len());
            out[..give].copy_from_slice(&tmp[..give]);
            let mut rest = tmp[give..n].to_vec();
            rest.extend_from_slice(&self.repaired[self.repaired_pos..]);
            self.repaired = rest;
            self.repaired_pos = 0;
            return Ok(give);
        }
        loop {
            if self.repaired_pos < self.repaired.len() {
                let n = out.len().min(self.repaired.len() - self.repaired_pos);
                out[..n].copy_from_slice(&self.repaired[self.repaired_pos..self.repaired_pos + n]);
                self.repaired_pos += n;
                return Ok(n);
            }
            let carried = self.carry_len;
            out[..carried].copy_from_slice(&self.carry[..carried]);
            self.carry_len = 0;
            let n = loop {
                match self.inner.read(&mut out[carried..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            };
            let eof = n == 0;
            let filled = carried + n;
            let error = match std::str::from_utf8(&out[..filled]) {
                Ok(_) => return Ok(filled),
                Err(e) => e,
            };
            let valid = error.valid_up_to();
            if error.error_len().is_none() && !eof {
                // A character cut at the end of this read: finish it next time.
                self.carry_len = filled - valid;
                self.carry[..self.carry_len].copy_from_slice(&out[valid..filled]);
                if valid > 0 {
                    return Ok(valid);
                }
                continue;
            }
            // Invalid bytes: repair this chunk, keeping a cut character for later.
            let mut end = filled;
            if !eof {
                if let Err(e) = std::str::from_utf8(&out[..filled]) {
                    let tail_start = last_incomplete_start(&out[..filled], e.valid_up_to());
                    if let Some(start) = tail_start {
                        self.carry_len = filled - start;
                        self.carry[..self.carry_len].copy_from_slice(&out[start..filled]);
                        end = start;
                    }
                }
            }
            self.repaired = String::from_utf8_lossy(&out[..end])
                .into_owned()
                .into_bytes();
            self.repaired_pos = 0;
            self.replaced = true;
        }
    }
}

/// Start of a trailing, incomplete (but so far valid) UTF-8 sequence, if any.
fn last_incomplete_start(bytes: &[u8], _first_error: usize) -> Option<usize> {
    let len = bytes.len();
    for back in 1..=3.min(len) {
        let b = bytes[len - back];
        if b & 0xC0 == 0x80 {
            continue;
        }
        let needed = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return None,
        };
        return (needed > back).then_some(len - back);
    }
    None
}

pub(crate) struct Transcoder<R> {
    inner: R,
    decoder: Decoder,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
    done: bool,
    /// Set once any malformed byte sequence was replaced.
    pub(crate) replaced: bool,
}

impl<R: Read> Transcoder<R> {
    fn new(inner: R, encoding: &'static Encoding) -> Self {
        Transcoder {
            inner,
            // The BOM, if any, was already stripped by the sniffer.
            decoder: encoding.new_decoder_without_bom_handling(),
            buf: vec![0; 16 * 1024].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
            done: false,
            replaced: false,
        }
    }
}

impl<R: Read> Read for Transcoder<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        // encoding_rs needs room for at least one whole UTF-8 sequence.
        if out.len() < 4 {
            return Err(io::Error::other(
                "transcoder needs an output buffer of 4 bytes or more",
            ));
        }
        loop {
            if self.done {
                return Ok(0);
            }
            if self.start == self.end && !self.eof {
                self.start = 0;
                self.end = loop {
                    match self.inner.read(&mut self.buf) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                };
                self.eof = self.end == 0;
            }
            let (result, read, written, replaced) =
                self.decoder
                    .decode_to_utf8(&self.buf[self.start..self.end], out, self.eof);
            self.start += read;
            self.replaced |= replaced;
            if self.eof && result == encoding_rs::CoderResult::InputEmpty {
                self.done = true;
            }
            if written > 0 {
                return Ok(written);
            }
        }
    }
}

/// What the sniffer found out about the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InputInfo {
    pub gzip: bool,
    /// Name of the encoding the report is read in.
    pub encoding: &'static str,
    /// A declared encoding we could not honour (unknown label, or one that contradicts the bytes).
    pub encoding_note: Option<String>,
}

pub(crate) enum OpenError {
    Empty,
    Io(io::Error),
}

/// Builds the pipeline: gzip → size limit → UTF-8.
pub(crate) fn open<R: Read>(
    input: R,
    max_decompressed_bytes: u64,
) -> Result<(Decoded<R>, InputInfo), OpenError> {
    let raw = Prefixed::peek(input, GZIP_MAGIC.len()).map_err(OpenError::Io)?;
    let gzip = raw.head() == GZIP_MAGIC;
    let source = if gzip {
        Source::Gzip(Box::new(MultiGzDecoder::new(raw)))
    } else {
        Source::Plain(raw)
    };
    let limited = Limited {
        inner: source,
        count: 0,
        limit: max_decompressed_bytes,
    };
    let mut text = Prefixed::peek(limited, SNIFF_LEN).map_err(OpenError::Io)?;
    if text.head().is_empty() {
        return Err(OpenError::Empty);
    }
    let (encoding, bom_len, note) = sniff_encoding(text.head());
    text.skip(bom_len);
    let info = InputInfo {
        gzip,
        encoding: encoding.name(),
        encoding_note: note,
    };
    let decoded = if encoding == UTF_8 {
        Decoded::Utf8(Utf8Checked::new(text))
    } else {
        Decoded::Other(Box::new(Transcoder::new(text, encoding)))
    };
    Ok((decoded, info))
}

/// Picks the encoding from the BOM, the UTF-16 shape of `<?`, or the XML declaration.
/// Returns the encoding, the BOM length to skip and a note for a label we ignored.
fn sniff_encoding(head: &[u8]) -> (&'static Encoding, usize, Option<String>) {
    if let Some((encoding, bom_len)) = Encoding::for_bom(head) {
        return (encoding, bom_len, None);
    }
    match head {
        [b'<', 0, ..] => return (encoding_rs::UTF_16LE, 0, None),
        [0, b'<', ..] => return (encoding_rs::UTF_16BE, 0, None),
        _ => {}
    }
    let Some(label) = declared_encoding(head) else {
        return (UTF_8, 0, None);
    };
    match Encoding::for_label(label.as_bytes()) {
        // The bytes are ASCII-shaped, so a UTF-16 label is a lie: read them as UTF-8.
        Some(e) if e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE => (
            UTF_8,
            0,
            Some(format!(
                "the report declares encoding \"{label}\" but is not UTF-16; read as UTF-8"
            )),
        ),
        Some(e) if e == encoding_rs::REPLACEMENT => (
            UTF_8,
            0,
            Some(format!(
                "encoding \"{label}\" is not supported; read as UTF-8"
            )),
        ),
        Some(e) => (e, 0, None),
        None => (
            UTF_8,
            0,
            Some(format!(
                "unknown encoding \"{label}\" in the XML declaration; read as UTF-8"
            )),
        ),
    }
}

/// The `encoding` pseudo-attribute of a leading `<?xml ...?>`, if any.
fn declared_encoding(head: &[u8]) -> Option<String> {
    let decl = head.strip_prefix(b"<?xml")?;
    let end = decl.windows(2).position(|w| w == b"?>")?;
    let decl = &decl[..end];
    let at = decl.windows(8).position(|w| w == b"encoding")?;
    let rest = decl[at + 8..].trim_ascii_start().strip_prefix(b"=")?;
    let rest = rest.trim_ascii_start();
    let quote = *rest.first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let value = &rest[1..];
    let close = value.iter().position(|&b| b == quote)?;
    let label = std::str::from_utf8(&value[..close]).ok()?.trim();
    (!label.is_empty()).then(|| label.to_owned())
}

/// A 1-based place in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Position {
    pub offset: u64,
    pub line: u64,
    pub column: u64,
}

/// `BufRead` for quick-xml that knows lines and columns of what quick-xml has
/// consumed, and fails once one token (tag or text run) grows past the limit, so
/// quick-xml's event buffer stays bounded whatever the input.
///
/// Lines and columns are counted lazily, in large slices, and only as far as someone
/// asks (or before a buffer is refilled), so the hot path is a plain `consume`.
pub(crate) struct Tracker<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    /// Absolute offset of `buf[0]`.
    base: u64,
    /// `line`/`column` describe the position `buf[counted]`.
    counted: usize,
    line: u64,
    /// Characters before `counted` on its line.
    column: u64,
    token_start: u64,
    token_position: Option<Position>,
    token_bytes: usize,
    max_token_bytes: usize,
}

impl<R: Read> Tracker<R> {
    pub(crate) fn new(inner: R, max_token_bytes: usize) -> Self {
        Tracker {
            inner,
            buf: vec![0; BUFFER_LEN].into_boxed_slice(),
            pos: 0,
            len: 0,
            base: 0,
            counted: 0,
            line: 1,
            column: 0,
            token_start: 0,
            token_position: None,
            token_bytes: 0,
            max_token_bytes,
        }
    }

    /// Called before each event: the token budget is per token.
    pub(crate) fn start_token(&mut self) {
        self.token_bytes = 0;
        self.token_start = self.base + self.pos as u64;
        self.token_position = None;
    }

    /// Counts lines and columns up to `buf[index]`.
    fn count_to(&mut self, index: usize) {
        if index <= self.counted {
            return;
        }
        let slice = &self.buf[self.counted..index];
        // Separate simple passes vectorise; lines are short, so the tail is cheap.
        match slice.iter().rposition(|&b| b == b'\n') {
            Some(last) => {
                self.line += slice.iter().filter(|&&b| b == b'\n').count() as u64;
                self.column = count_chars(&slice[last + 1..]);
            }
            None => self.column += count_chars(slice),
        }
        self.counted = index;
    }

    fn here(&self) -> Position {
        Position {
            offset: self.base + self.counted as u64,
            line: self.line,
            column: self.column + 1,
        }
    }

    /// Where the current token (event) starts. Ask before `position` within a token.
    pub(crate) fn token_start(&mut self) -> Position {
        if let Some(p) = self.token_position {
            return p;
        }
        let index = self.token_start.saturating_sub(self.base) as usize;
        if index >= self.counted {
            self.count_to(index);
            self.token_position = Some(self.here());
        }
        // Already counted past it (asked too late): the best we know.
        self.token_position.unwrap_or_else(|| self.here())
    }

    /// Where quick-xml has consumed up to.
    pub(crate) fn position(&mut self) -> Position {
        self.count_to(self.pos);
        self.here()
    }
}

impl<R: Read> Tracker<Decoded<R>> {
    /// Decompressed bytes read from the source so far.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.inner.limited().count
    }

    /// Whether invalid byte sequences were replaced with U+FFFD.
    pub(crate) fn replaced_invalid_bytes(&self) -> bool {
        self.inner.replaced()
    }
}

impl<R: Read> Read for Tracker<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Tracker<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.token_bytes > self.max_token_bytes {
            return Err(InputFault::TokenTooLarge(self.max_token_bytes).into_io());
        }
        if self.pos == self.len {
            // Settle what this buffer tells about positions before dropping it.
            if self.token_position.is_none() && self.token_start >= self.base {
                self.token_start();
            }
            self.count_to(self.len);
            let n = loop {
                match self.inner.read(&mut self.buf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            };
            self.base += self.len as u64;
            self.pos = 0;
            self.len = n;
            self.counted = 0;
        }
        Ok(&self.buf[self.pos..self.len])
    }

    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.len - self.pos);
        self.pos += amt;
        self.token_bytes = self.token_bytes.saturating_add(amt);
    }
}

/// Characters in UTF-8 bytes: every byte that does not continue a sequence.
fn count_chars(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| (b & 0xC0) != 0x80).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8]) -> (String, InputInfo) {
        let Ok((mut r, info)) = open(bytes, u64::MAX) else {
            panic!("open failed")
        };
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        (s, info)
    }

    #[test]
    fn utf16le_with_bom_is_transcoded() {
        let mut bytes = vec![0xFF, 0xFE];
        for u in "<a>é</a>".encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        let (s, info) = read_all(&bytes);
        assert_eq!(s, "<a>é</a>");
        assert_eq!(info.encoding, "UTF-16LE");
    }

    #[test]
    fn utf16be_without_bom_is_detected() {
        let mut bytes = vec![];
        for u in "<?xml version=\"1.0\"?><a/>".encode_utf16() {
            bytes.extend_from_slice(&u.to_be_bytes());
        }
        assert_eq!(read_all(&bytes).0, "<?xml version=\"1.0\"?><a/>");
    }

    #[test]
    fn latin1_declaration_is_honoured() {
        let bytes = b"<?xml version='1.0' encoding='ISO-8859-1'?><a>\xe9</a>";
        assert_eq!(
            read_all(bytes).0,
            "<?xml version='1.0' encoding='ISO-8859-1'?><a>é</a>"
        );
    }

    #[test]
    fn invalid_utf8_is_repaired_across_read_boundaries() {
        // "é" (C3 A9) cut between reads, then a stray 0xFF.
        struct Chunks(Vec<Vec<u8>>);
        impl Read for Chunks {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() {
                    return Ok(0);
                }
                let c = self.0.remove(0);
                out[..c.len()].copy_from_slice(&c);
                Ok(c.len())
            }
        }
        let mut r = Utf8Checked::new(Chunks(vec![
            b"ab\xC3".to_vec(),
            b"\xA9c\xFFd\xE2".to_vec(),
            b"\x82\xAC".to_vec(),
        ]));
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "abéc\u{FFFD}d€");
        assert!(r.replaced);
    }

    #[test]
    fn utf8_bom_is_stripped() {
        assert_eq!(read_all(b"\xEF\xBB\xBF<a/>").0, "<a/>");
    }

    #[test]
    fn tracker_counts_lines_and_characters() {
        let mut t = Tracker::new("ab\néé\nx".as_bytes(), 100);
        let n = t.fill_buf().unwrap().len();
        t.consume(n - 1);
        let p = t.position();
        assert_eq!((p.line, p.column), (3, 1));
        t.consume(1);
        let p = t.position();
        assert_eq!((p.line, p.column), (3, 2));
    }
}
