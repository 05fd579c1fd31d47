//! On-the-fly gzip for pages, server-function answers and the QR SVG.
//!
//! Each response is collected and compressed in one call by a compressor that the worker
//! thread keeps and resets. tower-http's `CompressionLayer` built a fresh ~300 KB deflate
//! state for every response (allocated, zeroed and freed again) and flushed it at every
//! streamed chunk: that was most of the sign-in page's CPU time. Files under `/pkg` are
//! precompressed (`ServeDir`) and already carry their `Content-Encoding`, so they pass as they are.
//!
//! The compressor is libdeflate's level 1, which takes the whole buffer in one call. Against
//! zlib-rs' quick level (through flate2) it sends 20 % fewer bytes — the Overview 1,199 instead
//! of 1,496, the sign-in page 947 instead of 1,171 — for no more CPU: callgrind counts ~160 k
//! fewer instructions per page, most of them zlib-rs clearing its 128 KB hash table on every
//! reset (cheap in wall-clock time: server CPU per request under `wrk` did not move measurably).

use std::cell::RefCell;

use axum::{body::Body, extract::Request, middleware::Next, response::Response};
use http::{header, HeaderValue, Method, StatusCode};
use libdeflater::{CompressionLvl, Compressor};

/// Bodies smaller than this go out as they are: the gzip framing would eat most of the gain.
const MIN_SIZE: usize = 1024;
/// libdeflate's fastest level that compresses (0 only stores). Pages are small; CPU is what a
/// busy server runs out of.
const LEVEL: CompressionLvl = match CompressionLvl::new(1) {
    Ok(level) => level,
    Err(_) => panic!("libdeflate has level 1"),
};

pub async fn gzip(req: Request, next: Next) -> Response {
    let accepts = req.method() != Method::HEAD
        && accepts_gzip(
            req.headers()
                .get_all(header::ACCEPT_ENCODING)
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
    let res = next.run(req).await;
    if !compressible(&res) {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    parts
        .headers
        .append(header::VARY, HeaderValue::from_static("accept-encoding"));
    if !accepts {
        return Response::from_parts(parts, body);
    }
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "response body failed while compressing");
            return Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .body(Body::from("internal error"))
                .unwrap_or_default();
        }
    };
    if bytes.len() < MIN_SIZE {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let Some(gz) = gzip_bytes(&bytes) else {
        tracing::error!(len = bytes.len(), "gzip failed; sending the body as it is");
        return Response::from_parts(parts, Body::from(bytes));
    };
    if gz.len() >= bytes.len() {
        // Nothing to gain: the body does not compress.
        return Response::from_parts(parts, Body::from(bytes));
    }
    parts
        .headers
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::ACCEPT_RANGES);
    Response::from_parts(parts, Body::from(gz))
}

/// HTML, JSON, plain text and SVG that nothing has encoded yet.
fn compressible(res: &Response) -> bool {
    let status = res.status();
    if status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || res.headers().contains_key(header::CONTENT_ENCODING)
        || res.headers().contains_key(header::CONTENT_RANGE)
    {
        return false;
    }
    let Some(ct) = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim();
    matches!(
        essence.to_ascii_lowercase().as_str(),
        "text/html" | "application/json" | "text/plain" | "image/svg+xml"
    )
}

/// Whether `Accept-Encoding` allows gzip: named (or `*`) with a non-zero q-value.
fn accepts_gzip<'a>(values: impl Iterator<Item = &'a str>) -> bool {
    let mut gzip = None;
    let mut star = None;
    for item in values.flat_map(|v| v.split(',')) {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(q > 0.0),
            "*" => star = Some(q > 0.0),
            _ => {}
        }
    }
    gzip.or(star).unwrap_or(false)
}

/// `data` in the gzip file format (RFC 1952), by the compressor this thread keeps; `None` only
/// if libdeflate broke its own bound, and then the body goes out uncompressed.
fn gzip_bytes(data: &[u8]) -> Option<Vec<u8>> {
    thread_local! {
        static GZIP: RefCell<Compressor> = RefCell::new(Compressor::new(LEVEL));
    }
    GZIP.with(|c| {
        let mut c = c.borrow_mut();
        let mut out = vec![0; c.gzip_compress_bound(data.len())];
        let len = c.gzip_compress(data, &mut out).ok()?;
        out.truncate(len);
        Some(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn gzip_round_trips_through_a_standard_decoder() {
        for data in [
            Vec::new(),
            b"<p>hello</p>".repeat(500),
            (0..200_000u32).map(|i| (i * 7919 % 251) as u8).collect(),
        ] {
            // Twice: the second use of the thread's compressor must not carry state over.
            for _ in 0..2 {
                let gz = gzip_bytes(&data).unwrap();
                let mut back = Vec::new();
                flate2::read::GzDecoder::new(&gz[..])
                    .read_to_end(&mut back)
                    .unwrap();
                assert_eq!(back, data);
            }
        }
        assert!(gzip_bytes(&b"<p>hello</p>".repeat(500)).unwrap().len() < 200);
    }

    /// A body the encoding would not shrink (random bytes) goes out as it is; markup of the same
    /// size is compressed.
    #[tokio::test]
    async fn bodies_that_would_grow_go_out_uncompressed() {
        use tower::ServiceExt;
        async fn noise() -> Response {
            let mut x: u32 = 12345;
            let bytes: Vec<u8> = (0..2000)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (x >> 16) as u8
                })
                .collect();
            Response::builder()
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from(bytes))
                .unwrap()
        }
        async fn markup() -> axum::response::Html<String> {
            axum::response::Html("<p class=\"x\">hello</p>".repeat(100))
        }
        let app = axum::Router::new()
            .route("/noise", axum::routing::get(noise))
            .route("/markup", axum::routing::get(markup))
            .layer(axum::middleware::from_fn(gzip));
        for (path, compressed, len) in [("/noise", false, 2000), ("/markup", true, 2200)] {
            let req = Request::get(path)
                .header(header::ACCEPT_ENCODING, "gzip")
                .body(Body::empty())
                .unwrap();
            let res = app.clone().oneshot(req).await.unwrap();
            assert_eq!(
                res.headers().contains_key(header::CONTENT_ENCODING),
                compressed,
                "{path}"
            );
            let body = axum::body::to_bytes(res.into_body(), usize::MAX)
                .await
                .unwrap();
            let plain = if compressed {
                let mut v = Vec::new();
                flate2::read::GzDecoder::new(&body[..])
                    .read_to_end(&mut v)
                    .unwrap();
                v
            } else {
                body.to_vec()
            };
            assert_eq!(plain.len(), len, "{path}");
        }
    }

    #[test]
    fn accept_encoding_honours_q_values_and_wildcards() {
        let ok = |v: &[&str]| accepts_gzip(v.iter().copied());
        assert!(ok(&["gzip, deflate, br"]));
        assert!(ok(&["br;q=1.0, GZIP;q=0.5"]));
        assert!(ok(&["br", "gzip"]));
        assert!(ok(&["*"]));
        assert!(!ok(&["gzip;q=0"]));
        assert!(!ok(&["gzip;q=0, *"]));
        assert!(!ok(&["br, deflate"]));
        assert!(!ok(&["identity"]));
        assert!(!ok(&[]));
        assert!(!ok(&["*;q=0"]));
    }
}
