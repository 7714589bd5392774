//! Identifiers of stored objects.
//!
//! Ids are a short type prefix (`key_`, ...) and a UUIDv7 in simple hex
//! form. The prefix tells a reader what an id refers to; UUIDv7 keeps ids
//! roughly time-ordered, which keeps B-tree inserts local.

use uuid::Uuid;

/// A new id with the given type prefix, e.g. `new_id("key")` gives
/// `key_0192f5c2...`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::now_v7().simple())
}

/// Whether `id` has the shape `new_id(prefix)` produces. Used to answer
/// 404 for obviously foreign ids without a database round trip.
pub fn is_valid_id(prefix: &str, id: &str) -> bool {
    match id
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
    {
        Some(hex) => hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_have_the_prefix_and_validate() {
        let id = new_id("key");
        assert!(id.starts_with("key_"), "{id}");
        assert!(is_valid_id("key", &id));
        assert!(!is_valid_id("bot", &id));
    }

    #[test]
    fn malformed_ids_are_refused() {
        assert!(!is_valid_id("key", "key_"));
        assert!(!is_valid_id("key", "key_zz"));
        assert!(!is_valid_id("key", "key0192f5c2000070008000000000000000"));
        assert!(!is_valid_id("key", &format!("key_{}", "g".repeat(32))));
    }

    #[test]
    fn ids_made_later_sort_later() {
        let a = new_id("key");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id("key");
        assert!(a < b, "{a} !< {b}");
    }
}
