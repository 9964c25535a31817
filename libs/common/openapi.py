"""What the OpenAPI document says about errors: every one an RFC 9457 problem, as really sent.

Routes name the errors particular to them with `problem_responses(409, 429, ...)` in their
decorator; `document_problems(app)` adds, to every operation of the generated document, the
errors any route of its shape can return (the gateway's exception handlers and middleware answer
them, whatever the route body does):

| when the operation | it can answer |
|---|---|
| has any parameter or a body | 422 (validation: `detail` plus `errors`) |
| has a body | 413 (too large), 415 (not the declared media type); 400 if multipart |
| needs a bearer token | 401 (no or a bad token), 403 (a wrong role) |
| has a path parameter | 404 (no such object, or not yours) |
| any | 500 (a bug; logged) |

Open311 paths keep Open311's own error format; `open311_responses` documents those.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

PROBLEM_JSON = "application/problem+json"
PROBLEM_SCHEMA_REF = "#/components/schemas/Problem"


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(description="where: body, query, path or header, then the field")
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details, as the gateway sends them (`libs.common.http.problem_response`).

    Besides these members a problem may carry others named in its description (e.g.
    `status_now` and `allowed_actions` on 409, `reason` on 413)."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(default="about:blank", description="a URI reference naming the kind of problem")
    title: str = Field(description="the HTTP status phrase or a short summary")
    status: int = Field(ge=100, le=599)
    detail: str = Field(description="what went wrong, for a person")
    errors: list[ValidationIssue] | None = Field(
        default=None, description="on 422: every invalid field (the first one is in `detail`)"
    )


def problem_response_doc(status: int) -> dict[str, Any]:
    """The OpenAPI response object of `status` with the problem+json schema."""
    return {
        "description": HTTPStatus(status).phrase,
        "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_SCHEMA_REF}}},
    }


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route decorator: these statuses answer RFC 9457 problem+json.

    Use for the errors particular to a route (409, 429, 503 ...); the common ones are added to
    every operation by `document_problems`."""
    return {status: problem_response_doc(status) for status in statuses}


OPEN311_ERROR_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["code", "description"],
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
    },
}
XML_DOCUMENT = {"type": "string", "description": "a GeoReport v2 XML document"}


def open311_responses(*statuses: int, success: dict[str, Any] | None = None) -> dict[int | str, Any]:
    """`responses=` of an Open311 route: the success in JSON and XML (per the path's format
    extension), and each error status as GeoReport v2's error list, in JSON and XML too."""
    content = {"application/json": {"schema": success or {}}, "text/xml": {"schema": XML_DOCUMENT}}
    responses: dict[int | str, Any] = {200: {"description": "OK", "content": content}}
    for status in (*statuses, 500):
        responses[status] = {
            "description": HTTPStatus(status).phrase,
            "content": {
                "application/json": {"schema": OPEN311_ERROR_SCHEMA},
                "text/xml": {"schema": XML_DOCUMENT},
            },
        }
    return responses


WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})


def _common_statuses(method: str, operation: dict[str, Any]) -> list[int]:
    parameters = operation.get("parameters") or []
    has_body = "requestBody" in operation
    statuses = [500]
    if parameters or has_body:
        statuses.append(422)
    if has_body:
        statuses += [413, 415]
        if "multipart/form-data" in operation["requestBody"].get("content", {}):
            statuses.append(400)  # a multipart body that does not parse (Starlette's own 400)
    if operation.get("security"):
        statuses += [401, 403]
        if method in WRITE_METHODS:  # every write is counted per caller (429 beyond its rate)
            statuses.append(429)
    if any(parameter.get("in") == "path" for parameter in parameters):
        statuses.append(404)
    return statuses


def _open311(path: str) -> bool:
    return path.startswith("/open311/")


def document_problems(
    app: FastAPI,
    extra: Mapping[tuple[str, str], Iterable[int]] | None = None,
    upstream_prefixes: Iterable[str] = (),
) -> None:
    """Make `app.openapi()` document every operation's errors as they are really sent.

    FastAPI's own 422 (`HTTPValidationError`, `application/json`) is replaced by the problem
    schema; Open311 operations are left with their own error format (`open311_responses`).
    `extra`: (method, path template) -> more statuses it answers (e.g. 429 of a rate limit);
    operations under `upstream_prefixes` ask another service and answer 503 when it is down."""
    extras = {(method.lower(), path): tuple(statuses) for (method, path), statuses in (extra or {}).items()}
    prefixes = tuple(upstream_prefixes)

    def openapi() -> dict[str, Any]:
        """FastAPI's document, built once, with the Problem schema and problem+json responses for
        the common and declared error statuses (Open311 paths keep their own format)."""
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(  # what FastAPI's own `app.openapi` passes
            title=app.title,
            version=app.version,
            openapi_version=app.openapi_version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
            webhooks=app.webhooks.routes,
            tags=app.openapi_tags,
            servers=app.servers,
            separate_input_output_schemas=app.separate_input_output_schemas,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(problem.pop("$defs", {}))
        components["Problem"] = problem
        for path, item in schema.get("paths", {}).items():
            for method, operation in item.items():
                if method not in {"get", "put", "post", "delete", "patch", "head", "options"}:
                    continue
                responses = operation.setdefault("responses", {})
                if _open311(path):
                    if responses.get("422", {}).get("content", {}).get("application/json", {}).get(
                        "schema", {}
                    ) == {"$ref": "#/components/schemas/HTTPValidationError"}:
                        del responses["422"]
                    continue
                for status, response in responses.items():  # `responses={409: {"description"}}`
                    if status[:1] in ("4", "5") and "content" not in response:
                        response["content"] = problem_response_doc(int(status))["content"]
                statuses = [*_common_statuses(method, operation), *extras.get((method, path), ())]
                if prefixes and path.startswith(prefixes):
                    statuses.append(503)
                for status in statuses:
                    current = responses.get(str(status))
                    if current is None or "HTTPValidationError" in str(current):
                        responses[str(status)] = problem_response_doc(status)
        for unused in ("HTTPValidationError", "ValidationError"):
            if unused not in str(schema.get("paths")):
                components.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
