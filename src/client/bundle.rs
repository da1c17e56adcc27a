//! Turns the collected report files into one request body.
//!
//! The bytes must be the same every time for the same files: the server derives an
//! upload's identity from its metadata and bytes, so a retried or repeated upload is
//! recognised only if nothing in the body (timestamps, file order, owners) varies.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use super::http::Payload;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZIP_MAGIC: [u8; 4] = [b'P', b'K', 3, 4];

#[derive(Debug, thiserror::Error)]
#[error("cannot read the report `{path}`: {reason}")]
pub struct BundleError {
    pub path: String,
    pub reason: String,
}

/// One file goes as it is (compressed if it is not already); several go as a `.tar.gz`.
/// Names inside a bundle are relative to `cwd` when the file lies below it.
pub fn prepare(files: &[PathBuf], cwd: &Path) -> Result<Payload, BundleError> {
    match files {
        [one] => single(one),
        many => bundle(many, cwd),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, BundleError> {
    std::fs::read(path).map_err(|err| BundleError {
        path: path.display().to_string(),
        reason: err.to_string(),
    })
}

fn single(path: &Path) -> Result<Payload, BundleError> {
    let bytes = read(path)?;
    let lower_name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let payload = if bytes.starts_with(&ZIP_MAGIC) {
        Payload {
            body: bytes,
            content_type: "application/zip",
            content_encoding: None,
            file_name,
        }
    } else if bytes.starts_with(&GZIP_MAGIC)
        && (lower_name.ends_with(".tar.gz") || lower_name.ends_with(".tgz"))
    {
        Payload {
            body: bytes,
            content_type: "application/gzip",
            content_encoding: None,
            file_name,
        }
    } else if bytes.starts_with(&GZIP_MAGIC) {
        // A gzip-compressed report: sent as it is, labelled as compressed XML.
        Payload {
            body: bytes,
            content_type: "application/xml",
            content_encoding: Some("gzip"),
            file_name: file_name.map(|n| strip_gz(&n).to_owned()),
        }
    } else {
        Payload {
            body: gzip(&bytes),
            content_type: "application/xml",
            content_encoding: Some("gzip"),
            file_name,
        }
    };
    Ok(payload)
}

fn bundle(files: &[PathBuf], cwd: &Path) -> Result<Payload, BundleError> {
    let mut members: Vec<(String, Vec<u8>)> = Vec::with_capacity(files.len());
    for path in files {
        let mut bytes = read(path)?;
        let mut name = member_name(path, cwd);
        // Compressed reports are unpacked, so the bundle holds only plain XML to parse.
        if bytes.starts_with(&GZIP_MAGIC) {
            let mut plain = Vec::new();
            GzDecoder::new(&bytes[..])
                .read_to_end(&mut plain)
                .map_err(|err| BundleError {
                    path: path.display().to_string(),
                    reason: format!("it looks gzip-compressed but does not unpack: {err}"),
                })?;
            bytes = plain;
            name = strip_gz(&name).to_owned();
        }
        members.push((name, bytes));
    }
    members.sort_by(|a, b| a.0.cmp(&b.0));
    // `a.xml` next to `a.xml.gz`: sending only one would lose results without a word.
    if let Some(pair) = members.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(BundleError {
            path: pair[0].0.clone(),
            reason: "two reports would have this name in the bundle; name only one of them"
                .to_owned(),
        });
    }

    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    for (name, bytes) in &members {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, name, &bytes[..])
            .map_err(|err| BundleError {
                path: name.clone(),
                reason: format!("cannot add it to the bundle: {err}"),
            })?;
    }
    let body = tar
        .into_inner()
        .and_then(GzEncoder::finish)
        .map_err(|err| BundleError {
            path: "(bundle)".to_owned(),
            reason: err.to_string(),
        })?;
    Ok(Payload {
        body,
        content_type: "application/gzip",
        content_encoding: None,
        file_name: None,
    })
}

/// gzip with no file name and a zero timestamp in its header, so equal input gives equal
/// output.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    // Writing to a Vec cannot fail.
    encoder.write_all(bytes).expect("gzip into memory");
    encoder.finish().expect("gzip into memory")
}

fn strip_gz(name: &str) -> &str {
    let cut = name.len().saturating_sub(3);
    if name.is_char_boundary(cut) && name[cut..].eq_ignore_ascii_case(".gz") {
        &name[..cut]
    } else {
        name
    }
}

/// The name a file gets inside the bundle, which is how the server's messages will name it:
/// relative to the working folder when below it, else its absolute path without the root.
/// Always `/`-separated and free of `..`, which tar refuses.
fn member_name(path: &Path, cwd: &Path) -> String {
    let absolute = path.canonicalize().unwrap_or_else(|_| cwd.join(path));
    let cwd = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());
    let relative = absolute.strip_prefix(&cwd).unwrap_or(&absolute);
    let parts: Vec<String> = relative
        .components()
        .filter_map(|part| match part {
            Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unpack(body: &[u8]) -> Vec<(String, String, u64, u32)> {
        let mut archive = tar::Archive::new(GzDecoder::new(body));
        archive
            .entries()
            .unwrap()
            .map(|entry| {
                let mut entry = entry.unwrap();
                let name = entry.path().unwrap().to_string_lossy().into_owned();
                let mtime = entry.header().mtime().unwrap();
                let mode = entry.header().mode().unwrap();
                let mut text = String::new();
                entry.read_to_string(&mut text).unwrap();
                (name, text, mtime, mode)
            })
            .collect()
    }

    fn write(dir: &Path, rel: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn bundles_are_byte_identical_whatever_the_order_and_timestamps() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "unit/a.xml", b"<testsuite name=\"a\"/>");
        let b = write(dir.path(), "integration/b.xml", b"<testsuite name=\"b\"/>");
        let first = prepare(&[a.clone(), b.clone()], dir.path()).unwrap();
        // Touch a file: a new mtime must not change the bytes.
        std::fs::write(&a, b"<testsuite name=\"a\"/>").unwrap();
        let second = prepare(&[b, a], dir.path()).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.content_type, "application/gzip");
        assert_eq!(first.content_encoding, None);
        assert_eq!(
            unpack(&first.body),
            [
                (
                    "integration/b.xml".to_owned(),
                    "<testsuite name=\"b\"/>".to_owned(),
                    0,
                    0o644
                ),
                (
                    "unit/a.xml".to_owned(),
                    "<testsuite name=\"a\"/>".to_owned(),
                    0,
                    0o644
                ),
            ]
        );
    }

    #[test]
    fn compressed_members_are_unpacked_into_the_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a.xml.gz", &gzip(b"<testsuite name=\"a\"/>"));
        let b = write(dir.path(), "b.xml", b"<testsuite name=\"b\"/>");
        let payload = prepare(&[a, b], dir.path()).unwrap();
        let names: Vec<String> = unpack(&payload.body).into_iter().map(|m| m.0).collect();
        assert_eq!(names, ["a.xml", "b.xml"]);
    }

    #[test]
    fn files_outside_the_working_folder_keep_their_path() {
        let outside = tempfile::tempdir().unwrap();
        let cwd = tempfile::tempdir().unwrap();
        let a = write(outside.path(), "r/a.xml", b"<testsuite/>");
        let b = write(cwd.path(), "b.xml", b"<testsuite/>");
        let payload = prepare(&[a.clone(), b], cwd.path()).unwrap();
        let names: Vec<String> = unpack(&payload.body).into_iter().map(|m| m.0).collect();
        let expected_a = a
            .canonicalize()
            .unwrap()
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("/");
        assert!(names.contains(&expected_a), "{names:?}");
        assert!(names.contains(&"b.xml".to_owned()), "{names:?}");
    }

    #[test]
    fn one_plain_report_is_gzipped_deterministically() {
        let dir = tempfile::tempdir().unwrap();
        let xml = b"<testsuite><testcase name=\"t\"/></testsuite>";
        let path = write(dir.path(), "report.xml", xml);
        let first = prepare(std::slice::from_ref(&path), dir.path()).unwrap();
        let second = prepare(&[path], dir.path()).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.content_type, "application/xml");
        assert_eq!(first.content_encoding, Some("gzip"));
        assert_eq!(first.file_name.as_deref(), Some("report.xml"));
        let mut plain = Vec::new();
        GzDecoder::new(&first.body[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, xml);
    }

    #[test]
    fn one_compressed_report_or_archive_is_sent_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let gz = gzip(b"<testsuite/>");
        let report = write(dir.path(), "report.xml.gz", &gz);
        let payload = prepare(&[report], dir.path()).unwrap();
        assert_eq!(payload.body, gz);
        assert_eq!(payload.content_encoding, Some("gzip"));
        assert_eq!(payload.file_name.as_deref(), Some("report.xml"));

        let archive = write(dir.path(), "reports.tar.gz", &gz);
        let payload = prepare(&[archive], dir.path()).unwrap();
        assert_eq!(
            (payload.content_type, payload.content_encoding),
            ("application/gzip", None)
        );

        let zip = write(dir.path(), "reports.zip", b"PK\x03\x04rest");
        let payload = prepare(&[zip], dir.path()).unwrap();
        assert_eq!(payload.content_type, "application/zip");
        assert_eq!(payload.body, b"PK\x03\x04rest");
    }

    #[test]
    fn an_unreadable_report_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = prepare(&[dir.path().join("gone.xml")], dir.path()).unwrap_err();
        assert!(err.to_string().contains("gone.xml"), "{err}");
    }
}
