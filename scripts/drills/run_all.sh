#!/usr/bin/env bash
# All drills at full durations, one at a time. Exit code non-zero if any fails.
# Binary: $TRADEHOOK_BIN, else `cargo build --release -p tradehook-server`.
set -u
cd "$(dirname "$0")"
if [ -z "${TRADEHOOK_BIN:-}" ]; then
  (cd ../.. && cargo build --release -p tradehook-server) || exit 1
  export TRADEHOOK_BIN="$(cd ../.. && pwd)/target/release/tradehook"
fi
export DRILL_NO_BUILD=1
fail=0; summary=""
for d in kill9 pg_restart receiver_outage redis_outage hl_storm; do
  [ -f "$d.py" ] || { summary+="$d: MISSING\n"; fail=1; continue; }
  python3 "$d.py" "$@"; rc=$?
  if [ $rc -eq 0 ]; then summary+="$d: PASS\n"; else summary+="$d: FAIL (rc $rc)\n"; fail=1; fi
done
printf "\n==== drills:\n$summary"
exit $fail
