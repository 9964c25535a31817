"""The Grafana dashboard queries only metrics the services and RabbitMQ expose."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.k8s.render import DASHBOARD, ROOT, config, render

METRIC_DEFINITION = re.compile(
    r"\b(Counter|Gauge|Histogram|Summary)\(\s*[\"']([a-zA-Z_:][a-zA-Z0-9_:]*)[\"']"
)
# RabbitMQ's Prometheus plugin, per-object metrics (prometheus.return_per_object_metrics = true).
RABBITMQ_METRICS = {"rabbitmq_queue_messages_ready", "rabbitmq_queue_messages_unacked"}
REQUIRED_METRICS = {
    "appeals_messages_total",
    "appeals_events_published_total",
    "appeals_handler_seconds_bucket",
    "appeals_http_requests_total",
    "appeals_http_request_seconds_bucket",
    "rabbitmq_queue_messages_ready",
    "appeals_by_status",
    "appeals_overdue",
}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless"}


def exposed_metrics() -> set[str]:
    """The series names prometheus_client exposes for every metric defined in libs/ and services/."""
    names: set[str] = set()
    for path in [*(ROOT / "libs").rglob("*.py"), *(ROOT / "services").rglob("*.py")]:
        for kind, name in METRIC_DEFINITION.findall(path.read_text(encoding="utf-8")):
            if kind == "Counter":
                names.add(name if name.endswith("_total") else f"{name}_total")
            elif kind == "Gauge":
                names.add(name)
            else:
                names.update(f"{name}{suffix}" for suffix in ("_sum", "_count"))
                if kind == "Histogram":
                    names.add(f"{name}_bucket")
    return names


def promql_metrics(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords or labels."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals (label values, regexes)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    found = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        following = text[match.end() :].lstrip()
        if following.startswith("(") or match.group() in PROMQL_WORDS:
            continue  # a function or an aggregation, or a keyword
        found.add(match.group())
    return found


def dashboard_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from dashboard_panels(panel.get("panels", []))


@pytest.fixture
def dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return document


def test_promql_metric_extraction() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, route) (rate(appeals_http_request_seconds_bucket{route=~"/a.*"}'
        "[$__rate_interval]))) / on (x) group_left sum without (y) (up) > bool 0"
    )
    assert promql_metrics(expr) == {"appeals_http_request_seconds_bucket", "up"}


def test_dashboard_is_a_grafana_dashboard(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] and dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int)
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = list(dashboard_panels(dashboard["panels"]))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_dashboard_queries_only_metrics_that_exist(dashboard: dict[str, Any]) -> None:
    known = exposed_metrics() | RABBITMQ_METRICS
    assert {
        "appeals_messages_total",
        "appeals_handler_seconds_bucket",
        "appeals_http_requests_total",
    } <= known
    used: set[str] = set()
    for panel in dashboard_panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            names = promql_metrics(target["expr"])
            assert names, f"{panel['title']}: {target['expr']!r} queries no metric"
            unknown = names - known
            assert not unknown, f"{panel['title']}: {sorted(unknown)} are not exposed by the code or RabbitMQ"
            used |= names
    missing = REQUIRED_METRICS - used
    assert not missing, f"no panel shows {sorted(missing)}"


def test_dashboard_queue_panels_match_the_broker_namespace(dashboard: dict[str, Any]) -> None:
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["broker_namespace"]["query"] == config(render("production"))["APPEALS_NAMESPACE"]
    queue_exprs = [
        target["expr"]
        for panel in dashboard_panels(dashboard["panels"])
        for target in panel.get("targets", [])
        if "rabbitmq_" in target["expr"]
    ]
    assert queue_exprs
    assert all("$broker_namespace" in expr for expr in queue_exprs)
