"""The chaos run's check of the polls service across its kill -9: a poll open while it dies keeps
every ballot once, and closes by itself once, on time.

Before the kill: an operator publishes a poll closing `close_in` seconds later and `voters`
residents vote. After the restart: each of them sends the same ballot again (a client retrying
after the outage: `200`, unchanged) and as many new residents vote. Then the poll must close by
itself, with exactly one ballot per resident in its results.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from devstack.chaos.client import Gateway

ORG = "lesogorsk-admin"  # an organisation the appeal stream never routes to
AREA = "demograd"
BALLOT = {"answers": [{"question_id": "q1", "option_ids": ["o1"]}]}


@dataclass
class PollProbe:
    gateway: Gateway
    namespace: str
    voters: int = 5
    close_in: float = 25.0
    poll_id: str = ""
    closes_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    problems: list[str] = field(default_factory=list)

    async def open(self) -> None:
        """Publish the poll and take the first ballots. Raises on any unexpected answer."""
        operator = await self._bearer("operator", role="operator")
        self.closes_at = datetime.now(UTC) + timedelta(seconds=self.close_in)
        body = {
            "title": f"Chaos {self.namespace}: скамейки",
            "questions": [{"text": "Нужны ли скамейки?", "kind": "single", "options": ["Да", "Нет"]}],
            "area_ids": [AREA],
            "closes_at": self.closes_at.isoformat(),
        }
        draft = await self.gateway.call("POST", "/api/v1/polls", headers=operator, json=body)
        draft.raise_for_status()
        self.poll_id = draft.json()["id"]
        published = await self.gateway.call("POST", f"/api/v1/polls/{self.poll_id}/publish", headers=operator)
        published.raise_for_status()
        await self._vote(range(self.voters), expect=201)

    async def check(self, timeout: float = 90.0) -> int:
        """After the restart: the same ballots again, new ones, then the closing. Returns the
        ballots counted; what went wrong is in `problems`."""
        await self._vote(range(self.voters), expect=200)  # retried: the same ballot, kept once
        await self._vote(range(self.voters, 2 * self.voters), expect=201)
        deadline = time.monotonic() + max(timeout, self.close_in)
        while time.monotonic() < deadline:
            poll = (await self.gateway.call("GET", f"/api/v1/polls/{self.poll_id}")).json()
            if poll["status"] == "closed":
                break
            await asyncio.sleep(0.5)
        else:
            self.problems.append(f"the poll did not close within {timeout:.0f}s of its closing time")
            return 0
        if datetime.fromisoformat(poll["closed_at"]) < self.closes_at:
            self.problems.append("the poll closed before its closing time")
        results = (await self.gateway.call("GET", f"/api/v1/polls/{self.poll_id}/results")).json()
        counted = int(results["ballots"])
        if counted != 2 * self.voters:
            self.problems.append(f"{counted} ballots counted for {2 * self.voters} residents")
        return counted

    async def _vote(self, residents: range, expect: int) -> None:
        path = f"/api/v1/polls/{self.poll_id}/ballot"
        for resident in residents:
            who = await self._bearer(f"voter-{resident}")
            response = await self.gateway.call("POST", path, headers=who, json=BALLOT)
            if response.status_code != expect:
                self.problems.append(
                    f"resident {resident}'s ballot: HTTP {response.status_code}, not {expect}"
                )

    async def _bearer(self, who: str, role: str = "citizen") -> dict[str, str]:
        org = ORG if role == "operator" else None
        return await self.gateway.bearer(f"chaos-{self.namespace}-{who}", role, org)
