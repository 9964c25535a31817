"""`make run`: the whole platform on this machine, in the foreground, until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path

from devstack.demo import seed_demo
from devstack.demo_poll import seed_demo_poll
from devstack.stack import SERVICES, LocalStack


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Run all six services with local infrastructure and demo data"
    )
    parser.add_argument("--namespace", default=os.environ.get("APPEALS_NAMESPACE", "appeals-dev"))
    parser.add_argument("--workdir", type=Path, default=Path("var"))
    parser.add_argument(
        "--demo-appeals", type=int, default=3, help="demo appeals to submit at start (0: none)"
    )
    args = parser.parse_args()

    workdir = args.workdir.resolve()
    # The photos kept on disk next to the store, so both survive a restart (devstack/s3.py).
    stack = LocalStack(args.namespace, workdir, s3_dir=workdir / "s3")
    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        print(
            "Starting RabbitMQ check, the local store, local S3 (s3rver), SMTP sink, the six services and the website...",
            flush=True,
        )
        stack.start()
        if args.demo_appeals:
            seed_demo(stack.url("intake"), args.demo_appeals)
            seed_demo_poll(stack.url("intake"))
        print_urls(stack, args.workdir)
        stopping.wait()
    finally:
        print("\nStopping...", flush=True)
        stack.stop()
        print("Stopped.", flush=True)


def print_urls(stack: LocalStack, workdir: Path) -> None:
    host, port = stack.smtp_address
    lines = [
        "",
        f"The platform is running (namespace {stack.namespace}). Ctrl-C stops all of it.",
        f"  Web (open this):        {stack.url('web')}   residents, operators, the public map",
        f"  Gateway (public API):   {stack.url('intake')}   docs: {stack.url('intake')}/docs",
        *(f"  {name:<22}  {stack.url(name)}/ready" for name in SERVICES if name != "intake"),
        f"  Store (MongoDB wire):   {stack.mongo_url}"
        + (f"   data in {workdir / 'store'}/ (kept across restarts)" if stack.store else ""),
        f"  S3:                     {stack.s3_endpoint}"
        + (
            f"   photos in {workdir / 's3'}/ (kept across restarts)"
            if "s3" in stack.processes and stack.s3_dir
            else ""
        ),
        f"  SMTP sink:              {host}:{port}   mails saved in {workdir / 'mail'}/*.eml",
        f"  Logs:                   {workdir / 'log'}/<service>.log",
        "  RabbitMQ management:    http://127.0.0.1:15672 (if the management plugin is enabled)",
        "",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
