"""HTTP pieces every service shares: RFC 9457 errors, correlation ids, ops endpoints, internal auth."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from libs.common.auth import INTERNAL_TOKEN_HEADER, internal_token_valid
from libs.common.logging import bound_context, get_logger, new_correlation_id
from libs.common.openapi import problem_responses

PROBLEM_JSON = "application/problem+json"
CORRELATION_HEADER = "X-Correlation-ID"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


# A page offset on every list endpoint. MongoDB's skip takes a 64-bit count (a larger one cannot
# even be encoded in BSON: the driver raises), and a page this deep is a crawl, not a reader.
MAX_OFFSET = 100_000
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="items to skip (at most 100,000)")]
# A path parameter naming anything of the platform (uuid hex, appeal numbers, slugs, topic
# codes): anything else is refused at the gateway's door with 422 instead of travelling further.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
Id = Annotated[str, Path(pattern=ID_PATTERN, description="an identifier: letters, digits, . _ : @ -")]
log = get_logger(__name__)

HTTP_REQUESTS = Counter("appeals_http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_SECONDS = Histogram("appeals_http_request_seconds", "HTTP request latency", ["method", "route"])
# Every label takes its value from a fixed set, so no request can add series (`curl -X ANYTHING`,
# random paths): the method one of these or `other`, the route the matched route's template or
# `unmatched`, the status a registered HTTP status code or its class (`5xx`).
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"
_KNOWN_STATUSES = frozenset(status.value for status in HTTPStatus)


def metric_labels(scope: Scope, status: int) -> tuple[str, str, str]:
    """(method, route, status) labels of one request; each from a bounded set (see above)."""
    method = str(scope.get("method", "")).upper()
    route = getattr(scope.get("route"), "path", None)
    return (
        method if method in KNOWN_METHODS else "other",
        route if isinstance(route, str) else UNMATCHED_ROUTE,
        str(status) if status in _KNOWN_STATUSES else f"{status // 100}xx",
    )


class Problem(Exception):
    """An error the caller should understand; rendered as RFC 9457 problem+json."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.headers = headers
        self.extra = extra


def problem_response(
    status: int, detail: str, *, title: str | None = None, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """An RFC 9457 problem+json response (`type` about:blank, `title` the status phrase unless
    given); `extra` members are added to the body."""
    body = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    """Every error answered as problem+json: Problem as raised, HTTP errors with their status,
    request validation as 422 (with `errors`), anything else as a logged 500."""

    async def on_problem(request: Request, exc: Exception) -> Response:
        """A raised Problem as problem+json, with its headers and extra members."""
        assert isinstance(exc, Problem)
        return problem_response(exc.status, exc.detail, title=exc.title, headers=exc.headers, **exc.extra)

    async def on_http(request: Request, exc: Exception) -> Response:
        """Starlette's HTTP errors (404 of an unknown path, 405 ...) as problem+json."""
        assert isinstance(exc, StarletteHTTPException)
        return problem_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    async def on_validation(request: Request, exc: Exception) -> Response:
        """Request validation as 422; `detail` names the first error's location, `errors` lists all."""
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
            for err in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"])
        return problem_response(422, f"{where}: {first['msg']}", errors=errors)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        """Any other exception: logged with the path, answered 500 without its text."""
        log.exception("unhandled error", path=request.url.path)
        return problem_response(500, "an unexpected error occurred; it has been logged")

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_unexpected)


class CorrelationMiddleware:
    """Binds a correlation id (the caller's, if sane, else a new one) for logs and events."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = (
            dict(scope.get("headers") or []).get(CORRELATION_HEADER.lower().encode(), b"").decode("latin-1")
        )
        correlation_id = given if _SAFE_ID.match(given) else new_correlation_id()
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_with_header(message: Message) -> None:
            """Adds the correlation id header to the response and notes its status."""
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", []).append(
                    (CORRELATION_HEADER.encode(), correlation_id.encode())
                )
            await send(message)

        with bound_context({"correlation_id": correlation_id}):
            try:
                await self.app(scope, receive, send_with_header)
            finally:
                method, route, status = metric_labels(scope, status_holder["status"])
                HTTP_REQUESTS.labels(method, route, status).inc()
                HTTP_SECONDS.labels(method, route).observe(time.perf_counter() - started)


SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
# The API answers JSON, never pages: nothing may be loaded or framed from it. The interactive
# docs (/docs, /redoc, their scripts under /docs/static) run Swagger UI and keep FastAPI's defaults.
API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/redoc")
DOCS_STATIC = "/docs/static"  # the docs' own scripts and styles (libs/common/runtime.py)
NO_STORE = (b"cache-control", b"no-store")
AUTH_HEADERS = (b"authorization", INTERNAL_TOKEN_HEADER.lower().encode())


class SecurityHeadersMiddleware:
    """Security headers on every response; `Cache-Control: no-store` on every authenticated one
    (a bearer or internal token was sent), as those may carry personal data, unless the route
    set its own Cache-Control."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = {name.lower() for name, _ in scope.get("headers") or []}
        authenticated = any(name in request_headers for name in AUTH_HEADERS)
        docs = str(scope.get("path", "")).startswith(DOCS_PATHS)

        async def send_with_headers(message: Message) -> None:
            """Adds the security headers the response does not set itself (CSP outside the docs
            pages; no-store for authenticated requests)."""
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                extra = [*SECURITY_HEADERS, *(() if docs else (API_CSP,))]
                if authenticated:
                    extra.append(NO_STORE)
                headers.extend(header for header in extra if header[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimitMiddleware:
    """Refuses request bodies over a limit (413), by declared length or while they stream in."""

    def __init__(self, app: ASGIApp, default_limit: int, limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.default_limit = default_limit
        self.limits = limits or {}

    def limit_for(self, path: str) -> int:
        """The body limit in bytes for `path`: the first matching prefix's, else `default_limit`."""
        return next(
            (limit for prefix, limit in self.limits.items() if path.startswith(prefix)), self.default_limit
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = problem_response(
                413, f"request body too large: at most {limit} bytes", reason="too_large"
            )
            await response(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> Message:
            """The next ASGI body message, counting bytes as they arrive. Raises Problem 413 (reason
            `too_large`) once more than `limit` bytes were received."""
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise Problem(413, f"request body too large: at most {limit} bytes", reason="too_large")
            return message

        await self.app(scope, counting_receive, send)


class MetricsResponse(Response):
    """Prometheus' text format; as `response_class` it also puts the media type in OpenAPI."""

    media_type = CONTENT_TYPE_LATEST


ReadyCheck = Callable[[], Awaitable[bool]]
StateReport = Callable[[], Awaitable[str]]


def ops_router(checks: dict[str, ReadyCheck], reports: dict[str, StateReport] | None = None) -> APIRouter:
    """`/health` (the process answers), `/ready`, `/metrics`.

    `/ready` is 200 when every check answers (the store, and what a service adds), else a 503
    problem; `reports` (the broker) are stated in the body either way and never gate it."""
    router = APIRouter(tags=["ops"])

    @router.get("/health")
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @router.get("/ready", responses=problem_responses(503))
    async def ready() -> Response:
        """Readiness: 200 when every check passes (with the state reports), else 503 naming the
        failing ones."""
        results: dict[str, bool] = {}
        for name, check in checks.items():
            try:
                results[name] = bool(await check())
            except Exception:
                results[name] = False
        states: dict[str, Any] = {name: await report() for name, report in (reports or {}).items()}
        if all(results.values()):
            return JSONResponse({"status": "ready", "checks": results, **states})
        failing = ", ".join(name for name, ok in results.items() if not ok)
        return problem_response(503, f"not ready: {failing} unreachable", checks=results, **states)

    @router.get("/metrics", response_class=MetricsResponse)
    async def metrics() -> Response:
        """Prometheus text exposition format 0.0.4."""
        return MetricsResponse(generate_latest())

    return router


def internal_auth(expected: str) -> Any:
    """A dependency guarding service-to-service endpoints with the shared internal token.

    Raises (through the dependency) Problem 401 when the `X-Internal-Token` header is missing or
    wrong."""

    async def check(token: Annotated[str | None, Header(alias=INTERNAL_TOKEN_HEADER)] = None) -> None:
        """Raises Problem 401 unless the `X-Internal-Token` header matches the shared token."""
        if not internal_token_valid(token, expected):
            raise Problem(401, "a valid internal service token is required")

    return Depends(check)
