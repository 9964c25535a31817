"""The services' own counters, read from their Prometheus `/metrics` (libs/common/metrics.py).

Used by the benchmarks and the end-to-end tests to see what the services did: messages handled
per type and outcome (`appeals_messages_total`), events published (`appeals_events_published_total`)
and store commands (`appeals_store_commands_total`).
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx
from prometheus_client.parser import text_string_to_metric_families

MESSAGES = "appeals_messages_total"  # labels: type, outcome (handled, retried, dead_lettered...)
PUBLISHED = "appeals_events_published_total"  # labels: type
STORE_COMMANDS = "appeals_store_commands_total"  # labels: command


def counter(text: str, name: str, labels: Sequence[str] = ()) -> dict[tuple[str, ...], float]:
    """One counter of a `/metrics` text, summed by the given labels' values.

    `counter(text, MESSAGES, ("type", "outcome"))` → {("appeal.submitted", "handled"): 3.0, ...};
    with no labels, the one key () holds the total. Raises ValueError on text that is not the
    Prometheus exposition format."""
    counts: dict[tuple[str, ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                key = tuple(sample.labels.get(label, "") for label in labels)
                counts[key] = counts.get(key, 0.0) + sample.value
    return counts


def total(text: str, name: str, **where: str) -> float:
    """A counter summed over every sample whose labels match `where` (e.g. outcome="handled")."""
    keys = tuple(where)
    wanted = tuple(where.values())
    return sum(value for key, value in counter(text, name, keys).items() if key == wanted)


async def scrape(client: httpx.AsyncClient, url: str, timeout: float = 10.0) -> str | None:
    """A service's `/metrics` text, or None when it does not answer (it may be restarting).

    Raises httpx.HTTPStatusError on an answer that is not 2xx."""
    try:
        response = await client.get(f"{url}/metrics", timeout=timeout)
    except httpx.HTTPError:
        return None
    response.raise_for_status()
    return response.text
