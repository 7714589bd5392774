-- Trading: broker accounts, bots that turn TradingView signals into
-- orders, the signals themselves, the jobs that execute them, orders, the
-- log of calls to brokers, and equity snapshots. Times are Unix
-- milliseconds; JSON values are stored as text; decimals (quantities,
-- prices, money) are stored as text so no precision is lost on the way.

-- Credentials arrive sealed by the caller. `paper_state` is the paper
-- broker's persisted state (JSON), read and written whole, and kept out
-- of account listings.
CREATE TABLE broker_accounts (
    id            TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('paper', 'alpaca')),
    environment   TEXT    NOT NULL CHECK (environment IN ('paper', 'live')),
    credentials   TEXT    NULL,                   -- sealed
    base_url      TEXT    NULL,
    starting_cash TEXT    NULL,                   -- decimal
    paper_state   TEXT    NULL,                   -- JSON
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    CONSTRAINT broker_accounts_name_key UNIQUE (name)
);

-- A bot is soft-deleted (`deleted_at`): its signals and orders stay
-- readable, and a deleted bot still holds its broker account. Only the
-- SHA-256 of the webhook token is looked up; the sealed token is kept so
-- the webhook URL can be shown again.
CREATE TABLE bots (
    id                 TEXT    NOT NULL PRIMARY KEY,
    name               TEXT    NOT NULL,
    broker_account_id  TEXT    NOT NULL,
    allowed_symbols    TEXT    NOT NULL DEFAULT '[]',  -- JSON array
    paused             BOOLEAN NOT NULL DEFAULT FALSE,
    paused_reason      TEXT    NULL,
    token_hash         TEXT    NOT NULL,               -- SHA-256 hex of the webhook token
    token_sealed       TEXT    NOT NULL,
    body_secret_sealed TEXT    NULL,
    settings           TEXT    NOT NULL DEFAULT '{}',  -- JSON object
    base_equity        TEXT    NULL,                   -- decimal: the circuit breaker's base
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    deleted_at         INTEGER NULL,
    CONSTRAINT bots_token_hash_key UNIQUE (token_hash),
    CONSTRAINT bots_broker_account_fkey FOREIGN KEY (broker_account_id)
        REFERENCES broker_accounts (id) ON DELETE RESTRICT
);
-- Two live bots may not share a name; a deleted bot frees its name.
CREATE UNIQUE INDEX bots_live_name_key ON bots (name) WHERE deleted_at IS NULL;
CREATE INDEX bots_broker_account ON bots (broker_account_id);

-- Signals as received. No foreign key to bots: this is the hot intake
-- path (a key check per signal) and bots are never deleted outright.
CREATE TABLE signals (
    id          TEXT    NOT NULL PRIMARY KEY,
    bot_id      TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    format      TEXT    NOT NULL,
    symbol      TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    status      TEXT    NOT NULL
                        CHECK (status IN ('accepted', 'rejected', 'executing', 'executed', 'failed')),
    reason      TEXT    NULL,
    dedupe_key  TEXT    NOT NULL,
    body        TEXT    NOT NULL,                 -- raw body, secrets removed
    parsed      TEXT    NOT NULL,                 -- JSON
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
-- Listing is newest first with (received_at, id) as the cursor.
CREATE INDEX signals_bot_received ON signals (bot_id, received_at, id);
CREATE INDEX signals_received ON signals (received_at, id);

-- The dedupe window: one row per (bot, key) naming the signal that holds
-- the key until `expires_at` (the largest 64-bit integer for keys that never
-- expire). Intake claims a key with an upsert that only takes over an
-- expired row, so two racing copies of a signal cannot both get through.
CREATE TABLE signal_dedupe (
    bot_id     TEXT    NOT NULL,
    dedupe_key TEXT    NOT NULL,
    signal_id  TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (bot_id, dedupe_key)
) WITHOUT ROWID;
CREATE INDEX signal_dedupe_expires ON signal_dedupe (expires_at);

-- Work to do for a signal, leased like deliveries: a lease pushes
-- next_attempt_at to its end and bumps lease_token, so work whose worker
-- died is due again when the lease ends, and a late worker cannot record
-- a result (the token moved on).
CREATE TABLE jobs (
    id              TEXT    NOT NULL PRIMARY KEY,
    signal_id       TEXT    NOT NULL REFERENCES signals (id) ON DELETE CASCADE,
    bot_id          TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_token     INTEGER NOT NULL DEFAULT 0,
    lease_owner     TEXT    NULL,
    last_error      TEXT    NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs (next_attempt_at) WHERE status = 'pending';
CREATE INDEX jobs_signal ON jobs (signal_id);

-- Orders sent (or about to be sent) to a broker. `client_order_id` is
-- ours and unique, so a retried submission is recognised. Statuses are
-- the broker's, normalised by the caller; the final ones are listed in
-- the `orders_open` index and in the store's code, which must agree.
-- No foreign keys to signals or accounts: an order is history and
-- outlives both.
CREATE TABLE orders (
    id                TEXT    NOT NULL PRIMARY KEY,
    bot_id            TEXT    NOT NULL REFERENCES bots (id),
    signal_id         TEXT    NULL,
    broker_account_id TEXT    NOT NULL,
    client_order_id   TEXT    NOT NULL,
    broker_order_id   TEXT    NULL,
    symbol            TEXT    NOT NULL,
    side              TEXT    NOT NULL,
    qty               TEXT    NOT NULL,           -- decimal
    order_type        TEXT    NOT NULL,
    time_in_force     TEXT    NOT NULL,
    limit_price       TEXT    NULL,               -- decimal
    stop_price        TEXT    NULL,               -- decimal
    status            TEXT    NOT NULL,
    filled_qty        TEXT    NOT NULL DEFAULT '0',
    filled_avg_price  TEXT    NULL,               -- decimal
    leg               TEXT    NOT NULL CHECK (leg IN ('entry', 'exit', 'sl', 'tp', 'liquidate')),
    parent_order_id   TEXT    NULL,
    reason            TEXT    NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    CONSTRAINT orders_client_order_id_key UNIQUE (client_order_id)
);
CREATE INDEX orders_bot_created ON orders (bot_id, created_at, id);
CREATE INDEX orders_created ON orders (created_at, id);
CREATE INDEX orders_signal ON orders (signal_id) WHERE signal_id IS NOT NULL;
-- Open orders are few among many finished ones: what reconcilers and the
-- protective-order lookup read, by bot and leg.
CREATE INDEX orders_open ON orders (bot_id, leg)
    WHERE status NOT IN ('filled', 'canceled', 'expired', 'rejected', 'replaced', 'failed');

-- Every call made to a broker, for audit and export. `status` is NULL
-- when no HTTP answer came (network error). No foreign keys: a log
-- outlives what it mentions, and is pruned by age.
CREATE TABLE broker_calls (
    id                TEXT    NOT NULL PRIMARY KEY,
    bot_id            TEXT    NULL,
    broker_account_id TEXT    NOT NULL,
    method            TEXT    NOT NULL,
    path              TEXT    NOT NULL,
    status            INTEGER NULL,
    latency_ms        INTEGER NOT NULL,
    request           TEXT    NULL,
    response          TEXT    NULL,
    error             TEXT    NULL,
    created_at        INTEGER NOT NULL
);
CREATE INDEX broker_calls_bot_created ON broker_calls (bot_id, created_at, id);
CREATE INDEX broker_calls_created ON broker_calls (created_at, id);

-- A bot's equity over time; old rows are thinned to one per minute.
CREATE TABLE equity_snapshots (
    bot_id    TEXT    NOT NULL,
    ts        INTEGER NOT NULL,
    equity    TEXT    NOT NULL,                   -- decimal
    cash      TEXT    NOT NULL,                   -- decimal
    positions TEXT    NOT NULL DEFAULT '[]',      -- JSON
    PRIMARY KEY (bot_id, ts)
) WITHOUT ROWID;
