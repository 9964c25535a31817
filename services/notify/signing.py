"""Webhook signatures: HMAC-SHA256 over `<timestamp>.<body>` with the webhook's secret.

Headers of every webhook request:
- `X-Appeals-Timestamp`: Unix seconds when this attempt was signed;
- `X-Appeals-Signature`: `sha256=<hex digest>`;
- `X-Appeals-Event`: the event type; `X-Appeals-Delivery`: the same id on every retry (deduplicate on it).
A receiver recomputes the digest over the raw body and refuses stale timestamps (replays).
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Appeals-Timestamp"
SIGNATURE_HEADER = "X-Appeals-Signature"
EVENT_HEADER = "X-Appeals-Event"
DELIVERY_HEADER = "X-Appeals-Delivery"
DEFAULT_TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secret: str,
    timestamp: str | None,
    signed: str | None,
    body: bytes,
    *,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    if not timestamp or not signed or not timestamp.isdigit():
        return False
    if abs(now - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, int(timestamp), body), signed)
