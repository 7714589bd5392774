//! Database URL helpers.

/// The URL with any password replaced by `***`, for logs and errors.
pub fn redact_url(raw: &str) -> String {
    match ::url::Url::parse(raw) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // set_password only fails for URLs that cannot have one.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => raw.to_string(),
        // Unparseable: show only the scheme, the rest may hold a secret.
        Err(_) => match raw.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://***"),
            None => "***".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/tradehook"),
            "postgres://app:***@db:5432/tradehook"
        );
        assert_eq!(
            redact_url("redis://:pw@127.0.0.1:6379/0"),
            "redis://:***@127.0.0.1:6379/0"
        );
    }

    #[test]
    fn urls_without_password_are_unchanged() {
        assert_eq!(redact_url("sqlite://tradehook.db"), "sqlite://tradehook.db");
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1/postgres"),
            "postgres://postgres@127.0.0.1/postgres"
        );
    }

    #[test]
    fn unparseable_urls_hide_everything_after_the_scheme() {
        assert_eq!(redact_url("postgres://us:er:pw@@["), "postgres://***");
        assert_eq!(redact_url("garbage"), "***");
    }
}
