"""The load benchmark's report, as data: each table is a list of measures (a label and how to
read it from one level), shown with the levels side by side (1×, 10×, 100× stored); the per-process
and per-service tables are the same measure applied to each name. `tables()` renders them all.

Definitions (docs/performance.md says the same):
- per appeal: a quantity measured while the sample ran, divided by the appeals accepted in it;
- broker ceiling: the appeals/s RabbitMQ could carry at the raw test's rates, given the events
  published and deliveries handled per appeal: min(publish/s ÷ published, consume/s ÷ handled);
- platform ceiling: the machine's cores ÷ the six services' CPU seconds per appeal (the store,
  the broker and the bench are reported apart and not charged to the services).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.load.broker import BrokerResult
from bench.load.latency import Latency
from bench.load.measure import Level
from bench.load.report import ms, percentile, rate
from devstack.stack import SERVICES

Table = tuple[str, list[str], list[list[str]]]  # (title, header, rows)
OTHER_PROCESSES = ("store", "s3", "rabbitmq", "bench")  # after the services, in this order


@dataclass(frozen=True)
class Measure:
    label: str
    value: Callable[[Level], str]


def number(value: float, digits: int = 1) -> str:
    return "—" if math.isnan(value) else f"{value:,.{digits}f}"


def share(part: float, whole: float) -> str:
    return "—" if math.isnan(part) or math.isnan(whole) or not whole else f"{100 * part / whole:.1f}%"


def latency(which: str, q: float) -> Callable[[Level], str]:
    def read(level: Level) -> str:
        values = level.batch.latencies if which == "accept" else level.e2e_latencies
        return ms(percentile(values, q))

    return read


def latency_targets(callers: int) -> list[Measure]:
    """The latency targets' rows (bench/load/latency.py), `callers` at once for the accept one:
    "—" where they were not measured."""

    def read(value: Callable[[Latency], str]) -> Callable[[Level], str]:
        return lambda level: value(level.latency) if level.latency is not None else "—"

    def paced_e2e(q: float) -> Callable[[Latency], str]:
        return lambda lt: ms(percentile(lt.paced_e2e, q))

    return [
        Measure(
            f"accept p99 ms, {callers} callers at once",
            read(lambda lt: ms(percentile(lt.burst.latencies, 99))),
        ),
        Measure("paced at half the end-to-end rate, appeals/s", read(lambda lt: rate(lt.per_second))),
        Measure("paced: accept p99 ms", read(lambda lt: ms(percentile(lt.paced.latencies, 99)))),
        *(Measure(f"paced: end to end p{q} ms", read(paced_e2e(q))) for q in (50, 99)),
    ]


class Ceilings:
    """The two ceilings of a level, given the raw broker result (None: not measured)."""

    def __init__(self, broker: BrokerResult | None, cores: int) -> None:
        self.broker = broker
        self.cores = cores

    def broker_ceiling(self, level: Level) -> float:
        published = level.per_appeal(level.counted("published"))
        handled = level.per_appeal(level.counted("handled"))
        if self.broker is None or not published or not handled or math.isnan(published + handled):
            return math.nan
        return min(self.broker.publish_rate / published, self.broker.consume_rate / handled)

    def platform_ceiling(self, level: Level) -> float:
        cpu = level.per_appeal(level.services_cpu)
        return self.cores / cpu if cpu and not math.isnan(cpu) else math.nan


def summary(ceilings: Ceilings, callers: int) -> list[Measure]:
    """The numbers a reader needs first, one row each."""
    return [
        Measure("stored before", lambda level: f"{level.stored:,}"),
        Measure("accept/s", lambda level: rate(level.accept_rate)),
        *(Measure(f"accept p{q} ms", latency("accept", q)) for q in (50, 95, 99)),
        Measure("end to end/s", lambda level: rate(level.e2e_rate)),
        *(Measure(f"end to end p{q} ms", latency("e2e", q)) for q in (50, 95, 99)),
        Measure("not ok", lambda level: level.errors),
        *latency_targets(callers),
        Measure("events published per appeal", lambda lv: number(lv.per_appeal(lv.counted("published")))),
        Measure("deliveries handled per appeal", lambda lv: number(lv.per_appeal(lv.counted("handled")))),
        Measure(
            "store round trips per appeal", lambda lv: number(lv.per_appeal(lv.counted("store_commands")))
        ),
        Measure("services' CPU ms per appeal", lambda lv: number(1000 * lv.per_appeal(lv.services_cpu))),
        Measure("broker ceiling, appeals/s", lambda lv: rate(ceilings.broker_ceiling(lv))),
        Measure(
            f"platform ceiling ({ceilings.cores} cores ÷ services' CPU), appeals/s",
            lambda lv: rate(ceilings.platform_ceiling(lv)),
        ),
        Measure("end to end ÷ broker ceiling", lambda lv: share(lv.e2e_rate, ceilings.broker_ceiling(lv))),
        Measure(
            "platform ceiling ÷ broker ceiling",
            lambda lv: share(ceilings.platform_ceiling(lv), ceilings.broker_ceiling(lv)),
        ),
    ]


def cpu_per_process(names: Sequence[str]) -> list[Measure]:
    def one(name: str) -> Measure:
        return Measure(name, lambda lv: number(1000 * lv.per_appeal(lv.cpu.get(name, math.nan))))

    services = [one(name) for name in names if name in SERVICES]
    total = Measure("services' sum", lambda lv: number(1000 * lv.per_appeal(lv.services_cpu)))
    every = Measure(
        "all processes",
        lambda lv: number(1000 * lv.per_appeal(sum(v for v in lv.cpu.values() if not math.isnan(v)))),
    )
    return [*services, total, *(one(name) for name in names if name not in SERVICES), every]


def per_service(what: str) -> list[Measure]:
    def one(name: str) -> Measure:
        return Measure(name, lambda lv: number(lv.per_appeal(lv.counted(what, name))))

    return [
        *(one(name) for name in SERVICES),
        Measure("all services", lambda lv: number(lv.per_appeal(lv.counted(what)))),
    ]


def memory(names: Sequence[str]) -> list[Measure]:
    def one(name: str) -> Measure:
        def read(level: Level) -> str:
            if name not in level.memory:
                return "—"
            rss, peak = level.memory[name]
            return f"{number(rss, 0)} ({number(peak, 0)})"

        return Measure(name, read)

    return [one(name) for name in names]


def ordered(names: set[str]) -> list[str]:
    """The services in the stack's order, then the other processes in theirs, then the rest."""
    preferred = (*SERVICES, *OTHER_PROCESSES)
    return [name for name in preferred if name in names] + sorted(names - set(preferred))


def side_by_side(title: str, corner: str, measures: Sequence[Measure], levels: Sequence[Level]) -> Table:
    header = [corner, *(f"{level.multiple}×" for level in levels)]
    return title, header, [[m.label, *(m.value(level) for level in levels)] for m in measures]


def broker_table(broker: BrokerResult) -> Table:
    cells = {
        "messages": f"{broker.messages:,}",
        "bytes": f"{broker.size:,}",
        "in flight": f"{broker.inflight:,}",
        "publish/s (confirmed)": rate(broker.publish_rate),
        "consume/s (acked)": rate(broker.consume_rate),
        "client CPU, % of a core": number(100 * broker.client_cpu / broker.seconds, 0),
        "broker CPU, % of a core": number(100 * broker.broker_cpu / broker.seconds, 0),
    }
    title = "Raw RabbitMQ: aio-pika, persistent messages, publisher confirms, one durable classic queue"
    return title, list(cells), [list(cells.values())]


def tables(
    broker: BrokerResult | None, levels: Sequence[Level], sample: int, concurrency: int
) -> list[Table]:
    """Every table of the report, in the order printed and written."""
    cores = os.cpu_count() or 1
    ceilings = Ceilings(broker, cores)
    processes = ordered({name for level in levels for name in level.cpu})
    in_memory = ordered({name for level in levels for name in level.memory})
    callers = next((level.latency.callers for level in levels if level.latency is not None), 0)
    out: list[Table] = [broker_table(broker)] if broker is not None else []
    out += [
        side_by_side(
            f"Appeals: {sample:,} per level, {concurrency} concurrent callers; accept = POST to 201, "
            'end to end = 201 to the "registered" e-mail at the SMTP sink',
            "level",
            summary(ceilings, callers),
            levels,
        ),
        side_by_side(
            f"CPU milliseconds per appeal, per process (the {cores} cores are shared by all of them)",
            "process",
            cpu_per_process(processes),
            levels,
        ),
        side_by_side("Deliveries handled per appeal, per service", "service", per_service("handled"), levels),
        side_by_side(
            "Store round trips (commands) per appeal, per service",
            "service",
            per_service("store_commands"),
            levels,
        ),
        side_by_side(
            "Memory: resident set (RSS) MiB after each level, peak in brackets",
            "process",
            memory(in_memory),
            levels,
        ),
    ]
    preloads = [
        Measure("appeals pre-loaded", lambda lv: f"{lv.preloaded:,}"),
        Measure("seconds", lambda lv: number(lv.preload_seconds)),
        Measure(
            "appeals/s", lambda lv: rate(lv.preloaded / lv.preload_seconds) if lv.preload_seconds else "—"
        ),
    ]
    if any(level.preloaded for level in levels):
        out.append(side_by_side("Pre-loading (submitted and processed)", "level", preloads, levels))
    return out
