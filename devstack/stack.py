"""Start the six services as real OS processes, plus the local store process (mongoeco over
SQLite), local S3 (moto in memory, or s3rver on disk for `make run`: devstack/s3.py) and SMTP
(aiosmtpd) when none is configured. Used by `make run`, the end-to-end tests, the chaos harness
and the benchmarks."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devstack.docstore import DocStore, terminate
from devstack.rabbit import ensure_rabbitmq
from devstack.s3 import LocalS3

SERVICES = ("routing", "deadlines", "notify", "media", "polls", "intake")
FRONTENDS = ("web",)  # started after the gateway, stopped first; they call only its public API
DEFAULT_PORTS = {
    "intake": 8000,
    "routing": 8001,
    "deadlines": 8002,
    "notify": 8003,
    "media": 8004,
    "web": 8080,
    "polls": 8005,
}


def free_port() -> int:
    """A loopback port nobody listens on now (`free_ports` for several that must differ)."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports free now: every socket stays bound until all are chosen (one
    at a time, the kernel may hand out the same port twice, and two services then collide)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready within {timeout:.0f}s")


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ready", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class LocalStack:
    namespace: str
    workdir: Path
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    s3_port: int = 9000
    # Where the local S3 server keeps objects (s3rver, kept across restarts: `make run` passes
    # var/s3); None: moto, in memory, what ephemeral stacks use.
    s3_dir: Path | None = None
    smtp: tuple[str, int] | None = None  # an SMTP server already running (tests pass theirs)
    smtp_port: int = 1025
    store_port: int = 27017
    extra_env: dict[str, str] = field(default_factory=dict)
    internal_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # Processes per service (default 1): replicas compete on the service's queue. Replica 1 is
    # named like the service and listens on its port; `routing-2`, `routing-3`... get free ports.
    replicas: dict[str, int] = field(default_factory=dict)
    replica_ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # The local store process, started unless MONGO_URL is given (environment or extra_env).
    store: DocStore | None = None
    # The websites started after the gateway: harnesses that only drive the API leave them out.
    frontends: tuple[str, ...] = FRONTENDS

    @classmethod
    def ephemeral(cls, namespace: str, workdir: Path, **kwargs: object) -> LocalStack:
        """Free ports everywhere, so parallel runs never collide."""
        names = (*SERVICES, *FRONTENDS)
        *ports, s3_port, smtp_port, store_port = free_ports(len(names) + 3)
        return cls(
            namespace,
            workdir,
            ports=dict(zip(names, ports, strict=True)),
            s3_port=s3_port,
            smtp_port=smtp_port,
            store_port=store_port,
            **kwargs,  # type: ignore[arg-type]
        )

    def url(self, service: str) -> str:
        """A service's URL (its first replica), or one replica's by process name (`routing-2`)."""
        port = self.ports[service] if service in self.ports else self.replica_ports[service]
        return f"http://127.0.0.1:{port}"

    def instances(self, service: str) -> list[str]:
        """The process names of a service's replicas started so far: `routing`, `routing-2`..."""

        def replica(process: str) -> int | None:
            if process == service:
                return 1
            number = process.removeprefix(f"{service}-")
            return int(number) if number != process and number.isdigit() else None

        numbered = [(n, p) for p in self.processes if (n := replica(p)) is not None]
        return [process for _, process in sorted(numbered)]

    @property
    def local_s3(self) -> LocalS3:
        """The S3 server this stack starts unless MEDIA_S3_ENDPOINT names one."""
        return LocalS3(self.s3_port, self.s3_dir)

    @property
    def s3_endpoint(self) -> str:
        return os.environ.get("MEDIA_S3_ENDPOINT") or self.local_s3.endpoint

    @property
    def mongo_url(self) -> str:
        """The store every service of this stack uses: MONGO_URL if given, else the local store."""
        given = self.extra_env.get("MONGO_URL") or os.environ.get("MONGO_URL")
        return given or f"mongodb://127.0.0.1:{self.store_port}/"

    @property
    def smtp_address(self) -> tuple[str, int]:
        if self.smtp:
            return self.smtp
        return (
            os.environ.get("NOTIFY_SMTP_HOST", "127.0.0.1"),
            int(os.environ.get("NOTIFY_SMTP_PORT", self.smtp_port)),
        )

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        logs = self.workdir / "log"
        logs.mkdir(parents=True, exist_ok=True)
        with (logs / f"{name}.log").open("ab") as log_file:
            self.processes[name] = subprocess.Popen(
                argv,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,  # Ctrl-C reaches us only; we stop the children in order
            )

    def service_env(self) -> dict[str, str]:
        smtp_host, smtp_port = self.smtp_address
        access_key, secret_key = self.local_s3.keys
        env = {
            "APPEALS_ENV": "dev",
            "APPEALS_NAMESPACE": self.namespace,
            "APPEALS_INTERNAL_TOKEN": self.internal_token,
            "APPEALS_LOG_JSON": "true",
            "MONGO_URL": self.mongo_url,
            "MEDIA_S3_ENDPOINT": self.s3_endpoint,
            "MEDIA_S3_ACCESS_KEY": os.environ.get("MEDIA_S3_ACCESS_KEY", access_key),
            "MEDIA_S3_SECRET_KEY": os.environ.get("MEDIA_S3_SECRET_KEY", secret_key),
            "NOTIFY_SMTP_HOST": smtp_host,
            "NOTIFY_SMTP_PORT": str(smtp_port),
            # The local webhook sink and test push services listen on loopback (dev only).
            "NOTIFY_ALLOW_LOOPBACK_TARGETS": "true",
            **{f"INTAKE_{name.upper()}_URL": self.url(name) for name in SERVICES if name != "intake"},
            "WEB_GATEWAY_URL": self.url("intake"),
            "WEB_PUBLIC_URL": self.url("web"),
            "NOTIFY_APP_URL": self.url("web"),  # e-mails and push link to the appeal's (poll's) page
            **{f"{name.upper()}_HTTP_PORT": str(port) for name, port in self.ports.items()},
        }
        return {**env, **self.extra_env}

    def start_infrastructure(self) -> None:
        ensure_rabbitmq()
        if not (self.extra_env.get("MONGO_URL") or os.environ.get("MONGO_URL")):
            logs = self.workdir / "log"
            logs.mkdir(parents=True, exist_ok=True)
            self.store = DocStore(
                self.workdir / "store" / "store.sqlite", self.store_port, logs / "store.log"
            )
            self.store.start()
        if "MEDIA_S3_ENDPOINT" not in os.environ:
            self.start_s3()
        if self.smtp is None and "NOTIFY_SMTP_HOST" not in os.environ:
            mail_dir = self.workdir / "mail"
            args = ["-m", "devstack.mailsink", "--host", "127.0.0.1", "--port", str(self.smtp_port)]
            self._spawn("smtp", [sys.executable, *args, "--dir", str(mail_dir)])
            wait_until(lambda: _port_open(self.smtp_port), 30, "local SMTP sink")

    def start_s3(self, timeout: float = 30) -> None:
        """Start the local S3 server (`local_s3`) as process `s3`; returns once it listens.

        Raises RuntimeError if it exits first (e.g. its port is taken), TimeoutError if it does
        not listen within `timeout` seconds, FileNotFoundError if s3rver is not installed.
        """
        s3 = self.local_s3
        if _port_open(s3.port):  # else the wait below would take the other server for ours
            raise RuntimeError(f"127.0.0.1:{s3.port} is taken: local S3 ({s3.name}) cannot start")
        self._spawn("s3", s3.argv())

        def listening() -> bool:
            if (code := self.processes["s3"].poll()) is not None:
                raise RuntimeError(f"local S3 ({s3.name}) exited with {code}: see log/s3.log")
            return _port_open(s3.port)

        wait_until(listening, timeout, f"local S3 ({s3.name})")

    def start_service(self, name: str, replica: int = 1) -> str:
        """Start one process of a service; returns its process name (`routing`, `routing-2`...)."""
        env = self.service_env()
        process = name if replica == 1 else f"{name}-{replica}"
        if replica > 1:  # the same queue, store and settings; only its own HTTP port
            env[f"{name.upper()}_HTTP_PORT"] = str(self.replica_ports.setdefault(process, free_port()))
        self._spawn(process, [sys.executable, "-m", f"services.{name}"], env)
        return process

    def wait_ready(self, name: str, timeout: float = 60) -> None:
        def check() -> bool:
            process = self.processes[name]
            if process.poll() is not None:
                log = self.workdir / "log" / f"{name}.log"
                tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")
            return _ready(self.url(name))

        wait_until(check, timeout, name)

    def start(self) -> None:
        """Infrastructure, the services (with their replicas), then the websites; all or nothing:
        on any failure what had started is stopped and the error raised again (RuntimeError when
        a process exits, TimeoutError when one is not ready in time)."""
        try:
            self.start_infrastructure()
            started = [
                self.start_service(name, replica)
                for name in SERVICES
                for replica in range(1, self.replicas.get(name, 1) + 1)
            ]
            for process in started:
                self.wait_ready(process)
            for name in self.frontends:
                self.wait_ready(self.start_service(name))
        except BaseException:
            self.stop()
            raise

    def stop_process(self, name: str, sig: int = signal.SIGTERM, timeout: float = 25) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            terminate(process, sig, timeout)

    def stop(self) -> None:
        # Gateway first (no new work), infrastructure last (in-flight work can finish).
        workers = [process for name in SERVICES[:-1] for process in self.instances(name)]
        for name in (*self.frontends, "intake", *workers, "smtp", "s3"):
            self.stop_process(name)
        if self.store is not None:
            self.store.stop()
