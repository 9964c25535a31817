"""Pages anyone can open: the home page, the map of problem zones with the organisations' SLA
ranking, and the widget's page (the snippet to embed)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from libs.common.logging import get_logger
from services.web.gateway import GatewayError
from services.web.pages import gateway_of, render
from services.web.settings import WebSettings

log = get_logger(__name__)


async def _or_none(call: Any) -> Any:
    """A public block that fails (an older gateway, a service down) leaves its part empty."""
    try:
        return await call
    except GatewayError as exc:
        log.info("public data unavailable", status=exc.status)
        return None


def map_data(areas: Any, zones: Any) -> dict[str, Any]:
    """What map.js draws: the areas' polygons with their appeal counts, and the hotspots."""
    counts: dict[str, int] = {}
    for zone in (zones or {}).get("zones", []):
        if zone.get("area_id"):
            counts[zone["area_id"]] = counts.get(zone["area_id"], 0) + int(zone.get("appeals", 0))
    features = []
    for feature in (areas or {}).get("features", []):
        props = feature.get("properties") or {}
        area_id = props.get("id") or feature.get("id")
        features.append(
            {
                "type": "Feature",
                "geometry": feature.get("geometry"),
                "properties": {"id": area_id, "name": props.get("name"), "appeals": counts.get(area_id, 0)},
            }
        )
    hotspots = [
        {
            "lat": h["center"]["lat"],
            "lon": h["center"]["lon"],
            "appeals": h["appeals"],
            "topic": h.get("topic_name"),
        }
        for h in (zones or {}).get("hotspots", [])
        if h.get("center")
    ]
    return {"areas": {"type": "FeatureCollection", "features": features}, "hotspots": hotspots}


def public_router(settings: WebSettings) -> APIRouter:
    router = APIRouter(tags=["public"])

    @router.get("/")
    async def home(request: Request) -> Response:
        return render(request, "home.html")

    @router.get("/map")
    async def problem_map(request: Request, order_by: str = "answered") -> Response:
        gateway = gateway_of(request)
        order = order_by if order_by in ("answered", "speed") else "answered"
        areas, zones, ranking = await asyncio.gather(
            _or_none(gateway.cached("/areas")),
            _or_none(gateway.call("GET", "/problem-zones")),
            _or_none(gateway.cached("/stats/public", {"order_by": order})),
        )
        return render(
            request,
            "map.html",
            zones=(zones or {}).get("zones", []),
            hotspots=(zones or {}).get("hotspots", []),
            ranking=(ranking or {}).get("items", []),
            order_by=order,
            map_data=map_data(areas, zones),
            unavailable=zones is None,
        )

    @router.get("/map/areas.json")
    async def areas(request: Request) -> Response:
        """The municipalities' polygons for the form's point picker (from the gateway)."""
        return JSONResponse(await gateway_of(request).cached("/areas"))

    @router.get("/widget")
    async def widget_docs(request: Request, topics: str = "landscaping.*,roads.*") -> Response:
        return render(request, "widget.html", example_topics=topics)

    return router
