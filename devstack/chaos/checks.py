"""What "nothing lost, nothing doubled" means for one accepted appeal, checked from the outside.

- intake: `GET /api/v1/appeals/{id}` as its author: status `routed`, exactly one `route` entry in
  the timeline, `due_at` set; the author's list holds exactly one appeal (one Idempotency-Key,
  one appeal) and every deliberate replay answered with the same id;
- deadlines: its internal API (`GET /internal/appeals/{id}/timers`, X-Internal-Token): one
  assignment, the answer timer armed, due at intake's `due_at`;
- notify: exactly one 'registered' e-mail with the appeal's number in the SMTP sink, and exactly
  one 'registered' item in the author's feed.

Every store is durable (the local store process or MongoDB), so nothing is excused: a killed
service, or the killed store, must find everything it had committed.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from devstack.chaos.client import Gateway, Submission
from devstack.mailsink import MailSink

REGISTERED_SUBJECT = re.compile(r"(?:№|No\.)\s*(\d{4}-\d+)\s+(?:зарегистрировано|registered)")
CONCURRENCY = 16


@dataclass
class Verdict:
    sub: Submission
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.lost and not self.duplicated

    def describe(self) -> str:
        parts = [f"lost: {', '.join(self.lost)}"] if self.lost else []
        parts += [f"duplicated: {', '.join(self.duplicated)}"] if self.duplicated else []
        return f"appeal {self.sub.number} ({self.sub.phase}, #{self.sub.index}): {'; '.join(parts)}"


@dataclass(frozen=True)
class Scope:
    """Which stores this verdict may look into."""

    feed: bool = True
    timers: bool = True


def registered_emails(mail: MailSink) -> Counter[str]:
    """How many 'registered' e-mails each appeal number received."""
    counts: Counter[str] = Counter()
    for message in mail.snapshot():
        if match := REGISTERED_SUBJECT.search(str(message.get("Subject", ""))):
            counts[match.group(1)] += 1
    return counts


def resent(mail: MailSink, number: str) -> bool:
    """Whether every copy of the appeal's 'registered' e-mail carries one Message-ID: the same
    delivery sent again (at-least-once SMTP), not a second notification."""
    ids = {
        str(message.get("Message-ID", ""))
        for message in mail.snapshot()
        if (match := REGISTERED_SUBJECT.search(str(message.get("Subject", "")))) and match.group(1) == number
    }
    return len(ids) == 1


def _instant(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


async def bounded_gather(items: Iterable[Any], work: Callable[[Any], Awaitable[Any]]) -> list[Any]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(item: Any) -> Any:
        async with gate:
            return await work(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


class Verifier:
    def __init__(self, gateway: Gateway, mail: MailSink, deadlines_url: str, internal_token: str) -> None:
        self.gateway = gateway
        self.mail = mail
        self.deadlines_url = deadlines_url
        self.internal_token = internal_token
        self._reached: set[str] = set()

    async def record(self, sub: Submission) -> dict[str, Any] | None:
        response = await self.gateway.call("GET", f"/api/v1/appeals/{sub.appeal_id}", headers=sub.auth)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def appeals_of_author(self, sub: Submission) -> int:
        response = await self.gateway.call("GET", "/api/v1/appeals", headers=sub.auth)
        response.raise_for_status()
        return int(response.json()["total"])

    async def feed_registered(self, sub: Submission) -> int:
        response = await self.gateway.call(
            "GET", "/api/v1/me/notifications", headers=sub.auth, params={"limit": 100}
        )
        response.raise_for_status()
        items = response.json()["items"]
        return sum(1 for item in items if item["kind"] == "registered" and item["appeal_id"] == sub.appeal_id)

    async def timers(self, appeal_id: str) -> dict[str, Any] | None:
        response = await self.gateway.client.get(
            f"{self.deadlines_url}/internal/appeals/{appeal_id}/timers",
            headers={"X-Internal-Token": self.internal_token},
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    # -- has the appeal come through? -------------------------------------------------------------

    async def reached_end(self, sub: Submission, scope: Scope, emails: Counter[str]) -> bool:
        """Routed, due date set, registered e-mail (and feed item, timer) there: the pipeline's end."""
        assert sub.appeal_id is not None
        assert sub.number is not None
        key = f"{sub.appeal_id}:{scope}"
        if key in self._reached:
            return True
        if not emails[sub.number]:
            return False
        try:
            reached = await self._reached_end(sub, scope)
        except (httpx.HTTPError, TimeoutError):  # a service is still restarting: not yet
            return False
        if reached:
            self._reached.add(key)
        return reached

    async def _reached_end(self, sub: Submission, scope: Scope) -> bool:
        assert sub.appeal_id is not None
        record = await self.record(sub)
        if record is None or record["status"] != "routed" or not record.get("due_at"):
            return False
        if scope.feed and not await self.feed_registered(sub):
            return False
        return not (scope.timers and await self.timers(sub.appeal_id) is None)

    async def wait_all(
        self,
        subs: list[Submission],
        scope: Scope,
        timeout: float,
        nudge: Callable[[], Awaitable[None]] | None = None,
    ) -> float | None:
        """Seconds until every appeal reached the end (None: not within `timeout`)."""
        started = time.monotonic()
        pending = [sub for sub in subs if sub.accepted]
        while True:
            done = await self._reached_all(pending, scope)
            pending = [sub for sub, ok in zip(pending, done, strict=True) if not ok]
            if not pending:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                return None
            if nudge is not None:
                await nudge()
            await asyncio.sleep(0.5)

    async def _reached_all(self, subs: list[Submission], scope: Scope) -> list[bool]:
        emails = registered_emails(self.mail)
        return await bounded_gather(subs, lambda sub: self.reached_end(sub, scope, emails))

    # -- the verdict --------------------------------------------------------------------------------

    async def verdicts(self, subs: list[Submission], scope: Scope) -> list[Verdict]:
        emails = registered_emails(self.mail)
        return await bounded_gather(
            [sub for sub in subs if sub.accepted], lambda sub: self.verdict(sub, scope, emails)
        )

    async def verdict(self, sub: Submission, scope: Scope, emails: Counter[str]) -> Verdict:
        assert sub.appeal_id is not None
        assert sub.number is not None
        verdict = Verdict(sub)
        lost, duplicated = verdict.lost, verdict.duplicated
        record = await self.record(sub)
        if record is None:
            lost.append("the appeal itself (404)")
            return verdict
        routes = sum(1 for entry in record["timeline"] if entry["action"] == "route")
        if routes == 0 or record["status"] != "routed":
            lost.append(f"routing (status {record['status']}, {routes} route entries)")
        elif routes > 1:
            duplicated.append(f"routed {routes} times")
        if not record.get("due_at"):
            lost.append("due_at")
        if (count := await self.appeals_of_author(sub)) != 1:
            duplicated.append(f"{count} appeals from one submission")
        for replay_id, flagged in sub.replays:
            if replay_id != sub.appeal_id:
                duplicated.append(f"a replay answered {replay_id or 'an error'}")
            elif not flagged:
                duplicated.append("a replay without Idempotent-Replayed")
        self._check_count(verdict, "registered e-mail", emails[sub.number])
        if emails[sub.number] > 1 and resent(self.mail, sub.number):
            duplicated[-1] += " (one Message-ID: the same delivery sent again)"
        if scope.feed:
            count = await self.feed_registered(sub)
            self._check_count(verdict, "registered feed item", count)
        if scope.timers:
            self._check_timers(verdict, record, await self.timers(sub.appeal_id))
        return verdict

    @staticmethod
    def _check_count(verdict: Verdict, what: str, count: int) -> None:
        if count > 1:
            verdict.duplicated.append(f"{count} × {what}")
        elif count == 0:
            verdict.lost.append(what)

    @staticmethod
    def _check_timers(verdict: Verdict, record: dict[str, Any], clock: dict[str, Any] | None) -> None:
        if clock is None:
            verdict.lost.append("deadlines' record")
            return
        assignments = len(clock.get("assignments", []))
        if assignments > 1:
            verdict.duplicated.append(f"{assignments} assignments at deadlines")
        answer = (clock.get("timers") or {}).get("answer")
        if answer is None or answer.get("state") != "armed":
            verdict.lost.append(f"armed answer timer ({answer and answer.get('state')})")
        elif _instant(answer.get("due_at")) != _instant(record.get("due_at")):
            verdict.lost.append(f"timer due {answer.get('due_at')} but intake shows {record.get('due_at')}")
