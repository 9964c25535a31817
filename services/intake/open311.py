"""Open311 GeoReport v2 (https://wiki.open311.org/GeoReport_v2/), so existing clients work unchanged.

Errors here use the spec's own format (a list of {code, description}), not problem+json: that is
what Open311 clients parse. Listed: requests submitted through Open311, never with personal
data, and the appeals their authors allowed to be published (past moderation, masked:
public_routes.py); every other appeal stays private to its author.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from xml.etree.ElementTree import Element, SubElement, tostring

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse, Response
from pymongo import DESCENDING

from libs.common.auth import Principal, Role
from libs.common.logging import current_correlation_id
from libs.common.store import Database
from services.intake.flows import APPEALS, AppealFlows
from services.intake.public_routes import open311_public_fields, public_query
from services.intake.schemas import AppealStatus
from services.intake.settings import IntakeSettings
from services.intake.upstream import Upstream

CLOSED = {AppealStatus.ANSWERED, AppealStatus.CLOSED, AppealStatus.REJECTED}
MAX_LISTED = 1000


class Open311Error(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def render(payload: list[dict[str, Any]], fmt: str, root: str, item: str, status: int = 200) -> Response:
    if fmt == "xml":
        tree = Element(root)
        for entry in payload:
            node = SubElement(tree, item)
            for key, value in entry.items():
                SubElement(node, key).text = "" if value is None else _xml_text(value)
        body = b'<?xml version="1.0" encoding="utf-8"?>' + tostring(
            tree, encoding="utf-8", xml_declaration=False
        )
        return Response(body, status_code=status, media_type="text/xml; charset=utf-8")
    return JSONResponse(payload, status_code=status)


def _xml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def service_entry(topic: dict[str, Any]) -> dict[str, Any]:
    return {
        "service_code": topic["code"],
        "service_name": topic["name"],
        "description": f"{topic.get('category', '')}: {topic['name']}. Срок ответа — {topic['answer_sla_days']} дн.",
        "metadata": False,
        "type": "realtime",
        "keywords": topic["code"].replace(".", ","),
        "group": topic.get("category", ""),
    }


def request_entry(appeal: dict[str, Any]) -> dict[str, Any]:
    status = AppealStatus(appeal["status"])
    location = appeal.get("location") or {}
    open311 = appeal.get("open311") or {}
    return {
        "service_request_id": appeal["number"],
        "status": "closed" if status in CLOSED else "open",
        "status_notes": _status_notes(appeal, status),
        "service_name": open311.get("service_name"),
        "service_code": appeal["topic"],
        "description": appeal["description"],
        "agency_responsible": (appeal.get("organization") or {}).get("name"),
        "service_notice": None,
        "requested_datetime": _iso(appeal["created_at"]),
        "updated_datetime": _iso(appeal["updated_at"]),
        "expected_datetime": _iso(appeal.get("due_at")),
        "address": location.get("address"),
        "address_id": open311.get("address_id"),
        "zipcode": None,
        "lat": location.get("lat"),
        "long": location.get("lon"),
        "media_url": open311.get("media_url"),
    } | ({} if "open311" in appeal else open311_public_fields(appeal))


def _status_notes(appeal: dict[str, Any], status: AppealStatus) -> str | None:
    if status is AppealStatus.REJECTED:
        return str((appeal.get("rejection") or {}).get("reason") or "") or None
    if status is AppealStatus.CLARIFICATION_REQUESTED:
        return str((appeal.get("clarification") or {}).get("question") or "") or None
    answers = appeal.get("answers") or []
    return str(answers[-1]["text"]) if answers and status in CLOSED else None


def open311_router(
    flows: AppealFlows, upstream: Upstream, db: Database, settings: IntakeSettings
) -> APIRouter:
    router = APIRouter(prefix="/open311/v2", tags=["open311"])

    async def services() -> list[dict[str, Any]]:
        return [service_entry(topic) for topic in await upstream.topics()]

    @router.get("/services.{fmt}")
    async def list_services(fmt: str) -> Response:
        """Service discovery: one service per topic of the catalogue."""
        return render(await services(), _format(fmt), "services", "service")

    @router.get("/services/{code}.{fmt}")
    async def service_definition(code: str, fmt: str) -> Response:
        if code not in {entry["service_code"] for entry in await services()}:
            raise Open311Error(404, f"service_code {code} not found")
        definition = {"service_code": code, "attributes": []}
        if _format(fmt) == "xml":
            return render([{"service_code": code}], "xml", "service_definition", "service")
        return JSONResponse(definition)

    @router.post("/requests.{fmt}")
    async def create_request(
        fmt: str,
        api_key: Annotated[str | None, Form()] = None,
        service_code: Annotated[str | None, Form()] = None,
        lat: Annotated[float | None, Form(ge=-90, le=90)] = None,
        long: Annotated[float | None, Form(alias="long", ge=-180, le=180)] = None,
        address_string: Annotated[str | None, Form(max_length=500)] = None,
        address_id: Annotated[str | None, Form(max_length=100)] = None,
        email: Annotated[str | None, Form(max_length=254)] = None,
        description: Annotated[str | None, Form(max_length=4000)] = None,
        media_url: Annotated[str | None, Form(max_length=1000)] = None,
        device_id: Annotated[str | None, Form(max_length=200)] = None,
        account_id: Annotated[str | None, Form(max_length=200)] = None,
    ) -> Response:
        """Submit a service request (application/x-www-form-urlencoded, with an api_key)."""
        fmt = _format(fmt)
        client = settings.open311_clients.get(api_key or "")
        if client is None:
            raise Open311Error(403, "invalid api_key")
        catalogue = {entry["service_code"]: entry for entry in await services()}
        if not service_code or service_code not in catalogue:
            raise Open311Error(400, "service_code is missing or unknown")
        if (lat is None or long is None) and not address_string and not address_id:
            raise Open311Error(400, "a location is required: lat & long, address_string or address_id")
        if not description or len(description.strip()) < 3:
            raise Open311Error(400, "description is required")
        principal = Principal(sub=f"open311:{client}", role=Role.CITIZEN)
        request = {
            "kind": "complaint",
            "channel": "mobile",
            "topic": service_code,
            "summary": description.strip()[:200],
            "description": description.strip(),
            "location": {"lat": lat, "lon": long, "address": address_string},
            "media_ids": [],
            "contact": {"email": _plausible_email(email)},
            "lang": "ru",
        }
        appeal, _ = await flows.store_new(principal, request, current_correlation_id())
        extra = {
            "client": client,
            "service_name": catalogue[service_code]["service_name"],
            "address_id": address_id,
            "media_url": media_url,
            "device_id": device_id,
            "account_id": account_id,
        }
        await db[APPEALS].update_one({"_id": appeal["_id"]}, {"$set": {"open311": extra}})
        notice = "Обращение зарегистрировано; ответ — в срок, установленный для темы."
        entry = {"service_request_id": appeal["number"], "service_notice": notice, "account_id": account_id}
        return render([entry], fmt, "service_requests", "request")

    @router.get("/requests.{fmt}")
    async def list_requests(
        fmt: str,
        service_request_id: str | None = None,
        service_code: str | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        status: Annotated[str | None, Query(pattern="^(open|closed)(,(open|closed))?$")] = None,
    ) -> Response:
        query: dict[str, Any] = {"$or": [{"open311": {"$exists": True}}, public_query()]}
        if service_request_id:
            query["number"] = {"$in": [part.strip() for part in service_request_id.split(",")]}
        if service_code:
            query["topic"] = {"$in": service_code.split(",")}
        if start_date or end_date:
            query["created_at"] = {
                **({"$gte": start_date} if start_date else {}),
                **({"$lte": end_date} if end_date else {}),
            }
        found = (
            await db[APPEALS].find(query).sort("created_at", DESCENDING).limit(MAX_LISTED).to_list(MAX_LISTED)
        )
        entries = [request_entry(appeal) for appeal in found]
        if status:
            wanted = set(status.split(","))
            entries = [entry for entry in entries if entry["status"] in wanted]
        return render(entries, _format(fmt), "service_requests", "request")

    @router.get("/requests/{request_id}.{fmt}")
    async def get_request(request_id: str, fmt: str) -> Response:
        listed = {"$or": [{"open311": {"$exists": True}}, public_query()]}
        appeal = await db[APPEALS].find_one({"number": request_id, **listed})
        if appeal is None:
            raise Open311Error(404, f"service request {request_id} not found")
        return render([request_entry(appeal)], _format(fmt), "service_requests", "request")

    return router


def _format(fmt: str) -> str:
    if fmt not in ("json", "xml"):
        raise Open311Error(404, "use .json or .xml")
    return fmt


def _plausible_email(email: str | None) -> str | None:
    return email if email and "@" in email and " " not in email else None


def install_open311_errors(app: Any) -> None:
    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Open311Error)
        fmt = "xml" if request.url.path.endswith(".xml") else "json"
        return render([{"code": exc.code, "description": exc.description}], fmt, "errors", "error", exc.code)

    app.add_exception_handler(Open311Error, on_error)
