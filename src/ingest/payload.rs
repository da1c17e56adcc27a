//! Opening a stored upload: one gzip-compressed report, a `.tar.gz` bundle or a `.zip`.
//! Bundle entries are streamed one at a time; nothing is unpacked to disk or memory.

use std::io::{self, Read, Seek, SeekFrom};

use flate2::read::GzDecoder;

/// Why a bundle could not be opened (a report that does not parse is a `ParseError`).
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("the upload is not a JUnit report, a .tar.gz or a .zip bundle: {0}")]
    Unreadable(String),
    #[error("the bundle holds no JUnit report (no *.xml or *.xml.gz file){0}")]
    NoReports(String),
    #[error("the bundle is larger than {limit} bytes once decompressed; split the upload or raise FLAKEWATCH_MAX_REPORT_BYTES")]
    TooLarge { limit: u64 },
    #[error("the bundle holds more than {MAX_ENTRIES} files; send the test reports only, or split the upload")]
    TooManyEntries,
    #[error("the bundle has a file name longer than {MAX_ENTRY_NAME_BYTES} bytes (`{0}…`); give the reports shorter names")]
    NameTooLong(String),
}

/// Most files (reports or not) one bundle may hold: each costs a header read and a name
/// kept in memory, and real uploads hold tens to a few thousand reports.
pub const MAX_ENTRIES: usize = 10_000;
/// Longest file name in a bundle, in bytes (paths on common file systems stop at 4096).
pub const MAX_ENTRY_NAME_BYTES: usize = 4096;
/// Names of skipped files kept for the "no report" message.
const SKIPPED_SHOWN: usize = 5;

/// The upload-time check of a bundle's shape: file count and name lengths, reading
/// headers only. A bundle without reports passes here and fails its task as before,
/// with the parser's message.
pub fn check_entries(payload: impl Read + Seek, max_bytes: u64) -> Result<(), PayloadError> {
    match for_each_report(payload, "report.xml", max_bytes, |_, _| {
        Ok::<_, PayloadError>(())
    }) {
        Err(PayloadError::NoReports(_)) => Ok(()),
        other => other,
    }
}

/// Calls `visit(name, reader)` for each report in the payload (a stored upload, in memory
/// or in a file), in bundle order. The reader may still be gzip-compressed; the JUnit
/// parser detects that itself.
pub fn for_each_report<E: From<PayloadError>>(
    mut payload: impl Read + Seek,
    single_name: &str,
    max_bytes: u64,
    mut visit: impl FnMut(&str, &mut dyn Read) -> Result<(), E>,
) -> Result<(), E> {
    let unreadable = |e: io::Error| PayloadError::Unreadable(e.to_string());
    let mut magic = [0u8; 4];
    let magic_len = read_up_to(&mut payload, &mut magic).map_err(unreadable)?;
    let magic = &magic[..magic_len];
    let tarball = magic.starts_with(&[0x1f, 0x8b]) && is_tar(&mut payload).map_err(unreadable)?;
    payload.seek(SeekFrom::Start(0)).map_err(unreadable)?;
    if magic.starts_with(b"PK\x03\x04") {
        return for_each_in_zip(payload, max_bytes, visit);
    }
    if tarball {
        // The outer limit also bounds entries that are skipped, not only those read.
        let outer_limit = max_bytes.saturating_mul(2);
        let mut archive = tar::Archive::new(Limited::new(GzDecoder::new(payload), outer_limit));
        let mut bundle = Bundle::new(max_bytes);
        let entries = archive
            .entries()
            .map_err(|e| bundle_error(e, outer_limit))?;
        for entry in entries {
            let entry = entry.map_err(|e| bundle_error(e, outer_limit))?;
            if entry.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            bundle.entry(name, entry, &mut visit)?;
        }
        return bundle.finish();
    }
    // One report, stored gzip-compressed (or, from older clients, as sent).
    visit(single_name, &mut payload)
}

/// Fills as much of `buf` as the reader holds (less only at its end).
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn for_each_in_zip<E: From<PayloadError>>(
    payload: impl Read + Seek,
    max_bytes: u64,
    mut visit: impl FnMut(&str, &mut dyn Read) -> Result<(), E>,
) -> Result<(), E> {
    let mut archive = zip::ZipArchive::new(payload)
        .map_err(|e| PayloadError::Unreadable(format!("broken .zip: {e}")))?;
    let mut bundle = Bundle::new(max_bytes);
    for index in 0..archive.len() {
        let file = archive
            .by_index(index)
            .map_err(|e| PayloadError::Unreadable(format!("broken .zip entry {index}: {e}")))?;
        if file.is_dir() {
            continue;
        }
        let name = file
            .name()
            .map(|n| n.into_owned())
            .unwrap_or_else(|_| format!("entry-{index}"));
        bundle.entry(name, file, &mut visit)?;
    }
    bundle.finish()
}

/// Walks a bundle's entries: reports are visited within one shared decompressed-size
/// budget, anything else is noted for the error message when no report turns up.
struct Bundle {
    max_bytes: u64,
    budget: u64,
    visited: usize,
    entries: usize,
    /// The first few names of files that are not reports, for the error message.
    skipped: Vec<String>,
}

impl Bundle {
    fn new(max_bytes: u64) -> Bundle {
        Bundle {
            max_bytes,
            budget: max_bytes,
            visited: 0,
            entries: 0,
            skipped: Vec::new(),
        }
    }

    fn entry<E: From<PayloadError>>(
        &mut self,
        name: String,
        reader: impl Read,
        visit: &mut impl FnMut(&str, &mut dyn Read) -> Result<(), E>,
    ) -> Result<(), E> {
        self.entries += 1;
        if self.entries > MAX_ENTRIES {
            return Err(PayloadError::TooManyEntries.into());
        }
        if name.len() > MAX_ENTRY_NAME_BYTES {
            let shown: String = name.chars().take(60).collect();
            return Err(PayloadError::NameTooLong(shown).into());
        }
        if !is_report_name(&name) {
            if self.skipped.len() < SKIPPED_SHOWN {
                self.skipped.push(name);
            }
            return Ok(());
        }
        let mut limited = Limited::new(reader, self.budget);
        let result = visit(&name, &mut limited);
        self.budget = self.budget.saturating_sub(limited.read);
        if limited.exceeded {
            return Err(PayloadError::TooLarge {
                limit: self.max_bytes,
            }
            .into());
        }
        result?;
        self.visited += 1;
        Ok(())
    }

    fn finish<E: From<PayloadError>>(self) -> Result<(), E> {
        if self.visited > 0 {
            return Ok(());
        }
        let listed = if self.skipped.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = self.skipped.iter().map(String::as_str).collect();
            format!("; it holds {}", names.join(", "))
        };
        Err(PayloadError::NoReports(listed).into())
    }
}

/// A tar archive has "ustar" at offset 257 of its first header. Reads from the start of
/// `gzip` and leaves it wherever the check ended.
pub fn is_tar(gzip: &mut (impl Read + Seek)) -> io::Result<bool> {
    gzip.seek(SeekFrom::Start(0))?;
    let mut header = [0u8; 262];
    let complete = GzDecoder::new(gzip).read_exact(&mut header).is_ok();
    Ok(complete && &header[257..262] == b"ustar")
}

fn is_report_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let base = lower.rsplit('/').next().unwrap_or(&lower);
    !base.starts_with("._") && (lower.ends_with(".xml") || lower.ends_with(".xml.gz"))
}

fn bundle_error(err: io::Error, limit: u64) -> PayloadError {
    if err.kind() == io::ErrorKind::FileTooLarge {
        PayloadError::TooLarge { limit }
    } else {
        PayloadError::Unreadable(format!("broken .tar.gz: {err}"))
    }
}

/// Stops reading with an error past `limit` bytes, so a decompression bomb cannot run on:
/// decompressed data is only ever streamed, never held whole.
struct Limited<R> {
    inner: R,
    limit: u64,
    read: u64,
    exceeded: bool,
}

impl<R> Limited<R> {
    fn new(inner: R, limit: u64) -> Self {
        Limited {
            inner,
            limit,
            read: 0,
            exceeded: false,
        }
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            self.exceeded = true;
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                "decompressed size limit",
            ));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, *data).unwrap();
        }
        gzip(&builder.into_inner().unwrap())
    }

    fn names(payload: &[u8], limit: u64) -> Result<Vec<(String, usize)>, PayloadError> {
        let mut seen = Vec::new();
        for_each_report(Cursor::new(payload), "report.xml", limit, |name, reader| {
            let mut text = Vec::new();
            reader
                .read_to_end(&mut text)
                .map_err(|e| PayloadError::Unreadable(e.to_string()))?;
            seen.push((name.to_owned(), text.len()));
            Ok::<_, PayloadError>(())
        })?;
        Ok(seen)
    }

    #[test]
    fn single_gzip_report_is_one_entry() {
        let seen = names(&gzip(b"<testsuite/>"), 1 << 20).unwrap();
        assert_eq!(seen.len(), 1);
    }

    #[test]
    fn tar_gz_yields_only_reports() {
        let payload = tar_gz(&[
            ("a/TEST-one.xml", b"<testsuite/>"),
            ("notes.txt", b"x"),
            ("b.xml.gz", b"zz"),
        ]);
        let seen = names(&payload, 1 << 20).unwrap();
        let names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a/TEST-one.xml", "b.xml.gz"]);
    }

    #[test]
    fn bundle_without_reports_says_what_it_holds() {
        let payload = tar_gz(&[("notes.txt", b"x")]);
        let err = names(&payload, 1 << 20).unwrap_err();
        assert!(err.to_string().contains("notes.txt"), "{err}");
    }

    #[test]
    fn zip_entries_are_read() {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file("reports/one.xml", options).unwrap();
        zip.write_all(b"<testsuite/>").unwrap();
        let payload = zip.finish().unwrap().into_inner();
        let seen = names(&payload, 1 << 20).unwrap();
        assert_eq!(seen, [("reports/one.xml".to_owned(), 12)]);
    }

    #[test]
    fn tar_bomb_stops_at_the_limit() {
        let big = vec![b' '; 100_000];
        let payload = tar_gz(&[("big.xml", &big)]);
        assert!(matches!(
            names(&payload, 10_000),
            Err(PayloadError::TooLarge { .. })
        ));
    }
}

#[cfg(test)]
mod shape_tests {
    use super::*;
    use std::io::Cursor;

    fn tar_gz(names: &[String]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for name in names {
            let mut header = tar::Header::new_gnu();
            header.set_size(1);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, &b"<"[..]).unwrap();
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &builder.into_inner().unwrap()).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn file_count_and_name_length_are_bounded() {
        let many: Vec<String> = (0..=MAX_ENTRIES).map(|i| format!("{i}.txt")).collect();
        assert!(matches!(
            check_entries(Cursor::new(tar_gz(&many)), 1 << 30),
            Err(PayloadError::TooManyEntries)
        ));
        let long = vec![format!("{}.xml", "n".repeat(MAX_ENTRY_NAME_BYTES))];
        assert!(matches!(
            check_entries(Cursor::new(tar_gz(&long)), 1 << 30),
            Err(PayloadError::NameTooLong(_))
        ));
        let fine: Vec<String> = (0..10).map(|i| format!("{i}.txt")).collect();
        assert!(
            check_entries(Cursor::new(tar_gz(&fine)), 1 << 30).is_ok(),
            "no report is the task's business"
        );
        // The "no report" message lists a few names, not all of them.
        let err = for_each_report(Cursor::new(tar_gz(&fine)), "r", 1 << 30, |_, _| {
            Ok::<_, PayloadError>(())
        })
        .unwrap_err();
        assert_eq!(err.to_string().matches(".txt").count(), SKIPPED_SHOWN);
    }
}
