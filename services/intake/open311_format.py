"""GeoReport v2's wire format: JSON and XML documents, its error list, UTF-8 form bodies.

Nothing a client sends may break a document served to another: every text goes through
`xml_safe` on its way out (XML 1.0 forbids most C0 controls, lone surrogates, U+FFFE/U+FFFF)
and ElementTree escapes markup. Every error on an Open311 path, whoever raised it (a route, the
validation of parameters, the body limit, an unknown path or method), leaves in Open311's
format: `[{"code", "description"}]` in JSON, `<errors><error>…` in XML, per the path's extension.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl
from xml.etree.ElementTree import Element, SubElement, tostring

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFIX = "/open311/"
XML_MEDIA_TYPE = "text/xml; charset=utf-8"
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
# XML 1.0 section 2.2 (Char): everything outside these is refused by every conforming parser.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Keep the caller's Retry-After / WWW-Authenticate; the body's own headers are ours to set.
_BODY_HEADERS = {b"content-type", b"content-length"}


class Open311Error(Exception):
    """An error in Open311's format: one `{code, description}` per problem, HTTP status `code`."""

    def __init__(self, code: int, *descriptions: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__("; ".join(descriptions))
        self.code = code
        self.descriptions = list(descriptions) or ["error"]
        self.headers = dict(headers or {})


def xml_safe(text: str) -> str:
    """`text` without the characters XML 1.0 forbids (they are never meaningful in a report)."""
    return _NOT_XML.sub("", text)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return xml_safe(str(value))


def _fill(node: Element, value: Any, item: str) -> None:
    if isinstance(value, Mapping):
        for key, child in value.items():
            _fill(SubElement(node, str(key)), child, item)
    elif isinstance(value, list):
        for child in value:
            _fill(SubElement(node, item), child, item)
    else:
        node.text = "" if value is None else _text(value)


def xml_document(root: str, value: Any, item: str) -> bytes:
    """`value` (a dict, or a list of elements named `item`) as an XML document under `root`."""
    tree = Element(root)
    _fill(tree, value, item)
    body: bytes = tostring(tree, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>' + body


def render(payload: Any, fmt: str, root: str, item: str, status: int = 200) -> Response:
    """A GeoReport v2 response: JSON, or XML under `root` with list entries named `item`."""
    if fmt == "xml":
        return Response(xml_document(root, payload, item), status_code=status, media_type=XML_MEDIA_TYPE)
    return JSONResponse(payload, status_code=status)


def path_format(path: str) -> str:
    return "xml" if path.endswith(".xml") else "json"


def error_response(path: str, error: Open311Error) -> Response:
    entries = [{"code": error.code, "description": text} for text in error.descriptions]
    response = render(entries, path_format(path), "errors", "error", error.code)
    response.headers.update(error.headers)
    return response


async def read_form(request: Request) -> dict[str, str]:
    """The form fields of a POST, decoded as UTF-8 whatever the declared charset (GeoReport v2
    is UTF-8; raw and percent-encoded bytes alike), without characters XML forbids.

    Raises Open311Error 415 for another media type, 400 for bytes that are not UTF-8."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == FORM_MEDIA_TYPE or not media_type:
        try:
            text = (await request.body()).decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            raise Open311Error(400, "the form body is not UTF-8") from exc
    elif media_type == "multipart/form-data":
        form = await request.form()
        pairs = [(key, value) for key, value in form.multi_items() if isinstance(value, str)]
    else:
        raise Open311Error(415, f"send the request as {FORM_MEDIA_TYPE}")
    fields: dict[str, str] = {}
    for key, value in pairs:
        fields.setdefault(xml_safe(key), xml_safe(value))  # a repeated field: the first counts
    return fields


class Open311ErrorMiddleware:
    """Re-renders any problem+json answered on an Open311 path in Open311's error format.

    The routes raise `Open311Error` themselves; this catches what is answered before or around
    them (parameter validation, 404/405 of the router, the body limit, rate limits). A 422 is
    Open311's 400 ("bad request"); the status is kept otherwise."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def convert(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                if message["status"] >= 400 and headers.get(b"content-type", b"").startswith(
                    b"application/problem+json"
                ):
                    start = message
                    return
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                await self._send_converted(scope, start, b"".join(chunks), send)
                return
            await send(message)

        await self.app(scope, receive, convert)

    @staticmethod
    async def _send_converted(scope: Scope, start: Message, body: bytes, send: Send) -> None:
        try:
            problem = json.loads(body)
        except ValueError:
            problem = {}
        issues = problem.get("errors") if isinstance(problem, dict) else None
        if isinstance(issues, list) and issues:
            descriptions = [
                f"{'.'.join(str(part) for part in issue.get('loc', [])[1:]) or 'request'}: {issue.get('msg', '')}"
                for issue in issues
                if isinstance(issue, dict)
            ]
        else:
            descriptions = [str((problem or {}).get("detail") or "error")]
        status = 400 if start["status"] == 422 else int(start["status"])
        kept = {
            key.decode("latin-1"): value.decode("latin-1")
            for key, value in start.get("headers") or []
            if key.lower() not in _BODY_HEADERS
        }
        response = error_response(str(scope["path"]), Open311Error(status, *descriptions, headers=kept))
        await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:  # a response never reads the request
    return {"type": "http.disconnect"}
