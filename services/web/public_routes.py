"""Pages anyone can open: the home page, the map of problem zones with the organisations' SLA
ranking, the public appeals (masked, with their status, organisation and public answers), and the
widget's page (the snippet to embed)."""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from libs.common.logging import get_logger
from services.web.gateway import GatewayError
from services.web.pages import gateway_of, render
from services.web.poll_routes import areas_of
from services.web.settings import WebSettings
from services.web.texts import DISPLAY_ZONE

log = get_logger(__name__)
# What the gateway's public list holds: appeals past moderation (docs/api.md#public-appeals).
PUBLIC_STATUSES = ("routed", "in_work", "clarification_requested", "answered", "rereview", "closed")
PUBLIC_PAGE = 20
APPEAL_NUMBER = re.compile(r"\d{4}-\d{6,}")  # services/intake/service.appeal_number


def day_bound(value: str | None, end: bool = False) -> str | None:
    """A date typed in the filter (YYYY-MM-DD) as the start of that day (or of the next day for the
    period's end) in the region's time zone, ISO 8601 with its offset; None if not a date."""
    try:
        day = date.fromisoformat((value or "").strip())
    except ValueError:
        return None
    moment = datetime.combine(day + timedelta(days=1) if end else day, time(), DISPLAY_ZONE)
    return moment.isoformat()


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
    """The pages anyone can open (the module's docstring); none needs a session."""
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

    @router.get("/public-appeals")
    async def public_appeals(
        request: Request,
        area_id: str = "",
        topic: str = "",
        status: str = "",
        start: str = "",
        end: str = "",
        offset: int = 0,
    ) -> Response:
        """The public list (no sign-in): filters by area, topic, status and period (dates, both
        days included); the map's problem zones link here with their area and topic."""
        gateway = gateway_of(request)
        areas, topics = await asyncio.gather(areas_of(request), _or_none(gateway.cached("/topics")))
        params = {
            "area_id": area_id if any(a["id"] == area_id for a in areas) else None,
            "topic": topic if any(t.get("code") == topic for t in topics or []) else None,
            "status": status if status in PUBLIC_STATUSES else None,
            "from": day_bound(start),
            "to": day_bound(end, end=True),
            "limit": PUBLIC_PAGE,
            "offset": max(offset, 0),
        }
        page = await _or_none(gateway.call("GET", "/public/appeals", params=params))
        query = {k: v for k, v in (("area_id", area_id), ("topic", topic), ("status", status)) if v}
        query |= {k: v for k, v in (("start", start), ("end", end)) if v}
        return render(
            request,
            "public_appeals.html",
            page=page or {"items": [], "total": 0},
            unavailable=page is None,
            areas=areas,
            area_names={a["id"]: a["name"] for a in areas},
            topics=topics or [],
            topic_names={t.get("code"): t.get("name") for t in topics or []},
            statuses=PUBLIC_STATUSES,
            chosen={"area_id": area_id, "topic": topic, "status": status, "start": start, "end": end},
            query=query,
            offset=max(offset, 0),
            page_size=PUBLIC_PAGE,
        )

    @router.get("/public-appeals/{number}")
    async def public_appeal(request: Request, number: str) -> Response:
        """One public appeal's own page (no sign-in), what a shared link opens: 404 unless the
        appeal is public and past moderation (the gateway's `/public/appeals/{number}`)."""
        if not APPEAL_NUMBER.fullmatch(number):
            return render(request, "error.html", 404, message="not_found")
        gateway = gateway_of(request)
        try:
            appeal = await gateway.call("GET", f"/public/appeals/{number}")
        except GatewayError as exc:
            if exc.status != 404:
                raise
            return render(request, "error.html", 404, message="not_found")
        areas, topics = await asyncio.gather(areas_of(request), _or_none(gateway.cached("/topics")))
        return render(
            request,
            "public_appeal.html",
            a=appeal,
            area_names={area["id"]: area["name"] for area in areas},
            topic_names={t.get("code"): t.get("name") for t in topics or []},
        )

    @router.get("/map/areas.json")
    async def areas(request: Request) -> Response:
        """The municipalities' polygons for the form's point picker (from the gateway)."""
        return JSONResponse(await gateway_of(request).cached("/areas"))

    @router.get("/widget")
    async def widget_docs(request: Request, topics: str = "landscaping.*,roads.*") -> Response:
        return render(request, "widget.html", example_topics=topics)

    return router
