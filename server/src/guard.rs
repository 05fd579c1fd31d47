//! Browser-facing defences: what a server function accepts, and the headers every response
//! carries.

use app::{domain::AppError, server::AppState};
use axum::{
    body::Body,
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{
    header::{self, HeaderValue},
    HeaderMap, Method, StatusCode,
};

/// Largest request body accepted anywhere: the biggest real form is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// CSP of everything that is not an HTML page (server functions, the QR SVG, files).
const CSP_NOT_A_PAGE: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

fn refusal(status: StatusCode, err: AppError) -> Response {
    let body = serde_json::to_string(&err).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Whether a browser's `Origin` is this console: the public URL's, or the request's own.
fn is_own_origin(state: &AppState, headers: &HeaderMap, origin: &str) -> bool {
    let origin = origin.to_ascii_lowercase();
    state.config.public_origin.as_deref() == Some(origin.as_str())
        || state.config.request_origin(headers).as_deref() == Some(origin.as_str())
}

/// Server functions: POST only, and never on behalf of another site. Browsers name the site
/// that made a request in `Sec-Fetch-Site` and `Origin`; either one pointing elsewhere is
/// refused. Clients that send neither (scripts, curl) are not browsers and cannot carry a
/// victim's cookies across sites, so they pass. A plain form post names its page in a hidden
/// field, which becomes the `Referer` that leptos sends the browser back to.
pub async fn api_guard(State(state): State<AppState>, req: Request<Body>, next: Next) -> Response {
    if !req.uri().path().starts_with("/api/") {
        return next.run(req).await;
    }
    if req.method() != Method::POST {
        let mut res = refusal(
            StatusCode::METHOD_NOT_ALLOWED,
            AppError::Request("server functions accept POST only.".into()),
        );
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return res;
    }
    let headers = req.headers();
    match (headers.get("sec-fetch-site"), headers.get(header::ORIGIN)) {
        // Browsers since 2023 say where a request comes from in a header no page can set. It
        // decides alone: under `Referrer-Policy: no-referrer` a same-origin form post carries
        // `Origin: null`.
        (Some(site), _) => {
            if site.as_bytes() != b"same-origin" {
                return cross_origin(&req);
            }
        }
        // Older browsers: the Origin must be ours ("null" cannot be checked, so it is refused).
        (None, Some(origin)) => {
            if !is_own_origin(&state, headers, origin.to_str().unwrap_or("")) {
                return cross_origin(&req);
            }
        }
        (None, None) => {}
    }
    let is_plain_form = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
        && headers.get(header::CONTENT_TYPE).is_some_and(|v| {
            v.as_bytes()
                .starts_with(b"application/x-www-form-urlencoded")
        });
    let (mut parts, body) = req.into_parts();
    // The page to go back to is ours to say (below), never a `Referer` the request brought.
    parts.headers.remove(header::REFERER);
    if !is_plain_form {
        return next.run(Request::from_parts(parts, body)).await;
    }
    parts.extensions.insert(app::server::context::PlainForm);
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Request("the request body is too large.".into()),
        );
    };
    // leptos sends a plain form back to its `Referer`, which must be an absolute URL. The
    // origin is a placeholder taken off again below: a redirect never names a host a request
    // chose (`Host`, `X-Forwarded-Host`).
    if let Some(path) = return_path(&bytes) {
        if let Ok(v) = HeaderValue::from_str(&format!("{FORM_ORIGIN}{path}")) {
            parts.headers.insert(header::REFERER, v);
        }
    }
    let mut res = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let location = res
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix(FORM_ORIGIN))
        // What leptos made of the path must still be a path on this site.
        .map(
            |relative| match relative.starts_with('/') && !relative.starts_with("//") {
                true => relative,
                false => "/",
            },
        )
        .map(|relative| match relative.split_once('?') {
            // A failed post goes back to its page as it was (its step in the query), with the
            // error; one that succeeded goes to the page itself, which shows what the call kept
            // for it (`app::server::flash`).
            Some((_, query)) if query.split('&').any(|p| p.starts_with("__err=")) => {
                sign_form_error(&state, relative)
            }
            _ => format!(
                "{}?{}",
                relative.split('?').next().unwrap_or("/"),
                app::domain::FLASH_PARAM
            ),
        });
    if let Some(v) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// Stands for this console in the `Referer` a plain form post is given; never sent out.
const FORM_ORIGIN: &str = "http://form.invalid";

/// The query parameters leptos puts a failed plain form's error in, and ours that signs them.
const ERROR_PARAMS: [&str; 3] = ["__path", "__err", "__sig"];

/// The value of query parameter `name` among `pairs`.
fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// What the signature of a form error covers: the server function and its error.
fn form_error_data(path: &str, err: &str) -> Vec<u8> {
    let mut data = b"latchkey-form-error:".to_vec();
    data.extend_from_slice(path.as_bytes());
    data.push(0);
    data.extend_from_slice(err.as_bytes());
    data
}

/// The error leptos wrote into a redirect (`__path`, `__err`), signed with the server key, so
/// a page shows only errors this server produced.
fn sign_form_error(state: &AppState, location: &str) -> String {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let Some((path, query)) = location.split_once('?') else {
        return location.to_string();
    };
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .filter(|(k, _)| k != "__sig")
        .map(|(k, v)| {
            let v = if k == "__err" { own_words(&v) } else { v };
            (k, v)
        })
        .collect();
    let get = |name: &str| param(&pairs, name);
    let mut out = form_urlencoded::Serializer::new(String::new());
    out.extend_pairs(&pairs);
    if let Some(err) = get("__err") {
        let tag = state
            .keys
            .mac(&form_error_data(get("__path").unwrap_or(""), err));
        out.append_pair("__sig", &URL_SAFE_NO_PAD.encode(&tag[..16]));
    }
    format!("{path}?{}", out.finish())
}

/// The error as it may be shown: the server's own sentence. An error about a request that could
/// not be read carries the decoder's words, which echo what the request sent (a field's name):
/// it becomes one fixed sentence.
fn own_words(encoded: &str) -> String {
    use base64::{engine::general_purpose::URL_SAFE, Engine};
    let error = URL_SAFE
        .decode(encoded)
        .ok()
        .and_then(|json| serde_json::from_slice::<AppError>(&json).ok());
    let error = match error {
        Some(AppError::Request(_)) | None => {
            AppError::Request("the form could not be read.".into())
        }
        Some(own) => own,
    };
    URL_SAFE.encode(serde_json::to_string(&error).unwrap_or_default())
}

/// Pages: an error in the query string (`__err`) is shown only when this server signed it
/// ([`sign_form_error`]); otherwise the browser goes to the same page without it. Anyone can
/// make a link with `__err`, and the page would show its text in the error box.
pub async fn signed_form_errors(
    State(state): State<AppState>,
    req: Request<Body>,
    next: Next,
) -> Response {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let query = req.uri().query().filter(|q| q.contains("__"));
    let Some(query) = query.filter(|_| req.method() == Method::GET) else {
        return next.run(req).await;
    };
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let get = |name: &str| param(&pairs, name);
    let has_error = pairs
        .iter()
        .any(|(k, _)| ERROR_PARAMS.contains(&k.as_str()));
    // Each at most once: leptos shows the last of a repeated parameter, and what is checked
    // must be what is shown.
    let repeated = ERROR_PARAMS
        .iter()
        .any(|name| pairs.iter().filter(|(k, _)| k == name).count() > 1);
    let signed = !repeated
        && match (get("__err"), get("__sig")) {
            (Some(err), Some(sig)) => URL_SAFE_NO_PAD.decode(sig).is_ok_and(|tag| {
                let data = form_error_data(get("__path").unwrap_or(""), err);
                tag.len() == 16 && state.keys.mac_starts_with(&data, &tag)
            }),
            _ => false,
        };
    if !has_error || signed {
        return next.run(req).await;
    }
    let rest: Vec<&(String, String)> = pairs
        .iter()
        .filter(|(k, _)| !ERROR_PARAMS.contains(&k.as_str()))
        .collect();
    // The same page on this site: `//host` or `/\host` would leave it.
    let mut target = format!("/{}", req.uri().path().trim_start_matches(['/', '\\']));
    if !rest.is_empty() {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.extend_pairs(rest);
        target = format!("{target}?{}", q.finish());
    }
    axum::response::Redirect::to(&target).into_response()
}

fn cross_origin(req: &Request<Body>) -> Response {
    tracing::warn!(path = %req.uri().path(), "cross-origin server function call refused");
    refusal(
        StatusCode::FORBIDDEN,
        AppError::Refused("Cross-origin requests are refused.".into()),
    )
}

/// The page a plain form post came from: a path on this site, nothing that leaves it.
fn return_path(body: &[u8]) -> Option<String> {
    let value = form_urlencoded::parse(body)
        .find(|(k, _)| k == app::components::RETURN_FIELD)?
        .1
        .into_owned();
    let (path, query) = match value.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (value.as_str(), None),
    };
    // No dot segments either: `/.//host` resolves to `//host`, another site.
    let path_ok = path.starts_with('/')
        && !path.starts_with("//")
        && value.len() <= 512
        && path
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'\\' && b != b'#' && b != b'%')
        && !path
            .split('/')
            .any(|segment| segment == "." || segment == "..");
    // The query holds the page's step (`?require=on`): plain words, and never an error's
    // parameters (`__err`), which only the server writes.
    let word = |w: &str| {
        w.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    let query_ok = query.is_none_or(|q| {
        q.split('&').all(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            !k.is_empty() && !k.starts_with("__") && word(k) && word(v)
        })
    });
    (path_ok && query_ok).then_some(value)
}

/// Headers every response carries. Pages and server functions hold account data and are never
/// stored; hashed assets under /pkg may be cached for good (see `assets`).
pub async fn security_headers(req: Request<Body>, next: Next) -> Response {
    let path = req.uri().path();
    // `latchkey.<hash>.wasm`: the name changes whenever the content does.
    let hashed = path.starts_with("/pkg/")
        && path
            .rsplit('/')
            .next()
            .is_some_and(|name| name.split('.').count() >= 3);
    let cacheable = path.starts_with("/pkg/") || path == "/favicon.svg";
    let mut res = next.run(req).await;
    let immutable = hashed && res.status().is_success();
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Pages set their own policy with the nonce of their scripts (app::shell).
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP_NOT_A_PAGE),
        );
    }
    if immutable {
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        );
    } else if cacheable {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    } else {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_path_takes_only_paths_on_this_site() {
        assert_eq!(
            return_path(b"a=1&__return=%2Flogin").as_deref(),
            Some("/login")
        );
        assert_eq!(
            return_path(b"__return=/invite/abc-DEF_1&code=1").as_deref(),
            Some("/invite/abc-DEF_1")
        );
        // A page's step comes back with it.
        assert_eq!(
            return_path(b"__return=%2Fusers%3Fconfirm%3Dremove%26user%3D7").as_deref(),
            Some("/users?confirm=remove&user=7")
        );
        for bad in [
            &b"__return=/x?__path=/api/y"[..],
            b"__return=/x?a=b%23c",
            b"__return=/x?a=%2520",
            b"__return=/x?a=b?c",
            b"__return=/x?a=b/c",
            b"__return=/x?&a=b",
            b"__return=//evil.example?a=b",
            b"__return=/\\evil.example?a=b",
            &b"__return=https://evil.example/"[..],
            b"__return=/.//evil.example",
            b"__return=/x/..//evil.example/p",
            b"__return=/%2e%2e//evil.example",
            b"__return=//evil.example/",
            b"__return=%2F%2Fevil.example",
            b"__return=/%5Cevil",
            b"__return=/a%20b",
            b"__return=/x?__err=forged",
            b"__return=%zz",
            b"__return=/\xff",
            b"code=123456",
        ] {
            assert_eq!(return_path(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
