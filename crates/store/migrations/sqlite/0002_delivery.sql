-- Outbound delivery: endpoints, the events outbox, deliveries and the
-- audit trail of every attempt. Times are Unix milliseconds; JSON values
-- are stored as text.

CREATE TABLE endpoints (
    id                       TEXT    NOT NULL PRIMARY KEY,
    kind                     TEXT    NOT NULL CHECK (kind IN ('webhook', 'discord', 'slack', 'telegram', 'log')),
    url                      TEXT    NOT NULL,
    description              TEXT    NOT NULL DEFAULT '',
    event_types              TEXT    NOT NULL,               -- JSON array of patterns
    filter_symbols           TEXT    NULL,                   -- JSON array, NULL = any
    filter_rule_ids          TEXT    NULL,
    filter_bot_ids           TEXT    NULL,
    enabled                  BOOLEAN NOT NULL DEFAULT TRUE,
    disabled_reason          TEXT    NULL,
    rate_limit_per_minute    INTEGER NULL CHECK (rate_limit_per_minute > 0),
    max_concurrency          INTEGER NOT NULL DEFAULT 8 CHECK (max_concurrency > 0),
    headers                  TEXT    NOT NULL DEFAULT '{}',  -- JSON object
    secret                   TEXT    NOT NULL,               -- sealed whsec_… (see core::crypto)
    previous_secret          TEXT    NULL,                   -- sealed, valid until previous_secret_expires_at
    previous_secret_expires_at INTEGER NULL,
    signature_scheme         TEXT    NOT NULL DEFAULT 'standard' CHECK (signature_scheme IN ('standard', 'hmac_sha256_hex')),
    signature_header         TEXT    NULL,
    telegram_chat_id         TEXT    NULL,
    telegram_bot_token       TEXT    NULL,                   -- sealed
    retry_schedule           TEXT    NULL,                   -- JSON array of delays, NULL = configured default
    failing_since            INTEGER NULL,                   -- start of continuous failure
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL
);

CREATE TABLE events (
    seq        INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,  -- order for streams and cursors
    id         TEXT    NOT NULL,
    event_type TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    data       TEXT    NOT NULL,
    CONSTRAINT events_id_key UNIQUE (id)
);
CREATE INDEX events_type_seq ON events (event_type, seq);
CREATE INDEX events_created_at ON events (created_at);

-- A delivery is leased by pushing next_attempt_at to the lease's end and
-- bumping lease_token: an expired lease is simply due again, and a worker
-- whose lease expired cannot record a result (the token moved on).
CREATE TABLE deliveries (
    id              TEXT    NOT NULL PRIMARY KEY,
    event_id        TEXT    NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    endpoint_id     TEXT    NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_token     INTEGER NOT NULL DEFAULT 0,
    lease_owner     TEXT    NULL,
    last_status     INTEGER NULL,
    last_error      TEXT    NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    delivered_at    INTEGER NULL,
    CONSTRAINT deliveries_event_endpoint_key UNIQUE (event_id, endpoint_id)
);
CREATE INDEX deliveries_due ON deliveries (endpoint_id, next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_due_time ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_endpoint_created ON deliveries (endpoint_id, created_at);

CREATE TABLE delivery_attempts (
    id               INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    delivery_id      TEXT    NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempt          INTEGER NOT NULL,
    started_at       INTEGER NOT NULL,
    latency_ms       INTEGER NOT NULL,
    http_status      INTEGER NULL,
    error_class      TEXT    NULL,
    response_snippet TEXT    NOT NULL DEFAULT '',
    next_retry_at    INTEGER NULL,
    worker           TEXT    NOT NULL
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, attempt);
CREATE INDEX delivery_attempts_started ON delivery_attempts (started_at);
