"""Competing consumers: end-to-end appeals per second with 1, then 3 replicas of routing,
deadlines and notify (the gateway and media stay at one process).

    .venv/bin/python -m bench.replicas [--appeals 300] [--configs 1/1/1,3/3/3] [--concurrency 16]

Each configuration (replicas of routing/deadlines/notify) starts its own stack (the six services
as OS processes on the real RabbitMQ, the SMTP sink in this process) in a fresh namespace, so the
replicas of a service share its queue and compete on it. It submits N appeals through the
gateway, each from its own citizen, and waits for each appeal's "registered" e-mail. Reported:
appeals/s from the first submit to the last e-mail, the latency from each 201 to its e-mail,
events published twice (a spy queue on the exchange), and how the handled messages spread over
the replicas (each replica's own `/metrics`).

The store: every replica of a service uses the same database, as in deployment: MongoDB with
`MONGO_URL` (or `--mongo-url`), else the stack's local store process (mongoeco over SQLite).

The machine has 2 cores: the gateway, the replicas, RabbitMQ and this client all share them, so
more replicas mostly show that the work spreads, not that it goes faster.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import httpx
from faststream.rabbit import RabbitBroker, RabbitMessage, RabbitQueue
from prometheus_client.parser import text_string_to_metric_families

from devstack.mailsink import MailSink, free_port
from devstack.stack import SERVICES, LocalStack
from libs.common.auth import Role, issue_dev_token
from libs.common.settings import DEV_SECRET
from libs.common.topology import Topology

SCALED = ("routing", "deadlines", "notify")
BBOX = (43.22, 57.32, 44.35, 57.98)  # the demo region, lon/lat
TOPICS = ["landscaping.street_lighting", "roads.potholes", "utilities.heating", "transport.schedule"]
TEXTS = [
    ("Не горит фонарь", "Фонарь у дома {n} не горит вторую неделю, вечером во дворе темно."),
    ("Яма на дороге", "Глубокая яма на проезжей части у дома {n}, машины объезжают по встречной."),
    ("Нет отопления", "В квартире {n} холодно, батареи чуть тёплые уже третий день подряд."),
    ("Автобус не пришёл", "Автобус по маршруту {n} не пришёл утром по расписанию, ждали час."),
]
# "Обращение № 2026-000123 зарегистрировано" / "Appeal No. 2026-000123 registered"
REGISTERED = re.compile(r"(\d{4}-\d{6})\s+(?:зарегистрировано|registered)")


class RegisteredSink(MailSink):
    """The SMTP sink that counts each appeal's "registered" e-mails and notes the first's arrival."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self.registered: Counter[str] = Counter()
        self.first_at: dict[str, float] = {}
        self._count_lock = threading.Lock()

    def _received(self, raw: bytes, rcpt_tos: list[str]) -> None:
        at = time.monotonic()
        headers = BytesParser(policy=default_policy).parsebytes(raw, headersonly=True)
        found = REGISTERED.search(str(headers["subject"] or ""))
        if found:
            with self._count_lock:
                self.registered[found.group(1)] += 1
                self.first_at.setdefault(found.group(1), at)

    def count(self, numbers: Sequence[str]) -> int:
        with self._count_lock:
            return sum(1 for number in numbers if self.registered[number])

    def duplicates(self, numbers: Sequence[str]) -> dict[str, int]:
        with self._count_lock:
            return {number: self.registered[number] for number in numbers if self.registered[number] > 1}


class EventSpy:
    """A queue of its own on the namespace's exchange: every event published, by type and id.

    An event the outbox relay published twice (its flush and a sweep raced) shows up as one id
    seen twice; the consumers must absorb such duplicates (idempotency, in their store).
    """

    def __init__(self, rabbit_url: str, namespace: str) -> None:
        self.seen: Counter[tuple[str, str]] = Counter()  # (type, event id) → times published
        self._broker = RabbitBroker(rabbit_url, logger=None)
        queue = RabbitQueue(f"{namespace}.bench-spy", auto_delete=True, routing_key="#")

        @self._broker.subscriber(queue, Topology(namespace).events_exchange)
        async def record(message: RabbitMessage) -> None:
            self.seen[(message.raw_message.routing_key or "", message.message_id or "")] += 1

    async def __aenter__(self) -> EventSpy:
        await self._broker.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._broker.stop()

    def published(self, event_type: str) -> int:
        """Messages of this type on the exchange (a re-published event counts each time)."""
        return sum(times for (kind, _), times in self.seen.items() if kind == event_type)

    def republished(self) -> int:
        """How many messages were a second (or later) copy of an event already published."""
        return sum(times - 1 for times in self.seen.values())


@dataclass
class Appeal:
    id: str
    number: str
    headers: dict[str, str]
    accepted_at: float


def appeal_bodies(run_id: str, count: int, seed: int = 7) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """One citizen per appeal (the per-caller limit and routing's repeat filter never interfere)."""
    rng = random.Random(seed)
    out = []
    for n in range(1, count + 1):
        sub = f"replicas-{run_id}-{n}"
        token = issue_dev_token(DEV_SECRET, sub=sub, role=Role.CITIZEN)
        summary, description = rng.choice(TEXTS)
        body = {
            "kind": "complaint",
            "topic": rng.choice(TOPICS),
            "summary": summary,
            "description": description.format(n=n),
            "location": {
                "lat": round(rng.uniform(BBOX[1], BBOX[3]), 6),
                "lon": round(rng.uniform(BBOX[0], BBOX[2]), 6),
                "address": f"ул. Ленина, {n}",
            },
            "contact": {"email": f"{sub}@example.org"},
        }
        out.append(({"Authorization": f"Bearer {token}"}, body))
    return out


async def submit_all(
    client: httpx.AsyncClient, bodies: list[tuple[dict[str, str], dict[str, Any]]], concurrency: int
) -> list[Appeal]:
    """POST every appeal with `concurrency` callers; every one must be accepted (201)."""
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


def metric_counts(text: str, name: str = "appeals_messages_total") -> dict[tuple[str, str], float]:
    """(type, outcome) → count of one process's `appeals_messages_total`."""
    counts: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                key = (sample.labels["type"], sample.labels["outcome"])
                counts[key] = counts.get(key, 0.0) + sample.value
    return counts


async def replica_counts(
    client: httpx.AsyncClient, stack: LocalStack, service: str
) -> dict[str, dict[tuple[str, str], float]]:
    """Each replica's message counters, by its process name."""
    out = {}
    for process in stack.instances(service):
        response = await client.get(f"{stack.url(process)}/metrics")
        response.raise_for_status()
        out[process] = metric_counts(response.text)
    return out


def settled(counts: dict[tuple[str, str], float], event_type: str) -> int:
    """Deliveries of a type this process finished with: handled or dead-lettered (not retried)."""
    return int(sum(counts.get((event_type, outcome), 0.0) for outcome in ("handled", "dead_lettered")))


def handled(counts: dict[tuple[str, str], float], event_type: str | None = None) -> int:
    return int(
        sum(
            value
            for (kind, outcome), value in counts.items()
            if outcome == "handled" and event_type in (None, kind)
        )
    )


async def route_entries(client: httpx.AsyncClient, appeals: Sequence[Appeal]) -> dict[str, int]:
    """How many `route` steps each appeal's timeline holds (intake's record)."""

    async def one(appeal: Appeal) -> tuple[str, int]:
        response = await client.get(f"/api/v1/appeals/{appeal.id}", headers=appeal.headers)
        response.raise_for_status()
        return appeal.number, sum(entry.get("action") == "route" for entry in response.json()["timeline"])

    return dict(await asyncio.gather(*(one(appeal) for appeal in appeals)))


async def remove_namespace(rabbit_url: str, namespace: str) -> None:
    """Delete a finished run's durable queues and exchanges: a broker holding thousands of
    leftovers restarts slowly. Best effort (the stack must be stopped first)."""
    import aio_pika

    names = [f"{namespace}.{service}{suffix}" for service in SERVICES for suffix in ("", ".retry", ".dlq")]
    try:
        connection = await aio_pika.connect(rabbit_url, timeout=10)
    except Exception:
        return
    async with connection:
        channel = await connection.channel()
        for name in names:
            await channel.queue_delete(name)
        for exchange in (f"{namespace}.events", f"{namespace}.dlx"):
            await channel.exchange_delete(exchange)


def start_stack(
    sink: MailSink,
    workdir: Path,
    *,
    replicas: dict[str, int],
    rabbit_url: str | None = None,
    mongo_url: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> LocalStack:
    stack = LocalStack.ephemeral(
        f"replicas-{uuid.uuid4().hex[:8]}", workdir, smtp=(sink.host, sink.port), frontends=()
    )
    stack.replicas = dict(replicas)
    if rabbit_url:
        stack.extra_env["RABBIT_URL"] = rabbit_url
    if mongo_url:
        stack.extra_env["MONGO_URL"] = mongo_url
    stack.extra_env.update(extra_env or {})
    try:
        stack.start()
    except BaseException:
        stack.stop()
        raise
    return stack


@dataclass
class Result:
    label: str
    appeals: int
    seconds: float = 0.0
    delivered: int = 0
    duplicates: int = 0  # appeals with more than one "registered" e-mail
    republished: int = 0  # events the outbox relay published more than once
    lost: int = 0  # notify: deadline.armed dead-lettered (the recipient was on another replica)
    latencies: list[float] = field(default_factory=list)
    spread: dict[str, list[int]] = field(default_factory=dict)  # service → handled per replica
    routes_ok: bool = True
    others: int = 0  # most Python processes of other runs (services, tests, benches) seen meanwhile

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0

    def cells(self) -> list[str]:
        ordered = sorted(self.latencies)
        p50 = statistics.median(ordered) if ordered else 0.0
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] if ordered else 0.0
        spread = "  ".join(f"{svc[0]}:{'/'.join(map(str, counts))}" for svc, counts in self.spread.items())
        return [
            self.label,
            str(self.appeals),
            str(self.delivered),
            f"{self.seconds:.1f}",
            f"{self.rate:.1f}",
            str(self.others),
            f"{p50:.2f}",
            f"{p95:.2f}",
            str(self.duplicates),
            str(self.lost),
            str(self.republished),
            spread,
        ]


HEADER = [
    "r/d/n",
    "appeals",
    "e-mails",
    "seconds",
    "appeals/s",
    "others",
    "p50 s",
    "p95 s",
    "2 mails",
    "lost",
    "re-pub",
    "handled per replica (routing/deadlines/notify)",
]


async def run_config(
    label: str,
    replicas: dict[str, int],
    appeals: int,
    concurrency: int,
    *,
    rabbit_url: str,
    mongo_url: str | None,
    timeout: float,
    workdir: Path,
) -> Result:
    result = Result(label, appeals)
    with RegisteredSink("127.0.0.1", free_port()) as sink:
        stack = await asyncio.to_thread(
            start_stack,
            sink,
            workdir / label.replace("/", "-"),
            replicas=replicas,
            rabbit_url=rabbit_url,
            mongo_url=mongo_url,
            extra_env={"APPEALS_LOG_LEVEL": "WARNING"},  # the same for every configuration
        )
        try:
            async with (
                EventSpy(rabbit_url, stack.namespace) as spy,
                httpx.AsyncClient(base_url=stack.url("intake"), timeout=30) as client,
            ):
                # Warm-up: one appeal end to end, so every connection and cache is open.
                warm = await submit_all(client, appeal_bodies(f"warm{uuid.uuid4().hex[:6]}", 1), 1)
                await wait_for(sink, [a.number for a in warm], lambda: notify_lost(client, stack), 30)
                started = time.monotonic()
                result.others = len(foreign_processes(stack))
                accepted = await submit_all(client, appeal_bodies(uuid.uuid4().hex[:8], appeals), concurrency)
                numbers = [appeal.number for appeal in accepted]
                await wait_for(sink, numbers, lambda: notify_lost(client, stack), timeout)
                result.others = max(result.others, len(foreign_processes(stack)))
                arrived = [sink.first_at[n] for n in numbers if n in sink.first_at]
                result.seconds = (max(arrived) if arrived else time.monotonic()) - started
                result.delivered = len(arrived)
                result.latencies = [
                    sink.first_at[a.number] - a.accepted_at for a in accepted if a.number in sink.first_at
                ]
                await asyncio.sleep(1.0)  # a late duplicate would show up here
                result.duplicates = len(sink.duplicates(numbers))
                result.lost = await notify_lost(client, stack)
                result.republished = spy.republished()
                routes = await route_entries(client, accepted)
                result.routes_ok = all(count == 1 for count in routes.values())
                for service in SCALED:
                    per_replica = await replica_counts(client, stack, service)
                    result.spread[service] = [handled(counts) for counts in per_replica.values()]
        finally:
            await asyncio.to_thread(stack.stop)
            await remove_namespace(rabbit_url, stack.namespace)
    return result


def foreign_processes(stack: LocalStack) -> list[int]:
    """Processes of other stacks, tests or benches on this machine (they share the two cores)."""
    ours = {os.getpid(), os.getppid(), *(process.pid for process in stack.processes.values())}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in ours:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "python" in cmdline and any(word in cmdline for word in ("services.", "pytest", "bench", "moto")):
            found.append(int(entry.name))
    return found


async def notify_lost(client: httpx.AsyncClient, stack: LocalStack) -> int:
    """`deadline.armed` messages notify dead-lettered (the recipient was on another replica)."""
    per_replica = await replica_counts(client, stack, "notify")
    return int(sum(counts.get(("deadline.armed", "dead_lettered"), 0.0) for counts in per_replica.values()))


async def wait_for(
    sink: RegisteredSink, numbers: Sequence[str], lost: Callable[[], Awaitable[int]], timeout: float
) -> None:
    """Until every appeal has its e-mail, or e-mails and notify's lost ones cover them all."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        arrived = sink.count(numbers)
        if arrived == len(numbers) or arrived + await lost() >= len(numbers):
            return
        await asyncio.sleep(0.2)


def print_table(results: Sequence[Result], store: str) -> None:
    rows = [HEADER, *[r.cells() for r in results]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    print(f"\nstore: {store}; {os.cpu_count()} CPU cores; appeals/s = e-mails / (first submit → last e-mail)")
    for i, row in enumerate(rows):
        cells = [
            cell.ljust(widths[j]) if j in (0, len(row) - 1) else cell.rjust(widths[j])
            for j, cell in enumerate(row)
        ]
        print("  ".join(cells).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(
        "2 mails: appeals with two registered e-mails; lost: deadline.armed dead-lettered by notify "
        "(no recipient on that replica);\nre-pub: events the outbox relay published twice (flush and "
        "sweep raced): absorbed only where a service's replicas share a store;\nothers: Python "
        "processes of other runs on this machine (services, tests, benches): not 0, the cores were shared"
    )
    for r in results:
        if not r.routes_ok:
            print(f"!! {r.label}: some appeal has not exactly one `route` step in its timeline")


async def main_async(args: argparse.Namespace) -> None:
    rabbit_url = os.environ.get("RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672/")
    mongo_url = args.mongo_url or os.environ.get("MONGO_URL")
    with tempfile.TemporaryDirectory() as tmp:
        store = "shared MongoDB" if mongo_url else "shared local store process (mongoeco over SQLite)"
        configs = args.configs or "1/1/1,3/3/3"
        results = []
        for label in configs.split(",") * args.rounds:
            counts = [int(n) for n in label.split("/")]
            replicas = dict(zip(SCALED, counts, strict=True))
            print(f"--- {label} (routing/deadlines/notify): {args.appeals} appeals", flush=True)
            results.append(
                await run_config(
                    label,
                    replicas,
                    args.appeals,
                    args.concurrency,
                    rabbit_url=rabbit_url,
                    mongo_url=mongo_url,
                    timeout=args.timeout,
                    workdir=Path(tmp),
                )
            )
        print_table(results, store)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="End-to-end appeals/s with 1 and 3 replicas")
    parser.add_argument("--appeals", type=int, default=300)
    parser.add_argument(
        "--configs",
        default=None,
        help="replicas of routing/deadlines/notify, comma-separated (default 1/1/1,3/3/3)",
    )
    parser.add_argument("--concurrency", type=int, default=16, help="parallel submitting callers")
    parser.add_argument("--rounds", type=int, default=1, help="run the configurations this many times")
    parser.add_argument("--timeout", type=float, default=180, help="seconds to wait for the e-mails")
    parser.add_argument("--mongo-url", default=None, help="a MongoDB all replicas share (else MONGO_URL)")
    asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
