//! Turning an upload body into the stored payload: one gzip-compressed report, a
//! `.tar.gz` bundle (also what a multipart form becomes) or a `.zip`, with the cheap
//! checks an upload gets before it is accepted: size limits and "is this a report at all".

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};

use actix_web::http::StatusCode;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use super::body_file::{disk_error, Part, Received};
use crate::error::ApiError;
use crate::ingest::{check_entries, is_tar, PayloadError, MAX_ENTRIES};

/// The payload as it will be stored (gzip, `.tar.gz` or `.zip`), still in a temporary file.
pub struct StoredBody {
    pub file: File,
    pub len: u64,
    /// What the body was: `xml`, `gzip`, `tar.gz`, `zip` or `multipart`.
    pub kind: &'static str,
}

impl StoredBody {
    /// The payload's bytes, for the database (which takes a value whole).
    pub fn into_bytes(mut self) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::with_capacity(self.len as usize);
        self.file.seek(SeekFrom::Start(0))?;
        self.file.read_to_end(&mut bytes)?;
        Ok(bytes)
    }
}

/// A raw body (not multipart). `gzip_encoded` is `Content-Encoding: gzip`.
pub fn from_raw(
    received: Received,
    gzip_encoded: bool,
    max_report_bytes: u64,
) -> Result<StoredBody, ApiError> {
    let Received { mut file, body } = received;
    if body.len == 0 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "empty_body",
            "the upload body is empty: send the JUnit XML file (or a .zip/.tar.gz bundle) as the body",
        ));
    }
    let mut magic = [0u8; 4];
    let magic_len = (&file).take(4).read(&mut magic).map_err(disk_error)?;
    let magic = &magic[..magic_len];
    if magic.starts_with(&[0x1f, 0x8b]) {
        let size = decompressed_size(part_reader(&file, &body)?, max_report_bytes)?;
        let kind = if is_tar(&mut file).map_err(disk_error)? {
            "tar.gz"
        } else {
            "gzip"
        };
        if kind == "tar.gz" {
            check_bundle_shape(&mut file, max_report_bytes)?;
        }
        tracing::debug!(kind, size, "gzip upload");
        return Ok(StoredBody {
            file,
            len: body.len,
            kind,
        });
    }
    if gzip_encoded {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_encoding",
            "the request says `Content-Encoding: gzip` but the body is not gzip data",
        ));
    }
    if magic.starts_with(b"PK\x03\x04") {
        check_zip(&mut file, max_report_bytes)?;
        check_bundle_shape(&mut file, max_report_bytes)?;
        return Ok(StoredBody {
            file,
            len: body.len,
            kind: "zip",
        });
    }
    if !looks_like_xml(&mut file).map_err(disk_error)? {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not_a_report",
            "the body is not XML, gzip, .zip or .tar.gz: send the JUnit XML report your test runner wrote",
        ));
    }
    if body.len > max_report_bytes {
        return Err(too_large(max_report_bytes));
    }
    let (file, len) = gzip(part_reader(&file, &body)?).map_err(disk_error)?;
    Ok(StoredBody {
        file,
        len,
        kind: "xml",
    })
}

/// Files of a multipart form (parts of one received file), bundled as a `.tar.gz` in the
/// order they came.
pub fn from_files(
    received: File,
    files: Vec<(String, Part)>,
    max_report_bytes: u64,
) -> Result<StoredBody, ApiError> {
    if files.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "no_files",
            "the multipart form holds no file: attach reports as file fields (curl -F 'file=@report.xml')",
        ));
    }
    if files.len() > MAX_ENTRIES {
        return Err(too_many_files());
    }
    let mut total = 0u64;
    let bundle = tempfile::tempfile().map_err(disk_error)?;
    let mut archive = tar::Builder::new(GzEncoder::new(bundle, Compression::fast()));
    for (index, (name, part)) in files.iter().enumerate() {
        let mut magic = [0u8; 2];
        let magic_len = part_reader(&received, part)?
            .read(&mut magic)
            .map_err(disk_error)?;
        total += if magic[..magic_len] == [0x1f, 0x8b] {
            decompressed_size(
                part_reader(&received, part)?,
                max_report_bytes.saturating_sub(total),
            )?
        } else {
            part.len
        };
        if total > max_report_bytes {
            return Err(too_large(max_report_bytes));
        }
        // Field order keeps names unique even when two files share a name.
        let entry_name = format!("{index:04}-{}", sanitize_name(name));
        let mut header = tar::Header::new_gnu();
        header.set_size(part.len);
        header.set_mode(0o644);
        header.set_cksum();
        archive
            .append_data(&mut header, entry_name, part_reader(&received, part)?)
            .map_err(internal)?;
    }
    let mut bundle = archive
        .into_inner()
        .and_then(GzEncoder::finish)
        .map_err(internal)?;
    let len = bundle.stream_position().map_err(disk_error)?;
    Ok(StoredBody {
        file: bundle,
        len,
        kind: "multipart",
    })
}

/// One part of a received file, read from its start.
fn part_reader<'f>(file: &'f File, part: &Part) -> Result<io::Take<&'f File>, ApiError> {
    let mut reader = file;
    reader
        .seek(SeekFrom::Start(part.offset))
        .map_err(disk_error)?;
    Ok(reader.take(part.len))
}

/// A file name safe to keep: its last path component, printable, at most 200 bytes.
pub fn sanitize_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let mut clean: String = base.chars().filter(|c| !c.is_control()).collect();
    while clean.len() > 200 {
        clean.pop();
    }
    if clean.is_empty() {
        "report.xml".into()
    } else {
        clean
    }
}

/// Compresses a plain report into a new temporary file; returns it and its length.
fn gzip(mut report: impl Read) -> io::Result<(File, u64)> {
    let mut encoder = GzEncoder::new(tempfile::tempfile()?, Compression::fast());
    io::copy(&mut report, &mut encoder)?;
    let mut file = encoder.finish()?;
    let len = file.stream_position()?;
    Ok((file, len))
}

/// Decompresses without keeping anything, to enforce the decompressed-size limit.
fn decompressed_size(gzip: impl Read, limit: u64) -> Result<u64, ApiError> {
    let mut decoder = GzDecoder::new(gzip).take(limit + 1);
    let size = io::copy(&mut decoder, &mut io::sink()).map_err(|err| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_gzip",
            format!("the gzip data is corrupt ({err}); upload the file again, or uncompressed"),
        )
    })?;
    if size > limit {
        return Err(too_large(limit));
    }
    Ok(size)
}

fn check_zip(body: &mut File, limit: u64) -> Result<(), ApiError> {
    let bad = |err: zip::result::ZipError| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_zip",
            format!("the .zip is corrupt ({err}); build the bundle again"),
        )
    };
    body.seek(SeekFrom::Start(0)).map_err(disk_error)?;
    let mut archive = zip::ZipArchive::new(&*body).map_err(bad)?;
    let mut total = 0u64;
    for index in 0..archive.len() {
        total = total.saturating_add(archive.by_index_raw(index).map_err(bad)?.size());
    }
    if total > limit {
        return Err(too_large(limit));
    }
    Ok(())
}

/// Refuses a bundle with too many files or an overlong file name before it is stored;
/// anything else about it is left to the checks above and to its task.
fn check_bundle_shape(body: &mut File, max_report_bytes: u64) -> Result<(), ApiError> {
    body.seek(SeekFrom::Start(0)).map_err(disk_error)?;
    match check_entries(&*body, max_report_bytes) {
        Ok(()) => Ok(()),
        Err(err) => bundle_shape_error(err).map_or(Ok(()), Err),
    }
}

fn bundle_shape_error(err: PayloadError) -> Option<ApiError> {
    match err {
        PayloadError::TooManyEntries => Some(too_many_files()),
        PayloadError::NameTooLong(_) => Some(ApiError::new(
            StatusCode::BAD_REQUEST,
            "file_name_too_long",
            err.to_string(),
        )),
        _ => None,
    }
}

pub fn too_many_files() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_many_files",
        PayloadError::TooManyEntries.to_string(),
    )
}

/// XML starts with `<` after an optional byte-order mark and whitespace; UTF-16 reports
/// start with their BOM.
fn looks_like_xml(body: &mut File) -> io::Result<bool> {
    body.seek(SeekFrom::Start(0))?;
    let mut reader = BufReader::new(&*body);
    let head = reader.fill_buf()?;
    if head.starts_with(&[0xff, 0xfe]) || head.starts_with(&[0xfe, 0xff]) {
        return Ok(true);
    }
    if head.starts_with(&[0xef, 0xbb, 0xbf]) {
        reader.consume(3);
    }
    for byte in reader.bytes() {
        let byte = byte?;
        if !byte.is_ascii_whitespace() {
            return Ok(byte == b'<');
        }
    }
    Ok(false)
}

pub fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the report is larger than {limit} bytes once decompressed; split it into several uploads or raise FLAKEWATCH_MAX_REPORT_BYTES"),
    )
}

fn internal(err: io::Error) -> ApiError {
    tracing::error!(error = %err, "bundling an upload failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "bundle_failed",
        "the upload could not be bundled; the server log has the details",
    )
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn raw(bytes: &[u8], gzip_encoded: bool) -> Result<StoredBody, ApiError> {
        from_raw(Received::from_bytes(bytes).unwrap(), gzip_encoded, 1 << 20)
    }

    fn gzipped(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn unzipped(stored: StoredBody) -> Vec<u8> {
        let mut text = Vec::new();
        GzDecoder::new(stored.into_bytes().unwrap().as_slice())
            .read_to_end(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn plain_xml_is_compressed_and_html_is_refused() {
        let report = b"\xef\xbb\xbf <testsuite/>";
        let stored = raw(report, false).unwrap();
        assert_eq!(stored.kind, "xml");
        assert_eq!(unzipped(stored), report);
        let err = raw(b"hello", false).err().unwrap();
        assert_eq!(err.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let err = raw(b"   ", false).err().unwrap();
        assert_eq!(err.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let err = raw(b"", false).err().unwrap();
        assert_eq!(err.code, "empty_body");
    }

    #[test]
    fn gzip_is_kept_as_sent_and_a_bomb_is_refused() {
        let report = gzipped(b"<testsuite/>");
        let stored = raw(&report, true).unwrap();
        assert_eq!((stored.kind, stored.len), ("gzip", report.len() as u64));
        assert_eq!(stored.into_bytes().unwrap(), report);
        let bomb = gzipped(&vec![b'<'; 2 << 20]);
        let err = raw(&bomb, true).err().unwrap();
        assert_eq!(err.status, StatusCode::PAYLOAD_TOO_LARGE);
        let err = raw(b"<testsuite/>", true).err().unwrap();
        assert_eq!(err.code, "bad_encoding");
    }

    #[test]
    fn form_files_become_one_bundle_in_their_order() {
        let first = b"<testsuite name=\"a\"/>".to_vec();
        let second = gzipped(b"<testsuite name=\"b\"/>");
        let mut body = tempfile::tempfile().unwrap();
        body.write_all(&first).unwrap();
        body.write_all(&second).unwrap();
        let part = |offset: usize, len: usize| Part {
            offset: offset as u64,
            len: len as u64,
            sha256: [0; 32],
        };
        let files = vec![
            ("dir/a.xml".to_owned(), part(0, first.len())),
            ("b.xml.gz".to_owned(), part(first.len(), second.len())),
        ];
        let stored = from_files(body, files, 1 << 20).unwrap();
        assert_eq!(stored.kind, "multipart");
        let bytes = stored.into_bytes().unwrap();
        let mut archive = tar::Archive::new(GzDecoder::new(bytes.as_slice()));
        let entries: Vec<(String, Vec<u8>)> = archive
            .entries()
            .unwrap()
            .map(|entry| {
                let mut entry = entry.unwrap();
                let name = entry.path().unwrap().display().to_string();
                let mut data = Vec::new();
                entry.read_to_end(&mut data).unwrap();
                (name, data)
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("0000-a.xml".to_owned(), first),
                ("0001-b.xml.gz".to_owned(), second)
            ]
        );
    }

    #[test]
    fn names_lose_their_folders() {
        assert_eq!(sanitize_name("../../etc/TEST-a.xml"), "TEST-a.xml");
        assert_eq!(sanitize_name("C:\\ci\\out.xml"), "out.xml");
        assert_eq!(sanitize_name(""), "report.xml");
    }
}
