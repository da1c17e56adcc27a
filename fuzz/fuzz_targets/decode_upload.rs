//! Feeds arbitrary bytes to the server's upload decoding, as an upload body would arrive:
//! raw (XML, gzip, `.tar.gz`, `.zip`), with `Content-Encoding: gzip`, or as a multipart
//! form; then walks whatever was accepted as the worker does before storing. Every input
//! must end in a payload or a 4xx error, never a panic, and within the limits.
#![no_main]

use std::time::Duration;

use actix_web::http::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use actix_web::web::Bytes;
use flakewatch::web::upload_decoding::{from_files, from_raw, read_multipart, Part, Received};
use flakewatch::web::UploadLimits;
use libfuzzer_sys::fuzz_target;

/// Small limits, so the fuzzer reaches the limit paths too.
const MAX_REPORT_BYTES: u64 = 1 << 20;
const MAX_UPLOAD_BYTES: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let received = || Received::from_bytes(body).expect("a temporary file");
    let decoded = match mode % 3 {
        0 => from_raw(received(), false, MAX_REPORT_BYTES),
        1 => from_raw(received(), true, MAX_REPORT_BYTES),
        _ => match multipart_files(body) {
            Ok((file, files)) => from_files(file, files, MAX_REPORT_BYTES),
            Err(err) => Err(err),
        },
    };
    match decoded {
        Ok(stored) => {
            let kind = stored.kind;
            let compressed = stored.into_bytes().expect("the stored payload reads back");
            assert!(compressed.starts_with(&[0x1f, 0x8b]) || kind == "zip");
            // What the worker checks first; an error here fails the task, never panics.
            let _ = flakewatch::ingest::check_entries(
                std::io::Cursor::new(&compressed),
                MAX_REPORT_BYTES,
            );
        }
        Err(err) => assert!(err.status.is_client_error(), "{err:?}"),
    }
});

/// The files of `body` read as a multipart form, through the upload handler's reader.
fn multipart_files(
    body: &[u8],
) -> Result<(std::fs::File, Vec<(String, Part)>), flakewatch::error::ApiError> {
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        // The fuzzer learns the boundary from the seed corpus (fuzz/seeds/decode_upload).
        HeaderValue::from_static("multipart/form-data; boundary=fuzzboundary"),
    );
    let stream = futures_util::stream::iter(
        body.chunks(97)
            .map(|chunk| Ok(Bytes::copy_from_slice(chunk)))
            .collect::<Vec<Result<Bytes, actix_web::error::PayloadError>>>(),
    );
    let form = actix_multipart::Multipart::new(&headers, stream);
    let limits = UploadLimits {
        max_upload_bytes: MAX_UPLOAD_BYTES,
        max_report_bytes: MAX_REPORT_BYTES,
        header_timeout: Duration::from_secs(60),
        body_timeout: Duration::from_secs(60),
        body_idle_timeout: Duration::from_secs(60),
        max_queued_uploads: u64::MAX,
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime")
        .block_on(read_multipart(form, &limits))
}
