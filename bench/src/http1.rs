//! The load loops' HTTP client: hyper's low-level HTTP/1.1 client connection, one keep-alive TCP
//! connection per load worker with its requests sent one after another on it, as `wrk` does.
//! The connection is driven on the worker's own task while its answer comes, so a request costs
//! no hand-off to a connection task; an error or a `Connection: close` drops the connection and
//! the next request opens a new one.

use std::{io, net::SocketAddr};

use http_body_util::{BodyExt, Full};
use hyper::{
    body::Bytes,
    client::conn::http1::{handshake, Connection, SendRequest},
    header, Method,
};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A prepared request; [`Conn::send`] sends a copy of it.
pub type Request = hyper::Request<Full<Bytes>>;

/// A GET to the server at `host`, accepting compressed answers as a browser does.
pub fn get(host: SocketAddr, path: &str, cookie: Option<&str>) -> Request {
    builder(Method::GET, host, path, cookie)
        .header(header::ACCEPT_ENCODING, "br, gzip")
        .body(Full::default())
        .expect("a valid request")
}

/// A form POST to a server function, asking for its JSON answer.
pub fn post_form(host: SocketAddr, path: &str, body: &str, cookie: Option<&str>) -> Request {
    builder(Method::POST, host, path, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .header(header::CONTENT_LENGTH, body.len())
        .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
        .expect("a valid request")
}

fn builder(
    method: Method,
    host: SocketAddr,
    path: &str,
    cookie: Option<&str>,
) -> hyper::http::request::Builder {
    // hyper's connection sends what it is given: the `Host` header is ours to add.
    let b = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, host.to_string());
    match cookie {
        Some(c) => b.header(header::COOKIE, c),
        None => b,
    }
}

/// What one answer was.
#[derive(Debug, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body_len: usize,
}

type Live = (
    SendRequest<Full<Bytes>>,
    Connection<TokioIo<TcpStream>, Full<Bytes>>,
);

/// One keep-alive connection, opened on first use and again after an error or a close.
pub struct Conn {
    addr: SocketAddr,
    live: Option<Live>,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Conn {
        Conn { addr, live: None }
    }

    /// Opens the connection now, so that a timed run does not count its TCP handshake.
    pub async fn open(&mut self) -> io::Result<()> {
        if self.live.is_none() {
            let stream = TcpStream::connect(self.addr).await?;
            stream.set_nodelay(true)?;
            let live = handshake(TokioIo::new(stream))
                .await
                .map_err(io::Error::other)?;
            self.live = Some(live);
        }
        Ok(())
    }

    /// Sends `req` and reads its whole answer. On any error, or an answer that closes the
    /// connection, the connection is dropped, so the next request opens a new one.
    pub async fn send(&mut self, req: &Request) -> io::Result<Answer> {
        self.open().await?;
        let (mut sender, connection) = self.live.take().expect("opened above");
        let mut connection = Some(connection);
        let answered = {
            let answer = exchange(&mut sender, req.clone());
            tokio::pin!(answer);
            tokio::select! {
                biased;
                answered = &mut answer => answered,
                ended = connection.as_mut().expect("not ended yet") => {
                    // The server closed the connection, after an answer or before one. Dropping
                    // it ends the answer: whole if it had all come, an error if not.
                    connection = None;
                    match ended {
                        Ok(()) => answer.await,
                        Err(e) => Err(e),
                    }
                }
            }
        };
        match (answered, connection) {
            (Ok((answer, true)), Some(connection)) => {
                self.live = Some((sender, connection));
                Ok(answer)
            }
            (answered, _) => answered.map(|(a, _)| a).map_err(io::Error::other),
        }
    }
}

/// Sends `req` once the connection can take it and reads the whole answer; with it, whether
/// the server keeps the connection open. The connection itself is polled by the caller.
async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    req: Request,
) -> hyper::Result<(Answer, bool)> {
    sender.ready().await?;
    let response = sender.send_request(req).await?;
    let status = response.status().as_u16();
    let keep_alive = !response
        .headers()
        .get(header::CONNECTION)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
    let mut body = response.into_body();
    let mut body_len = 0;
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame?.data_ref() {
            body_len += data.len();
        }
    }
    Ok((Answer { status, body_len }, keep_alive))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpListener,
        task::JoinHandle,
    };

    /// A server that takes one connection after another and answers each request on the n-th
    /// with the n-th list's next canned answer, written in small pieces so the client has to
    /// read across packet boundaries; it closes a connection once its list is done. It returns
    /// every request it read, head and body.
    async fn canned(conns: Vec<Vec<&'static [u8]>>) -> (SocketAddr, JoinHandle<Vec<String>>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let mut requests = Vec::new();
            for answers in conns {
                let (mut s, _) = l.accept().await.unwrap();
                s.set_nodelay(true).unwrap();
                for a in answers {
                    let Some(req) = read_request(&mut s).await else {
                        break;
                    };
                    requests.push(req);
                    for piece in a.chunks(3) {
                        s.write_all(piece).await.unwrap();
                        tokio::time::sleep(std::time::Duration::from_micros(50)).await;
                    }
                }
            }
            requests
        });
        (addr, server)
    }

    /// One request: its head, then as many bytes as its `content-length` says.
    async fn read_request(s: &mut TcpStream) -> Option<String> {
        let mut req = Vec::new();
        let head_end = loop {
            if let Some(i) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if s.read_buf(&mut req).await.ok()? == 0 {
                return None;
            }
        };
        let head = String::from_utf8(req[..head_end].to_vec()).unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |n| n.parse().unwrap());
        while req.len() < head_end + len {
            if s.read_buf(&mut req).await.ok()? == 0 {
                return None;
            }
        }
        Some(String::from_utf8(req).unwrap())
    }

    #[tokio::test]
    async fn answers_are_read_whole_on_one_connection() {
        let (addr, _) = canned(vec![vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
            b"HTTP/1.1 400 Bad Request\r\ntransfer-encoding: chunked\r\n\r\n4\r\nwiki\r\n5;x=1\r\npedia\r\n0\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
        ]])
        .await;
        let mut c = Conn::new(addr);
        let req = get(addr, "/", None);
        let a = c.send(&req).await.unwrap();
        assert_eq!((a.status, a.body_len), (200, 5));
        let a = c.send(&req).await.unwrap();
        assert_eq!((a.status, a.body_len), (400, 9));
        let a = c.send(&req).await.unwrap();
        assert_eq!((a.status, a.body_len), (204, 0));
        // The canned server is done and closed: the next request is an error, not an answer.
        assert!(c.send(&req).await.is_err());
    }

    #[tokio::test]
    async fn a_short_body_is_an_error() {
        let (addr, _) = canned(vec![vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\nshort",
        ]])
        .await;
        let mut c = Conn::new(addr);
        assert!(c.send(&get(addr, "/", None)).await.is_err());
    }

    #[tokio::test]
    async fn a_closed_connection_is_replaced_by_a_new_one() {
        let (addr, server) = canned(vec![
            // Closed as the answer says: the next request goes on a new connection.
            vec![b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi"],
            // Closed without a word: the next request fails, and the one after reconnects.
            vec![b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nbye"],
            vec![b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n"],
        ])
        .await;
        let mut c = Conn::new(addr);
        let req = get(addr, "/", None);
        assert_eq!(c.send(&req).await.unwrap().body_len, 2);
        assert_eq!(c.send(&req).await.unwrap().body_len, 3);
        assert!(c.send(&req).await.is_err());
        assert_eq!(c.send(&req).await.unwrap().status, 201);
        assert_eq!(server.await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn requests_carry_their_host_cookie_and_body() {
        let ok: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        let (addr, server) = canned(vec![vec![ok, ok]]).await;
        let mut c = Conn::new(addr);
        let post = post_form(addr, "/api/x", "code=123456", Some("a=b"));
        c.send(&post).await.unwrap();
        c.send(&get(addr, "/login?from=bench", None)).await.unwrap();
        let requests = server.await.unwrap();
        let (post, get) = (&requests[0], &requests[1]);
        assert!(post.starts_with("POST /api/x HTTP/1.1\r\n"), "{post}");
        for line in [
            format!("host: {addr}"),
            "cookie: a=b".into(),
            "content-type: application/x-www-form-urlencoded".into(),
            "accept: application/json".into(),
            "content-length: 11".into(),
        ] {
            assert!(
                post.contains(&format!("\r\n{line}\r\n")),
                "{line} in {post}"
            );
        }
        assert!(post.ends_with("\r\n\r\ncode=123456"), "{post}");
        assert!(
            get.starts_with("GET /login?from=bench HTTP/1.1\r\n"),
            "{get}"
        );
        assert!(get.contains(&format!("\r\nhost: {addr}\r\n")), "{get}");
        assert!(get.contains("\r\naccept-encoding: br, gzip\r\n"), "{get}");
        assert!(!get.contains("cookie:"), "{get}");
        assert!(get.ends_with("\r\n\r\n"), "{get}");
    }
}
