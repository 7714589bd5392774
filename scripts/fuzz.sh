#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS seconds each (default 600),
# one after the other, one libFuzzer process (one core). See docs/fuzzing.md.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# The toolchain is stable: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its
# nightly flags (-Zsanitizer=address and friends). Set SANITIZER=none
# if the address sanitizer does not build. Each target starts from a
# scratch copy of its committed seeds in fuzz/corpus/<target> (ignored
# by git), so fuzz/seeds/ never fills with generated inputs. Crashes
# land in fuzz/artifacts/<target>/ and stop the script.
set -euo pipefail

cd "$(dirname "$0")/../fuzz"
secs="${1:-600}"
shift || true
sanitizer="${SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

cargo fuzz build -O --sanitizer "$sanitizer"
mkdir -p logs
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    cp -n "seeds/$t/"* "corpus/$t/" 2>/dev/null || true
    echo "== $t: ${secs}s ($(date -u +%FT%TZ))"
    rc=0
    cargo fuzz run -O --sanitizer "$sanitizer" "$t" "corpus/$t" -- \
        -max_total_time="$secs" -print_final_stats=1 >"logs/$t.log" 2>&1 || rc=$?
    grep -E '^(#[0-9]+.*DONE|stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|==[0-9]+==|SUMMARY|Done )' "logs/$t.log" || true
    if [ "$rc" -ne 0 ]; then
        echo "$t failed (exit $rc): see fuzz/logs/$t.log and fuzz/artifacts/$t/" >&2
        exit 1
    fi
    echo "   corpus: $(find "corpus/$t" -type f | wc -l) files"
done
