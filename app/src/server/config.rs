//! Runtime settings that server functions need, decided once at start-up.

#[derive(Clone, Debug)]
pub struct Config {
    /// Served over https: cookies get `Secure` and the `__Host-` prefix.
    pub secure_cookies: bool,
    /// A session unused for this long ends.
    pub session_idle_secs: i64,
    /// A session ends this long after sign-in, used or not.
    pub session_absolute_secs: i64,
    /// Take the client address from the last hop of `X-Forwarded-For` (behind a proxy only).
    pub trust_proxy: bool,
    /// `scheme://host[:port]` of the public URL: browsers' `Origin` for our own pages.
    pub public_origin: Option<String>,
    /// Sign-ups one client address may make in an hour before each further one waits.
    pub free_sign_ups: i64,
    /// Requests may shift the clock ([`super::clock`]): test builds only.
    pub test_clock: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            secure_cookies: false,
            session_idle_secs: 12 * 3600,
            session_absolute_secs: 7 * 24 * 3600,
            trust_proxy: false,
            public_origin: None,
            free_sign_ups: super::throttle::FREE_SIGN_UPS,
            test_clock: false,
        }
    }
}

impl Config {
    pub fn session_cookie_name(&self) -> &'static str {
        if self.secure_cookies {
            "__Host-latchkey_session"
        } else {
            "latchkey_session"
        }
    }

    /// The origin a request was sent to (`scheme://host` from `Host`, or from the proxy's
    /// `X-Forwarded-Host` behind `--trust-proxy`).
    pub fn request_origin(&self, headers: &http::HeaderMap) -> Option<String> {
        let host = self
            .trust_proxy
            .then(|| headers.get("x-forwarded-host"))
            .flatten()
            .or_else(|| headers.get(http::header::HOST))
            .and_then(|v| v.to_str().ok())?;
        let scheme = if self.secure_cookies { "https" } else { "http" };
        Some(format!("{scheme}://{}", host.to_ascii_lowercase()))
    }

    /// The cookie of a sign-in that passed the password and owes a code.
    pub fn pending_cookie_name(&self) -> &'static str {
        if self.secure_cookies {
            "__Host-latchkey_pending"
        } else {
            "latchkey_pending"
        }
    }
}

/// The policy of an HTML page whose scripts carry `nonce`: no inline script runs without it.
pub fn page_csp(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The origin (`scheme://host[:port]`) of a URL: everything before the path.
pub fn origin_of(url: &str) -> String {
    let url = url.trim();
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    let end = url[after_scheme..]
        .find(['/', '?', '#'])
        .map(|i| i + after_scheme)
        .unwrap_or(url.len());
    url[..end].to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    #[test]
    fn origin_of_drops_path_query_and_case() {
        assert_eq!(
            super::origin_of("https://Console.Example.com/x?y"),
            "https://console.example.com"
        );
        assert_eq!(
            super::origin_of("http://127.0.0.1:3000"),
            "http://127.0.0.1:3000"
        );
        assert_eq!(
            super::origin_of("http://127.0.0.1:3000/"),
            "http://127.0.0.1:3000"
        );
    }
}
