"""One level of the load benchmark: appeals pre-loaded to a stored count, then a sample submitted
and followed to its "registered" e-mails while the services' counters and every process's CPU
time are read before and after.

Processes are named as the report shows them: the six services (devstack.stack.SERVICES), `store`
(the local store process; absent with MONGO_URL), `s3` (moto), `rabbitmq` (the local node, when
it runs on this machine) and `bench` (this process: the load generator and the SMTP sink).
"""

from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.load import profile
from bench.load.gateway import CAP_SECONDS, Batch, Counters, service_counters, submit, wait_for_mail
from bench.load.latency import Latency
from bench.load.report import ms, percentile, rate
from bench.load.system import cpu_seconds, rabbitmq_pid, rss_mib
from devstack.appeals import Citizens, RegisteredSink
from devstack.stack import SERVICES, LocalStack

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Level:
    multiple: int
    stored: int  # appeals already stored when the measurement began
    batch: Batch
    arrived: int
    e2e_latencies: list[float]
    e2e_seconds: float
    counters: dict[str, Counters] = field(default_factory=dict)  # service → during the measurement
    cpu: dict[str, float] = field(default_factory=dict)  # process → CPU seconds during the measurement
    memory: dict[str, tuple[float, float]] = field(default_factory=dict)  # process → (RSS, peak) MiB after
    preload_seconds: float = 0.0
    preloaded: int = 0
    latency: Latency | None = None  # the latency targets' measurements after the sample

    @property
    def accepted(self) -> int:
        return len(self.batch.numbers)

    @property
    def accept_rate(self) -> float:
        return self.accepted / self.batch.seconds if self.batch.seconds > 0 else math.nan

    @property
    def e2e_rate(self) -> float:
        return self.arrived / self.e2e_seconds if self.e2e_seconds > 0 else math.nan

    def per_appeal(self, value: float) -> float:
        """A quantity of the measurement divided by the appeals accepted in it (NaN for none)."""
        return value / self.accepted if self.accepted else math.nan

    def counted(self, what: str, service: str | None = None) -> float:
        """`published`, `handled` or `store_commands` during the measurement, one service's or all."""
        names = [service] if service else list(self.counters)
        return float(sum(getattr(self.counters[name], what) for name in names if name in self.counters))

    @property
    def services_cpu(self) -> float:
        """CPU seconds of the six service processes together (NaN when none was read)."""
        values = [self.cpu[name] for name in SERVICES if name in self.cpu and not math.isnan(self.cpu[name])]
        return sum(values) if values else math.nan

    @property
    def errors(self) -> str:
        missing = self.accepted - self.arrived
        parts = [f"{key}: {value}" for key, value in sorted(self.batch.errors.items())]
        if missing:
            parts.append(f"no e-mail: {missing}")
        return ", ".join(parts) or "0"


def process_ids(stack: LocalStack) -> dict[str, int]:
    """Process name → pid of everything whose CPU the report shows."""
    pids = {name: process.pid for name, process in stack.processes.items()}
    if stack.store is not None and stack.store.process is not None:
        pids["store"] = stack.store.process.pid
    if (beam := rabbitmq_pid()) is not None:
        pids["rabbitmq"] = beam
    pids["bench"] = os.getpid()
    return pids


async def preload(
    client: httpx.AsyncClient, citizens: Citizens, sink: RegisteredSink, count: int, args: argparse.Namespace
) -> tuple[int, float]:
    """Store `count` more appeals through the gateway, in bulk, and wait until all are processed.
    Returns (appeals accepted, seconds)."""
    started = time.monotonic()
    numbers: list[str] = []
    chunk = 1_000  # tokens and bodies are made per chunk, not all at once
    done = 0
    while done < count:
        size = min(chunk, count - done)
        label = f"pre-load {done + 1:,}-{done + size:,} of {count:,}"
        batch = await submit(client, citizens.next(size), args.preload_concurrency, label, CAP_SECONDS)
        if batch.errors:
            print(f"  pre-load errors: {dict(batch.errors)}", flush=True)
        numbers += batch.numbers
        done += size
    arrived, complete = await wait_for_mail(
        sink, numbers, "pre-load processed (e-mails in)", args.stall, CAP_SECONDS
    )
    if not complete:
        print(
            f"  WARNING: {len(numbers) - arrived} pre-loaded appeals were not processed in time", flush=True
        )
    return len(numbers), time.monotonic() - started


async def measure(
    client: httpx.AsyncClient,
    citizens: Citizens,
    sink: RegisteredSink,
    stack: LocalStack,
    multiple: int,
    stored: int,
    args: argparse.Namespace,
) -> Level:
    """Submit `args.sample` appeals and follow them to their e-mails: one Level."""
    appeals = citizens.next(args.sample)
    urls = {name: stack.url(name) for name in SERVICES}
    counters0 = await service_counters(client, urls)
    pids = process_ids(stack)
    recordings = []
    profiling = bool(args.profile) and multiple == args.profile_level
    spy = profile.py_spy() if profiling else None
    if profiling and spy is None:
        print("  --profile: py-spy is not installed (`.venv/bin/pip install py-spy`)", flush=True)
    if spy is not None:
        for name in args.profile:
            output = ROOT / "var" / "bench" / f"profile-{name}-{multiple}x.txt"
            pid = stack.processes[name].pid
            recordings.append(profile.start(spy, name, pid, output, int(CAP_SECONDS)))
    cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    try:
        batch = await submit(client, appeals, args.concurrency, f"{multiple}×: submit", CAP_SECONDS)
        arrived, complete = await wait_for_mail(
            sink, batch.numbers, f"{multiple}×: registered e-mails", args.stall, CAP_SECONDS
        )
    finally:
        cpu1 = {name: cpu_seconds(pid) for name, pid in pids.items()}
        for recording in recordings:
            recording.stop()
    if not complete:
        print(f"  WARNING: {len(batch.numbers) - arrived} e-mails did not arrive in time", flush=True)
    counters1 = await service_counters(client, urls)
    latencies, last = [], batch.started
    for number, accepted_at in zip(batch.numbers, batch.accepted_at, strict=True):
        at = sink.arrived(number)
        if at is not None:
            latencies.append(at - accepted_at)
            last = max(last, at)
    level = Level(
        multiple=multiple,
        stored=stored,
        batch=batch,
        arrived=arrived,
        e2e_latencies=latencies,
        e2e_seconds=last - batch.started,
        counters={name: counters1[name] - counters0[name] for name in urls},
        cpu={name: cpu1[name] - cpu0[name] for name in pids},
        memory={name: rss_mib(pid) for name, pid in pids.items() if name not in ("rabbitmq", "bench")},
    )
    for recording in recordings:
        print_profile(recording.service, recording.output)
    return level


def print_profile(service: str, output: Path) -> None:
    samples, hottest, platform_frames = profile.summarize(output)
    print(f"\n  profile of {service}: {samples:,} samples -> {output.relative_to(ROOT)}", flush=True)
    for title, rows in (("own time", hottest), ("platform code, inclusive", platform_frames)):
        print(f"    {title}:")
        for name, share in rows:
            print(f"      {share:5.1f}%  {name}")


def summary_line(level: Level) -> str:
    """The progress line printed after each level."""
    lat, e2e = level.batch.latencies, level.e2e_latencies
    cpu = level.per_appeal(level.services_cpu) * 1000
    return (
        f"  accept {rate(level.accept_rate)}/s p50 {ms(percentile(lat, 50))} ms p99 {ms(percentile(lat, 99))} ms;"
        f" end to end {rate(level.e2e_rate)}/s p50 {ms(percentile(e2e, 50))} ms p99 {ms(percentile(e2e, 99))} ms;"
        f" services' CPU {'—' if math.isnan(cpu) else f'{cpu:,.1f}'} ms/appeal; not ok: {level.errors}"
    )
