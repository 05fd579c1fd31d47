//! Pages kept as templates: leptos renders a page once, and later requests for the same page
//! get a copy with a fresh CSP nonce.
//!
//! A page's HTML differs from one response to the next only by its nonce (in the
//! `Content-Security-Policy` header and on every script tag) when everything it was rendered
//! from is the same. Rendering costs most of a page request (leptos' view tree, router and HTML
//! writing: ~200 k instructions of the sign-in page's ~300 k, ~170 k of the Overview's ~350 k;
//! callgrind, BENCHMARKS.md), so two kinds of page are kept, cut at each occurrence of the nonce
//! they were rendered with, and joined around a new one (16 random bytes, as leptos makes them):
//!
//! - **The sign-in page**, `GET /login` without a query string: the same page for every
//!   signed-out visitor.
//! - **A signed-in page that read nothing but its user**, per user and path: the session
//!   middleware reads the user afresh with the session on every request, and a render whose
//!   [`RenderReads`] stayed unset was made from that user, the path and the nonce alone (any
//!   server function or resource it ran would have set it). The copy is sent only while the
//!   user reads exactly as they did at that render (`Me`, compared whole): a new name, role,
//!   account name or second-factor state renders the page anew. A page that loads data (the
//!   owner's Overview with the account's protection, the users, the audit log) is rendered
//!   every time. Sign-out, a revoked session or a disabled user still end at the session
//!   middleware, before this layer. At most [`MAX_SIGNED_IN_BYTES`] are kept; past that, whole
//!   users' pages are dropped.
//!
//! What always renders: any request with a query string (a plain form post that failed comes
//! back as `/login?__err=…` and shows its error), half-signed-in pages, and any answer that is
//! not a plain `200` HTML page carrying its nonce and setting no cookie (nothing is kept, and
//! the next request renders again). Rendered answers stream out as they come; the copy kept of
//! one is only taken once it has ended cleanly.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{Arc, Mutex, OnceLock},
    task::{Context, Poll},
};

use app::{
    domain::Me,
    server::{context::RenderReads, sessions::AuthUser},
};
use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use http_body::{Frame, SizeHint};

/// The signed-out page kept as a template.
const SIGN_IN: &str = "/login";
/// Larger answers are not kept (the sign-in page is ~1.6 KB, the Overview ~2.4 KB).
const MAX_PAGE: usize = 256 * 1024;
/// What all users' kept signed-in pages may take, their text counted (about 1,500 Overviews).
pub const MAX_SIGNED_IN_BYTES: usize = 4 * 1024 * 1024;

/// The signed-in pages that may be kept: the console's fixed paths (`app/src/routes.rs`).
const KEPT_PATHS: &[&str] = &["/", "/profile", "/users", "/settings/security", "/audit"];

/// Text cut at each occurrence of the nonce it was rendered with.
#[derive(Debug)]
struct Pieces(Vec<Box<str>>);

impl Pieces {
    fn len(&self) -> usize {
        self.0.iter().map(|p| p.len()).sum()
    }

    fn cut(text: &str, nonce: &str) -> Pieces {
        Pieces(text.split(nonce).map(Into::into).collect())
    }

    fn has_nonce(&self) -> bool {
        self.0.len() > 1
    }

    fn join(&self, nonce: &str) -> String {
        let len = self.len() + nonce.len() * (self.0.len() - 1);
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
    /// The text it holds, about what keeping it costs.
    fn size(&self) -> usize {
        self.body.len()
            + self
                .nonced
                .iter()
                .map(|(n, p)| n.as_str().len() + p.len())
                .sum::<usize>()
            + self
                .fixed
                .iter()
                .map(|(n, v)| n.as_str().len() + v.len())
                .sum::<usize>()
    }

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

/// The signed-in pages kept, per user: each with the user as it was rendered for.
#[derive(Debug, Default)]
struct SignedInPages {
    by_user: HashMap<i64, Vec<KeptPage>>,
    bytes: usize,
}

#[derive(Debug)]
struct KeptPage {
    path: Box<str>,
    me: Me,
    template: Arc<Template>,
}

impl KeptPage {
    /// What it counts against [`MAX_SIGNED_IN_BYTES`].
    fn size(&self) -> usize {
        self.template.size() + self.path.len()
    }
}

impl SignedInPages {
    fn get(&self, me: &Me, path: &str) -> Option<Arc<Template>> {
        self.by_user
            .get(&me.user_id)?
            .iter()
            .find(|k| &*k.path == path && k.me == *me)
            .map(|k| k.template.clone())
    }

    /// Keeps `template` as `path` for `me`, dropping what was kept of this path and of any
    /// older state of the user; then drops other users' pages until all fit the budget.
    fn keep(&mut self, me: Me, path: &str, template: Template, budget: usize) {
        let page = KeptPage {
            path: path.into(),
            me,
            template: Arc::new(template),
        };
        let size = page.size();
        if size > budget {
            return;
        }
        let user_id = page.me.user_id;
        let pages = self.by_user.entry(user_id).or_default();
        let mut freed = 0;
        pages.retain(|k| {
            let keep = k.path != page.path && k.me == page.me;
            if !keep {
                freed += k.size();
            }
            keep
        });
        pages.push(page);
        self.bytes = self.bytes - freed + size;
        while self.bytes > budget {
            // Another user's pages, any: their next request renders them again. With none
            // left, this user's own older pages: the budget binds everyone.
            match self.by_user.keys().copied().find(|u| *u != user_id) {
                Some(victim) => self.drop_user(victim),
                None => {
                    let pages = self.by_user.entry(user_id).or_default();
                    if pages.len() <= 1 {
                        break;
                    }
                    let oldest = pages.remove(0);
                    self.bytes -= oldest.size();
                }
            }
        }
    }

    fn drop_user(&mut self, user_id: i64) {
        if let Some(pages) = self.by_user.remove(&user_id) {
            self.bytes -= pages.iter().map(KeptPage::size).sum::<usize>();
        }
    }
}

/// The pages kept: the sign-in page once its first render is, and signed-in pages per user.
#[derive(Clone, Debug, Default)]
pub struct Pages {
    sign_in: Arc<OnceLock<Template>>,
    signed_in: Arc<Mutex<SignedInPages>>,
}

impl Pages {
    fn signed_in(&self) -> std::sync::MutexGuard<'_, SignedInPages> {
        // Nothing is left half-changed by a panic under this lock (no code in it panics).
        self.signed_in.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub async fn serve(State(pages): State<Pages>, mut req: Request, next: Next) -> Response {
    if req.method() != Method::GET || req.uri().query().is_some() {
        return next.run(req).await;
    }
    let path = req.uri().path();
    if let Some(auth) = req.extensions().get::<AuthUser>() {
        // Only the console's own fixed pages: never a path the visitor makes up (a link's
        // token, an unknown path), of which one user could send millions.
        if !KEPT_PATHS.contains(&path) {
            return next.run(req).await;
        }
        let kept = pages.signed_in().get(&auth.me, path);
        if let Some(template) = kept {
            return template.render(&leptos::nonce::Nonce::new());
        }
        let (me, path) = (auth.me.clone(), path.to_owned());
        let reads = RenderReads::default();
        req.extensions_mut().insert(reads.clone());
        return keep_on_end(next.run(req).await, move |template| {
            if !reads.any() {
                pages
                    .signed_in()
                    .keep(me, &path, template, MAX_SIGNED_IN_BYTES);
            }
        });
    }
    if path != SIGN_IN {
        return next.run(req).await;
    }
    if let Some(template) = pages.sign_in.get() {
        return template.render(&leptos::nonce::Nonce::new());
    }
    keep_on_end(next.run(req).await, move |template| {
        // Two first visitors at once both render; the first to finish is kept.
        let _ = pages.sign_in.set(template);
    })
}

/// `res` as it streams out; once its body has ended cleanly, `keep` gets it as a template, if
/// it makes one ([`Template::of`]).
fn keep_on_end(res: Response, keep: impl FnOnce(Template) + Send + 'static) -> Response {
    let (parts, body) = res.into_parts();
    if parts.status != StatusCode::OK {
        return Response::from_parts(parts, body);
    }
    let (status, headers) = (parts.status, parts.headers.clone());
    let copy = BodyCopy {
        body,
        chunks: Vec::new(),
        len: 0,
        done: Some(Box::new(move |bytes: &[u8]| {
            if let Some(template) = Template::of(status, &headers, bytes) {
                keep(template);
            }
        })),
    };
    Response::from_parts(parts, Body::new(copy))
}

type Done = Box<dyn FnOnce(&[u8]) + Send>;

/// A body passed on frame by frame, with its data kept (the chunks shared, not copied) until
/// it ends; `done` then gets the whole. A body that fails or grows past [`MAX_PAGE`] is passed
/// on without being kept.
struct BodyCopy {
    body: Body,
    chunks: Vec<Bytes>,
    len: usize,
    done: Option<Done>,
}

impl BodyCopy {
    fn finish(&mut self) {
        if let Some(done) = self.done.take() {
            let chunks = std::mem::take(&mut self.chunks);
            match chunks.as_slice() {
                [one] => done(one),
                _ => done(&chunks.concat()),
            }
        }
    }
}

impl http_body::Body for BodyCopy {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let frame = match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(frame) => frame,
        };
        match &frame {
            Some(Ok(frame)) => {
                if let (Some(data), Some(_)) = (frame.data_ref(), &this.done) {
                    this.len += data.len();
                    if this.len > MAX_PAGE {
                        this.done = None;
                        this.chunks = Vec::new();
                    } else {
                        this.chunks.push(data.clone());
                    }
                }
                if http_body::Body::is_end_stream(&this.body) {
                    this.finish();
                }
            }
            Some(Err(_)) => {
                this.done = None;
                this.chunks = Vec::new();
            }
            None => this.finish(),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(&self.body)
    }

    fn size_hint(&self) -> SizeHint {
        http_body::Body::size_hint(&self.body)
    }
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

    fn me(user_id: i64, name: &str) -> Me {
        use app::domain::{policy::Setting, Role, TwoFactorStatus};
        Me {
            user_id,
            name: name.into(),
            email: format!("{name}@example.com"),
            role: Role::Admin,
            account_id: 1,
            account_name: "Acme".into(),
            two_factor: TwoFactorStatus {
                setting: Setting {
                    on: false,
                    source: None,
                },
                account_required: false,
                has_authenticator: false,
                passkeys: 0,
                passkeys_required: false,
                enroll_by: None,
                recovery_codes_left: 0,
            },
        }
    }

    /// A page of about `len` bytes whose text says `what`.
    fn page(what: &str, len: usize) -> Template {
        let csp = format!("script-src 'nonce-{NONCE}'");
        let body = format!(
            "<p>{what}</p><script nonce=\"{NONCE}\"></script>{}",
            " ".repeat(len)
        );
        Template::of(StatusCode::OK, &page_headers(&csp), body.as_bytes()).unwrap()
    }

    async fn says(t: &Template, what: &str) -> bool {
        body_of(t.render("ZZZZZZZZZZZZZZZZZZZZZZ=="))
            .await
            .starts_with(&format!("<p>{what}</p>"))
    }

    #[tokio::test]
    async fn a_signed_in_page_is_sent_only_to_its_user_as_they_were() {
        let mut kept = SignedInPages::default();
        let (ann, bob) = (me(1, "ann"), me(2, "bob"));
        kept.keep(ann.clone(), "/", page("ann's overview", 10), 1 << 20);
        kept.keep(ann.clone(), "/profile", page("ann's profile", 10), 1 << 20);
        assert!(says(&kept.get(&ann, "/").unwrap(), "ann's overview").await);
        assert!(says(&kept.get(&ann, "/profile").unwrap(), "ann's profile").await);
        assert!(kept.get(&ann, "/users").is_none(), "another path");
        assert!(kept.get(&bob, "/").is_none(), "another user");
        let mut bob_as_ann = bob.clone();
        bob_as_ann.user_id = ann.user_id;
        assert!(
            kept.get(&bob_as_ann, "/").is_none(),
            "the same id, another user"
        );

        // Ann enrolls: what was kept of her is for who she was, and is dropped once she has a
        // page again.
        let mut enrolled = ann.clone();
        enrolled.two_factor.has_authenticator = true;
        assert!(kept.get(&enrolled, "/").is_none());
        kept.keep(enrolled.clone(), "/", page("ann enrolled", 10), 1 << 20);
        assert!(says(&kept.get(&enrolled, "/").unwrap(), "ann enrolled").await);
        assert!(kept.get(&ann, "/").is_none());
        assert!(kept.get(&ann, "/profile").is_none());
        assert_eq!(kept.by_user[&1].len(), 1);
        assert_eq!(
            kept.bytes,
            kept.by_user[&1][0].size(),
            "the bytes count what is kept"
        );
    }

    #[test]
    fn one_user_alone_stays_within_the_budget() {
        let mut kept = SignedInPages::default();
        let budget = (page("x", 1000).size() + 8) * 3;
        let ann = me(1, "u");
        for i in 0..100 {
            kept.keep(ann.clone(), &format!("/p{i}"), page("x", 1000), budget);
            assert!(kept.bytes <= budget, "page {i}: {}", kept.bytes);
        }
        assert!(kept.get(&ann, "/p99").is_some(), "the newest page is kept");
        assert!(kept.get(&ann, "/p0").is_none(), "the oldest went first");
    }

    #[test]
    fn signed_in_pages_stay_within_their_budget() {
        let mut kept = SignedInPages::default();
        let one = page("x", 1000).size() + 1;
        let budget = one * 3;
        for user in 1..=10 {
            kept.keep(me(user, "u"), "/", page("x", 1000), budget);
            assert!(kept.bytes <= budget, "user {user}: {}", kept.bytes);
            assert!(
                kept.get(&me(user, "u"), "/").is_some(),
                "the newest page is kept"
            );
        }
        assert_eq!(kept.by_user.len(), 3);
        let counted: usize = kept.by_user.values().flatten().map(KeptPage::size).sum();
        assert_eq!(kept.bytes, counted);
        // A page larger than the whole budget is not kept, and drops nothing.
        kept.keep(me(11, "u"), "/", page("x", budget), budget);
        assert!(kept.get(&me(11, "u"), "/").is_none());
        assert_eq!(kept.by_user.len(), 3);
    }

    /// A streamed page passed through `keep_on_end`: what the client got, what was kept.
    async fn stream_through(chunks: Vec<String>) -> (String, Option<String>) {
        let csp = format!("script-src 'nonce-{NONCE}'");
        let stream = futures_util::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, std::convert::Infallible>(Bytes::from(c))),
        );
        let mut res = Response::new(Body::from_stream(stream));
        *res.headers_mut() = page_headers(&csp);
        let kept = Arc::new(OnceLock::new());
        let res = keep_on_end(res, {
            let kept = kept.clone();
            move |t| {
                let _ = kept.set(t);
            }
        });
        let sent = body_of(res).await;
        let kept = match kept.get() {
            Some(t) => Some(body_of(t.render(NONCE)).await),
            None => None,
        };
        (sent, kept)
    }

    #[tokio::test]
    async fn a_streamed_page_is_kept_whole_once_it_has_ended() {
        let parts = vec![
            format!("<script nonce=\"{NONCE}\">"),
            "a</script>".to_string(),
            "<p>b</p>".to_string(),
        ];
        let (sent, kept) = stream_through(parts.clone()).await;
        assert_eq!(sent, parts.concat());
        assert_eq!(kept.as_deref(), Some(sent.as_str()));

        // Past the largest page kept, it is still sent whole, and nothing is kept.
        let mut big = parts;
        big.push("x".repeat(MAX_PAGE));
        let (sent, kept) = stream_through(big.clone()).await;
        assert_eq!(sent, big.concat());
        assert_eq!(kept, None);
    }

    /// The layer over a page that counts its renders and reads the database on `/users`; the
    /// user comes from an `x-user` header (id and name).
    fn counting_app(renders: Arc<std::sync::atomic::AtomicUsize>) -> axum::Router {
        use std::sync::atomic::Ordering;
        let page = move |req: Request| {
            let renders = renders.clone();
            async move {
                let n = renders.fetch_add(1, Ordering::SeqCst);
                if req.uri().path() == "/users" {
                    req.extensions().get::<RenderReads>().unwrap().mark();
                }
                let csp = format!("script-src 'nonce-{NONCE}'");
                let mut res = Response::new(Body::from(format!(
                    "<p>render {n}</p><script nonce=\"{NONCE}\"></script>"
                )));
                *res.headers_mut() = page_headers(&csp);
                res
            }
        };
        axum::Router::new()
            .fallback(page)
            .layer(axum::middleware::from_fn_with_state(
                Pages::default(),
                serve,
            ))
            .layer(axum::middleware::from_fn(
                |mut req: Request, next: Next| async move {
                    let who = req
                        .headers()
                        .get("x-user")
                        .map(|v| v.to_str().unwrap().to_owned());
                    if let Some(who) = who {
                        let (id, name) = who.split_once(' ').unwrap();
                        req.extensions_mut().insert(AuthUser {
                            session_hash: Vec::new(),
                            me: me(id.parse().unwrap(), name),
                        });
                    }
                    next.run(req).await
                },
            ))
    }

    #[tokio::test]
    async fn only_a_render_from_the_user_alone_is_copied() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tower::ServiceExt;
        let renders = Arc::new(AtomicUsize::new(0));
        let app = counting_app(renders.clone());
        let get = |uri: &str, user: Option<&str>| {
            let mut req = Request::get(uri);
            if let Some(u) = user {
                req = req.header("x-user", u);
            }
            let app = app.clone();
            let req = req.body(Body::empty()).unwrap();
            async move {
                let res = app.oneshot(req).await.unwrap();
                let csp = res.headers()[header::CONTENT_SECURITY_POLICY]
                    .to_str()
                    .unwrap()
                    .to_owned();
                let body = body_of(res).await;
                (body, csp)
            }
        };
        let count = || renders.load(Ordering::SeqCst);

        let (first, first_csp) = get("/", Some("1 ann")).await;
        let (again, again_csp) = get("/", Some("1 ann")).await;
        assert_eq!(count(), 1, "the second is a copy");
        let fresh = nonce_in(&again_csp).unwrap();
        assert_ne!(fresh, NONCE);
        assert_eq!(again, first.replace(NONCE, fresh));
        assert_eq!(first_csp.replace(NONCE, fresh), again_csp);

        for (uri, user, what) in [
            ("/", Some("2 bob"), "another user"),
            ("/", Some("1 anne"), "the user reads otherwise"),
            ("/?x=1", Some("1 ann"), "a query string"),
            ("/?x=1", Some("1 ann"), "a query string, again"),
            ("/users", Some("1 ann"), "a render that read the database"),
            ("/users", Some("1 ann"), "it read the database again"),
            (
                "/invite/abc",
                Some("1 ann"),
                "a path that is not the console's own",
            ),
            ("/invite/abc", Some("1 ann"), "that path again"),
            ("/no-such-page", Some("1 ann"), "an unknown path"),
            ("/no-such-page", Some("1 ann"), "an unknown path, again"),
            ("/profile", None, "nobody signed in"),
            ("/profile", None, "nobody signed in, again"),
            ("/api/x", Some("1 ann"), "not a page"),
        ] {
            let before = count();
            get(uri, user).await;
            assert_eq!(count(), before + 1, "{what}: rendered");
        }
        // Ann as she reads now was kept; Bob's page is his own.
        let before = count();
        assert!(get("/", Some("1 anne"))
            .await
            .0
            .starts_with("<p>render 2</p>"));
        assert!(get("/", Some("2 bob"))
            .await
            .0
            .starts_with("<p>render 1</p>"));
        assert_eq!(count(), before);
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
