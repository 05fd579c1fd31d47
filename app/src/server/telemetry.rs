//! Counters for operators, exported in Prometheus' text format on their own address
//! (`--metrics-listen`; without it no recorder is installed and each count is a no-op).
//!
//! Security events are counted where they are written to the audit log ([`event`]), so the
//! metrics and the log name the same things. Labels are fixed words from this file: never a
//! user, an account, an address or anything a request chose, so a client cannot grow the set.
//! An event is counted when written; the rare one whose transaction then rolls back (a passkey
//! proof for the removal of a passkey that is not the user's) counts all the same.

use super::audit::Event;

/// Sign-ins, code checks, lockouts and every other security event.
pub fn event(event: Event, detail: &str) {
    match event {
        Event::SignInSuccess => sign_in(method(detail), "success"),
        Event::SignInFailure => sign_in("password", "failure"),
        Event::CodeSuccess => code_check("code", "accepted"),
        Event::CodeFailure | Event::CodeReplayRefused => code_check(
            if detail.contains("recovery") {
                "recovery_code"
            } else {
                "code"
            },
            "refused",
        ),
        Event::RecoveryCodeUsed => code_check("recovery_code", "accepted"),
        Event::CodeLockout => metrics::counter!("latchkey_code_lockouts_total").increment(1),
        _ => {}
    }
    metrics::counter!("latchkey_security_events_total", "event" => event.as_str()).increment(1);
}

fn sign_in(method: &'static str, result: &'static str) {
    metrics::counter!("latchkey_sign_ins_total", "method" => method, "result" => result)
        .increment(1);
}

fn code_check(kind: &'static str, result: &'static str) {
    metrics::counter!("latchkey_code_checks_total", "kind" => kind, "result" => result)
        .increment(1);
}

/// A sign-in's method, from the audit detail that says how it was done.
fn method(detail: &str) -> &'static str {
    match detail {
        "password" => "password",
        "password + authenticator code" => "code",
        "password + recovery code" => "recovery_code",
        "password + passkey" => "passkey",
        "password + new second factor" => "enrollment",
        _ => "other",
    }
}

/// An attempt refused before it was checked: `what` is the code lock (`"code"`) or the password
/// throttle's subject that refused it (`"account"`, `"addr"`, `"device"`, `"sign_up"`, `"link"`).
pub fn throttled(what: &'static str) {
    metrics::counter!("latchkey_throttled_total", "what" => what).increment(1);
}

/// One HTTP request: its route class, status and time.
pub fn request(class: &'static str, status: u16, seconds: f64) {
    metrics::counter!("latchkey_http_requests_total", "class" => class, "status" => status_label(status))
        .increment(1);
    metrics::histogram!("latchkey_http_request_duration_seconds", "class" => class).record(seconds);
}

/// The status as a label: each one the server sends is a fixed word.
fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        204 => "204",
        206 => "206",
        301 => "301",
        302 => "302",
        303 => "303",
        304 => "304",
        307 => "307",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        413 => "413",
        415 => "415",
        422 => "422",
        429 => "429",
        500 => "500",
        503 => "503",
        s if s < 300 => "2xx",
        s if s < 400 => "3xx",
        s if s < 500 => "4xx",
        _ => "5xx",
    }
}

/// The database pool now: connections open and idle.
pub fn pool(open: u32, idle: usize) {
    metrics::gauge!("latchkey_db_pool_connections", "state" => "open").set(open as f64);
    metrics::gauge!("latchkey_db_pool_connections", "state" => "idle").set(idle as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_fixed_words() {
        assert_eq!(method("password + passkey"), "passkey");
        assert_eq!(method("anything a client chose"), "other");
        assert_eq!(status_label(429), "429");
        assert_eq!(status_label(418), "4xx");
        assert_eq!(status_label(599), "5xx");
    }
}
