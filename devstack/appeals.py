"""Appeals for a running stack: citizens with a plausible appeal each, submitted through the
public gateway, and an SMTP sink that notes each appeal's "registered" e-mail.

Used by the benchmarks (bench/load, bench/replicas) and the end-to-end tests (test_replicas).
Every appeal comes from its own citizen (a dev token minted with the dev key the stack runs with),
so the per-caller submit limit and routing's repeat filter never interfere. Texts pass
moderation; points are spread over the demo region, so duplicate clusters stay rare.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any

import httpx

from devstack.mailsink import MailSink
from libs.common.auth import Role, issue_dev_token
from libs.common.events import AppealSubmittedV1, Envelope, EventType, Location, new_event
from libs.common.settings import DEV_SECRET

BBOX = (43.22, 57.32, 44.35, 57.98)  # the demo region, lon/lat
DEMO_TOPICS = ("landscaping.street_lighting", "roads.potholes", "utilities.heating", "transport.schedule")
TEXTS = [
    ("Не горит фонарь", "Фонарь у дома {n} не горит вторую неделю, вечером во дворе темно."),
    ("Яма на дороге", "Глубокая яма на проезжей части у дома {n}, машины объезжают по встречной."),
    ("Нет отопления", "В квартире {n} холодно, батареи чуть тёплые уже третий день подряд."),
    ("Автобус не пришёл", "Автобус по маршруту {n} не пришёл утром по расписанию, ждали час."),
    ("Мусор не вывезен", "Контейнерную площадку у дома {n} не убирают уже неделю, всё переполнено."),
]
STREETS = ["ул. Ленина", "ул. Мира", "ул. Лесная", "пр. Победы", "ул. Садовая"]
# "Обращение № 2026-000123 зарегистрировано" / "Appeal No. 2026-000123 registered"
REGISTERED = re.compile(r"(\d{4}-\d{6})\s+(?:зарегистрировано|registered)")

Submission = tuple[dict[str, str], dict[str, Any]]  # (headers with the citizen's token, JSON body)


class RegisteredSink(MailSink):
    """The dev SMTP sink that counts each appeal's "registered" e-mails and notes when the first
    arrived (time.monotonic()). It parses headers only and keeps no messages, so 10⁴-10⁵ e-mails
    cost little memory; `other` counts every other e-mail."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self.registered: Counter[str] = Counter()
        self.first_at: dict[str, float] = {}
        self.other = 0

    def _received(self, raw: bytes, rcpt_tos: list[str]) -> None:
        at = time.monotonic()
        headers = BytesParser(policy=default_policy).parsebytes(raw, headersonly=True)
        found = REGISTERED.search(str(headers["subject"] or ""))
        with self._lock:
            if found:
                self.registered[found.group(1)] += 1
                self.first_at.setdefault(found.group(1), at)
            else:
                self.other += 1

    def count(self, numbers: Sequence[str]) -> int:
        """How many of these appeals' "registered" e-mails are in."""
        with self._lock:
            return sum(1 for number in numbers if number in self.first_at)

    def arrived(self, number: str) -> float | None:
        """When the appeal's first "registered" e-mail came (monotonic seconds), or None."""
        with self._lock:
            return self.first_at.get(number)

    def duplicates(self, numbers: Sequence[str]) -> dict[str, int]:
        """Appeal number → e-mails, for the appeals told more than once."""
        with self._lock:
            return {number: self.registered[number] for number in numbers if self.registered[number] > 1}


class Citizens:
    """Fresh citizens (`<prefix>-<n>`) with their tokens and a plausible appeal each."""

    def __init__(self, prefix: str, topics: Sequence[str] = DEMO_TOPICS, seed: int = 7) -> None:
        self._prefix = prefix
        self._topics = list(topics)
        self._rng = random.Random(seed)  # noqa: S311 - test data, not secrets
        self._counter = itertools.count(1)

    def next(self, count: int) -> list[Submission]:
        out = []
        for _ in range(count):
            n = next(self._counter)
            sub = f"{self._prefix}-{n}"
            token = issue_dev_token(DEV_SECRET, sub=sub, role=Role.CITIZEN)
            summary, description = self._rng.choice(TEXTS)
            lon = self._rng.uniform(BBOX[0], BBOX[2])
            lat = self._rng.uniform(BBOX[1], BBOX[3])
            body = {
                "kind": "complaint",
                "topic": self._rng.choice(self._topics),
                "summary": summary,
                "description": description.format(n=n),
                "location": {
                    "lat": round(lat, 6),
                    "lon": round(lon, 6),
                    "address": f"{self._rng.choice(STREETS)}, {n % 200 + 1}",
                },
                "contact": {"email": f"{sub}@example.org"},
            }
            out.append(({"Authorization": f"Bearer {token}"}, body))
        return out


@dataclass
class Appeal:
    id: str
    number: str
    headers: dict[str, str]
    accepted_at: float  # time.monotonic() of the 201


async def submit_all(client: httpx.AsyncClient, bodies: list[Submission], concurrency: int) -> list[Appeal]:
    """POST every appeal with `concurrency` callers; every one must be accepted.

    Raises RuntimeError on any answer but 201, httpx.HTTPError when the gateway is away."""
    accepted: list[Appeal] = []
    work = iter(bodies)

    async def caller() -> None:
        for headers, body in work:
            response = await client.post("/api/v1/appeals", headers=headers, json=body)
            if response.status_code != 201:
                raise RuntimeError(f"submit answered {response.status_code}: {response.text[:300]}")
            created = response.json()
            accepted.append(Appeal(created["id"], created["number"], headers, time.monotonic()))

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return accepted


async def topics(client: httpx.AsyncClient) -> list[str]:
    """The topic codes the gateway offers (`GET /api/v1/topics`), sorted."""
    response = await client.get("/api/v1/topics")
    response.raise_for_status()
    return sorted(item["code"] for item in response.json())


def submitted_envelope(
    topic: str,
    summary: str,
    description: str,
    *,
    lat: float | None = 57.65,
    lon: float | None = 43.77,
    address: str = "Демоград",
    author: str = "citizen-1",
    number: str | None = None,
    at: datetime | None = None,
    source: str = "intake",
) -> Envelope:
    """An `appeal.submitted` envelope as intake publishes it, for a consumer fed directly (a new
    appeal id; `number` random unless given; `at` now unless given)."""
    appeal_id = uuid.uuid4().hex
    payload = AppealSubmittedV1(
        appeal_id=appeal_id,
        number=number or f"2026-{uuid.uuid4().int % 1_000_000:06d}",
        kind="complaint",
        channel="web",
        topic=topic,
        summary=summary,
        description=description,
        location=Location(lat=lat, lon=lon, address=address),
        author_id=author,
        submitted_at=at or datetime.now(UTC),
    )
    return new_event(
        EventType.APPEAL_SUBMITTED, payload, source=source, subject=appeal_id, correlation_id=source
    )
