"""The HTTP metrics' labels come from bounded sets: no request can create a new series."""

from __future__ import annotations

import httpx
from prometheus_client import REGISTRY

from libs.common.http import KNOWN_METHODS
from services.intake.app import create_app
from services.intake.settings import IntakeSettings


def series() -> set[tuple[tuple[str, str], ...]]:
    return {
        tuple(sorted(sample.labels.items()))
        for metric in REGISTRY.collect()
        if metric.name in ("appeals_http_requests", "appeals_http_request_seconds")
        for sample in metric.samples
    }


def label_values(name: str) -> set[str]:
    return {dict(labels)[name] for labels in series() if name in dict(labels)}


async def test_unknown_methods_and_paths_do_not_create_series() -> None:
    app = create_app(IntakeSettings(env="dev"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        # Warm up: the bounded series these requests fall into exist from now on.
        await client.request("ANYTHING", "/health")
        await client.request("ANYTHING", "/no/such/path/1")
        await client.get("/no/such/path/1")
        await client.get(f"/api/v1/appeals/{0:032x}")
        before = series()
        for number in range(20):
            await client.request(f"X-METHOD-{number}", "/health")
            await client.request(f"PURGE{number}", f"/no/such/path/{number}")
            await client.get(f"/api/v1/appeals/{number:032x}")  # a path parameter, not a new route
            await client.get(f"/random-{number}")
        after = series()
    assert "other" in label_values("method")
    assert not any(value.startswith(("X-METHOD", "PURGE", "ANYTHING")) for value in label_values("method"))
    assert label_values("method") <= KNOWN_METHODS | {"other"}
    assert not any("no/such" in value or "random-" in value for value in label_values("route"))
    assert "/api/v1/appeals/{appeal_id}" in label_values("route")
    assert after == before
    assert all(value.isdigit() or value.endswith("xx") for value in label_values("status"))


async def test_metrics_declare_their_media_type() -> None:
    app = create_app(IntakeSettings(env="dev"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        response = await client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    declared = app.openapi()["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(declared) == [response.headers["content-type"]]
