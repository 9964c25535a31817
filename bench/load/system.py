"""What the processes cost: CPU time and resident memory, read from /proc (Linux)."""

from __future__ import annotations

import os
import time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used, from /proc/<pid>/stat; NaN when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14 and 15)


def rabbitmq_pid() -> int | None:
    """The local RabbitMQ node (beam.smp), if it runs on this machine."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm", encoding="ascii") as comm:
                    if comm.read().strip() == "beam.smp":
                        return int(entry)
            except OSError:
                continue
    return None


def rss_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MiB, from /proc/<pid>/status; NaN when it is gone."""
    values = {"VmRSS": float("nan"), "VmHWM": float("nan")}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in values:
                    values[key] = int(rest.split()[0]) / 1024
    except OSError:
        pass
    return values["VmRSS"], values["VmHWM"]


def reference_ms(rounds: int = 5) -> float:
    """CPU milliseconds of a fixed pure-Python workload (dict, str and int work, a stand-in for
    the services' own), the best of `rounds` (a moment of other work is left out): this
    machine's speed at the time of a run. The same code's figures move with it on a shared VM,
    so runs are compared by it."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        table: dict[str, int] = {}
        for i in range(300_000):
            key = f"k{i % 1000}"
            table[key] = table.get(key, 0) + len(key) * i % 7
        best = min(best, time.process_time() - started)
    return best * 1000
