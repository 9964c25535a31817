"""Speed of the whole platform on this machine: `make bench` (or `python -m bench`).

    .venv/bin/python -m bench [--base 15] [--sample 60] [--levels 1,10,100] [--concurrency 16]
        [--raw-messages 20000] [--raw-inflight 256] [--profile intake,notify] [--no-write]

1. The broker-bound limit: RabbitMQ's raw confirmed publish and acked consume rates (aio-pika,
   persistent messages, a durable queue of its own, deleted afterwards), before anything else runs.
2. The six services as real processes (devstack's LocalStack, a namespace of their own, moto S3,
   the local store process unless MONGO_URL is set), with an SMTP sink in this process that notes
   when each appeal's "registered" e-mail arrives.
3. For each level (1×, 10×, 100× `--base` appeals already stored, pre-loaded through the gateway
   and drained first): `--sample` appeals POSTed by `--concurrency` callers, each appeal from its
   own citizen: accept throughput and latency (request to 201), end-to-end throughput and latency
   (201 to the "registered" e-mail); per appeal, from the services' own /metrics: events
   published, deliveries handled and store round trips (commands), per service; CPU per appeal of
   every process (the six services and their sum; the store process, RabbitMQ, moto S3 and this
   bench apart) and resident memory; the broker ceiling and the platform ceiling (the cores ÷ the
   services' CPU per appeal), and how far each run is from them.
4. Progress lines while it runs; the tables (bench/load/tables.py) are printed, levels side by
   side, and written to docs/performance.md (between its bench markers).

Store: MongoDB when MONGO_URL is set (each service its own database, named after the run's
namespace, dropped afterwards), else the local store process (devstack/docstore.py: mongoeco over
SQLite), which LocalStack starts and stops; the report says which ran.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from bench.load.broker import BrokerResult, raw_broker
from bench.load.latency import measure_latency
from bench.load.measure import ROOT, Level, measure, preload, summary_line
from bench.load.report import markdown_table, rate, text_table
from bench.load.system import reference_ms
from bench.load.tables import tables
from devstack.appeals import Citizens, RegisteredSink, topics
from devstack.broker import delete_namespace
from devstack.databases import drop_databases
from devstack.mailsink import free_port
from devstack.rabbit import DEFAULT_URL, ensure_rabbitmq
from devstack.stack import SERVICES, LocalStack
from libs.common.logging import configure_logging

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", type=int, default=15, help="appeals stored at 1× (levels multiply it)")
    parser.add_argument("--levels", default="1,10,100", help="multiples of --base stored before measuring")
    parser.add_argument("--sample", type=int, default=60, help="appeals submitted per measurement")
    parser.add_argument("--concurrency", type=int, default=16, help="callers submitting at once")
    parser.add_argument("--preload-concurrency", type=int, default=16, help="callers while pre-loading")
    parser.add_argument(
        "--latency-callers", type=int, default=32, help="callers at once for the accept latency target"
    )
    parser.add_argument(
        "--latency-sample",
        type=int,
        default=40,
        help="appeals sent at half the end-to-end rate for the end-to-end latency target (0: skip both)",
    )
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
    if min(args.base, args.sample, args.concurrency, args.preload_concurrency, args.latency_callers) < 1:
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
        print(
            f"\n[stack] starting the store, moto S3 and the six services (attempt {attempt})...", flush=True
        )
        try:
            stack.start()
            return
        except (RuntimeError, TimeoutError) as exc:  # the stack stopped what it had started
            if attempt == attempts:
                raise
            print(f"  the stack did not start: {str(exc).splitlines()[0]}; trying again", flush=True)
            time.sleep(5)


async def run_levels(stack: LocalStack, sink: RegisteredSink, args: argparse.Namespace) -> list[Level]:
    callers = max(args.concurrency, args.preload_concurrency, args.latency_callers)
    limits = httpx.Limits(max_connections=2 * callers + 4)  # room for the paced appeals in flight
    async with httpx.AsyncClient(base_url=stack.url("intake"), timeout=60, limits=limits) as client:
        # Not the demo's minute-long SLA topics (dev.*): their deadlines would fall due while the
        # bench runs and add escalations and warnings that real catalogues never cause.
        offered = [code for code in await topics(client) if not code.startswith("dev.")]
        citizens = Citizens(f"bench-{stack.namespace}", offered, args.seed)
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
            print(summary_line(level), flush=True)
            level.latency = await measure_latency(client, citizens, sink, level.e2e_rate, args)
            stored += level.latency.accepted if level.latency else 0
            levels.append(level)
    return levels


def load_average() -> str:
    try:
        with open("/proc/loadavg", encoding="ascii") as loadavg:
            return loadavg.read().split()[0]
    except OSError:
        return "?"


def describe_store(stack: LocalStack) -> str:
    """Which store ran, with its server version (`buildInfo`), e.g. "MongoDB 8.0.4 (`MONGO_URL`)"."""
    client: MongoClient[dict[str, object]] = MongoClient(stack.mongo_url, serverSelectionTimeoutMS=5000)
    try:
        version = str(client.admin.command("buildInfo").get("version", "?"))
    except PyMongoError:
        version = "?"
    finally:
        client.close()
    if stack.store is not None:
        return (
            f"the local store process (devstack/docstore.py: mongoeco over SQLite; reports version {version})"
        )
    return f"MongoDB {version} (`MONGO_URL`)"


def environment(
    args: argparse.Namespace, seconds: float, background: str, store: str, reference: tuple[float, float]
) -> list[str]:
    levels = ",".join(map(str, args.levels))
    return [
        f"- {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.machine()}, Python {platform.python_version()}, RabbitMQ {rabbit_version()}",
        f"- store: {store}; {len(SERVICES)} service processes in dev mode, JSON logs at INFO; the load "
        "generator and the SMTP sink run in the bench process on the same cores",
        f"- `python -m bench --base {args.base} --sample {args.sample} --levels {levels} "
        f"--concurrency {args.concurrency}`: {seconds / 60:.1f} minutes in all; load average before it "
        f"started {background} (other work on the machine lowers every rate)",
        f"- CPU reference (bench/load/system.py `reference_ms`, a fixed pure-Python workload): "
        f"{reference[0]:,.0f} ms before the run, {reference[1]:,.0f} ms after; this VM's speed moves "
        "by half and more within hours, and every CPU figure below with it: compare runs by it",
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
    started, background, reference = time.monotonic(), load_average(), reference_ms()
    print(
        f"bench: namespace {namespace}, {os.cpu_count()} cores, load average {background}, "
        f"CPU reference {reference:,.0f} ms",
        flush=True,
    )

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
    sink = RegisteredSink("127.0.0.1", free_port())
    sink.start()  # before the stack's ports are chosen, so that none of them can be the sink's
    stack = LocalStack.ephemeral(namespace, workdir, smtp=(sink.host, sink.port), frontends=())
    # Belt and braces: every appeal has its own citizen anyway.
    stack.extra_env.update({"RABBIT_URL": rabbit_url, "INTAKE_SUBMIT_RATE_PER_MINUTE": "1000000"})
    levels: list[Level] = []
    store = "(the stack did not start)"
    try:
        stack_started = time.monotonic()
        start_stack(stack, rabbit_url)
        print(f"  ready in {time.monotonic() - stack_started:.1f} s (logs: {workdir.relative_to(ROOT)}/log)")
        store = describe_store(stack)
        print(f"  store: {store}", flush=True)
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
            try:
                asyncio.run(drop_databases(mongo_url, namespace))
            except PyMongoError as exc:
                print(f"  could not drop the run's databases: {exc}", flush=True)

    seconds = time.monotonic() - started
    sections = tables(broker, levels, args.sample, args.concurrency)
    print()
    for title, header, rows in sections:
        print(f"{title}\n{text_table(header, rows)}\n")
    after = reference_ms()
    print(
        f"store: {store}; total time {seconds / 60:.1f} minutes; CPU reference after {after:,.0f} ms",
        flush=True,
    )
    if not args.no_write:
        lines = [*environment(args, seconds, background, store, (reference, after)), ""]
        for title, header, rows in sections:
            lines += [f"**{title}**", "", markdown_table(header, rows), ""]
        write_markdown(args.output, "\n".join(lines))
        print(f"written to {args.output}")
