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
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devstack.appeals import Citizens, RegisteredSink, submit_all
from devstack.broker import delete_namespace
from devstack.mailsink import free_port
from devstack.replicas import SCALED, EventSpy, handled, replica_counts, route_entries, start_stack
from devstack.stack import LocalStack


@dataclass
class Result:
    label: str
    appeals: int
    seconds: float = 0.0
    delivered: int = 0
    duplicates: int = 0  # appeals with more than one "registered" e-mail
    republished: int = 0  # events the outbox relay published more than once
    lost: int = 0  # notify: appeal.routed dead-lettered (the recipient was on another replica)
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
                warm = await submit_all(client, Citizens(f"replicas-warm{uuid.uuid4().hex[:6]}").next(1), 1)
                await wait_for(sink, [a.number for a in warm], lambda: notify_lost(client, stack), 30)
                started = time.monotonic()
                result.others = len(foreign_processes(stack))
                accepted = await submit_all(
                    client, Citizens(f"replicas-{uuid.uuid4().hex[:8]}").next(appeals), concurrency
                )
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
            with suppress(Exception):  # best effort: the broker may be away
                await delete_namespace(rabbit_url, stack.namespace)
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
    """`appeal.routed` messages notify dead-lettered (the recipient was on another replica)."""
    per_replica = await replica_counts(client, stack, "notify")
    return int(sum(counts.get(("appeal.routed", "dead_lettered"), 0.0) for counts in per_replica.values()))


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
        "2 mails: appeals with two registered e-mails; lost: appeal.routed dead-lettered by notify "
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
    parser = argparse.ArgumentParser(
        prog="python -m bench.replicas", description="End-to-end appeals/s with 1 and 3 replicas"
    )
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
