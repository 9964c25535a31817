"""Web Push payloads fit one 4096-byte aes128gcm record after encryption (issue #13 item 10).

The limit is in bytes of UTF-8 JSON (RFC 8291: 4096 - 86 header - 16 tag - 1 delimiter = 3993),
not characters: 1,450 emoji made a 5,934-byte request. Text is cut between graphemes only."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime

import pytest
import regex
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pywebpush import WebPusher

from services.notify.rendering import PUSH_PLAINTEXT_BYTES, PUSH_RECORD_BYTES, PUSH_TEXT_LIMIT, push_payload
from services.notify.schemas import AudienceKind, Notification, NotificationKind

EMOJI = {
    "plain emoji": "😀",
    "skin tone": "👍🏽",
    "ZWJ family": "👨\u200d👩\u200d👧\u200d👦",
    "flag": "🇷🇺",
    "keycap": "5\ufe0f\u20e3",
}
TEXTS = {
    **{f"1,450 × {name}": glyph * 1450 for name, glyph in EMOJI.items()},
    "Cyrillic": "Ответ организации: яма засыпана, асфальт уложен. " * 200,
    "Cyrillic with accents": "Обраще\u0301ние " * 900,
    "quotes and newlines (JSON escapes)": '"\\\n' * 3000,
    "mixed": 'Двор 👨\u200d👩\u200d👧 «кавычки» "q" \n' * 300,
}


def note(body: str, detail: str | None = None, title: str = "Обращение № 2026-000123: ответ") -> Notification:
    return Notification(
        id="n1",
        key="a1:answered:0",
        kind=NotificationKind.ANSWERED,
        audience=AudienceKind.CITIZEN,
        owner="user:u1",
        appeal_id="a1",
        number="2026-000123",
        lang="ru",
        title=title,
        body=body,
        detail=detail,
        created_at=datetime(2026, 3, 2, tzinfo=UTC),
        event_id="e1",
    )


def encrypted_size(payload: str) -> int:
    """The body a push service receives: pywebpush's RFC 8291 aes128gcm record."""
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    b64 = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=").decode()  # noqa: E731
    subscription = {
        "endpoint": "https://push.example/x",
        "keys": {"p256dh": b64(point), "auth": b64(os.urandom(16))},
    }
    encoded = WebPusher(subscription).encode(payload.encode(), "aes128gcm")
    return len(encoded["body"])


def test_the_budget_is_rfc_8291s() -> None:
    assert PUSH_RECORD_BYTES == 4096 and PUSH_PLAINTEXT_BYTES == 3993


@pytest.mark.parametrize("text", TEXTS.values(), ids=TEXTS.keys())
def test_a_long_text_is_cut_to_fit_one_record_between_graphemes(text: str) -> None:
    payload = push_payload(
        note("Ответственная организация ответила.", detail=text), app_url="https://a.example"
    )
    assert len(payload.encode()) <= PUSH_PLAINTEXT_BYTES
    assert encrypted_size(payload) <= PUSH_RECORD_BYTES
    data = json.loads(payload)
    body = data["body"]
    assert body.endswith("…")
    kept = body[: -len("…")].rstrip()
    full = "Ответственная организация ответила.\n\n" + text
    assert full.startswith(kept)
    # Whole graphemes only: what was kept ends exactly at a grapheme boundary of the full text.
    boundaries = {0}
    for match in regex.finditer(r"\X", full):
        boundaries.add(match.end())
    assert len(kept) in boundaries
    # As much as fits, not a guess: up to the byte budget, or the readable limit in graphemes.
    graphemes = len(regex.findall(r"\X", body))
    assert (
        len(payload.encode()) > PUSH_PLAINTEXT_BYTES - 100
        or PUSH_TEXT_LIMIT - 2 <= graphemes <= PUSH_TEXT_LIMIT
    )
    assert data["url"] == "https://a.example/appeals/a1" and data["number"] == "2026-000123"


def test_a_short_text_is_sent_whole() -> None:
    payload = push_payload(note("Ответ: всё сделано 👍🏽"))
    assert json.loads(payload)["body"] == "Ответ: всё сделано 👍🏽"


def test_an_overlong_title_is_cut_too() -> None:
    payload = push_payload(note("Текст", title="Заголовок 😀" * 800))
    data = json.loads(payload)
    assert len(payload.encode()) <= PUSH_PLAINTEXT_BYTES
    assert data["body"] == "" or data["title"].endswith("…")
    assert encrypted_size(payload) <= PUSH_RECORD_BYTES
