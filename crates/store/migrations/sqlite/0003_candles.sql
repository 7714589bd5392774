-- Candles by (source, symbol, interval, open time). `closed` is set once
-- the bucket is finished and never cleared. Prices are floating point
-- (market data feeds indicators, computed in floating point).
CREATE TABLE candles (
    source     TEXT    NOT NULL,
    symbol     TEXT    NOT NULL,
    interval   TEXT    NOT NULL,
    open_time  INTEGER NOT NULL,
    open       REAL    NOT NULL,
    high       REAL    NOT NULL,
    low        REAL    NOT NULL,
    close      REAL    NOT NULL,
    volume     REAL    NOT NULL,
    trades     INTEGER NOT NULL DEFAULT 0,
    closed     BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (source, symbol, interval, open_time)
) WITHOUT ROWID;
