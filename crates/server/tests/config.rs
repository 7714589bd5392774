//! Configuration layering, validation and redaction.

use std::collections::BTreeSet;
use std::io::Write;

use tradehook_server::config::{Config, ENV_VARS, Overrides, Sources};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn toml_file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn load_err(sources: &Sources) -> String {
    Config::load(sources)
        .expect_err("configuration is refused")
        .to_string()
}

#[test]
fn defaults_match_the_documented_values() {
    let c = Config::defaults();
    assert_eq!(c.listen, "127.0.0.1:8080");
    assert_eq!(c.database_url, "sqlite://tradehook.db");
    assert!(c.admin_key.is_none() && c.redis_url.is_none());
    assert_eq!(c.log, "info");
    assert_eq!(c.http.body_limit_bytes, 256 * 1024);
    assert_eq!(c.rate_limit.default_per_minute, 120);
}

#[test]
fn each_layer_overrides_the_one_below() {
    let file = toml_file(
        "listen = \"127.0.0.1:9001\"\nlog = \"debug\"\n[http]\nbody_limit_bytes = 1000\n",
    );
    let only_file = Sources {
        file: Some(file.path().to_path_buf()),
        ..Sources::default()
    };
    let c = Config::load(&only_file).unwrap();
    assert_eq!(
        (c.listen.as_str(), c.log.as_str(), c.http.body_limit_bytes),
        ("127.0.0.1:9001", "debug", 1000)
    );

    let with_env = Sources {
        env: env(&[
            ("TRADEHOOK_LISTEN", "127.0.0.1:9002"),
            ("TRADEHOOK_HTTP_BODY_LIMIT_BYTES", "2000"),
        ]),
        ..only_file.clone()
    };
    let c = Config::load(&with_env).unwrap();
    assert_eq!(
        (c.listen.as_str(), c.log.as_str(), c.http.body_limit_bytes),
        ("127.0.0.1:9002", "debug", 2000)
    );

    let with_flags = Sources {
        overrides: Overrides {
            listen: Some("127.0.0.1:9003".into()),
            ..Overrides::default()
        },
        ..with_env
    };
    let c = Config::load(&with_flags).unwrap();
    assert_eq!(
        (c.listen.as_str(), c.http.body_limit_bytes),
        ("127.0.0.1:9003", 2000)
    );
}

#[test]
fn text_values_stay_text_even_when_they_look_like_numbers() {
    let c = Config::load(&Sources {
        env: env(&[("TRADEHOOK_ADMIN_KEY", "12345"), ("TRADEHOOK_LOG", "warn")]),
        ..Sources::default()
    })
    .unwrap();
    assert_eq!(c.admin_key.unwrap().expose(), "12345");
}

#[test]
fn an_unknown_variable_is_refused_with_a_suggestion() {
    let err = load_err(&Sources {
        env: env(&[("TRADEHOOK_LISTN", "127.0.0.1:1")]),
        ..Sources::default()
    });
    assert!(
        err.contains("unknown environment variable TRADEHOOK_LISTN"),
        "{err}"
    );
    assert!(err.contains("did you mean TRADEHOOK_LISTEN?"), "{err}");
}

#[test]
fn harness_and_file_variables_are_not_keys_and_not_unknown() {
    Config::load(&Sources {
        env: env(&[
            ("TRADEHOOK_CONFIG", "/x.toml"),
            ("TRADEHOOK_TEST_POSTGRES_URL", "postgres://x"),
        ]),
        ..Sources::default()
    })
    .unwrap();
}

#[test]
fn a_bad_value_names_the_key_the_value_and_the_expectation() {
    let err = load_err(&Sources {
        env: env(&[("TRADEHOOK_HTTP_BODY_LIMIT_BYTES", "lots")]),
        ..Sources::default()
    });
    assert!(err.contains("http.body_limit_bytes"), "{err}");
    assert!(err.contains("lots"), "{err}");
    assert!(err.contains("TRADEHOOK_HTTP_BODY_LIMIT_BYTES"), "{err}");
    assert!(err.contains("expected"), "{err}");

    let err = load_err(&Sources {
        env: env(&[("TRADEHOOK_LOG_FORMAT", "xml")]),
        ..Sources::default()
    });
    assert!(
        err.contains("log_format") && err.contains("xml") && err.contains("pretty"),
        "{err}"
    );
}

#[test]
fn every_invalid_value_is_reported_at_once() {
    let err = load_err(&Sources {
        env: env(&[
            ("TRADEHOOK_LISTEN", "nowhere"),
            ("TRADEHOOK_DATABASE_URL", "mysql://u:hunter2@h/db"),
            ("TRADEHOOK_RATE_LIMIT_DEFAULT_PER_MINUTE", "0"),
            ("TRADEHOOK_LOG", "[[["),
        ]),
        ..Sources::default()
    });
    for needle in [
        "listen = \"nowhere\" (TRADEHOOK_LISTEN): expected an address and port",
        "database_url",
        "rate_limit.default_per_minute = 0",
        "log = \"[[[\"",
    ] {
        assert!(err.contains(needle), "missing `{needle}` in:\n{err}");
    }
    assert!(
        !err.contains("hunter2"),
        "passwords are never printed: {err}"
    );
}

#[test]
fn unknown_keys_in_a_file_are_refused() {
    let file = toml_file("[http]\nbody_limit = 5\n");
    let err = load_err(&Sources {
        file: Some(file.path().to_path_buf()),
        ..Sources::default()
    });
    assert!(err.contains("http.body_limit"), "{err}");
    assert!(
        err.contains(&file.path().display().to_string()),
        "names the file: {err}"
    );
}

#[test]
fn a_missing_config_file_is_an_error() {
    let err = load_err(&Sources {
        file: Some("/definitely/not/here.toml".into()),
        ..Sources::default()
    });
    assert!(err.contains("/definitely/not/here.toml"), "{err}");
}

#[test]
fn every_key_has_exactly_one_variable_named_after_its_path() {
    let mut c = Config::defaults();
    c.admin_key = Some(tradehook_server::config::Secret::new("x"));
    c.redis_url = Some("redis://h".into());
    c.secrets_key = Some(tradehook_server::config::Secret::new("x"));
    let value = toml::Value::try_from(&c).unwrap();
    let mut keys = BTreeSet::new();
    flatten("", &value, &mut keys);

    let table: BTreeSet<String> = ENV_VARS.iter().map(|(_, k, _)| k.to_string()).collect();
    assert_eq!(keys, table, "ENV_VARS must list every configuration key");
    for (var, key, _) in ENV_VARS {
        let expected = format!("TRADEHOOK_{}", key.replace('.', "_").to_uppercase());
        assert_eq!(*var, expected);
    }
    let vars: BTreeSet<&str> = ENV_VARS.iter().map(|(v, _, _)| *v).collect();
    assert_eq!(vars.len(), ENV_VARS.len(), "no variable twice");
}

#[test]
fn the_readme_lists_every_variable() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    for (var, _, _) in ENV_VARS {
        assert!(readme.contains(var), "README.md does not list {var}");
    }
}

#[test]
fn show_redacts_secrets_and_passwords() {
    let c = Config::load(&Sources {
        env: env(&[
            ("TRADEHOOK_ADMIN_KEY", "super-secret-admin"),
            (
                "TRADEHOOK_DATABASE_URL",
                "postgres://app:dbpass@db/tradehook",
            ),
            ("TRADEHOOK_REDIS_URL", "redis://:redispass@cache:6379"),
        ]),
        ..Sources::default()
    })
    .unwrap();
    let shown = c.to_redacted_toml();
    for secret in ["super-secret-admin", "dbpass", "redispass"] {
        assert!(!shown.contains(secret), "{secret} leaked:\n{shown}");
    }
    assert!(shown.contains("postgres://app:***@db/tradehook"), "{shown}");
    assert!(shown.contains("admin_key = \"***\""), "{shown}");
    assert!(
        !format!("{c:?}").contains("super-secret-admin"),
        "Debug redacts too"
    );
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut BTreeSet<String>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&path, v, out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}
