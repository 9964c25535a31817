"""What a chaos run does and what it reports: the faults in order, the plan's sizes and times,
and one row per fault (rendered as the markdown table docs/reliability.md keeps)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from devstack.chaos.checks import Scope, Verdict
from devstack.chaos.client import Submission

CONSUMERS = ("routing", "deadlines", "notify", "media")
SERVICES = ("intake", *CONSUMERS, "polls")  # the ones the run kills and poisons (every queue)
ALL_FAULTS = (
    "broker",
    "smtp",
    *(f"kill:{name}" for name in CONSUMERS),
    "kill:intake",
    "kill:polls",
    "kill:store",
    "poison",
)
FAULT_TITLES = {
    "broker": "RabbitMQ restart (stop_app/start_app)",
    "smtp": "SMTP server down",
    "poison": "poison messages (every queue)",
    **{f"kill:{name}": f"kill -9 {name}" for name in SERVICES},
    "kill:polls": "kill -9 polls (a poll open and voted on)",
    "kill:store": "kill -9 the store process",
}
LIGHT = Scope(feed=False, timers=False)  # the end of the pipeline as the citizen sees it
FULL = Scope()


@dataclass(frozen=True)
class Plan:
    before: int = 8  # appeals accepted before the fault is injected
    after: int = 8  # appeals launched after it is lifted
    rate: float = 5.0  # appeals per second
    broker_outage: float = 5.0
    smtp_outage: float = 8.0
    kill_pause: float = 1.0  # between kill -9 and the restart
    poll_close_in: float = 20.0  # kill:polls: the open poll closes this long after it is published
    settle_timeout: float = 60.0
    max_attempts: int = 5
    retry_backoff: float = 0.2
    faults: tuple[str, ...] = ALL_FAULTS


@dataclass
class Row:
    fault: str
    sent: int = 0
    accepted: int = 0
    lost: int = 0
    duplicated: int = 0
    dead_lettered: int = 0
    recovery: float | None = None
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # everything that fails the run, described
    failed: list[Verdict] = field(default_factory=list)  # the appeals lost or duplicated
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return self.skipped is not None or (not self.lost and not self.duplicated and not self.problems)

    def cells(self) -> list[str]:
        if self.skipped:
            return [self.fault, "—", "—", "—", "—", "—", "—", f"skipped: {self.skipped}"]
        recovery = "—" if self.recovery is None else f"{self.recovery:.1f}"
        return [
            self.fault,
            str(self.sent),
            str(self.accepted),
            str(self.lost),
            str(self.duplicated),
            str(self.dead_lettered),
            recovery,
            "; ".join(self.notes),
        ]


HEADER = [
    "fault",
    "appeals sent",
    "accepted",
    "lost",
    "duplicated",
    "dead-lettered",
    "time to recover (s)",
    "notes",
]


def table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def report(rows: list[Row]) -> str:
    """The run's table, then its problems (or the all-clear line), as `make chaos` prints them."""
    lines = [table(rows), ""]
    problems = [(row.fault, problem) for row in rows for problem in row.problems]
    if problems:
        lines.append(f"{len(problems)} problems:")
        lines += [f"- {fault}: {problem}" for fault, problem in problems[:40]]
    else:
        lines.append("No appeal lost or duplicated; every queue empty; every poison message parked.")
    return "\n".join(lines)


def submissions_json(subs: list[Submission], verdicts: list[Verdict]) -> str:
    """Every submission and its verdict (what was lost or doubled), as JSON for the post-mortem."""
    problems = {id(verdict.sub): verdict for verdict in verdicts}
    records = []
    for sub in subs:
        verdict = problems.get(id(sub))
        records.append(
            {
                "index": sub.index,
                "phase": sub.phase,
                "citizen": sub.citizen,
                "appeal_id": sub.appeal_id,
                "number": sub.number,
                "status": sub.status,
                "error": sub.error,
                "attempts": sub.attempts,
                "lost": verdict.lost if verdict else [],
                "duplicated": verdict.duplicated if verdict else [],
            }
        )
    return json.dumps(records, ensure_ascii=False, indent=1)
