"""Open311 GeoReport v2 (https://wiki.open311.org/GeoReport_v2/), so existing clients work unchanged.

Errors here use the spec's own format (a list of {code, description}), not problem+json: that is
what Open311 clients parse (`open311_format`). Listed: requests submitted through Open311 and
the appeals their authors allowed to be published (past moderation: public_routes.py), never with
personal data (`masking`); every other appeal stays private to its author.

The reporter, not the client app, is the author of a request (repeat filtering, rate of one
person): the e-mail if given (the same person through any app), else the client's `account_id`,
else its `device_id`; a request with none of them has an anonymous author of its own.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pymongo import DESCENDING
from starlette.exceptions import HTTPException

from libs.common.auth import Principal, Role
from libs.common.clock import Clock, system_clock
from libs.common.contacts import InvalidEmail, check_email
from libs.common.http import Problem
from libs.common.logging import current_correlation_id, get_logger
from libs.common.openapi import open311_responses
from libs.common.store import Database
from services.intake.flows import AppealFlows
from services.intake.masking import mask_text
from services.intake.open311_format import (
    FORM_MEDIA_TYPE,
    Open311Error,
    Open311ErrorMiddleware,
    error_response,
    read_form,
    render,
    xml_safe,
)
from services.intake.public_routes import open311_public_fields, public_query
from services.intake.ratelimit import SubmitRateLimit
from services.intake.records import APPEALS
from services.intake.schemas import AppealStatus, PlaceIn
from services.intake.settings import IntakeSettings
from services.intake.upstream import Upstream

log = get_logger(__name__)

CLOSED = {AppealStatus.ANSWERED, AppealStatus.CLOSED, AppealStatus.REJECTED}
MAX_LISTED = 1000
WEB_SCHEMES = ("http", "https")

__all__ = ["Open311Error", "install_open311_errors", "open311_router"]


class Open311Submission(BaseModel):
    """The fields of `POST requests` (GeoReport v2) this gateway reads; others are ignored
    (`first_name`, `last_name`, `phone` are personal data it has no use for)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    api_key: str = Field(min_length=1, max_length=200)
    service_code: str = Field(min_length=1, max_length=100)
    lat: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    long: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    address_string: str | None = Field(default=None, max_length=500)
    address_id: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=254)
    device_id: str | None = Field(default=None, max_length=200)
    account_id: str | None = Field(default=None, max_length=200)
    description: str = Field(min_length=3, max_length=4000)
    media_url: str | None = Field(default=None, max_length=1000)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:  # the shape here; whether the relay can take a non-ASCII local part: store_new
            return check_email(value, smtputf8=True).normalized
        except InvalidEmail as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("media_url")
    @classmethod
    def _web_url(cls, value: str | None) -> str | None:
        if value is not None and not web_url(value):
            raise ValueError("only an http(s) URL with a host")
        return value


def web_url(value: str) -> bool:
    """True for an absolute http(s) URL with a host and no whitespace (no `javascript:` etc.)."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return (
        parts.scheme.lower() in WEB_SCHEMES and bool(parts.hostname) and not any(c.isspace() for c in value)
    )


FORM_SCHEMA = Open311Submission.model_json_schema()


def reporter_id(client: str, submission: Open311Submission) -> str:
    """The author id of a request: the reporter's identity (hashed: an id, never an address)."""
    if submission.email:
        return f"open311:email:{_digest(submission.email.lower())}"
    if submission.account_id:
        return f"open311:{client}:account:{_digest(submission.account_id)}"
    if submission.device_id:
        return f"open311:{client}:device:{_digest(submission.device_id)}"
    return f"open311:{client}:anonymous:{uuid.uuid4().hex}"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:24]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _public(text: Any) -> str | None:
    """Free text as it may be shown to anyone: personal data masked, XML-safe."""
    return mask_text(xml_safe(str(text))) if text else None


def service_entry(topic: dict[str, Any]) -> dict[str, Any]:
    """An Open311 GeoReport v2 service of a catalogue topic; the description names the answer
    deadline (minutes for the demo's short-deadline topics, else calendar days)."""
    minutes = topic.get("answer_sla_minutes")
    due = f"{minutes} мин." if minutes else f"{topic['answer_sla_days']} дн."
    return {
        "service_code": topic["code"],
        "service_name": topic["name"],
        "description": f"{topic.get('category', '')}: {topic['name']}. Срок ответа — {due}",
        "metadata": False,
        "type": "realtime",
        "keywords": topic["code"].replace(".", ","),
        "group": topic.get("category", ""),
    }


def request_entry(appeal: dict[str, Any], service_names: Mapping[str, str]) -> dict[str, Any]:
    """An appeal as an Open311 service request (GeoReport v2 fields). `service_names`: topic code
    -> the catalogue's name, for appeals not submitted through Open311 (which keep their own)."""
    status = AppealStatus(appeal["status"])
    location = appeal.get("location") or {}
    open311 = appeal.get("open311") or {}
    media_url = open311.get("media_url")
    return {
        "service_request_id": appeal["number"],
        "status": "closed" if status in CLOSED else "open",
        "status_notes": _public(_status_notes(appeal, status)),
        "service_name": open311.get("service_name") or service_names.get(appeal["topic"]),
        "service_code": appeal["topic"],
        "description": _public(appeal["description"]),
        "agency_responsible": (appeal.get("organization") or {}).get("name"),
        "service_notice": None,
        "requested_datetime": _iso(appeal["created_at"]),
        "updated_datetime": _iso(appeal["updated_at"]),
        "expected_datetime": _iso(appeal.get("due_at")),
        "address": _public(location.get("address")),
        "address_id": open311.get("address_id"),
        "zipcode": None,
        "lat": location.get("lat"),
        "long": location.get("lon"),
        # Stored before only http(s) was accepted: never serve anything else back.
        "media_url": media_url if isinstance(media_url, str) and web_url(media_url) else None,
    } | ({} if "open311" in appeal else open311_public_fields(appeal))


def _status_notes(appeal: dict[str, Any], status: AppealStatus) -> str | None:
    if status is AppealStatus.REJECTED:
        return str((appeal.get("rejection") or {}).get("reason") or "") or None
    if status is AppealStatus.CLARIFICATION_REQUESTED:
        return str((appeal.get("clarification") or {}).get("question") or "") or None
    answers = appeal.get("answers") or []
    return str(answers[-1]["text"]) if answers and status in CLOSED else None


def _bad_request(exc: ValidationError) -> Open311Error:
    return Open311Error(
        400,
        *(
            f"{'.'.join(str(part) for part in error['loc']) or 'request'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        ),
    )


class Open311Route(APIRoute):
    """A route whose unexpected failure still answers in Open311's format (500, logged)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The handler, with any unexpected exception logged and answered as Open311's error 500;
        Open311 errors, HTTP and validation errors and Problems are re-raised for their own
        handlers."""
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            """Re-raises Open311 errors, HTTP and validation errors and Problems; anything else is
            logged and answered as Open311's error 500."""
            try:
                return await handler(request)
            except (Open311Error, HTTPException, RequestValidationError, Problem):
                raise
            except Exception:
                log.exception("unhandled error", path=request.url.path)
                return error_response(request.url.path, Open311Error(500, "an unexpected error occurred"))

        return guarded


def open311_router(
    flows: AppealFlows,
    upstream: Upstream,
    db: Database,
    settings: IntakeSettings,
    clock: Clock = system_clock,
) -> APIRouter:
    """The Open311 GeoReport v2 endpoints (services, requests) in JSON or XML. Errors are Open311's
    `{code, description}` list: 400 (bad request or unknown service_code), 403 (invalid api_key),
    404 (unknown service or request), 429 (rate limit), 503 (routing unavailable)."""
    router = APIRouter(prefix="/open311/v2", tags=["open311"], route_class=Open311Route)
    limiter = SubmitRateLimit(db, clock, settings.open311_submit_rate_per_minute)

    async def services() -> list[dict[str, Any]]:
        return [service_entry(topic) for topic in await upstream.topics()]

    async def service_names() -> dict[str, str]:
        """Topic code -> name; empty while routing cannot be asked (the requests are still listed,
        `service_name` then null for appeals that did not come through Open311)."""
        try:
            return {entry["service_code"]: entry["service_name"] for entry in await services()}
        except Problem:
            return {}

    @router.get("/services.{fmt}", responses=open311_responses(404, 503))
    async def list_services(fmt: str) -> Response:
        """Service discovery: one service per topic of the catalogue."""
        return render(await services(), _format(fmt), "services", "service")

    @router.get("/services/{code}.{fmt}", responses=open311_responses(404, 503))
    async def service_definition(code: str, fmt: str) -> Response:
        """The service definition: no extra attributes (`metadata` is false for every service).

        Error 404 when the service_code is not in the catalogue."""
        fmt = _format(fmt)
        if code not in {entry["service_code"] for entry in await services()}:
            raise Open311Error(404, f"service_code {code} not found")
        definition = {"service_code": code, "attributes": []}
        if fmt == "xml":  # the spec's shape: <service_definition><service_code/><attributes/>
            return render(definition, "xml", "service_definition", "attribute")
        return JSONResponse(definition)

    @router.post(
        "/requests.{fmt}",
        responses=open311_responses(400, 403, 404, 413, 415, 429, 503),
        openapi_extra={
            "requestBody": {"required": True, "content": {FORM_MEDIA_TYPE: {"schema": FORM_SCHEMA}}}
        },
    )
    async def create_request(fmt: str, request: Request) -> Response:
        """Submit a service request (application/x-www-form-urlencoded in UTF-8, with an api_key).

        Errors: 403 invalid api_key, 429 over the key's rate limit, 400 for invalid fields or an
        unknown service_code."""
        fmt = _format(fmt)
        fields = {key: value for key, value in (await read_form(request)).items() if value.strip()}
        client = settings.open311_clients.get(fields.get("api_key", ""))
        if client is None:
            raise Open311Error(403, "invalid api_key")
        try:
            await limiter.check(f"open311-key:{_digest(fields['api_key'])}")
        except Problem as exc:
            raise Open311Error(exc.status, exc.detail, headers=exc.headers) from exc
        try:
            submission = Open311Submission.model_validate(fields)
            # One rule for a place, whichever door it comes through (the /api/v1 schema's).
            address = submission.address_string or (
                f"address_id {submission.address_id}" if submission.address_id else None
            )
            place = PlaceIn(lat=submission.lat, lon=submission.long, address=address)
        except ValidationError as exc:
            raise _bad_request(exc) from exc
        catalogue = {entry["service_code"]: entry for entry in await services()}
        if submission.service_code not in catalogue:
            raise Open311Error(400, f"service_code {submission.service_code} is unknown")
        request_doc = {
            "kind": "complaint",
            "channel": "mobile",
            "topic": submission.service_code,
            "summary": submission.description[:200],
            "description": submission.description,
            "location": {"lat": place.lat, "lon": place.lon, "address": submission.address_string},
            "media_ids": [],
            "contact": {"email": submission.email},
            "lang": "ru",
            # Stored in the same write as the appeal (never in its event).
            "open311": {
                "client": client,
                "service_name": catalogue[submission.service_code]["service_name"],
                "address_id": submission.address_id,
                "media_url": submission.media_url,
                "device_id": submission.device_id,
                "account_id": submission.account_id,
            },
        }
        principal = Principal(sub=f"open311:{client}", role=Role.CITIZEN)
        appeal, _ = await flows.store_new(
            principal, request_doc, current_correlation_id(), author_id=reporter_id(client, submission)
        )
        notice = "Обращение зарегистрировано; ответ — в срок, установленный для темы."
        entry = {
            "service_request_id": appeal["number"],
            "service_notice": notice,
            "account_id": submission.account_id,
        }
        return render([entry], fmt, "service_requests", "request")

    @router.get("/requests.{fmt}", responses=open311_responses(400, 404))
    async def list_requests(
        fmt: str,
        service_request_id: Annotated[str | None, Query(max_length=2000)] = None,
        service_code: Annotated[str | None, Query(max_length=2000)] = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        status: Annotated[str | None, Query(pattern="^(open|closed)(,(open|closed))?$")] = None,
    ) -> Response:
        """Requests submitted through Open311 and public appeals, newest first (at most 1000),
        personal data masked."""
        fmt = _format(fmt)
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
        names = await service_names()
        entries = [request_entry(appeal, names) for appeal in found]
        if status:
            wanted = set(status.split(","))
            entries = [entry for entry in entries if entry["status"] in wanted]
        return render(entries, fmt, "service_requests", "request")

    @router.get("/requests/{request_id}.{fmt}", responses=open311_responses(404))
    async def get_request(request_id: str, fmt: str) -> Response:
        """A service request (an appeal submitted through Open311, or a public one) by its number;
        error 404 when there is none."""
        fmt = _format(fmt)
        listed = {"$or": [{"open311": {"$exists": True}}, public_query()]}
        appeal = await db[APPEALS].find_one({"number": request_id, **listed})
        if appeal is None:
            raise Open311Error(404, f"service request {request_id} not found")
        return render([request_entry(appeal, await service_names())], fmt, "service_requests", "request")

    return router


def _format(fmt: str) -> str:
    if fmt not in ("json", "xml"):
        raise Open311Error(404, "use .json or .xml")
    return fmt


def install_open311_errors(app: FastAPI) -> None:
    """Open311's error format for `Open311Error` and for every other error on an Open311 path.

    Add after the app's other middleware, so it wraps them (the body limit's 413 included)."""

    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Open311Error)
        return error_response(request.url.path, exc)

    app.add_exception_handler(Open311Error, on_error)
    app.add_middleware(Open311ErrorMiddleware)
