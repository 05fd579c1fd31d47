//! The anonymous sign-in page as a template: leptos renders it once per process, and every
//! request after that gets a copy with a fresh CSP nonce.
//!
//! `GET /login` without a query string is the same page for every signed-out visitor: the form,
//! the asset tags, the hydration script. Only the nonce differs from one response to the next
//! (it is in the `Content-Security-Policy` header and on every script tag). Rendering it costs
//! ~200 k instructions of leptos' view tree, router and HTML writing (callgrind, BENCHMARKS.md),
//! four times what the rest of the request costs. So the first such request is rendered by
//! leptos as usual and its answer is kept, cut at each occurrence of its nonce; later ones are
//! that answer joined around a new nonce (16 random bytes, as leptos makes them).
//!
//! What still renders per request: `/login` with a query string (a plain form post that failed
//! comes back as `/login?__err=…` and shows its error), every other page, and any answer that
//! is not a plain `200` page carrying its nonce (then nothing is kept, and the next request
//! renders again). Signed-in visitors never reach this layer: the session middleware, outside
//! it, sends them on to the console.

use std::sync::{Arc, OnceLock};

use axum::{
    body::Body,
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

/// The one page kept as a template.
const PATH: &str = "/login";
/// Larger answers are not kept (the sign-in page is ~1.6 KB).
const MAX_PAGE: usize = 256 * 1024;

/// Text cut at each occurrence of the nonce it was rendered with.
#[derive(Debug)]
struct Pieces(Vec<Box<str>>);

impl Pieces {
    fn cut(text: &str, nonce: &str) -> Pieces {
        Pieces(text.split(nonce).map(Into::into).collect())
    }

    fn has_nonce(&self) -> bool {
        self.0.len() > 1
    }

    fn join(&self, nonce: &str) -> String {
        let len = self.0.iter().map(|p| p.len()).sum::<usize>() + nonce.len() * (self.0.len() - 1);
        let mut out = String::with_capacity(len);
        for (i, piece) in self.0.iter().enumerate() {
            if i > 0 {
                out.push_str(nonce);
            }
            out.push_str(piece);
        }
        out
    }
}

/// A rendered page, cut at its nonce.
#[derive(Debug)]
struct Template {
    /// Headers without the nonce, as rendered (`Content-Length` dropped: it is recomputed).
    fixed: HeaderMap,
    /// Headers that carry the nonce (the page's `Content-Security-Policy`).
    nonced: Vec<(HeaderName, Pieces)>,
    body: Pieces,
}

impl Template {
    /// Keeps `headers` and `body` as a template when they are a plain page that carries its
    /// nonce, and nothing a single visitor should get (a cookie).
    fn of(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Option<Template> {
        if status != StatusCode::OK
            || headers.contains_key(header::SET_COOKIE)
            || !headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/html"))
        {
            return None;
        }
        let csp = headers
            .get(header::CONTENT_SECURITY_POLICY)?
            .to_str()
            .ok()?;
        let nonce = nonce_in(csp)?;
        let body = Pieces::cut(std::str::from_utf8(body).ok()?, nonce);
        if !body.has_nonce() {
            return None;
        }
        let mut fixed = HeaderMap::new();
        let mut nonced = Vec::new();
        for (name, value) in headers {
            if name == header::CONTENT_LENGTH {
                continue;
            }
            match value.to_str() {
                Ok(text) if text.contains(nonce) => {
                    nonced.push((name.clone(), Pieces::cut(text, nonce)))
                }
                _ => {
                    fixed.append(name.clone(), value.clone());
                }
            }
        }
        Some(Template {
            fixed,
            nonced,
            body,
        })
    }

    fn render(&self, nonce: &str) -> Response {
        let mut res = Response::new(Body::from(self.body.join(nonce)));
        let headers = res.headers_mut();
        headers.clone_from(&self.fixed);
        for (name, pieces) in &self.nonced {
            match HeaderValue::from_str(&pieces.join(nonce)) {
                Ok(v) => {
                    headers.insert(name.clone(), v);
                }
                // A nonce is base64 and the rest of the value was a valid header already.
                Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            }
        }
        res
    }
}

/// The nonce of a page's `script-src 'nonce-…'`.
fn nonce_in(csp: &str) -> Option<&str> {
    let start = csp.find("'nonce-")? + "'nonce-".len();
    let len = csp[start..].find('\'')?;
    let nonce = &csp[start..start + len];
    // Long enough to stand for itself in the page: 16 random bytes are 22+ characters.
    (nonce.len() >= 16).then_some(nonce)
}

/// The sign-in page's template, once its first render has been kept.
#[derive(Clone, Debug, Default)]
pub struct SignInPage(Arc<OnceLock<Template>>);

pub async fn serve(State(page): State<SignInPage>, req: Request, next: Next) -> Response {
    if req.method() != Method::GET || req.uri().path() != PATH || req.uri().query().is_some() {
        return next.run(req).await;
    }
    if let Some(template) = page.0.get() {
        return template.render(&leptos::nonce::Nonce::new());
    }
    let res = next.run(req).await;
    let (parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_PAGE).await else {
        // Too large to keep, or the render failed half-way: what was sent so far is lost.
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    };
    if let Some(template) = Template::of(parts.status, &parts.headers, &bytes) {
        // Two first visitors at once both render; the first to finish is kept.
        let _ = page.0.set(template);
    }
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: &str = "q1w2e3r4t5y6u7i8o9p0aA==";

    fn page_headers(csp: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(csp).unwrap(),
        );
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("99"));
        h.insert(
            header::LINK,
            HeaderValue::from_static("</pkg/a.wasm>; rel=preload"),
        );
        h
    }

    async fn body_of(res: Response) -> String {
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_kept_page_is_the_render_with_each_nonce_replaced() {
        let csp = format!("script-src 'self' 'nonce-{NONCE}'; base-uri 'none'");
        let body = format!(
            "<script nonce=\"{NONCE}\">a</script><p>x</p><script nonce=\"{NONCE}\">b</script>"
        );
        let t = Template::of(StatusCode::OK, &page_headers(&csp), body.as_bytes()).unwrap();
        let fresh = "ZZZZZZZZZZZZZZZZZZZZZZ==";
        let res = t.render(fresh);
        assert_eq!(res.status(), StatusCode::OK);
        let h = res.headers().clone();
        assert_eq!(
            h[header::CONTENT_SECURITY_POLICY],
            format!("script-src 'self' 'nonce-{fresh}'; base-uri 'none'").as_str()
        );
        assert_eq!(h[header::LINK], "</pkg/a.wasm>; rel=preload");
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(!h.contains_key(header::CONTENT_LENGTH));
        assert_eq!(body_of(res).await, body.replace(NONCE, fresh));
    }

    #[test]
    fn only_a_plain_page_with_its_nonce_is_kept() {
        let csp = format!("script-src 'nonce-{NONCE}'");
        let body = format!("<script nonce=\"{NONCE}\"></script>");
        let ok = page_headers(&csp);
        assert!(Template::of(StatusCode::OK, &ok, body.as_bytes()).is_some());

        let mut cookie = ok.clone();
        cookie.insert(header::SET_COOKIE, HeaderValue::from_static("s=1"));
        let mut json = ok.clone();
        json.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let mut short = ok.clone();
        short.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("script-src 'nonce-abc'"),
        );
        let mut none = ok.clone();
        none.remove(header::CONTENT_SECURITY_POLICY);
        for (status, headers, body, what) in [
            (StatusCode::NOT_FOUND, &ok, body.as_str(), "not 200"),
            (StatusCode::OK, &cookie, body.as_str(), "sets a cookie"),
            (StatusCode::OK, &json, body.as_str(), "not HTML"),
            (StatusCode::OK, &short, body.as_str(), "nonce too short"),
            (StatusCode::OK, &none, body.as_str(), "no CSP"),
            (
                StatusCode::OK,
                &ok,
                "<p>no script</p>",
                "nonce not in the body",
            ),
        ] {
            assert!(
                Template::of(status, headers, body.as_bytes()).is_none(),
                "{what}"
            );
        }
        assert!(Template::of(StatusCode::OK, &ok, b"\xff\xfe").is_none());
    }
}
