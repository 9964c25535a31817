"""The gateway's OpenAPI document says what the gateway really sends (the fuzz test checks the
responses against it; this checks the document's own promises)."""

from __future__ import annotations

from typing import Any

import httpx

from libs.common.openapi import PROBLEM_JSON
from services.intake.app import create_app
from services.intake.settings import IntakeSettings

METHODS = {"get", "post", "put", "patch", "delete"}


def document() -> dict[str, Any]:
    return create_app(IntakeSettings(env="dev")).openapi()


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document()["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_every_error_is_documented_as_the_problem_the_gateway_sends() -> None:
    schema = document()
    problem = schema["components"]["schemas"]["Problem"]
    assert {"title", "status", "detail"} <= set(problem["required"])
    assert problem["properties"]["detail"]["type"] == "string"
    assert "errors" in problem["properties"]
    assert "HTTPValidationError" not in str(schema)
    for path, method, operation in operations():
        responses = operation["responses"]
        assert "500" in responses, (method, path)
        for status, response in responses.items():
            if not status.startswith(("4", "5")):
                continue
            if path.startswith("/open311/"):
                assert set(response["content"]) == {"application/json", "text/xml"}, (method, path, status)
            else:
                assert list(response["content"]) == [PROBLEM_JSON], (method, path, status)
                assert response["content"][PROBLEM_JSON]["schema"] == {"$ref": "#/components/schemas/Problem"}


def test_errors_that_apply_are_listed() -> None:
    for path, method, operation in operations():
        statuses = set(operation["responses"])
        if path.startswith("/open311/"):
            continue
        if operation.get("parameters") or "requestBody" in operation:
            assert "422" in statuses, (method, path)
        if "requestBody" in operation:
            assert {"413", "415"} <= statuses, (method, path)
        if operation.get("security"):
            assert {"401", "403"} <= statuses, (method, path)
        if "{" in path:
            assert "404" in statuses, (method, path)
    submit = document()["paths"]["/open311/v2/requests.{fmt}"]["post"]
    assert {"400", "403", "413", "415", "429"} <= set(submit["responses"])
    assert "application/x-www-form-urlencoded" in submit["requestBody"]["content"]


async def test_the_media_types_declared_are_the_ones_sent() -> None:
    app = create_app(IntakeSettings(env="dev"))
    schema = app.openapi()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        for path in ("/metrics", "/api/v1/events/asyncapi.yaml"):
            response = await client.get(path)
            declared = schema["paths"][path]["get"]["responses"]["200"]["content"]
            sent = response.headers["content-type"].split(";")[0]
            assert [media.split(";")[0] for media in declared] == [sent], path


async def test_the_interactive_docs_need_no_internet() -> None:
    """/docs and /redoc load Swagger UI and ReDoc from the service itself (fastapi-offline), so
    they work on a closed network; their pages keep no API CSP that would block the scripts."""
    app = create_app(IntakeSettings(env="dev"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        docs, redoc = await client.get("/docs"), await client.get("/redoc")
        assert docs.status_code == redoc.status_code == 200
        for page in (docs, redoc):
            assert "cdn.jsdelivr.net" not in page.text and "unpkg.com" not in page.text
            assert "default-src 'none'" not in page.headers.get("content-security-policy", "")
        assert "/docs/static/swagger-ui-bundle.js" in docs.text and "/openapi.json" in docs.text
        assert "/docs/static/redoc.standalone.js" in redoc.text
        script = await client.get("/docs/static/swagger-ui-bundle.js")
        assert script.status_code == 200 and "SwaggerUIBundle" in script.text
        assert (await client.get("/docs/static/swagger-ui.css")).status_code == 200
