#!/usr/bin/env bash
# Sends the example TradingView signals to a running tradehook, the way
# TradingView does (POST, text/plain unless the body is JSON).
#
#   examples/signals/send.sh http://127.0.0.1:8080/hooks/tradingview/<token> [file ...]
#
# With no files, sends every example in this folder, in name order. The
# paper broker fills them whenever there is a market price, also when
# stock markets are closed. Each answer is printed with its status.
set -euo pipefail

url="${1:?usage: send.sh WEBHOOK_URL [file ...]}"
shift
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$#" -eq 0 ]; then
    set -- "$here"/*.json "$here"/*.txt
fi
for file in "$@"; do
    if python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$file" 2>/dev/null; then
        type="application/json"
    else
        type="text/plain"
    fi
    printf '%-40s ' "$(basename "$file")"
    curl -sS -o /dev/stdout -w '  [HTTP %{http_code}, %{time_total}s]\n' \
        -H "Content-Type: $type" --data-binary "@$file" "$url"
done
