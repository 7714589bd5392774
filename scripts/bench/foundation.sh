#!/usr/bin/env bash
# Builds the release binary and runs the foundation benchmarks.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release
python3 scripts/bench/foundation.py "$@"
