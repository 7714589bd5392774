-- Candles by (source, symbol, interval, open time). `closed` is set once
-- the bucket is finished and never cleared. Prices are floating point
-- (market data feeds indicators, computed in floating point).
CREATE TABLE candles (
    source     TEXT             NOT NULL,
    symbol     TEXT             NOT NULL,
    interval   TEXT             NOT NULL,
    open_time  BIGINT           NOT NULL,
    open       DOUBLE PRECISION NOT NULL,
    high       DOUBLE PRECISION NOT NULL,
    low        DOUBLE PRECISION NOT NULL,
    close      DOUBLE PRECISION NOT NULL,
    volume     DOUBLE PRECISION NOT NULL,
    trades     BIGINT           NOT NULL DEFAULT 0,
    closed     BOOLEAN          NOT NULL DEFAULT FALSE,
    updated_at BIGINT           NOT NULL,
    PRIMARY KEY (source, symbol, interval, open_time)
);
