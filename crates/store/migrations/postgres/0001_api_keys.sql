-- API keys. Only the SHA-256 of a key is stored; `prefix` is a short,
-- non-secret part kept for display. Times are Unix milliseconds.
CREATE TABLE api_keys (
    id                    TEXT   NOT NULL PRIMARY KEY,
    name                  TEXT   NOT NULL,
    role                  TEXT   NOT NULL CHECK (role IN ('admin', 'write', 'read')),
    prefix                TEXT   NOT NULL,
    key_hash              TEXT   NOT NULL,
    rate_limit_per_minute BIGINT NULL CHECK (rate_limit_per_minute > 0),
    created_at            BIGINT NOT NULL,
    last_used_at          BIGINT NULL,
    revoked_at            BIGINT NULL,
    CONSTRAINT api_keys_hash_key UNIQUE (key_hash)
);

-- Two live keys may not share a name; a revoked key frees its name.
CREATE UNIQUE INDEX api_keys_active_name_key ON api_keys (name) WHERE revoked_at IS NULL;
