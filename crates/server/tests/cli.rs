//! The `tradehook` binary: key commands, config commands, serve + SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tradehook_store::backend_test;

fn tradehook(db_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tradehook"))
        .args(args)
        .env("TRADEHOOK_DATABASE_URL", db_url)
        .env("TRADEHOOK_LOG", "warn")
        .env("TRADEHOOK_LOG_FORMAT", "json")
        .env("TRADEHOOK_MARKET_SOURCE", "none")
        .output()
        .expect("run tradehook")
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

backend_test!(
    keys_create_prints_the_key_once_and_list_and_revoke_manage_it,
    |db| {
        let created = tradehook(&db.url, &["keys", "create", "bot", "--rpm", "5"]);
        let key = stdout(&created).trim().to_string();
        assert!(
            key.starts_with("th_") && key.len() == 46,
            "only the key on stdout: {key:?}"
        );
        let notice = String::from_utf8_lossy(&created.stderr);
        assert!(notice.contains("only time"), "{notice}");

        // The key works against the stored hash.
        let record = db
            .store
            .find_api_key_by_hash(&tradehook_core::apikey::KeyHash::of(&key))
            .await
            .unwrap()
            .expect("stored");
        assert_eq!(
            (record.name.as_str(), record.rate_limit_per_minute),
            ("bot", Some(5))
        );

        let listed = stdout(&tradehook(&db.url, &["keys", "list"]));
        assert!(
            listed.contains(&record.id) && listed.contains("bot") && listed.contains(&key[..11]),
            "{listed}"
        );
        assert!(!listed.contains(&key), "the secret is never listed");

        let revoked = stdout(&tradehook(&db.url, &["keys", "revoke", &record.id]));
        assert!(revoked.contains("revoked"), "{revoked}");
        assert!(db.store.get_api_key(&record.id).await.unwrap().is_revoked());
        assert!(!stdout(&tradehook(&db.url, &["keys", "list"])).contains(&record.id));
        assert!(stdout(&tradehook(&db.url, &["keys", "list", "--all"])).contains("revoked"));

        let missing = tradehook(&db.url, &["keys", "revoke", "key_nope"]);
        assert!(!missing.status.success());
        assert!(String::from_utf8_lossy(&missing.stderr).contains("no API key with id `key_nope`"));
    }
);

backend_test!(migrate_reports_every_migration_applied, |db| {
    let out = stdout(&tradehook(&db.url, &["migrate"]));
    assert!(out.contains("applied") && !out.contains("pending"), "{out}");
    assert!(out.contains("up to date"), "{out}");
});

#[test]
fn config_show_redacts_and_bad_values_fail_the_start() {
    let out = Command::new(env!("CARGO_BIN_EXE_tradehook"))
        .args(["config", "show"])
        .env("TRADEHOOK_ADMIN_KEY", "very-secret")
        .env("TRADEHOOK_DATABASE_URL", "postgres://u:pw123@db/x")
        .output()
        .unwrap();
    let shown = stdout(&out);
    assert!(
        !shown.contains("very-secret") && !shown.contains("pw123"),
        "{shown}"
    );
    assert!(shown.contains("admin_key = \"***\""), "{shown}");

    let bad = Command::new(env!("CARGO_BIN_EXE_tradehook"))
        .args(["serve"])
        .env("TRADEHOOK_RATE_LIMIT_DEFAULT_PER_MINUTE", "fast")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("rate_limit.default_per_minute = \"fast\" (TRADEHOOK_RATE_LIMIT_DEFAULT_PER_MINUTE): expected"),
        "{err}"
    );
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["keys", "--help"],
        vec!["keys", "create", "--help"],
        vec!["keys", "list", "--help"],
        vec!["keys", "revoke", "--help"],
        vec!["config", "--help"],
        vec!["config", "show", "--help"],
        vec!["demo", "--help"],
        vec!["backfill", "--help"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tradehook"))
            .args(&args)
            .output()
            .unwrap();
        let text = stdout(&out);
        assert!(text.contains("Usage: tradehook"), "{args:?}: {text}");
    }
}

#[test]
fn serve_stops_with_exit_code_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tradehook"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env(
            "TRADEHOOK_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("t.db").display()),
        )
        .env("TRADEHOOK_LOG_FORMAT", "json")
        .env("TRADEHOOK_MARKET_SOURCE", "none")
        .env("TRADEHOOK_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("log line before exit").unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["message"] == "tradehook listening" {
            break v["addr"].as_str().unwrap().to_string();
        }
    };
    let health = std::net::TcpStream::connect(&addr);
    assert!(health.is_ok(), "listening on {addr}");

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "graceful exit");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("tradehook stopped")),
        "{rest:?}"
    );
}

backend_test!(rules_commands_create_list_disable_and_delete_rules, |db| {
    let created = tradehook(
        &db.url,
        &[
            "rules",
            "create",
            "--name",
            "BTC 100k",
            "--symbol",
            "BTC",
            "--type",
            "price_threshold",
            "--settings",
            r#"{"operator":"crossing_up","threshold":100000}"#,
        ],
    );
    let id = stdout(&created).trim().to_string();
    assert!(id.starts_with("rul_"), "{id}");
    let listed = stdout(&tradehook(&db.url, &["rules", "list"]));
    assert!(
        listed.contains(&id)
            && listed.contains("price crossing_up 100000")
            && listed.contains("active"),
        "{listed}"
    );
    stdout(&tradehook(&db.url, &["rules", "disable", &id]));
    assert!(!db.store.get_rule(&id).await.unwrap().enabled);
    let listed = stdout(&tradehook(&db.url, &["rules", "list", "--symbol", "BTC"]));
    assert!(listed.contains("disabled"), "{listed}");
    stdout(&tradehook(&db.url, &["rules", "enable", &id]));
    assert!(db.store.get_rule(&id).await.unwrap().enabled);
    stdout(&tradehook(&db.url, &["rules", "delete", &id]));
    assert!(db.store.get_rule(&id).await.is_err());

    // Bad input: a clear message naming the flag, nothing stored.
    for (args, message) in [
        (
            vec![
                "--type",
                "rsi",
                "--settings",
                r#"{"period":0,"interval":"1m","threshold":70,"direction":"overbought"}"#,
            ],
            "--settings.period",
        ),
        (
            vec!["--type", "price_threshold", "--settings", "{not json"],
            "--settings is not valid JSON",
        ),
        (
            vec![
                "--type",
                "price_threshold",
                "--settings",
                r#"{"operator":">","threshold":1}"#,
                "--frequency",
                "often",
            ],
            "--frequency",
        ),
    ] {
        let mut all = vec!["rules", "create", "--name", "x", "--symbol", "BTC"];
        all.extend(args);
        let out = tradehook(&db.url, &all);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{message} in {err}");
    }
    let missing = tradehook(
        &db.url,
        &["rules", "delete", "rul_0192f5c2f708b192d34e5f6071829304"],
    );
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no rule with id"));
    let listed = stdout(&tradehook(&db.url, &["rules", "list"]));
    assert!(listed.trim().is_empty(), "{listed}");
});
