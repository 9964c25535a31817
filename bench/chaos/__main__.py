"""`make chaos`: prove that nothing is lost or doubled under faults and bad input.

    .venv/bin/python -m bench.chaos [--faults broker,smtp,kill:routing,...] [--before 8] [--after 8]
                                    [--rate 5] [--broker-outage 5] [--smtp-outage 8] [--timeout 1500]

Starts its own stack (six services as OS processes, moto S3, an in-process SMTP sink it can
stop) under a fresh namespace on the shared RabbitMQ, streams appeals through the gateway and,
mid-stream, in turn: restarts RabbitMQ, stops the SMTP server for a while, kills -9 every service
(intake included: the client retries with the same Idempotency-Key) and the store process itself,
and publishes poison messages into every queue. Then it checks every accepted appeal and prints
one row per fault. Store: MongoDB when MONGO_URL is set, else the run's own local store process
(durable; nothing is excused). Exit status 1 when anything was lost, duplicated or stuck.
See docs/reliability.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from devstack.chaos.plan import ALL_FAULTS, Plan
from devstack.chaos.run import ChaosRun
from devstack.rabbit import DEFAULT_URL, ensure_rabbitmq


def parse(argv: list[str] | None) -> tuple[Plan, float]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos", description="Chaos run: nothing lost or doubled under faults."
    )
    parser.add_argument("--faults", default=",".join(ALL_FAULTS), help=f"any of: {', '.join(ALL_FAULTS)}")
    parser.add_argument("--before", type=int, default=8, help="appeals accepted before each fault")
    parser.add_argument("--after", type=int, default=8, help="appeals launched after each fault is lifted")
    parser.add_argument("--rate", type=float, default=5.0, help="appeals per second")
    parser.add_argument("--broker-outage", type=float, default=5.0, help="seconds RabbitMQ stays stopped")
    parser.add_argument("--smtp-outage", type=float, default=8.0, help="seconds the SMTP server stays down")
    parser.add_argument("--timeout", type=float, default=1500.0, help="the whole run, seconds")
    args = parser.parse_args(argv)
    faults = tuple(fault.strip() for fault in args.faults.split(",") if fault.strip())
    if unknown := [fault for fault in faults if fault not in ALL_FAULTS]:
        parser.error(f"unknown faults: {', '.join(unknown)}")
    plan = Plan(
        before=args.before,
        after=args.after,
        rate=args.rate,
        broker_outage=args.broker_outage,
        smtp_outage=args.smtp_outage,
        faults=faults,
    )
    return plan, args.timeout


async def chaos(plan: Plan, workdir: Path, rabbit_url: str, mongo_url: str | None, timeout: float) -> bool:
    async with ChaosRun(plan, workdir, rabbit_url, mongo_url) as run:
        try:
            await asyncio.wait_for(run.run(), timeout=timeout)
        except TimeoutError:
            run.log(f"the run did not finish within {timeout:.0f}s")
            print(run.report())
            return False
        print()
        print(f"Stores: {run.store_kind}; logs: {workdir / 'log'}")
        print(run.report())
        return run.ok


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks: the broker is started again


def main(argv: list[str] | None = None) -> int:
    plan, timeout = parse(argv)
    signal.signal(signal.SIGTERM, _terminate)
    rabbit_url = os.environ.get("RABBIT_URL", DEFAULT_URL)
    ensure_rabbitmq(rabbit_url)
    workdir = Path("var/chaos") / time.strftime("run-%Y%m%d-%H%M%S")
    ok = asyncio.run(chaos(plan, workdir.resolve(), rabbit_url, os.environ.get("MONGO_URL"), timeout))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
