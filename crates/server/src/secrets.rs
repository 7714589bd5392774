//! Loading the key that seals stored secrets.
//!
//! The key comes from `secrets_key`, or from `secrets_key_file`, which is
//! created (mode 0600) on first start so a new user needs no set-up.
//! Losing the key makes stored endpoint secrets unreadable; replicas must
//! share it (set `TRADEHOOK_SECRETS_KEY` on each).

use std::path::{Path, PathBuf};

use anyhow::Context;
use tradehook_core::crypto::SecretBox;

use crate::config::Config;

/// The sealing key of this configuration, creating the key file if needed.
pub fn load_sealer(config: &Config) -> anyhow::Result<SecretBox> {
    if let Some(key) = &config.secrets_key {
        return SecretBox::from_base64(key.expose()).context("secrets_key");
    }
    let path = key_file_path(config);
    match std::fs::read_to_string(&path) {
        Ok(text) => SecretBox::from_base64(&text)
            .with_context(|| format!("sealing key file {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SecretBox::generate_key();
            write_new_key(&path, &key).with_context(|| {
                format!("cannot create the sealing key file {}", path.display())
            })?;
            tracing::warn!(
                path = %path.display(),
                "created a new key for sealing stored secrets; back it up, and give every replica the same key (TRADEHOOK_SECRETS_KEY)"
            );
            SecretBox::from_base64(&key).context("generated key")
        }
        Err(e) => {
            Err(e).with_context(|| format!("cannot read the sealing key file {}", path.display()))
        }
    }
}

/// `secrets_key_file`, or beside the SQLite database, or `./tradehook.key`.
pub fn key_file_path(config: &Config) -> PathBuf {
    if !config.secrets_key_file.is_empty() {
        return PathBuf::from(&config.secrets_key_file);
    }
    let sqlite_file = config
        .database_url
        .strip_prefix("sqlite://")
        .or_else(|| config.database_url.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or(rest))
        .filter(|p| !p.is_empty() && !p.contains(":memory:"));
    match sqlite_file.and_then(|p| Path::new(p).parent()) {
        Some(dir) => dir.join("tradehook.key"),
        None => PathBuf::from("tradehook.key"),
    }
}

fn write_new_key(path: &Path, key: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(key.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_sits_beside_the_sqlite_database() {
        let mut c = Config::defaults();
        c.database_url = "sqlite:///var/lib/tradehook/tradehook.db".into();
        assert_eq!(
            key_file_path(&c),
            PathBuf::from("/var/lib/tradehook/tradehook.key")
        );
        c.database_url = "sqlite://tradehook.db".into();
        assert_eq!(key_file_path(&c), PathBuf::from("tradehook.key"));
        c.database_url = "postgres://h/db".into();
        assert_eq!(key_file_path(&c), PathBuf::from("tradehook.key"));
        c.secrets_key_file = "/etc/tradehook/key".into();
        assert_eq!(key_file_path(&c), PathBuf::from("/etc/tradehook/key"));
    }

    #[test]
    fn a_missing_key_file_is_created_once_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Config::defaults();
        c.secrets_key_file = dir.path().join("k").display().to_string();
        let first = load_sealer(&c).unwrap();
        let sealed = first.seal("whsec_x");
        let second = load_sealer(&c).unwrap();
        assert_eq!(
            second.open(&sealed).unwrap(),
            "whsec_x",
            "the same key is read back"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("k"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
