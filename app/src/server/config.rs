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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            secure_cookies: false,
            session_idle_secs: 12 * 3600,
            session_absolute_secs: 7 * 24 * 3600,
            trust_proxy: false,
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

    /// The cookie of a sign-in that passed the password and owes a code.
    pub fn pending_cookie_name(&self) -> &'static str {
        if self.secure_cookies {
            "__Host-latchkey_pending"
        } else {
            "latchkey_pending"
        }
    }
}
