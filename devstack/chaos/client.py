"""The chaos run's citizens: a steady stream of appeals through the public gateway.

Every appeal has its own citizen (routing rejects one author's repeats, and the gateway limits
submissions per caller) and its own text. A submission is retried like a careful client does:
on a transport error, 429 or 5xx, with the same `Idempotency-Key`, until a deadline; every third
accepted one is also replayed on purpose, and must come back as the same appeal.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
TRANSPORT_ERRORS = (httpx.TransportError,)

SUMMARIES = (
    "Не горит уличный фонарь",
    "Глубокая яма на дороге",
    "Холодные батареи в квартире",
    "Автобус не пришёл по расписанию",
    "Переполнены мусорные контейнеры",
    "Сломана скамейка во дворе",
    "Протекает крыша над подъездом",
    "Нет горячей воды",
    "Не убран снег во дворе",
    "Сломан светофор на перекрёстке",
    "Брошенный автомобиль во дворе",
    "Не работает лифт",
)
PLACES = (
    "улица Ленина",
    "улица Мира",
    "Садовая улица",
    "проспект Победы",
    "Лесная улица",
    "улица Гагарина",
    "Школьная улица",
    "Набережная улица",
    "улица Чкалова",
)
KINDS = ("complaint", "question", "proposal", "complaint")


def appeal_body(index: int, topic: str, email: str) -> dict[str, Any]:
    """A distinct, moderation-clean appeal (checked against routing's moderation for 5,000 indexes)."""
    problem = SUMMARIES[index % len(SUMMARIES)]
    place = PLACES[(index // len(SUMMARIES)) % len(PLACES)]
    return {
        "kind": KINDS[index % len(KINDS)],
        "topic": topic,
        "summary": f"{problem}: {place}",
        "description": (
            f"{problem} возле дома {index % 97 + 1} ({place}), подъезд {index % 9 + 1}. "
            f"Проблема замечена жителями, просим разобраться. Обращение chaos {index}."
        ),
        "location": {"lat": 57.65, "lon": 43.77, "address": f"{place}, {index % 97 + 1}"},
        "contact": {"email": email},
        "lang": "en" if index % 4 == 3 else "ru",
    }


@dataclass
class Submission:
    """One appeal as the client saw it."""

    index: int
    phase: str
    citizen: str
    key: str
    auth: dict[str, str] = field(default_factory=dict)
    appeal_id: str | None = None
    number: str | None = None
    status: int | None = None
    error: str | None = None
    attempts: int = 0
    accepted_at: float | None = None  # time.monotonic() of the 201
    replays: list[tuple[str, bool]] = field(default_factory=list)  # (id, Idempotent-Replayed header)

    @property
    def accepted(self) -> bool:
        return self.appeal_id is not None


class Gateway:
    """The public API as a patient client uses it."""

    def __init__(self, url: str, *, patience: float = 45.0) -> None:
        self.client = httpx.AsyncClient(
            base_url=url, timeout=10, limits=httpx.Limits(max_connections=64, max_keepalive_connections=16)
        )
        self.patience = patience

    async def aclose(self) -> None:
        await self.client.aclose()

    async def ready(self, service_url: str, within: float = 0.0) -> str:
        """What a service's `/ready` answers (its HTTP status, or why none): at once, or the first
        200 within `within` seconds, else the last answer (a probe that once took longer than its
        bound on a loaded machine is not a service that stopped serving)."""
        deadline = time.monotonic() + within
        while True:
            try:
                answer = str((await self.client.get(f"{service_url}/ready", timeout=5)).status_code)
            except httpx.HTTPError as exc:
                answer = type(exc).__name__
            if answer == "200" or time.monotonic() >= deadline:
                return answer
            await asyncio.sleep(0.5)

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request, retried on transport errors, 429 and 5xx until `patience` runs out."""
        response, _ = await self._call(method, path, **kwargs)
        return response

    async def _call(self, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, int]:
        deadline = time.monotonic() + self.patience
        delay, attempts = 0.2, 0
        while True:
            attempts += 1
            try:
                response = await self.client.request(method, path, **kwargs)
                if response.status_code not in RETRYABLE_STATUS:
                    return response, attempts
                problem = f"HTTP {response.status_code}"
            except TRANSPORT_ERRORS as exc:
                problem = type(exc).__name__
            if time.monotonic() + delay > deadline:
                raise TimeoutError(f"{method} {path}: gave up after {attempts} attempts ({problem})")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def bearer(self, sub: str, role: str = "citizen", org_id: str | None = None) -> dict[str, str]:
        body = {"sub": sub, "role": role, "org_id": org_id}
        response = await self.call("POST", "/api/v1/dev/tokens", json=body)
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    async def topics(self) -> list[str]:
        """Topic codes fit for the stream: not the dev ones whose deadlines pass within minutes."""
        response = await self.call("GET", "/api/v1/topics")
        response.raise_for_status()
        return [
            topic["code"]
            for topic in response.json()
            if not topic.get("answer_sla_minutes") and not topic.get("dev_only") and topic.get("active", True)
        ]

    async def submit(self, sub: Submission, body: dict[str, Any], *, replay: bool) -> None:
        try:
            sub.auth = await self.bearer(sub.citizen)
            headers = {**sub.auth, "Idempotency-Key": sub.key}
            response, sub.attempts = await self._call("POST", "/api/v1/appeals", json=body, headers=headers)
            sub.status = response.status_code
            if response.status_code != 201:
                sub.error = f"HTTP {response.status_code}: {response.text[:300]}"
                return
            created = response.json()
            sub.appeal_id, sub.number = created["id"], created["number"]
            sub.accepted_at = time.monotonic()
            if replay:
                again = await self.call("POST", "/api/v1/appeals", json=body, headers=headers)
                replayed = again.headers.get("Idempotent-Replayed") == "true"
                sub.replays.append(
                    (again.json().get("id", "?") if again.status_code == 201 else "", replayed)
                )
        except (TimeoutError, httpx.HTTPError) as exc:
            sub.error = f"{type(exc).__name__}: {exc}"


class Stream:
    """Submits appeals at a steady rate in the background until stopped."""

    def __init__(
        self,
        gateway: Gateway,
        topics: list[str],
        phase: str,
        next_index: Callable[[], int],
        namespace: str,
        rate: float,
    ) -> None:
        self.gateway = gateway
        self.topics = topics
        self.phase = phase
        self.next_index = next_index
        self.namespace = namespace
        self.rate = rate
        self.submissions: list[Submission] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._producer: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def start(self) -> None:
        self._producer = asyncio.create_task(self._produce(), name=f"stream-{self.phase}")

    def launch(self) -> Submission:
        index = self.next_index()
        citizen = f"{self.namespace}-citizen-{index}"
        sub = Submission(index, self.phase, citizen, key=f"{self.namespace}-key-{index}")
        body = appeal_body(index, self.topics[index % len(self.topics)], f"{citizen}@example.org")
        self.submissions.append(sub)
        self._tasks.append(asyncio.create_task(self.gateway.submit(sub, body, replay=index % 3 == 0)))
        return sub

    async def _produce(self) -> None:
        while not self._stop.is_set():
            self.launch()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=1 / self.rate)

    @property
    def launched(self) -> int:
        return len(self.submissions)

    def accepted(self) -> list[Submission]:
        return [sub for sub in self.submissions if sub.accepted]

    async def wait_launched(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.launched < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.phase}: only {self.launched} of {count} appeals launched")
            await asyncio.sleep(0.05)

    async def wait_accepted(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.accepted()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.phase}: only {len(self.accepted())} of {count} appeals accepted")
            await asyncio.sleep(0.05)

    async def stop(self, timeout: float = 90.0) -> list[Submission]:
        """Stop launching; wait (bounded) for the submissions under way; return them all."""
        self._stop.set()
        if self._producer is not None:
            await self._producer
        _done, pending = await asyncio.wait(self._tasks, timeout=timeout) if self._tasks else (set(), set())
        for task in pending:
            task.cancel()
        for sub in self.submissions:
            if not sub.accepted and sub.error is None:
                sub.error = "still under way when the stream stopped"
        return self.submissions
