"""The local document store process: its environment, and starting, killing and restarting it.

No MongoDB server can be installed on the development and CI machines, so `make run`, the tests,
the chaos harness and the benchmarks start mongoeco's MongoDB wire-protocol server over SQLite
(`devstack/docstore_server.py`) as a process of its own, and every service reaches it through
PyMongo's `AsyncMongoClient`, exactly as production reaches MongoDB (`MONGO_URL`). mongoeco needs
Python >= 3.13, so it gets its own virtualenv, `.venv-store`, made here from the pyenv or system
interpreter with pinned packages (`devstack/docstore-requirements.txt`).

`python -m devstack.docstore install` makes the environment (the Makefile calls it);
`python -m devstack.docstore serve --path var/store/store.sqlite --port 27017` runs a store.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-store"
REQUIREMENTS = Path(__file__).with_name("docstore-requirements.txt")
SERVER = Path(__file__).with_name("docstore_server.py")
MIN_PYTHON = (3, 13)


def terminate(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
    """Send `sig` and wait up to `timeout` seconds; then SIGKILL. Nothing if it already exited."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


class StoreUnavailable(RuntimeError):
    """The store's environment cannot be made, or the process did not start."""


def _version(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    return int(out[0]), int(out[1])


def find_python() -> str:
    """An interpreter >= 3.13: `APPEALS_STORE_PYTHON`, `python3.13` on PATH, or pyenv's.

    Raises StoreUnavailable naming what was looked for.
    """
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates = [
        os.environ.get("APPEALS_STORE_PYTHON"),
        shutil.which("python3.14"),
        shutil.which("python3.13"),
        *sorted(glob.glob(f"{pyenv_root}/versions/3.1[3-9]*/bin/python3"), reverse=True),
    ]
    for python in filter(None, candidates):
        version = _version(python)
        if version and version >= MIN_PYTHON:
            return python
    raise StoreUnavailable(
        "the local store (mongoeco) needs Python >= 3.13: set APPEALS_STORE_PYTHON, install "
        "python3.13, or `pyenv install 3.13`; or set MONGO_URL to a MongoDB server"
    )


def _stamp() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes() + SERVER.read_bytes()).hexdigest()


def ensure_environment(venv: Path = VENV) -> Path:
    """Create or update `.venv-store` from the pinned requirements; returns its interpreter.

    Idempotent: a stamp of the requirements skips the work when nothing changed.
    """
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    if python.exists() and stamp.exists() and stamp.read_text() == _stamp():
        return python
    if not python.exists():
        base = find_python()
        print(f"Creating the local store's environment {venv} with {base}...", flush=True)
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
    print("Installing the local store (mongoeco, pinned) into .venv-store...", flush=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
        check=True,
    )
    stamp.write_text(_stamp())
    print("The local store is installed.", flush=True)
    return python


@dataclass
class DocStore:
    """One store process on loopback: `url` is its `MONGO_URL`.

    The data lives in `path` (one SQLite file for every database), so `kill()` then `start()`
    finds everything that was committed.
    """

    path: Path
    port: int
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 60.0) -> None:
        """Start the process and wait until it accepts connections; raises StoreUnavailable."""
        python = ensure_environment()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path or self.path.with_suffix(".log")
        with log_path.open("ab") as log:
            offset = log.tell()  # the log is appended to across restarts: read only this run's
            self.process = subprocess.Popen(
                [str(python), str(SERVER), "--path", str(self.path), "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in `make run` reaches the supervisor only
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with log_path.open("rb") as log:
                log.seek(offset)
                printed = log.read().decode(errors="replace")
            if self.process.poll() is not None:
                raise StoreUnavailable(f"the store exited with {self.process.returncode}:\n{printed[-2000:]}")
            if f"ready 127.0.0.1:{self.port}" in printed:
                return
            time.sleep(0.1)
        self.stop()
        raise StoreUnavailable(f"the store did not listen on 127.0.0.1:{self.port} within {timeout:.0f}s")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        process, self.process = self.process, None
        if process is not None:
            terminate(process, sig, timeout)

    def kill(self) -> None:
        """kill -9: what a crash of the store's machine process looks like to the services."""
        self.stop(signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description="The local document store (mongoeco over SQLite)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="make .venv-store")
    serve = sub.add_parser("serve", help="run a store in the foreground")
    serve.add_argument("--path", type=Path, default=ROOT / "var" / "store" / "store.sqlite")
    serve.add_argument("--port", type=int, default=27017)
    args = parser.parse_args()
    try:
        python = ensure_environment()
    except (StoreUnavailable, subprocess.CalledProcessError) as exc:
        sys.exit(f"cannot install the local store: {exc}")
    if args.command == "serve":
        argv = [str(python), str(SERVER), "--path", str(args.path), "--port", str(args.port)]
        os.execv(argv[0], argv)  # noqa: S606 - our own interpreter and script, no shell


if __name__ == "__main__":
    main()
