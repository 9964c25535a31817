"""Progress lines, percentiles and tables (plain text for the terminal, markdown for the docs)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence


class Progress:
    """Prints `label: done/total (x%), rate` at every tenth and at most every `every` seconds."""

    def __init__(self, label: str, total: int, every: float = 10.0) -> None:
        self.label = label
        self.total = max(total, 1)
        self.done = 0
        self.every = every
        self.started = time.perf_counter()
        self._last_print = self.started
        self._next_tenth = 1

    def advance(self, count: int = 1) -> None:
        self.update(self.done + count)

    def update(self, done: int) -> None:
        self.done = done
        now = time.perf_counter()
        tenth = done * 10 // self.total
        if tenth >= self._next_tenth or now - self._last_print >= self.every or done == self.total:
            if done == self.total and self._next_tenth > 10:
                return
            self._next_tenth = tenth + 1 if done < self.total else 11
            self._last_print = now
            elapsed = now - self.started
            rate = done / elapsed if elapsed > 0 else 0.0
            print(
                f"  {self.label}: {done:,}/{self.total:,} ({done * 100 // self.total}%), "
                f"{elapsed:,.1f} s, {rate:,.0f}/s",
                flush=True,
            )


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def ms(seconds: float) -> str:
    return "—" if math.isnan(seconds) else f"{seconds * 1000:,.0f}"


def rate(value: float) -> str:
    if math.isnan(value):
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(line[i])) for line in [header, *rows]) for i in range(len(header))]
    lines = []
    for n, line in enumerate([header, *rows]):
        cells = [
            str(cell).ljust(w) if j == 0 else str(cell).rjust(w)
            for j, (cell, w) in enumerate(zip(line, widths, strict=True))
        ]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    align = ["---", *("---:" for _ in header[1:])]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
