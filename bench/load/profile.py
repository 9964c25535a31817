"""Sampling profiles of the services while the bench loads them (py-spy, attached by pid).

py-spy is not a dependency of the platform: `.venv/bin/pip install py-spy` to use `--profile`.
Each profile is py-spy's raw (collapsed stacks) file; the summary is the functions of the
platform (libs/, services/) and of the libraries under them that hold the most samples.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


@dataclass
class Recording:
    service: str
    output: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        """py-spy writes its file when interrupted; bounded wait, killed if it does not."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start(executable: str, service: str, pid: int, output: Path, max_seconds: int) -> Recording:
    output.parent.mkdir(parents=True, exist_ok=True)
    command = [
        executable,
        "record",
        "--pid",
        str(pid),
        "--format",
        "raw",
        "--rate",
        "100",
        "--nonblocking",
        "--gil",  # only samples holding the GIL: Python CPU time, not waiting in a syscall
        "--duration",
        str(max_seconds),
        "--output",
        str(output),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return Recording(service, output, process)


def _frame_name(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/module.py:123)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    return f"{name} ({path})"


def summarize(output: Path, top: int = 12) -> tuple[int, list[tuple[str, float]], list[tuple[str, float]]]:
    """(samples, hottest own-time frames, hottest platform frames inclusive) as % of samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    if not output.exists():
        return 0, [], []
    for line in output.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(frame) for frame in stack.split(";") if frame]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            if "libs/common/" in frame or "services/" in frame:
                inclusive[frame] += count
    if not total:
        return 0, [], []
    hottest = [(name, 100 * count / total) for name, count in own.most_common(top)]
    platform = [(name, 100 * count / total) for name, count in inclusive.most_common(top)]
    return total, hottest, platform
