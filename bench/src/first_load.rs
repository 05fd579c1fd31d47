//! What a first visit downloads: the sign-in page's `/pkg/` assets as served with each
//! encoding, and the enrollment QR. One-off requests, over reqwest.

use crate::server::Server;

pub struct FirstLoad {
    /// Each asset's path, its size with brotli, gzip and no encoding, and its Cache-Control.
    pub assets: Vec<(String, [usize; 3], String)>,
    pub qr_status: u16,
    pub qr_len: usize,
}

async fn get_text(http: &reqwest::Client, url: &str) -> String {
    http.get(url).send().await.unwrap().text().await.unwrap()
}

/// Bytes of `/pkg/...` assets the sign-in page loads, as served with each encoding.
async fn assets(http: &reqwest::Client, base: &str) -> Vec<(String, [usize; 3], String)> {
    let page = get_text(http, &format!("{base}/login")).await;
    let mut assets: Vec<String> = page
        .split('"')
        .filter(|s| s.starts_with("/pkg/"))
        .map(str::to_string)
        .collect();
    // Files the entry script imports itself (the lazy-route loader) load on every visit too.
    for js in assets.clone().iter().filter(|a| a.ends_with(".js")) {
        let text = get_text(http, &format!("{base}{js}")).await;
        for part in text.split(['"', '\'']) {
            if let Some(name) = part.strip_prefix("./").filter(|n| n.ends_with(".js")) {
                assets.push(format!("/pkg/{name}"));
            }
        }
    }
    assets.sort();
    assets.dedup();
    let mut out = Vec::new();
    for a in assets {
        let mut sizes = [0usize; 3];
        let mut cache = String::new();
        for (k, enc) in ["br", "gzip", "identity"].iter().enumerate() {
            let r = http
                .get(format!("{base}{a}"))
                .header("accept-encoding", *enc)
                .send()
                .await
                .unwrap();
            cache = r
                .headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            sizes[k] = r.bytes().await.unwrap().len();
        }
        out.push((a, sizes, cache));
    }
    out
}

/// The first-load assets, then the enrollment QR as the owner (`owner_session`) sees it.
pub async fn run(http: &reqwest::Client, server: &Server, owner_session: &str) -> FirstLoad {
    let base = &server.base;
    let assets = assets(http, base).await;
    let qr = http
        .get(format!("{base}/two-factor/qr.svg"))
        .header("cookie", format!("latchkey_session={owner_session}"))
        .send()
        .await
        .unwrap();
    let qr_status = qr.status().as_u16();
    let qr_len = qr.bytes().await.unwrap().len();
    FirstLoad {
        assets,
        qr_status,
        qr_len,
    }
}
