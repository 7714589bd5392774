#!/usr/bin/env python3
"""Verify one webhook delivery with the reference `standardwebhooks` library.

Reads a JSON object from standard input:

    {"secret": "whsec_...", "body": "<exact body text>",
     "headers": {"webhook-id": "...", "webhook-timestamp": "...",
                 "webhook-signature": "v1,..."}}

and checks it with `standardwebhooks.webhooks.Webhook(secret).verify`, the
Standard Webhooks Python reference, including its +/-5 minute timestamp
tolerance. Used by crates/server/tests/standard_webhooks_python.rs to show
tradehook's signatures verify with a third-party implementation.

Exit codes: 0 verified, 1 rejected, 2 bad input, 3 the library is missing,
4 the library failed some other way.
`--check` only tests that the library imports (exit 0 or 3).
"""

import json
import sys


def main() -> int:
    try:
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError
    except ImportError as e:
        print(f"standardwebhooks is not importable: {e}", file=sys.stderr)
        return 3
    if sys.argv[1:] == ["--check"]:
        return 0
    try:
        request = json.load(sys.stdin)
        secret = request["secret"]
        body = request["body"]
        headers = request["headers"]
    except (ValueError, KeyError, TypeError) as e:
        print(f"bad input: {e!r}", file=sys.stderr)
        return 2
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError as e:
        print(f"rejected: {e}")
        return 1
    except Exception as e:  # a crash is not a clean rejection
        print(f"error: {e!r}", file=sys.stderr)
        return 4
    print("verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
