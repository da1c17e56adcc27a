//! An upload body on its way in, written to a temporary file instead of being held in
//! memory: many large or slow uploads at once then cost disk, not memory. The file has no
//! name (it is unlinked from the start), so it is gone when dropped, even after a crash.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};

use actix_web::http::StatusCode;
use actix_web::web;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// Chunks gathered before one write: a blocking write per network chunk (a few KB) would
/// cost a thread hand-off each.
const WRITE_BATCH_BYTES: usize = 256 << 10;

/// A body being received: the whole body, or the files of a multipart form one after the
/// other (one file descriptor per upload, however many files the form holds).
pub struct BodyFile {
    file: Option<File>,
    pending: Vec<u8>,
    len: u64,
    part_start: u64,
    hasher: Sha256,
}

/// Where one received part lies in the body file, and its SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub offset: u64,
    pub len: u64,
    pub sha256: [u8; 32],
}

/// A raw body received whole: its file (at its start) and what it holds.
pub struct Received {
    pub file: File,
    pub body: Part,
}

impl BodyFile {
    pub async fn create() -> Result<BodyFile, ApiError> {
        let file = web::block(tempfile::tempfile)
            .await
            .map_err(|err| disk_error(io::Error::other(err)))?
            .map_err(disk_error)?;
        Ok(BodyFile {
            file: Some(file),
            pending: Vec::with_capacity(WRITE_BATCH_BYTES),
            len: 0,
            part_start: 0,
            hasher: Sha256::new(),
        })
    }

    /// Bytes received so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub async fn push(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        self.hasher.update(chunk);
        self.len += chunk.len() as u64;
        self.pending.extend_from_slice(chunk);
        if self.pending.len() >= WRITE_BATCH_BYTES {
            self.write_pending().await?;
        }
        Ok(())
    }

    /// Ends the part received since the last one (or since the start).
    pub fn end_part(&mut self) -> Part {
        let part = Part {
            offset: self.part_start,
            len: self.len - self.part_start,
            sha256: self.hasher.finalize_reset().into(),
        };
        self.part_start = self.len;
        part
    }

    /// Everything written, and the file rewound for reading.
    pub async fn finish(mut self) -> Result<File, ApiError> {
        self.write_pending().await?;
        let mut file = self.file.take().ok_or_else(lost_file)?;
        web::block(move || file.seek(SeekFrom::Start(0)).map(|_| file))
            .await
            .map_err(|err| disk_error(io::Error::other(err)))?
            .map_err(disk_error)
    }

    /// A raw body: the whole of it as one part.
    pub async fn finish_body(mut self) -> Result<Received, ApiError> {
        let body = self.end_part();
        Ok(Received {
            file: self.finish().await?,
            body,
        })
    }

    async fn write_pending(&mut self) -> Result<(), ApiError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut file = self.file.take().ok_or_else(lost_file)?;
        let mut pending = std::mem::take(&mut self.pending);
        let (file, pending) = web::block(move || {
            file.write_all(&pending)?;
            pending.clear();
            Ok::<_, io::Error>((file, pending))
        })
        .await
        .map_err(|err| disk_error(io::Error::other(err)))?
        .map_err(disk_error)?;
        self.file = Some(file);
        self.pending = pending;
        Ok(())
    }
}

impl Received {
    /// A body already in memory (tests and fuzzing), as the handler would have received it.
    pub fn from_bytes(bytes: &[u8]) -> io::Result<Received> {
        let mut file = tempfile::tempfile()?;
        file.write_all(bytes)?;
        file.seek(SeekFrom::Start(0))?;
        Ok(Received {
            file,
            body: Part {
                offset: 0,
                len: bytes.len() as u64,
                sha256: Sha256::digest(bytes).into(),
            },
        })
    }
}

/// The temporary folder is full or unwritable: the server's problem, not the client's, and
/// one a retry may get past.
pub fn disk_error(err: io::Error) -> ApiError {
    tracing::error!(error = %err, "writing an upload body to a temporary file failed");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "disk_unavailable",
        "the server could not write the upload to its temporary folder; try again shortly",
    )
    .retry_after(30)
}

/// Only after a failed write, which has already ended the request.
fn lost_file() -> ApiError {
    disk_error(io::Error::other(
        "the body file was lost after a failed write",
    ))
}
