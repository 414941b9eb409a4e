//! `GET /api/v1/downloads/{id}?exp=…&kid=…&sig=…`: a release artifact behind a signed,
//! time-limited link (see `releases::links`). Rate-limited per client address, with a cap on
//! downloads in progress per address and a send timeout, so slow readers cannot hold every
//! slot. A yanked or damaged release is gone (410), even through a link that is still valid.
//! `Range` requests (parsed by `sessionforge_shared::http_range`) get exactly the bytes asked
//! for. Over plain HTTP on Linux the kernel sends the file with `sendfile(2)` (see
//! `http::sendfile`); otherwise files stream from disk in fixed-size pieces, read straight into
//! the buffers that go to the socket, with the next pieces read while one is being sent.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use tokio::sync::{Semaphore, mpsc};

use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, OpenApi};
use sessionforge_shared::http_range;
use uuid::Uuid;

use super::ApiTags;
use crate::error::{ApiError, ErrorBody};
use crate::http::middleware::client_ip;
use crate::releases::links::{self, LinkParams};
use crate::state::AppState;

/// Bytes read from disk per piece of the response.
const READ_CHUNK: u64 = 256 * 1024;
/// Pieces read ahead of the one being sent.
const READ_AHEAD: usize = 2;

pub struct DownloadsApi;

#[derive(ApiResponse)]
pub enum Download {
    /// The whole artifact.
    #[oai(status = 200, content_type = "application/octet-stream")]
    Full(
        Binary<poem::Body>,
        #[oai(header = "Content-Length")] u64,
        #[oai(header = "Content-Disposition")] String,
        #[oai(header = "ETag")] String,
        #[oai(header = "Accept-Ranges")] String,
    ),
    /// The requested byte range.
    #[oai(status = 206, content_type = "application/octet-stream")]
    Partial(
        Binary<poem::Body>,
        #[oai(header = "Content-Length")] u64,
        #[oai(header = "Content-Range")] String,
        #[oai(header = "ETag")] String,
    ),
    /// The range lies outside the artifact.
    #[oai(status = 416)]
    NotSatisfiable(Json<ErrorBody>, #[oai(header = "Content-Range")] String),
}

#[OpenApi(prefix_path = "/api/v1/downloads", tag = "ApiTags::Releases")]
impl DownloadsApi {
    /// Download a release artifact through a signed link from a manifest or `latest`. Expired
    /// or altered links get 403. Supports single `Range` requests.
    #[oai(path = "/:id", method = "get")]
    async fn download(
        &self,
        req: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
        /// Unix time the link expires at.
        #[oai(validator(minimum(value = "0"), maximum(value = "9007199254740991")))]
        exp: Query<Option<i64>>,
        kid: Query<Option<String>>,
        sig: Query<Option<String>>,
    ) -> Result<Download, ApiError> {
        state.limits.download(client_ip(req, state.settings.proxy_hops()))?;
        let (Some(exp), Some(kid), Some(sig)) = (exp.0, kid.0, sig.0) else {
            return Err(links::LinkError::Invalid.into());
        };
        let params = LinkParams { exp, kid, sig };
        let max_ttl = state.settings.releases.max_link_ttl_secs;
        links::verify(&state.keys, "GET", id.0, &params, crate::store::now(), max_ttl)?;
        let release = state.store.release(id.0).await?;
        if release.yanked_at.is_some() {
            return Err(ApiError::gone("RELEASE_YANKED", "this release was yanked and is no longer available"));
        }
        if release.corrupt_at.is_some() {
            return Err(ApiError::gone("ARTIFACT_CORRUPT", "this release's stored file is damaged and is not served"));
        }
        let ip = client_ip(req, state.settings.proxy_hops());
        let r = &state.settings.releases;
        let slot = state.downloads.take(ip, r.max_downloads_per_ip).ok_or_else(|| {
            ApiError::too_many_requests(1).with_message("too many downloads in progress from your address")
        })?;
        let send_timeout = Duration::from_secs(r.send_timeout_secs);
        let path = state.artifacts.path(&release.sha256).ok_or_else(ApiError::not_found)?;
        let file = std::fs::File::open(&path).map_err(|e| {
            tracing::error!(path = %path.display(), error = %e, "artifact file missing");
            ApiError::not_found()
        })?;
        let size = file.metadata().map_err(ApiError::internal)?.len();
        let etag = format!("\"{}\"", release.sha256);
        let range = req.headers().get(poem::http::header::RANGE).and_then(|v| v.to_str().ok());
        match http_range::parse(range, size) {
            Err(http_range::Unsatisfiable) => Ok(Download::NotSatisfiable(
                Json(ErrorBody {
                    code: "RANGE_NOT_SATISFIABLE".into(),
                    message: format!("the artifact has {size} bytes"),
                }),
                format!("bytes */{size}"),
            )),
            Ok(None) => {
                let disposition = format!("attachment; filename=\"{}\"", release.file_name);
                let body = body(req, file, 0, size, send_timeout, slot);
                Ok(Download::Full(Binary(body), size, disposition, etag, "bytes".into()))
            }
            Ok(Some(r)) => {
                let len = r.length();
                Ok(Download::Partial(
                    Binary(body(req, file, r.start(), len, send_timeout, slot)),
                    len,
                    format!("bytes {}-{}/{size}", r.start(), r.end()),
                    etag,
                ))
            }
        }
    }
}

/// Downloads streamed at once; more wait for a turn (each holds one blocking thread, and those
/// are shared with the database readers).
const MAX_STREAMS: usize = 32;

fn streams() -> &'static Arc<Semaphore> {
    static STREAMS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    STREAMS.get_or_init(|| Arc::new(Semaphore::new(MAX_STREAMS)))
}

/// A download's body: on a request answered with `sendfile` (plain HTTP on Linux, see
/// `http::sendfile`) the file range is handed over and the body is empty; otherwise the file
/// streams from disk.
fn body(
    req: &Request,
    file: std::fs::File,
    start: u64,
    len: u64,
    send_timeout: Duration,
    slot: DownloadSlot,
) -> poem::Body {
    #[cfg(target_os = "linux")]
    if let Some(offer) = req.extensions().get::<crate::http::sendfile::SendfileOffer>() {
        offer.offer(crate::http::sendfile::FileRange { file, start, len, hold: Box::new(slot) });
        return poem::Body::empty();
    }
    #[cfg(not(target_os = "linux"))]
    let _ = req;
    file_body(file, start, len, send_timeout, slot)
}

/// `len` bytes of `file` from `start`, as a body. One blocking thread reads the file in order,
/// straight into the buffers that are sent, [`READ_AHEAD`] pieces ahead of the socket; a client
/// that takes nothing for `send_timeout` ends the download (and frees its `slot`).
fn file_body(mut file: std::fs::File, start: u64, len: u64, send_timeout: Duration, slot: DownloadSlot) -> poem::Body {
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(READ_AHEAD);
    let runtime = tokio::runtime::Handle::current();
    tokio::spawn(async move {
        let Ok(permit) = streams().clone().acquire_owned().await else { return };
        let _ = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _slot = slot;
            // Waits for room in the channel, but not forever: a stalled client ends its download.
            let send = |piece| runtime.block_on(tokio::time::timeout(send_timeout, tx.send(piece)));
            if let Err(e) = file.seek(SeekFrom::Start(start)) {
                let _ = send(Err(e));
                return;
            }
            let mut left = len;
            while left > 0 {
                let n = READ_CHUNK.min(left);
                let mut buf = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
                let piece = match (&mut file).take(n).read_to_end(&mut buf) {
                    Ok(0) => Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the artifact file shrank")),
                    Ok(read) => {
                        left -= read as u64;
                        Ok(Bytes::from(buf))
                    }
                    Err(e) => Err(e),
                };
                let failed = piece.is_err();
                match send(piece) {
                    Ok(Ok(())) if !failed => {}
                    Ok(_) => return, // the client went away, or reading failed
                    Err(_) => {
                        tracing::info!("a download stalled (the client took nothing for the send timeout); ending it");
                        return;
                    }
                }
            }
        })
        .await;
    });
    poem::Body::from_bytes_stream(stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|p| (p, rx)) }))
}

/// Downloads in progress per client address.
#[derive(Debug, Default)]
pub struct DownloadSlots {
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

/// One download's place; dropping it frees the place.
pub struct DownloadSlot {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

impl DownloadSlots {
    /// A place for a download from `ip`, unless it already has `max` in progress.
    pub fn take(&self, ip: IpAddr, max: u32) -> Option<DownloadSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(DownloadSlot { ip, open: self.open.clone() })
    }
}

impl Drop for DownloadSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}
