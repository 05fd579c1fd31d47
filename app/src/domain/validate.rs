//! Input rules, checked in the browser for quick feedback and always again on the server.

use super::AppError;

pub const MIN_PASSWORD_LEN: usize = 12;
/// Argon2 accepts far more, but nobody types 256 characters; the cap bounds hashing work.
pub const MAX_PASSWORD_LEN: usize = 256;
pub const MAX_NAME_LEN: usize = 100;
/// RFC 5321: a path is at most 256 octets, so an address at most 254.
pub const MAX_EMAIL_LEN: usize = 254;

pub fn normalize_email(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// A plausible address: one `@`, something on each side, a dot in the domain, no spaces.
pub fn validate_email(field: &str, email: &str) -> Result<(), AppError> {
    if email.is_empty() {
        return Err(AppError::invalid(field, "Enter an email address."));
    }
    if email.len() > MAX_EMAIL_LEN {
        return Err(AppError::invalid(
            field,
            format!("An email address has at most {MAX_EMAIL_LEN} characters."),
        ));
    }
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !email
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == ':')
        }
        None => false,
    };
    if valid {
        Ok(())
    } else {
        Err(AppError::invalid(
            field,
            "Enter an email address like name@example.com.",
        ))
    }
}

/// A 6-digit code as typed: spaces and dashes are ignored ("123 456").
pub fn parse_code(field: &str, raw: &str) -> Result<String, AppError> {
    let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(digits)
    } else {
        Err(AppError::invalid(
            field,
            "Enter the 6-digit code from your authenticator app.",
        ))
    }
}

/// A recovery code as typed: case, spaces and dashes are ignored.
pub fn parse_recovery_code(field: &str, raw: &str) -> Result<String, AppError> {
    let code: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if code.len() == 10 && code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(code)
    } else {
        Err(AppError::invalid(
            field,
            "Enter one of your recovery codes, like abcde-12345.",
        ))
    }
}

pub fn validate_name(field: &str, what: &str, name: &str) -> Result<(), AppError> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(AppError::invalid(field, format!("Enter {what}.")));
    }
    if trimmed.chars().count() > MAX_NAME_LEN {
        return Err(AppError::invalid(
            field,
            format!("Use at most {MAX_NAME_LEN} characters."),
        ));
    }
    if trimmed.chars().any(|c| c.is_control()) {
        return Err(AppError::invalid(
            field,
            "Use letters, digits, spaces and punctuation only.",
        ));
    }
    Ok(())
}

pub fn validate_password(field: &str, password: &str) -> Result<(), AppError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(AppError::invalid(
            field,
            format!("Use at least {MIN_PASSWORD_LEN} characters."),
        ));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(AppError::invalid(
            field,
            format!("Use at most {MAX_PASSWORD_LEN} characters."),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(validate_email("email", "a@b.co").is_ok());
        for bad in [
            "", "ab.co", "@b.co", "a@b", "a@.b", "a@b.", "a b@c.de", "a@b@c.de",
        ] {
            let err = validate_email("email", bad).unwrap_err();
            assert!(err.for_field("email").is_some(), "{bad:?}");
        }
        let long = format!("{}@example.com", "x".repeat(10_000));
        assert!(validate_email("email", &long)
            .unwrap_err()
            .to_string()
            .contains("at most"));
        assert_eq!(normalize_email("  Ann@Example.COM "), "ann@example.com");
    }

    #[test]
    fn passwords_count_characters_not_bytes() {
        assert!(validate_password("password", "elevenchars").is_err());
        assert!(validate_password("password", "twelve chars").is_ok());
        // 12 two-byte characters are 12 characters.
        assert!(validate_password("password", &"é".repeat(12)).is_ok());
        assert!(validate_password("password", &"x".repeat(MAX_PASSWORD_LEN + 1)).is_err());
    }

    #[test]
    fn codes() {
        assert_eq!(parse_code("code", " 123 456 ").unwrap(), "123456");
        assert_eq!(parse_code("code", "123-456").unwrap(), "123456");
        for bad in [
            "",
            "12345",
            "1234567",
            "12a456",
            "１２３４５６",
            &"1".repeat(10_000),
        ] {
            assert!(parse_code("code", bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_recovery_code("code", "ABCDE-12345").unwrap(),
            "abcde12345"
        );
        assert!(parse_recovery_code("code", "abcde").is_err());
        assert!(parse_recovery_code("code", "abcde-1234!").is_err());
    }

    #[test]
    fn names() {
        assert!(validate_name("name", "your name", "Ann").is_ok());
        assert!(validate_name("name", "your name", "   ").is_err());
        assert!(validate_name("name", "your name", &"n".repeat(101)).is_err());
        assert!(validate_name("name", "your name", "a\u{0}b").is_err());
    }
}
