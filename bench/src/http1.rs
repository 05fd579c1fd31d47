//! A lean HTTP/1.1 keep-alive client for the load loops: one TCP connection per load worker,
//! requests written as prepared bytes, the answer read on the same task (like `wrk`). A general
//! client (reqwest over hyper) spends a pool checkout, a header map and two task hand-offs per
//! request; on a 2-core machine shared with the server that is CPU the server does not get.
//! Only what the console's answers use is understood: a status line, `Content-Length` or
//! chunked bodies, and `Connection: close`.

use std::{io, net::SocketAddr};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// A request to the server at `host` as it goes on the wire.
pub fn get(host: SocketAddr, path: &str, cookie: Option<&str>) -> Vec<u8> {
    request(
        "GET",
        host,
        path,
        cookie,
        "accept-encoding: br, gzip\r\n",
        "",
    )
}

/// A form POST to a server function, asking for its JSON answer.
pub fn post_form(host: SocketAddr, path: &str, body: &str, cookie: Option<&str>) -> Vec<u8> {
    let headers = format!(
        "content-type: application/x-www-form-urlencoded\r\naccept: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    request("POST", host, path, cookie, &headers, body)
}

fn request(
    method: &str,
    host: SocketAddr,
    path: &str,
    cookie: Option<&str>,
    headers: &str,
    body: &str,
) -> Vec<u8> {
    let cookie = cookie
        .map(|c| format!("cookie: {c}\r\n"))
        .unwrap_or_default();
    format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\n{cookie}{headers}\r\n{body}").into_bytes()
}

/// One keep-alive connection, opened on first use and again after an error or a close.
pub struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

/// What one answer was.
#[derive(Debug, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body_len: usize,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Conn {
        Conn {
            addr,
            stream: None,
            buf: Vec::with_capacity(16 * 1024),
        }
    }

    /// Opens the connection now, so that a timed run does not count its TCP handshake.
    pub async fn open(&mut self) -> io::Result<()> {
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr).await?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
        }
        Ok(())
    }

    /// Sends `req` and reads its whole answer. On any error the connection is dropped, so the
    /// next request opens a new one.
    pub async fn send(&mut self, req: &[u8]) -> io::Result<Answer> {
        let result = self.exchange(req).await;
        if !matches!(result, Ok((_, true))) {
            self.stream = None;
        }
        result.map(|(a, _)| a)
    }

    /// The answer and whether the connection may be used again.
    async fn exchange(&mut self, req: &[u8]) -> io::Result<(Answer, bool)> {
        self.open().await?;
        let stream = self.stream.as_mut().expect("connected above");
        stream.write_all(req).await?;
        self.buf.clear();
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            read_more(stream, &mut self.buf).await?;
        };
        let head = parse_head(&self.buf[..head_end])?;
        let body_len = match head.framing {
            Framing::Length(n) => {
                while self.buf.len() < head_end + n {
                    read_more(stream, &mut self.buf).await?;
                }
                n
            }
            Framing::Chunked => read_chunked(stream, &mut self.buf, head_end).await?,
        };
        Ok((
            Answer {
                status: head.status,
                body_len,
            },
            head.keep_alive,
        ))
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<()> {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(16 * 1024);
    }
    if stream.read_buf(buf).await? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the connection mid-answer",
        ));
    }
    Ok(())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

#[derive(Debug, PartialEq)]
enum Framing {
    Length(usize),
    Chunked,
}

#[derive(Debug, PartialEq)]
struct Head {
    status: u16,
    framing: Framing,
    keep_alive: bool,
}

fn parse_head(head: &[u8]) -> io::Result<Head> {
    let text = std::str::from_utf8(head).map_err(|_| bad("answer head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split(' ');
    if parts.next() != Some("HTTP/1.1") {
        return Err(bad("not an HTTP/1.1 answer"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status code"))?;
    let (mut length, mut chunked, mut keep_alive) = (None, false, true);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse().map_err(|_| bad("bad content-length"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            keep_alive = !value.eq_ignore_ascii_case("close");
        }
    }
    let framing = match (chunked, length) {
        (true, _) => Framing::Chunked,
        (false, Some(n)) => Framing::Length(n),
        // 204 and 304 have no body; anything else without a length would end at the close,
        // which a keep-alive load loop cannot use.
        (false, None) if status == 204 || status == 304 => Framing::Length(0),
        (false, None) => return Err(bad("answer without a length")),
    };
    Ok(Head {
        status,
        framing,
        keep_alive,
    })
}

/// Reads a chunked body that starts at `at` in `buf`; returns its decoded length.
async fn read_chunked(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    mut at: usize,
) -> io::Result<usize> {
    let mut total = 0;
    loop {
        let line_end = loop {
            if let Some(i) = find(&buf[at..], b"\r\n") {
                break at + i;
            }
            read_more(stream, buf).await?;
        };
        let size_text =
            std::str::from_utf8(&buf[at..line_end]).map_err(|_| bad("bad chunk size"))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("bad chunk size"))?;
        at = line_end + 2;
        if size == 0 {
            // No trailers from this server: the last chunk ends with an empty line.
            while buf.len() < at + 2 {
                read_more(stream, buf).await?;
            }
            return Ok(total);
        }
        while buf.len() < at + size + 2 {
            read_more(stream, buf).await?;
        }
        at += size + 2;
        total += size;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn heads_are_read_as_sent() {
        let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n").unwrap();
        assert_eq!(h.status, 200);
        assert_eq!(h.framing, Framing::Length(12));
        assert!(h.keep_alive);
        let h = parse_head(
            b"HTTP/1.1 401 Unauthorized\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        )
        .unwrap();
        assert_eq!(h.status, 401);
        assert_eq!(h.framing, Framing::Chunked);
        assert!(!h.keep_alive);
        assert!(parse_head(b"HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }

    /// A server that answers each request with the next canned answer, written in small pieces
    /// so the client has to read across packet boundaries.
    async fn canned(answers: Vec<&'static [u8]>) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            s.set_nodelay(true).unwrap();
            let mut req = Vec::new();
            for a in answers {
                req.clear();
                while find(&req, b"\r\n\r\n").is_none() {
                    if s.read_buf(&mut req).await.unwrap() == 0 {
                        return;
                    }
                }
                for piece in a.chunks(3) {
                    s.write_all(piece).await.unwrap();
                    tokio::time::sleep(std::time::Duration::from_micros(50)).await;
                }
            }
        });
        addr
    }

    #[tokio::test]
    async fn answers_are_read_whole_on_one_connection() {
        let addr = canned(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
            b"HTTP/1.1 400 Bad Request\r\ntransfer-encoding: chunked\r\n\r\n4\r\nwiki\r\n5;x=1\r\npedia\r\n0\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
        ])
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
        let addr = canned(vec![b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\nshort"]).await;
        let mut c = Conn::new(addr);
        assert!(c.send(&get(addr, "/", None)).await.is_err());
    }

    #[test]
    fn requests_carry_their_cookie_and_body() {
        let host = SocketAddr::from(([127, 0, 0, 1], 1));
        let r = String::from_utf8(post_form(host, "/api/x", "code=123456", Some("a=b"))).unwrap();
        assert!(r.starts_with("POST /api/x HTTP/1.1\r\nhost: 127.0.0.1:1\r\ncookie: a=b\r\n"));
        assert!(r.contains("content-length: 11\r\n"));
        assert!(r.ends_with("\r\n\r\ncode=123456"));
    }
}
