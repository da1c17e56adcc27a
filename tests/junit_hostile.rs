//! Broken and hostile inputs: each must fail with the right error kind and place,
//! without panicking and without unbounded memory. Big inputs are generated lazily.

use flakewatch::junit::{parse_all, ErrorKind, Item, JunitReader, ParseError, ParseOptions};
use flate2::{write::GzEncoder, Compression};
use std::io::{self, Read, Write};

fn parse_err(input: &[u8]) -> ParseError {
    parse_with(input, ParseOptions::default())
}

fn parse_with<R: Read>(input: R, opts: ParseOptions) -> ParseError {
    match parse_all(input, "report.xml", opts) {
        Ok(report) => panic!("expected an error, got {:?}", report.summary),
        Err(e) => e,
    }
}

fn at(e: &ParseError) -> (u64, u64) {
    (e.line, e.column)
}

#[test]
fn truncated_file_names_the_open_element_and_the_end() {
    let e = parse_err(b"<testsuites>\n  <testsuite name=\"s\">\n    <testcase name=\"a\">");
    assert!(matches!(e.kind, ErrorKind::Truncated { .. }), "{e}");
    assert_eq!(at(&e), (3, 24));
    let text = e.to_string();
    assert!(
        text.starts_with(
            "report.xml:3:24: unexpected end of file inside <testcase> that starts at line 3"
        ),
        "{text}"
    );
    assert!(text.contains("use the complete file"), "{text}");
}

#[test]
fn truncated_inside_a_tag() {
    let e = parse_err(b"<testsuite>\n<testcase name=\"a\" ti");
    assert!(matches!(e.kind, ErrorKind::Truncated { .. }), "{e}");
    assert_eq!(e.line, 2);
}

#[test]
fn mismatched_end_tag_is_malformed_at_the_tag() {
    let e = parse_err(b"<testsuite>\n  <testcase name=\"a\">\n  </testsuite>");
    assert!(matches!(e.kind, ErrorKind::Malformed { .. }), "{e}");
    assert_eq!(at(&e), (3, 3));
    assert!(
        e.to_string()
            .contains("</testsuite> does not match the open <testcase>"),
        "{e}"
    );
}

#[test]
fn broken_attribute_is_malformed() {
    let e = parse_err(b"<testsuite>\n<testcase name=a/></testsuite>");
    assert!(matches!(e.kind, ErrorKind::Malformed { .. }), "{e}");
    assert_eq!(at(&e), (2, 1));
}

#[test]
fn binary_garbage_is_not_xml() {
    // A fixed pseudo-random byte soup that does not start with '<', a BOM or gzip magic.
    let mut x: u32 = 0x1234_5678;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect();
    let mut input = vec![b'\x07'];
    input.extend_from_slice(&bytes);
    let e = parse_err(&input);
    assert!(matches!(e.kind, ErrorKind::NotXml { .. }), "{e}");
    assert_eq!(at(&e), (1, 1));
}

#[test]
fn html_error_page_is_recognised() {
    let page = b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body><hr><center>nginx</center></body></html>";
    let e = parse_err(page);
    assert_eq!(e.kind, ErrorKind::Html, "{e}");
    assert_eq!(at(&e), (1, 1));
    let e = parse_err(b"\n<html lang=en><body>oops</body></html>");
    assert_eq!(e.kind, ErrorKind::Html, "{e}");
    assert_eq!(at(&e), (2, 1));
}

#[test]
fn empty_and_blank_inputs() {
    assert_eq!(parse_err(b"").kind, ErrorKind::Empty);
    assert_eq!(parse_err(b"  \n\t ").kind, ErrorKind::Empty);
    let e = parse_err(b"<?xml version=\"1.0\"?>\n");
    assert!(matches!(e.kind, ErrorKind::Truncated { .. }), "{e}");
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(b"").unwrap();
    assert_eq!(parse_err(&gz.finish().unwrap()).kind, ErrorKind::Empty);
}

#[test]
fn xml_that_is_not_junit() {
    let e = parse_err(b"<?xml version=\"1.0\"?>\n<project><target/></project>");
    assert!(
        matches!(&e.kind, ErrorKind::NotJunit { root, .. } if root == "project"),
        "{e}"
    );
    assert_eq!(at(&e), (2, 1));
}

#[test]
fn billion_laughs_is_rejected_without_expansion() {
    let mut doc =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", i - 1)
        };
        doc.push_str(&format!(
            " <!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    doc.push_str("]>\n<testsuite name=\"&lol9;\"><testcase name=\"&lol9;\"/></testsuite>\n");
    let e = parse_err(doc.as_bytes());
    assert_eq!(e.kind, ErrorKind::EntityDeclaration, "{e}");
    assert_eq!(at(&e), (2, 1));
}

#[test]
fn undeclared_entities_are_kept_literally() {
    let report = parse_all(
        &b"<testsuite><testcase name=\"a&nbsp;b\"><failure>x &foo; y</failure></testcase></testsuite>"[..],
        "r.xml",
        ParseOptions::default(),
    )
    .unwrap();
    assert_eq!(report.cases[0].name, "a&nbsp;b");
    assert_eq!(report.cases[0].text.as_ref().unwrap().text, "x &foo; y");
}

/// An endless gzip stream of test cases, compressed chunk by chunk as it is read.
struct GzipBomb {
    encoder: GzEncoder<Vec<u8>>,
    ready: Vec<u8>,
    pos: usize,
    compressed_out: u64,
}

impl GzipBomb {
    fn new() -> Self {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(b"<testsuite name=\"bomb\">\n").unwrap();
        GzipBomb {
            encoder,
            ready: Vec::new(),
            pos: 0,
            compressed_out: 0,
        }
    }
}

impl Read for GzipBomb {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.ready.len() {
            let chunk = b"<testcase classname=\"c\" name=\"t\" time=\"0.1\"/>\n".repeat(1365);
            self.encoder.write_all(&chunk)?;
            self.encoder.flush()?;
            self.ready = std::mem::take(self.encoder.get_mut());
            self.pos = 0;
        }
        let n = out.len().min(self.ready.len() - self.pos);
        out[..n].copy_from_slice(&self.ready[self.pos..self.pos + n]);
        self.pos += n;
        self.compressed_out += n as u64;
        Ok(n)
    }
}

#[test]
fn gzip_bomb_stops_at_the_decompressed_limit() {
    let limit = 8 * 1024 * 1024;
    let opts = ParseOptions {
        max_decompressed_bytes: limit,
        ..ParseOptions::default()
    };
    let mut reader = JunitReader::new(GzipBomb::new(), "bomb.xml.gz", opts).unwrap();
    let err = loop {
        match reader.next_item() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("an endless stream cannot end"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind, ErrorKind::TooLarge { limit }, "{err}");
    assert!(
        reader.bytes_read() <= limit + 1,
        "read {} bytes",
        reader.bytes_read()
    );
    assert!(err.to_string().contains("gzip bomb"), "{err}");
}

#[test]
fn corrupt_and_cut_gzip() {
    let e = parse_err(b"\x1f\x8b\x08\x00garbage-garbage-garbage");
    assert!(
        matches!(e.kind, ErrorKind::Gzip { .. } | ErrorKind::Truncated { .. }),
        "{e}"
    );
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(
        b"<testsuite><testcase name=\"a\"/></testsuite>"
            .repeat(50)
            .as_slice(),
    )
    .unwrap();
    let bytes = gz.finish().unwrap();
    let e = parse_err(&bytes[..bytes.len() / 2]);
    assert!(
        matches!(&e.kind, ErrorKind::Truncated { context } if context.contains("gzip")),
        "{e}"
    );
}

#[test]
fn ten_thousand_deep_nesting_stops_at_max_depth() {
    let mut doc = String::from("<testsuites>\n");
    for _ in 0..10_000 {
        doc.push_str("<testsuite>\n");
    }
    let e = parse_err(doc.as_bytes());
    assert_eq!(e.kind, ErrorKind::TooDeep { limit: 256 }, "{e}");
    // <testsuites> is level 1, so the 256th <testsuite> (line 257) is one too deep.
    assert_eq!(at(&e), (257, 1));
}

/// `<testsuite name="s"><testcase name="AAAA…` with `len` bytes of `A`, then the rest.
struct HugeAttribute {
    head: &'static [u8],
    len: u64,
    tail: &'static [u8],
    pos: u64,
}

impl Read for HugeAttribute {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let head = self.head.len() as u64;
        let body_end = head + self.len;
        let end = body_end + self.tail.len() as u64;
        let p = self.pos;
        let n = if p < head {
            let n = out.len().min((head - p) as usize);
            out[..n].copy_from_slice(&self.head[p as usize..p as usize + n]);
            n
        } else if p < body_end {
            let n = out
                .len()
                .min((body_end - p).min(usize::MAX as u64) as usize);
            out[..n].fill(b'A');
            n
        } else if p < end {
            let from = (p - body_end) as usize;
            let n = out.len().min(self.tail.len() - from);
            out[..n].copy_from_slice(&self.tail[from..from + n]);
            n
        } else {
            0
        };
        self.pos += n as u64;
        Ok(n)
    }
}

#[test]
fn hundred_megabyte_attribute_is_refused_early() {
    let input = HugeAttribute {
        head: b"<testsuite name=\"s\">\n  <testcase name=\"",
        len: 100 * 1024 * 1024,
        tail: b"\"/>\n</testsuite>\n",
        pos: 0,
    };
    let opts = ParseOptions {
        max_token_bytes: 1024 * 1024,
        ..ParseOptions::default()
    };
    let mut reader = JunitReader::new(input, "big.xml", opts).unwrap();
    let err = loop {
        match reader.next_item() {
            Ok(Some(Item::SuiteStart(_))) | Ok(Some(_)) => {}
            Ok(None) => panic!("must not accept a 100 MB attribute"),
            Err(e) => break e,
        }
    };
    assert_eq!(
        err.kind,
        ErrorKind::TokenTooLarge { limit: 1024 * 1024 },
        "{err}"
    );
    assert_eq!(at(&err), (2, 3));
    // Stopped within a buffer or two of the limit, not after 100 MB.
    assert!(
        reader.bytes_read() < 3 * 1024 * 1024,
        "read {}",
        reader.bytes_read()
    );
}

#[test]
fn huge_text_is_also_bounded() {
    let input = HugeAttribute {
        head: b"<testsuite><testcase name=\"a\"><system-out>",
        len: 40 * 1024 * 1024,
        tail: b"</system-out></testcase></testsuite>",
        pos: 0,
    };
    let opts = ParseOptions {
        max_token_bytes: 1024 * 1024,
        ..ParseOptions::default()
    };
    let e = parse_with(input, opts);
    assert_eq!(
        e.kind,
        ErrorKind::TokenTooLarge { limit: 1024 * 1024 },
        "{e}"
    );
}

#[test]
fn errors_repeat_after_the_first() {
    let mut reader = JunitReader::new(
        &b"<testsuite><testcase"[..],
        "r.xml",
        ParseOptions::default(),
    )
    .unwrap();
    let first = loop {
        if let Err(e) = reader.next_item() {
            break e;
        }
    };
    assert_eq!(reader.next_item().unwrap_err(), first);
}

#[test]
fn invalid_utf8_is_replaced_with_a_warning() {
    let report = parse_all(
        &b"<testsuite><testcase name=\"caf\xe9\"/></testsuite>"[..],
        "r.xml",
        ParseOptions::default(),
    )
    .unwrap();
    assert_eq!(report.cases[0].name, "caf\u{FFFD}");
    assert!(report.warnings.iter().any(|w| w.message.contains("U+FFFD")));
}

#[test]
fn utf16_and_latin1_reports() {
    let doc = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n<testsuite name=\"süite\"><testcase name=\"tëst\" time=\"1\"/></testsuite>";
    for bom_le in [true, false] {
        let mut bytes = if bom_le {
            vec![0xFF, 0xFE]
        } else {
            vec![0xFE, 0xFF]
        };
        for u in doc.encode_utf16() {
            bytes.extend_from_slice(&if bom_le {
                u.to_le_bytes()
            } else {
                u.to_be_bytes()
            });
        }
        let report = parse_all(bytes.as_slice(), "u16.xml", ParseOptions::default()).unwrap();
        assert_eq!(report.cases[0].name, "tëst");
        assert_eq!(&*report.cases[0].suite_path, ["süite".to_owned()]);
    }
    let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><testsuite><testcase name=\"t\xebst\"/></testsuite>";
    let report = parse_all(&latin1[..], "l1.xml", ParseOptions::default()).unwrap();
    assert_eq!(report.cases[0].name, "tëst");
}

/// Found by the fuzzer: a DOCTYPE whose 4th byte is inside a multi-byte character.
#[test]
fn doctype_with_multibyte_name_does_not_panic() {
    let e = parse_err("<!DOCTYPE r [›]>\n<r/>".as_bytes());
    assert!(matches!(e.kind, ErrorKind::NotJunit { .. }), "{e}");
}

#[test]
fn endless_reruns_in_one_case_are_capped() {
    let mut doc = String::from("<testsuite><testcase name=\"t\"><failure/>");
    for _ in 0..5000 {
        doc.push_str("<rerunFailure message=\"again\"/>");
    }
    doc.push_str("</testcase></testsuite>");
    let report = parse_all(doc.as_bytes(), "r.xml", ParseOptions::default()).unwrap();
    assert_eq!(report.cases[0].attempts.len(), 100);
    assert!(report
        .warnings
        .iter()
        .any(|w| w.message.contains("4900 re-runs")));
}

/// Real captured output can be large: it is cut and marked truncated, not refused.
#[test]
fn a_20_mib_system_out_is_truncated_not_rejected() {
    let mut report =
        b"<testsuite name=\"s\"><testcase classname=\"c\" name=\"chatty\"><system-out>".to_vec();
    report.extend(std::iter::repeat_n(b'x', 20 << 20));
    report.extend_from_slice(b"</system-out></testcase></testsuite>");
    let parsed = parse_all(report.as_slice(), "report.xml", ParseOptions::default()).unwrap();
    let out = parsed.cases[0].system_out.as_ref().unwrap();
    assert!(out.truncated);
    assert_eq!(out.text.len(), ParseOptions::default().max_captured_output);
}
