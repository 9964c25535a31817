"""Appeals through the public gateway, and the moment each one's "registered" e-mail arrives.

Every appeal comes from its own citizen (a dev token minted here with the dev key the stack runs
with), so the per-caller submit limit and routing's repeat filter never interfere. Texts pass
moderation; points are spread over the demo region, so duplicate clusters stay rare.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any

import httpx

from bench.load_report import Progress
from devstack.mailsink import MailSink
from libs.common.auth import Role, issue_dev_token
from libs.common.settings import DEV_SECRET

BBOX = (43.22, 57.32, 44.35, 57.98)  # the demo region, lon/lat
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


class TimedMailSink(MailSink):
    """The dev SMTP sink that notes when each appeal's "registered" e-mail arrived (monotonic).

    It parses headers only and keeps no messages, so 10⁴-10⁵ e-mails cost little memory here.
    """

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self.arrivals: dict[str, float] = {}
        self.other = 0

    def _received(self, raw: bytes, rcpt_tos: list[str]) -> None:
        at = time.monotonic()
        headers = BytesParser(policy=default_policy).parsebytes(raw, headersonly=True)
        found = REGISTERED.search(str(headers["subject"] or ""))
        with self._lock:
            if found:
                self.arrivals.setdefault(found.group(1), at)
            else:
                self.other += 1

    def count(self, numbers: Sequence[str]) -> int:
        with self._lock:
            return sum(1 for number in numbers if number in self.arrivals)

    def arrived(self, number: str) -> float | None:
        with self._lock:
            return self.arrivals.get(number)


@dataclass
class Batch:
    """What one burst of submissions gave: per appeal, its number, when the 201 came and latency."""

    started: float = 0.0
    finished: float = 0.0
    numbers: list[str] = field(default_factory=list)
    accepted_at: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.finished - self.started


class Citizens:
    """Fresh citizens with their tokens and a plausible appeal each."""

    def __init__(self, run_id: str, topics: list[str], seed: int) -> None:
        self._run_id = run_id
        self._topics = topics
        self._rng = random.Random(seed)
        self._counter = itertools.count(1)

    def next(self, count: int) -> list[tuple[dict[str, str], dict[str, Any]]]:
        out = []
        for _ in range(count):
            n = next(self._counter)
            sub = f"bench-{self._run_id}-{n}"
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


async def submit(
    client: httpx.AsyncClient,
    appeals: list[tuple[dict[str, str], dict[str, Any]]],
    concurrency: int,
    label: str,
    deadline_seconds: float,
) -> Batch:
    """POST every appeal with `concurrency` callers, each waiting for its answer before the next."""
    batch = Batch()
    progress = Progress(label, len(appeals))
    work = iter(appeals)
    stop_at = time.monotonic() + deadline_seconds

    async def caller() -> None:
        for headers, body in work:
            if time.monotonic() > stop_at:
                batch.errors["not sent: time limit"] = batch.errors.get("not sent: time limit", 0) + 1
                continue
            sent = time.monotonic()
            try:
                response = await client.post("/api/v1/appeals", headers=headers, json=body)
            except httpx.HTTPError as exc:
                key = type(exc).__name__
                batch.errors[key] = batch.errors.get(key, 0) + 1
                progress.advance()
                continue
            answered = time.monotonic()
            if response.status_code == 201:
                batch.numbers.append(response.json()["number"])
                batch.accepted_at.append(answered)
                batch.latencies.append(answered - sent)
            else:
                key = str(response.status_code)
                batch.errors[key] = batch.errors.get(key, 0) + 1
            progress.advance()

    batch.started = time.monotonic()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    batch.finished = time.monotonic()
    return batch


async def wait_for_mail(
    sink: TimedMailSink, numbers: Sequence[str], label: str, stall: float, cap: float
) -> tuple[int, bool]:
    """Until every number's "registered" e-mail is in; gives up after `stall` seconds without a new
    one, or `cap` seconds in all. Returns (arrived, complete)."""
    progress = Progress(label, len(numbers))
    started = last_change = time.monotonic()
    arrived = sink.count(numbers)
    while arrived < len(numbers):
        now = time.monotonic()
        if now - last_change > stall or now - started > cap:
            break
        await asyncio.sleep(0.1)
        count = sink.count(numbers)
        if count != arrived:
            arrived, last_change = count, time.monotonic()
            progress.update(arrived)
    return arrived, arrived == len(numbers)


async def topics(client: httpx.AsyncClient) -> list[str]:
    response = await client.get("/api/v1/topics")
    response.raise_for_status()
    return sorted(item["code"] for item in response.json())


METRIC_LINE = re.compile(r"^(appeals_events_published_total|appeals_messages_total)\{([^}]*)\} ([0-9.eE+]+)$")


async def broker_counts(client: httpx.AsyncClient, urls: Sequence[str]) -> tuple[float, float]:
    """(events published with confirm, messages handled) over the services, from their /metrics."""
    published = handled = 0.0
    for url in urls:
        try:
            text = (await client.get(f"{url}/metrics", timeout=10)).text
        except httpx.HTTPError:
            continue
        for line in text.splitlines():
            match = METRIC_LINE.match(line)
            if not match:
                continue
            name, labels, value = match.groups()
            if name == "appeals_events_published_total":
                published += float(value)
            elif 'outcome="handled"' in labels:
                handled += float(value)
    return published, handled
