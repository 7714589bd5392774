-- The rule engine: rules, the alerts they fire, and endpoints owned by a
-- rule. Times are Unix milliseconds; JSON values are stored as text.

-- A rule is never deleted outright: `deleted` is a status, so replicas
-- that poll for changes (by `updated_at`) see the removal and drop the
-- rule from memory. `revision` grows on every change; on SQLite it is
-- MAX(revision) + 1, taken under the database's single write lock.
CREATE TABLE rules (
    id                  TEXT    NOT NULL PRIMARY KEY,
    name                TEXT    NOT NULL,
    symbol              TEXT    NOT NULL,
    rule_type           TEXT    NOT NULL,
    config              TEXT    NOT NULL,               -- JSON object
    frequency           TEXT    NOT NULL,
    cooldown_seconds    INTEGER NOT NULL DEFAULT 0 CHECK (cooldown_seconds >= 0),
    enabled             BOOLEAN NOT NULL DEFAULT TRUE,
    status              TEXT    NOT NULL DEFAULT 'active'
                                CHECK (status IN ('active', 'triggered', 'expired', 'cancelled', 'deleted')),
    expires_at          INTEGER NULL,
    discord_webhook_url TEXT    NULL,
    generic_webhook_url TEXT    NULL,
    last_fired_at       INTEGER NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    revision            INTEGER NOT NULL
);
CREATE INDEX rules_symbol ON rules (symbol, id);
CREATE INDEX rules_type ON rules (rule_type, id);
CREATE INDEX rules_enabled ON rules (enabled, id);
CREATE INDEX rules_revision ON rules (revision);
CREATE INDEX rules_updated_at ON rules (updated_at);
-- What the expiry sweep looks for: only active rules with an end.
CREATE INDEX rules_active_expiry ON rules (expires_at) WHERE status = 'active' AND expires_at IS NOT NULL;
-- What evaluators load at start: soft-deleted and finished rules pile up,
-- so the live ones get their own index in id order.
CREATE INDEX rules_live ON rules (id) WHERE status = 'active' AND enabled;

-- One alert per rule and evaluation window: the unique key is what lets
-- several evaluators race on the same window and fire it once. No foreign
-- key to rules: an alert is history and outlives its rule.
CREATE TABLE alerts (
    id            TEXT    NOT NULL PRIMARY KEY,
    rule_id       TEXT    NOT NULL,
    symbol        TEXT    NOT NULL,
    rule_type     TEXT    NOT NULL,
    window_start  INTEGER NOT NULL,
    window_end    INTEGER NOT NULL,
    price         REAL    NOT NULL,
    indicators    TEXT    NOT NULL DEFAULT '{}',        -- JSON object
    rule_snapshot TEXT    NOT NULL,                     -- JSON: the rule as it fired
    feed_ts       INTEGER NOT NULL,                     -- market data time that fired it
    committed_at  INTEGER NOT NULL,
    latency_us    INTEGER NOT NULL,                     -- committed_at - feed_ts, in µs
    event_id      TEXT    NOT NULL,
    CONSTRAINT alerts_window_key UNIQUE (rule_id, window_start, window_end)
);
-- Listing is newest first with (committed_at, id) as the cursor.
CREATE INDEX alerts_rule_committed ON alerts (rule_id, committed_at, id);
CREATE INDEX alerts_symbol_committed ON alerts (symbol, committed_at, id);
CREATE INDEX alerts_committed ON alerts (committed_at, id);

-- An inline target created with one rule (its Discord or webhook URL) is
-- deleted with that rule. `data` endpoints receive only the event's `data`
-- object as the body (price alerts, whose payload is flat).
ALTER TABLE endpoints ADD COLUMN owner_rule_id TEXT NULL;
ALTER TABLE endpoints ADD COLUMN body_format TEXT NOT NULL DEFAULT 'envelope'
    CHECK (body_format IN ('envelope', 'data'));
CREATE INDEX endpoints_owner_rule ON endpoints (owner_rule_id) WHERE owner_rule_id IS NOT NULL;
