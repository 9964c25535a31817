"""Speed of the whole platform on this machine: `make bench` (or `python -m bench`).

    .venv/bin/python -m bench [--base 15] [--sample 60] [--levels 1,10,100] [--concurrency 16]
        [--raw-messages 20000] [--raw-inflight 256] [--profile intake,notify] [--no-write]

1. The broker-bound limit: RabbitMQ's raw confirmed publish and acked consume rates (aio-pika,
   persistent messages, a durable queue of its own, deleted afterwards), before anything else runs.
2. The six services as real processes (devstack's LocalStack, a namespace of their own, moto S3),
   with an in-process SMTP sink that notes when each appeal's "registered" e-mail arrives.
3. For each level (1×, 10×, 100× `--base` appeals already stored, pre-loaded through the gateway
   and drained first): `--sample` appeals POSTed by `--concurrency` callers, each appeal from its
   own citizen: accept throughput and latency (request to 201), end-to-end throughput and latency
   (201 to the "registered" e-mail), broker messages per appeal (the services' own counters),
   CPU per appeal and resident memory of every process.
4. The tables are printed and written to docs/performance.md (between its bench markers).

Store: MongoDB when MONGO_URL is set (each service its own database, named after the run's
namespace), else the in-memory stand-in (mongomock), which scans every document on every
query: then the growth rows measure mongomock, not the platform.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from bench import load_profile
from bench.load_broker import BrokerResult, delete_namespace, raw_broker
from bench.load_gateway import Batch, Citizens, TimedMailSink, broker_counts, submit, topics, wait_for_mail
from bench.load_report import markdown_table, ms, percentile, rate, text_table
from bench.load_system import cpu_seconds, rabbitmq_pid, rss_mib
from devstack.mailsink import free_port
from devstack.rabbit import DEFAULT_URL, ensure_rabbitmq
from devstack.stack import SERVICES, LocalStack
from libs.common.logging import configure_logging

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
MEMORY_ORDER = ("intake", "routing", "deadlines", "notify", "media", "polls", "s3")  # then any other process
CPU_ORDER = (*MEMORY_ORDER, "rabbitmq", "bench")
CAP_SECONDS = 3600.0  # no single wait of the bench lasts longer, whatever happens
Table = tuple[str, list[str], list[list[str]]]


@dataclass
class Level:
    multiple: int
    stored: int  # appeals already stored when the measurement began
    batch: Batch
    arrived: int
    e2e_latencies: list[float]
    e2e_seconds: float
    published: float  # events published (confirmed) during the measurement, all services
    handled: float  # messages consumed and acked during the measurement, all services
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds used during the measurement
    memory: dict[str, tuple[float, float]] = field(default_factory=dict)  # (RSS, peak) MiB after it
    preload_seconds: float = 0.0
    preloaded: int = 0

    @property
    def accepted(self) -> int:
        return len(self.batch.numbers)

    @property
    def accept_rate(self) -> float:
        return self.accepted / self.batch.seconds if self.batch.seconds > 0 else math.nan

    @property
    def e2e_rate(self) -> float:
        return self.arrived / self.e2e_seconds if self.e2e_seconds > 0 else math.nan


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", type=int, default=15, help="appeals stored at 1× (levels multiply it)")
    parser.add_argument("--levels", default="1,10,100", help="multiples of --base stored before measuring")
    parser.add_argument("--sample", type=int, default=60, help="appeals submitted per measurement")
    parser.add_argument("--concurrency", type=int, default=16, help="callers submitting at once")
    parser.add_argument("--preload-concurrency", type=int, default=16, help="callers while pre-loading")
    parser.add_argument("--raw-messages", type=int, default=20_000, help="messages of the raw broker test")
    parser.add_argument("--raw-inflight", type=int, default=256, help="publishes awaiting a confirm at once")
    parser.add_argument(
        "--raw-size", type=int, default=1024, help="bytes per raw message (about an envelope)"
    )
    parser.add_argument("--skip-raw", action="store_true", help="skip the raw broker test")
    parser.add_argument("--profile", default="", help="services to sample with py-spy, e.g. intake,notify")
    parser.add_argument("--profile-level", type=int, default=1, help="the level (multiple) to profile")
    parser.add_argument(
        "--stall", type=float, default=120.0, help="seconds without progress before giving up"
    )
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    args = parser.parse_args(argv)
    args.levels = sorted({int(part) for part in args.levels.split(",") if part.strip()})
    args.profile = [name.strip() for name in args.profile.split(",") if name.strip()]
    if min(args.base, args.sample, args.concurrency, args.preload_concurrency) < 1:
        parser.error("--base, --sample and the concurrencies must be positive")
    if not args.levels or min(args.levels) < 1:
        parser.error("--levels must be positive multiples, e.g. 1,10,100")
    unknown = set(args.profile) - set(SERVICES)
    if unknown:
        parser.error(f"--profile: unknown services {', '.join(sorted(unknown))}")
    return args


# -- the steps --------------------------------------------------------------------------------


def measure_raw(url: str, namespace: str, args: argparse.Namespace, attempts: int = 3) -> BrokerResult | None:
    """The raw test; a broker restarted meanwhile (another run's chaos test) costs a retry."""
    for attempt in range(1, attempts + 1):
        try:
            return asyncio.run(
                raw_broker(url, f"{namespace}-{attempt}", args.raw_messages, args.raw_inflight, args.raw_size)
            )
        except Exception as exc:
            print(f"  raw broker test failed ({type(exc).__name__}: {exc}); attempt {attempt}/{attempts}")
            time.sleep(5)
    return None


def start_stack(stack: LocalStack, rabbit_url: str, attempts: int = 3) -> None:
    """Start the stack; a broker that was away meanwhile (a chaos test's restart) costs a retry."""
    for attempt in range(1, attempts + 1):
        ensure_rabbitmq(rabbit_url)
        print(f"\n[stack] starting moto S3 and the six services (attempt {attempt})...", flush=True)
        try:
            stack.start()
            return
        except (RuntimeError, TimeoutError) as exc:
            stack.stop()
            if attempt == attempts:
                raise
            print(f"  the stack did not start: {str(exc).splitlines()[0]}; trying again", flush=True)
            time.sleep(5)


async def preload(
    client: httpx.AsyncClient,
    citizens: Citizens,
    sink: TimedMailSink,
    count: int,
    args: argparse.Namespace,
) -> tuple[int, float]:
    """Store `count` more appeals through the gateway, in bulk, and wait until all are processed."""
    started = time.monotonic()
    numbers: list[str] = []
    chunk = 1_000  # tokens and bodies are made per chunk, not all at once
    done = 0
    while done < count:
        size = min(chunk, count - done)
        batch = await submit(
            client,
            citizens.next(size),
            args.preload_concurrency,
            f"pre-load {done + 1:,}-{done + size:,} of {count:,}",
            deadline_seconds=CAP_SECONDS,
        )
        if batch.errors:
            print(f"  pre-load errors: {batch.errors}", flush=True)
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


def process_ids(stack: LocalStack) -> dict[str, int]:
    pids = {name: process.pid for name, process in stack.processes.items()}
    if (beam := rabbitmq_pid()) is not None:
        pids["rabbitmq"] = beam
    pids["bench"] = os.getpid()
    return pids


async def measure(
    client: httpx.AsyncClient,
    citizens: Citizens,
    sink: TimedMailSink,
    stack: LocalStack,
    multiple: int,
    stored: int,
    args: argparse.Namespace,
) -> Level:
    appeals = citizens.next(args.sample)
    urls = [stack.url(name) for name in SERVICES]
    published0, handled0 = await broker_counts(client, urls)
    pids = process_ids(stack)
    recordings = []
    spy = load_profile.py_spy() if args.profile and multiple == args.profile_level else None
    if args.profile and multiple == args.profile_level and spy is None:
        print("  --profile: py-spy is not installed (`.venv/bin/pip install py-spy`)", flush=True)
    if spy is not None:
        for name in args.profile:
            output = ROOT / "var" / "bench" / f"profile-{name}-{multiple}x.txt"
            pid = stack.processes[name].pid
            recordings.append(load_profile.start(spy, name, pid, output, int(CAP_SECONDS)))
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
    published1, handled1 = await broker_counts(client, urls)
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
        published=published1 - published0,
        handled=handled1 - handled0,
        cpu={name: cpu1[name] - cpu0[name] for name in pids},
        memory={name: rss_mib(process.pid) for name, process in stack.processes.items()},
    )
    for recording in recordings:
        print_profile(recording.service, recording.output)
    return level


def print_profile(service: str, output: Path) -> None:
    samples, hottest, platform_frames = load_profile.summarize(output)
    print(f"\n  profile of {service}: {samples:,} samples -> {output.relative_to(ROOT)}", flush=True)
    for title, rows in (("own time", hottest), ("platform code, inclusive", platform_frames)):
        print(f"    {title}:")
        for name, share in rows:
            print(f"      {share:5.1f}%  {name}")


async def run_levels(stack: LocalStack, sink: TimedMailSink, args: argparse.Namespace) -> list[Level]:
    limits = httpx.Limits(max_connections=max(args.concurrency, args.preload_concurrency) + 4)
    async with httpx.AsyncClient(base_url=stack.url("intake"), timeout=60, limits=limits) as client:
        citizens = Citizens(stack.namespace, await topics(client), args.seed)
        stored, levels = 0, []
        for multiple in args.levels:
            target = multiple * args.base
            preloaded, preload_seconds = 0, 0.0
            if target > stored:
                print(
                    f"\n[{multiple}×] pre-loading {target - stored:,} appeals (to {target:,} stored)",
                    flush=True,
                )
                preloaded, preload_seconds = await preload(client, citizens, sink, target - stored, args)
                stored += preloaded
                print(
                    f"  pre-loaded {preloaded:,} in {preload_seconds:,.1f} s "
                    f"({preloaded / max(preload_seconds, 1e-9):,.1f} appeals/s end to end)",
                    flush=True,
                )
            else:
                print(f"\n[{multiple}×] already {stored:,} stored (the samples before count too)", flush=True)
            print(f"[{multiple}×] measuring {args.sample:,} appeals with {stored:,} stored", flush=True)
            level = await measure(client, citizens, sink, stack, multiple, stored, args)
            level.preloaded, level.preload_seconds = preloaded, preload_seconds
            stored += level.accepted
            levels.append(level)
            print(summary_line(level), flush=True)
    return levels


def summary_line(level: Level) -> str:
    lat, e2e = level.batch.latencies, level.e2e_latencies
    return (
        f"  accept {rate(level.accept_rate)}/s p50 {ms(percentile(lat, 50))} ms p99 {ms(percentile(lat, 99))} ms;"
        f" end to end {rate(level.e2e_rate)}/s p50 {ms(percentile(e2e, 50))} ms p99 {ms(percentile(e2e, 99))} ms;"
        f" not ok: {_errors(level)}"
    )


# -- the report -------------------------------------------------------------------------------


def _stored(level: Level) -> str:
    return f"{level.multiple}× ({level.stored:,})"


def _errors(level: Level) -> str:
    missing = level.accepted - level.arrived
    parts = [f"{key}: {value}" for key, value in sorted(level.batch.errors.items())]
    if missing:
        parts.append(f"no e-mail: {missing}")
    return ", ".join(parts) or "0"


def tables(broker: BrokerResult | None, levels: list[Level], args: argparse.Namespace) -> list[Table]:
    out: list[Table] = []
    if broker is not None:
        out.append(
            (
                "Raw RabbitMQ: aio-pika, persistent messages, publisher confirms, one durable classic queue",
                [
                    "messages",
                    "bytes",
                    "in flight",
                    "publish/s (confirmed)",
                    "consume/s (acked)",
                    "client CPU",
                    "broker CPU",
                ],
                [
                    [
                        f"{broker.messages:,}",
                        f"{broker.size:,}",
                        f"{broker.inflight:,}",
                        rate(broker.publish_rate),
                        rate(broker.consume_rate),
                        f"{100 * broker.client_cpu / broker.seconds:.0f}% of a core",
                        "—"
                        if math.isnan(broker.broker_cpu)
                        else f"{100 * broker.broker_cpu / broker.seconds:.0f}% of a core",
                    ]
                ],
            )
        )
    out.append(
        (
            f"Appeals: {args.sample:,} per level, {args.concurrency} concurrent callers; accept = POST to 201, "
            'end to end = 201 to the "registered" e-mail at the SMTP sink',
            [
                "stored before",
                "accept/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "e2e/s",
                "e2e p50 ms",
                "e2e p95 ms",
                "e2e p99 ms",
                "not ok",
            ],
            [
                [
                    _stored(level),
                    rate(level.accept_rate),
                    ms(percentile(level.batch.latencies, 50)),
                    ms(percentile(level.batch.latencies, 95)),
                    ms(percentile(level.batch.latencies, 99)),
                    rate(level.e2e_rate),
                    ms(percentile(level.e2e_latencies, 50)),
                    ms(percentile(level.e2e_latencies, 95)),
                    ms(percentile(level.e2e_latencies, 99)),
                    _errors(level),
                ]
                for level in levels
            ],
        )
    )
    if broker is not None:
        rows = []
        for level in levels:
            per = max(level.accepted, 1)
            published, handled = level.published / per, level.handled / per
            ceiling = (
                min(broker.publish_rate / published, broker.consume_rate / handled)
                if published and handled
                else math.nan
            )
            rows.append(
                [
                    _stored(level),
                    rate(level.e2e_rate),
                    f"{100 * level.e2e_rate / broker.limit:.2f}%",
                    f"{published:.1f}",
                    f"{handled:.1f}",
                    rate(ceiling),
                    "—" if math.isnan(ceiling) else f"{100 * level.e2e_rate / ceiling:.1f}%",
                ]
            )
        out.append(
            (
                f"Against the broker: raw limit {rate(broker.limit)} msg/s (the lower of publish and consume)",
                [
                    "stored before",
                    "e2e appeals/s",
                    "e2e ÷ raw msg/s",
                    "events published per appeal",
                    "deliveries handled per appeal",
                    "broker ceiling, appeals/s",
                    "e2e ÷ ceiling",
                ],
                rows,
            )
        )
    cores = os.cpu_count() or 1
    cpu_names = ordered({name for level in levels for name in level.cpu}, CPU_ORDER)
    memory_names = ordered({name for level in levels for name in level.memory}, MEMORY_ORDER)
    cpu_rows = []
    for level in levels:
        per = max(level.accepted, 1)
        shares = [level.cpu.get(name, math.nan) * 1000 / per for name in cpu_names]
        total = sum(value for value in shares if not math.isnan(value))
        cpu_rows.append(
            [
                _stored(level),
                *("—" if math.isnan(value) else f"{value:,.1f}" for value in shares),
                f"{total:,.1f}",
                rate(cores * 1000 / total) if total else "—",
            ]
        )
    out.append(
        (
            f"CPU milliseconds per appeal while measuring (the {cores} cores are shared by all of these)",
            ["stored before", *cpu_names, "total", f"{cores} cores ÷ total, appeals/s"],
            cpu_rows,
        )
    )
    out.append(
        (
            "Memory: resident set (RSS) MiB after each level, peak in brackets",
            ["stored after", *memory_names],
            [
                [
                    f"{level.multiple}× ({level.stored + level.accepted:,})",
                    *(
                        f"{level.memory[name][0]:,.0f} ({level.memory[name][1]:,.0f})"
                        if name in level.memory
                        else "—"
                        for name in memory_names
                    ),
                ]
                for level in levels
            ],
        )
    )
    preload_rows = [
        [
            f"{level.multiple}×",
            f"{level.preloaded:,}",
            f"{level.preload_seconds:,.1f}",
            rate(level.preloaded / level.preload_seconds),
        ]
        for level in levels
        if level.preloaded and level.preload_seconds
    ]
    if preload_rows:
        out.append(
            (
                "Pre-loading (submitted and processed)",
                ["level", "appeals", "seconds", "appeals/s"],
                preload_rows,
            )
        )
    return out


def drop_databases(mongo_url: str, namespace: str) -> None:
    """The services' databases of this run (`<namespace>_<service>`) go with it."""
    client: MongoClient[dict[str, object]] = MongoClient(mongo_url, serverSelectionTimeoutMS=10_000)
    try:
        for name in SERVICES:
            client.drop_database(f"{namespace}_{name}")
    except PyMongoError as exc:
        print(f"  could not drop the run's databases: {exc}", flush=True)
    finally:
        client.close()


def ordered(names: set[str], preferred: tuple[str, ...]) -> list[str]:
    return [name for name in preferred if name in names] + sorted(names - set(preferred))


def load_average() -> str:
    try:
        with open("/proc/loadavg", encoding="ascii") as loadavg:
            return loadavg.read().split()[0]
    except OSError:
        return "?"


def environment(args: argparse.Namespace, seconds: float, background: str) -> list[str]:
    store = "MongoDB (`MONGO_URL`)" if os.environ.get("MONGO_URL") else "in-memory stand-in (mongomock)"
    levels = ",".join(map(str, args.levels))
    return [
        f"- {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.machine()}, Python {platform.python_version()}, RabbitMQ {rabbit_version()}",
        f"- store: {store}; five service processes in dev mode, JSON logs at INFO; the load generator "
        "and the SMTP sink run in the bench process on the same cores",
        f"- `python -m bench --base {args.base} --sample {args.sample} --levels {levels} "
        f"--concurrency {args.concurrency}`: {seconds / 60:.1f} minutes in all; load average before it "
        f"started {background} (other work on the machine lowers every rate)",
    ]


def rabbit_version() -> str:
    ctl = shutil.which("rabbitmqctl")
    if not ctl:
        return "(version unknown)"
    try:
        done = subprocess.run([ctl, "version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "(version unknown)"
    return done.stdout.strip() or "(version unknown)"


def write_markdown(path: Path, body: str) -> None:
    """Replace what is between the bench markers (the rest of the page is written by people)."""
    block = f"{BEGIN}\n{body.rstrip()}\n{END}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n"
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        text = head + block + rest.partition(END)[2]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


# -- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    configure_logging("bench", "WARNING")
    rabbit_url = os.environ.get("RABBIT_URL", DEFAULT_URL)
    ensure_rabbitmq(rabbit_url)
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    started, background = time.monotonic(), load_average()
    print(f"bench: namespace {namespace}, {os.cpu_count()} cores, load average {background}", flush=True)

    broker: BrokerResult | None = None
    if not args.skip_raw:
        print(
            f"\n[raw broker] {args.raw_messages:,} persistent messages, {args.raw_inflight} in flight",
            flush=True,
        )
        broker = measure_raw(rabbit_url, namespace, args)
        if broker is not None:
            print(
                f"  publish {rate(broker.publish_rate)} msg/s (confirmed), "
                f"consume {rate(broker.consume_rate)} msg/s (acked)",
                flush=True,
            )

    workdir = ROOT / "var" / "bench" / "stack"
    shutil.rmtree(workdir, ignore_errors=True)
    sink = TimedMailSink("127.0.0.1", free_port())
    stack = LocalStack.ephemeral(namespace, workdir, smtp=(sink.host, sink.port), frontends=())
    # Belt and braces: every appeal has its own citizen anyway.
    stack.extra_env.update({"RABBIT_URL": rabbit_url, "INTAKE_SUBMIT_RATE_PER_MINUTE": "1000000"})
    levels: list[Level] = []
    try:
        sink.start()
        stack_started = time.monotonic()
        start_stack(stack, rabbit_url)
        print(f"  ready in {time.monotonic() - stack_started:.1f} s (logs: {workdir.relative_to(ROOT)}/log)")
        levels = asyncio.run(run_levels(stack, sink, args))
    finally:
        print("\n[stack] stopping...", flush=True)
        stack.stop()
        sink.stop()
        try:
            asyncio.run(delete_namespace(rabbit_url, namespace, SERVICES))
        except Exception as exc:  # the broker may be away; the queues are empty either way
            print(f"  could not delete the namespace's queues and exchanges: {exc}", flush=True)
        if mongo_url := os.environ.get("MONGO_URL"):
            drop_databases(mongo_url, namespace)

    seconds = time.monotonic() - started
    sections = tables(broker, levels, args)
    print()
    for title, header, rows in sections:
        print(f"{title}\n{text_table(header, rows)}\n")
    print(f"total time {seconds / 60:.1f} minutes", flush=True)
    if not os.environ.get("MONGO_URL"):
        print(
            "The in-memory store (mongomock) scans every document on every query, indexes or not: the\n"
            "growth rows measure that. On MongoDB: MONGO_URL=mongodb://127.0.0.1:27017 make bench"
        )
    if not args.no_write:
        lines = [*environment(args, seconds, background), ""]
        for title, header, rows in sections:
            lines += [f"**{title}**", "", markdown_table(header, rows), ""]
        write_markdown(args.output, "\n".join(lines))
        print(f"written to {args.output}")
