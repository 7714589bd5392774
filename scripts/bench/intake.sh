#!/usr/bin/env bash
# TradingView intake benchmark (issue #6): durable acks/s, ack latency at a
# constant 1,000/s and signal -> paper fill latency, on SQLite and
# PostgreSQL, against the release binary on loopback.
#
#   bash scripts/bench/intake.sh                       # the full run
#   bash scripts/bench/intake.sh --quick               # a smoke run
#   bash scripts/bench/intake.sh --backends sqlite --max-duration 30
#
# PostgreSQL: BENCH_POSTGRES_URL (server URL without a database), default
# postgres://postgres@127.0.0.1:5432; a fresh database is created and
# dropped (skipped with a notice when unreachable). Needs sqlite3 and psql.
# Exits non-zero if an acknowledged signal is missing from the database.
# See scripts/bench/intake.py for what each phase measures.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p tradehook-server
CARGO_TARGET_DIR="$PWD/target/intake-load" \
    cargo build --release --manifest-path scripts/bench/intake-load/Cargo.toml
exec python3 scripts/bench/intake.py "$@"
