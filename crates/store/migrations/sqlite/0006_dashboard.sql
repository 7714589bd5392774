-- Dashboard sessions. The cookie holds a random session id; only its
-- SHA-256 is stored. The signed-in API key is kept sealed (see
-- core::crypto) so the dashboard can act with it, and is re-checked on
-- every request, so revoking the key ends its sessions. Times are Unix
-- milliseconds. Replicas on one database share sessions.
CREATE TABLE dashboard_sessions (
    id_hash    TEXT    NOT NULL PRIMARY KEY,
    key_id     TEXT    NOT NULL,
    key_sealed TEXT    NOT NULL,
    csrf_token TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX dashboard_sessions_expires ON dashboard_sessions (expires_at);

-- The overview counts today's deliveries across endpoints.
CREATE INDEX deliveries_created ON deliveries (created_at);
