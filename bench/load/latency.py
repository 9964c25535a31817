"""The latency targets of issue #18, measured after each level's throughput sample:

- **accept with many callers**: `--latency-callers` (32) callers at once, two appeals each, each
  caller waiting for its answer before the next (the accept latency a busy gateway gives);
- **end to end at half the highest rate**: `--latency-sample` (40) appeals at a steady half of the
  end-to-end rate the level's sample sustained, in an open loop (each at its time, whatever the
  answers before it: residents do not wait for each other), each followed to its e-mail.

Both wait for their e-mails before the next step, so the next measurement starts drained.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import httpx

from bench.load.gateway import CAP_SECONDS, Batch, submit, submit_paced, wait_for_mail
from bench.load.report import ms, percentile, rate
from devstack.appeals import Citizens, RegisteredSink


@dataclass
class Latency:
    """One level's latency measurements (the module's docstring)."""

    callers: int
    burst: Batch  # the many callers' submissions (accept latency)
    per_second: float  # the paced rate: half the level's end-to-end rate
    paced: Batch
    paced_e2e: list[float]  # seconds from each paced appeal's 201 to its e-mail

    @property
    def accepted(self) -> int:
        """Appeals both measurements stored (they count as stored for the next level)."""
        return len(self.burst.numbers) + len(self.paced.numbers)


async def measure_latency(
    client: httpx.AsyncClient,
    citizens: Citizens,
    sink: RegisteredSink,
    e2e_rate: float,
    args: argparse.Namespace,
) -> Latency | None:
    """Both latency measurements of one level (None when `--latency-sample` is 0 or the level's
    end-to-end rate is unknown)."""
    if not args.latency_sample or math.isnan(e2e_rate) or e2e_rate <= 0:
        return None
    callers = args.latency_callers
    burst = await submit(
        client, citizens.next(2 * callers), callers, f"{callers} callers at once", CAP_SECONDS
    )
    await wait_for_mail(sink, burst.numbers, f"{callers} callers: e-mails", args.stall, CAP_SECONDS)
    per_second = e2e_rate / 2
    paced = await submit_paced(
        client, citizens.next(args.latency_sample), per_second, f"paced at {rate(per_second)}/s"
    )
    await wait_for_mail(sink, paced.numbers, "paced: e-mails", args.stall, CAP_SECONDS)
    e2e = [
        at - accepted_at
        for number, accepted_at in zip(paced.numbers, paced.accepted_at, strict=True)
        if (at := sink.arrived(number)) is not None
    ]
    latency = Latency(callers, burst, per_second, paced, e2e)
    print(
        f"  {callers} callers: accept p99 {ms(percentile(burst.latencies, 99))} ms; paced at "
        f"{rate(per_second)}/s: accept p99 {ms(percentile(paced.latencies, 99))} ms, end to end "
        f"p50 {ms(percentile(e2e, 50))} ms p99 {ms(percentile(e2e, 99))} ms",
        flush=True,
    )
    return latency
