//! Turning an upload body into the stored payload: one gzip-compressed report, a
//! `.tar.gz` bundle (also what a multipart form becomes) or a `.zip`, with the cheap
//! checks an upload gets before it is accepted: size limits and "is this a report at all".

use std::io::{self, Read, Write};

use actix_web::http::StatusCode;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::error::ApiError;
use crate::ingest::{check_entries, PayloadError, MAX_ENTRIES};

pub struct StoredBody {
    pub compressed: Vec<u8>,
    /// What the body was: `xml`, `gzip`, `tar.gz`, `zip` or `multipart`.
    pub kind: &'static str,
}

/// A raw body (not multipart). `gzip_encoded` is `Content-Encoding: gzip`.
pub fn from_raw(
    body: Vec<u8>,
    gzip_encoded: bool,
    max_report_bytes: u64,
) -> Result<StoredBody, ApiError> {
    if body.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "empty_body",
            "the upload body is empty: send the JUnit XML file (or a .zip/.tar.gz bundle) as the body",
        ));
    }
    if body.starts_with(&[0x1f, 0x8b]) {
        let size = decompressed_size(&body, max_report_bytes)?;
        let kind = if is_tar(&body) { "tar.gz" } else { "gzip" };
        if kind == "tar.gz" {
            check_bundle_shape(&body, max_report_bytes)?;
        }
        tracing::debug!(kind, size, "gzip upload");
        return Ok(StoredBody {
            compressed: body,
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
    if body.starts_with(b"PK\x03\x04") {
        check_zip(&body, max_report_bytes)?;
        check_bundle_shape(&body, max_report_bytes)?;
        return Ok(StoredBody {
            compressed: body,
            kind: "zip",
        });
    }
    if !looks_like_xml(&body) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not_a_report",
            "the body is not XML, gzip, .zip or .tar.gz: send the JUnit XML report your test runner wrote",
        ));
    }
    if body.len() as u64 > max_report_bytes {
        return Err(too_large(max_report_bytes));
    }
    Ok(StoredBody {
        compressed: gzip(&body),
        kind: "xml",
    })
}

/// Files of a multipart form, bundled as a `.tar.gz` in the order they came.
pub fn from_files(
    files: Vec<(String, Vec<u8>)>,
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
    let mut archive = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for (index, (name, data)) in files.iter().enumerate() {
        total += if data.starts_with(&[0x1f, 0x8b]) {
            decompressed_size(data, max_report_bytes.saturating_sub(total))?
        } else {
            data.len() as u64
        };
        if total > max_report_bytes {
            return Err(too_large(max_report_bytes));
        }
        // Field order keeps names unique even when two files share a name.
        let entry_name = format!("{index:04}-{}", sanitize_name(name));
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        archive
            .append_data(&mut header, entry_name, data.as_slice())
            .map_err(internal)?;
    }
    let compressed = archive
        .into_inner()
        .and_then(GzEncoder::finish)
        .map_err(internal)?;
    Ok(StoredBody {
        compressed,
        kind: "multipart",
    })
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

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(data.len() / 8), Compression::fast());
    // Writing to a Vec cannot fail.
    encoder.write_all(data).expect("gzip into memory");
    encoder.finish().expect("gzip into memory")
}

/// Decompresses without keeping anything, to enforce the decompressed-size limit.
fn decompressed_size(gzip: &[u8], limit: u64) -> Result<u64, ApiError> {
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

fn check_zip(body: &[u8], limit: u64) -> Result<(), ApiError> {
    let bad = |err: zip::result::ZipError| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_zip",
            format!("the .zip is corrupt ({err}); build the bundle again"),
        )
    };
    let mut archive = zip::ZipArchive::new(io::Cursor::new(body)).map_err(bad)?;
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
fn check_bundle_shape(body: &[u8], max_report_bytes: u64) -> Result<(), ApiError> {
    match check_entries(body, max_report_bytes) {
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

fn too_many_files() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_many_files",
        PayloadError::TooManyEntries.to_string(),
    )
}

fn is_tar(gzip: &[u8]) -> bool {
    let mut header = [0u8; 262];
    GzDecoder::new(gzip).read_exact(&mut header).is_ok() && &header[257..262] == b"ustar"
}

/// XML starts with `<` after an optional byte-order mark and whitespace; UTF-16 reports
/// start with their BOM.
fn looks_like_xml(body: &[u8]) -> bool {
    if body.starts_with(&[0xff, 0xfe]) || body.starts_with(&[0xfe, 0xff]) {
        return true;
    }
    let body = body.strip_prefix(&[0xef, 0xbb, 0xbf]).unwrap_or(body);
    body.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'<')
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
    use super::*;

    #[test]
    fn plain_xml_is_compressed_and_html_is_refused() {
        let stored = from_raw(b"\xef\xbb\xbf <testsuite/>".to_vec(), false, 1 << 20).unwrap();
        assert_eq!(stored.kind, "xml");
        assert!(stored.compressed.starts_with(&[0x1f, 0x8b]));
        let err = from_raw(b"hello".to_vec(), false, 1 << 20).err().unwrap();
        assert_eq!(err.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn gzip_bomb_is_refused_before_it_is_stored() {
        let bomb = gzip(&vec![b'<'; 2 << 20]);
        let err = from_raw(bomb, true, 1 << 20).err().unwrap();
        assert_eq!(err.status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn names_lose_their_folders() {
        assert_eq!(sanitize_name("../../etc/TEST-a.xml"), "TEST-a.xml");
        assert_eq!(sanitize_name("C:\\ci\\out.xml"), "out.xml");
        assert_eq!(sanitize_name(""), "report.xml");
    }
}
