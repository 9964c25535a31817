"""Make sure a RabbitMQ broker answers; start the local server if it is installed but stopped."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from urllib.parse import urlparse

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/"


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def ensure_rabbitmq(url: str | None = None, timeout: float = 90.0) -> None:
    parsed = urlparse(url or os.environ.get("RABBIT_URL", DEFAULT_URL))
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 5672
    if reachable(host, port):
        return
    if host not in ("127.0.0.1", "localhost", "::1") or not shutil.which("rabbitmq-server"):
        sys.exit(f"RabbitMQ is not reachable at {host}:{port} and cannot be started here")
    # The node may be running with its app stopped (`rabbitmqctl stop_app`): start the app;
    # otherwise start the whole server.
    print("RabbitMQ is not answering: starting it...", flush=True)
    app = subprocess.run(["rabbitmqctl", "start_app"], check=False, capture_output=True, timeout=60)
    if app.returncode != 0:
        subprocess.run(["rabbitmq-server", "-detached"], check=False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reachable(host, port):
            subprocess.run(
                ["rabbitmqctl", "await_startup"], check=False, capture_output=True, timeout=timeout
            )
            print("RabbitMQ is up.", flush=True)
            return
        time.sleep(0.5)
    sys.exit(f"RabbitMQ did not come up within {timeout:.0f}s")


if __name__ == "__main__":
    ensure_rabbitmq()
