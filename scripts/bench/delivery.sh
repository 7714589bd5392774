#!/usr/bin/env bash
# Delivery load benchmark (release build): throughput, commit-to-receiver
# latency and delivery under random failures, on SQLite and PostgreSQL.
#
#   scripts/bench/delivery.sh                      # the full run
#   scripts/bench/delivery.sh --quick              # a smoke run
#   scripts/bench/delivery.sh --backends postgres --workers 4 --scenarios throughput
#
# PostgreSQL: TRADEHOOK_TEST_POSTGRES_URL, else postgres://postgres@127.0.0.1:5432/postgres
# (skipped with a notice when unreachable). Exits non-zero if a delivery is
# missing, duplicated or failed. See crates/server/benches/delivery_load.rs.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec cargo bench -p tradehook-server --bench delivery_load -- "$@"
