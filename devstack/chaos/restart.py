"""What the chaos run does to the broker: restart the shared RabbitMQ, never leaving it stopped.

- The shared RabbitMQ is restarted with `rabbitmqctl stop_app` / `start_app`; starting it again is
  guaranteed (a `finally`, plus an `atexit` hook for the worst case), and waited for until it
  accepts AMQP connections again.
- Looking into queues (depths, dead letters, raw publishes) is devstack/broker.py's.
"""

from __future__ import annotations

import asyncio
import atexit
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlparse

import aio_pika

CTL_TIMEOUT = 90.0
BROKER_BACK_TIMEOUT = 120.0
LOCK_PATH = Path(tempfile.gettempdir()) / "appeals-chaos-broker.lock"  # one restart at a time
LOCK_WAIT = 180.0


# -- the broker's life ------------------------------------------------------------------------------


def broker_restartable(url: str) -> str | None:
    """None when this run may restart the broker; otherwise why it may not.

    Only the machine's own server (loopback, port 5672) is restarted with rabbitmqctl: a broker
    elsewhere, or in a container on another port, is not this machine's to restart."""
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 5672
    if host not in ("127.0.0.1", "localhost", "::1") or port != 5672:
        return f"the broker at {host}:{port} is not the local server rabbitmqctl controls"
    if shutil.which("rabbitmqctl") is None:
        return "rabbitmqctl is not installed"
    return None


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc): rabbitmqctl runs its Erlang VM under `su`."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _ctl(*args: str, timeout: float = CTL_TIMEOUT) -> tuple[int, str]:
    """rabbitmqctl, bounded: on timeout its whole process tree is killed (its Erlang VM would
    otherwise outlive the script and go on acting on the node). Returns (exit status, stderr)."""
    process = subprocess.Popen(
        ["rabbitmqctl", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for pid in [*_descendants(process.pid), process.pid]:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.communicate()
        return -1, f"rabbitmqctl {' '.join(args)} did not finish within {timeout:.0f}s"
    return process.returncode, err.strip()


async def _amqp_answers(url: str) -> bool:
    try:
        connection = await aio_pika.connect(url, timeout=3)
    except Exception:
        return False
    await connection.close()
    return True


def wait_broker(url: str, timeout: float = BROKER_BACK_TIMEOUT) -> float:
    """Block until the broker accepts an AMQP connection; returns the seconds it took.

    Safe to call with an event loop running in this thread (the probe runs on its own thread)."""
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=1) as probe:
        while time.monotonic() - started < timeout:
            if probe.submit(asyncio.run, _amqp_answers(url)).result(timeout=30):
                return time.monotonic() - started
            time.sleep(0.5)
    raise TimeoutError(f"RabbitMQ did not answer within {timeout:.0f}s")


class BrokerBusy(RuntimeError):
    """Another run on this machine is restarting the broker right now."""


class BrokerRestart:
    """Stops and starts the local RabbitMQ application; never leaves it stopped.

    - One restart at a time on the machine: a lock file (`flock`, released by the kernel if the
      holder dies) keeps two chaos runs from stopping and starting the node at once, which can
      leave `start_app` hanging;
    - the start is in a `finally`; SIGTERM/SIGHUP while the broker is down start it before the
      process goes (pytest and the default handlers would skip the `finally`); `atexit` covers
      the rest short of SIGKILL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stopped = False
        atexit.register(self._last_resort)

    def stop(self) -> None:
        self.stopped = True  # before the call: a timeout midway must still start it again
        status, error = _ctl("stop_app")
        if status != 0:
            raise RuntimeError(f"rabbitmqctl stop_app failed: {error}")

    def start(self) -> float:
        """Start it and wait until it answers; returns the seconds until it did."""
        started = time.monotonic()
        status, error = _ctl("start_app")
        if status != 0:
            status, error = _ctl("start_app")  # once more: a first call may time out while booting
        if status != 0:
            raise RuntimeError(f"rabbitmqctl start_app failed: {error}")
        _ctl("await_startup")
        wait_broker(self.url)
        self.stopped = False
        return time.monotonic() - started

    def _last_resort(self) -> None:
        if self.stopped:
            with suppress(Exception):
                _ctl("start_app")
                _ctl("await_startup")
                self.stopped = False

    @contextmanager
    def _signals_start_it(self) -> Iterator[None]:
        def handler(signum: int, frame: FrameType | None) -> None:
            self._last_resort()
            raise SystemExit(128 + signum)

        previous: dict[signal.Signals, Any] = {}
        try:
            for sig in (signal.SIGTERM, signal.SIGHUP):
                previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread: atexit and the finally only
            pass
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    @asynccontextmanager
    async def _machine_lock(self, wait: float = LOCK_WAIT) -> AsyncIterator[None]:
        fd = os.open(LOCK_PATH, os.O_CREAT | os.O_RDWR, 0o666)
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise BrokerBusy(f"another run held {LOCK_PATH} for {wait:.0f}s") from None
                    await asyncio.sleep(1)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @asynccontextmanager
    async def down(self) -> AsyncIterator[None]:
        """The broker is stopped inside the block and answering again after it, whatever happens."""
        async with self._machine_lock():
            with self._signals_start_it():
                try:
                    await asyncio.to_thread(self.stop)
                    yield
                finally:
                    if self.stopped:
                        try:
                            await asyncio.to_thread(self.start)
                        finally:
                            if self.stopped:  # cancelled or failed midway: block until it is back
                                self.start()
