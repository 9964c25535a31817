from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from starlette.datastructures import UploadFile
from starlette.types import Message, Receive

from libs.common.http import Problem, internal_auth
from services.media.flows import MediaFlows
from services.media.schemas import MediaLink, MediaView, Rejection, UploadedMedia
from services.media.service import MediaRejected
from services.media.settings import MediaSettings

STATUS = {
    Rejection.EMPTY: 422,
    Rejection.TOO_LARGE: 413,
    Rejection.TOO_MANY_PIXELS: 413,
    Rejection.UNSUPPORTED_TYPE: 415,
    Rejection.CORRUPT: 422,
}
MULTIPART_SLACK = 64 * 1024  # room for boundaries and part headers around the file itself
CHUNK = 64 * 1024
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}

OwnerId = Annotated[str, Header(alias="X-Owner-Id", min_length=1, max_length=256)]


def internal_router(flows: MediaFlows, settings: MediaSettings) -> APIRouter:
    router = APIRouter(
        prefix="/internal",
        tags=["internal"],
        dependencies=[internal_auth(settings.internal_token.get_secret_value())],
    )

    @router.post("/media", status_code=201, response_model=UploadedMedia, openapi_extra=UPLOAD_BODY)
    async def upload(request: Request, owner_id: OwnerId) -> UploadedMedia:
        raw = await read_upload(request, settings.max_upload_bytes)
        try:
            doc = await flows.upload(owner_id, raw)
        except MediaRejected as exc:
            raise Problem(STATUS[exc.reason], exc.detail, reason=str(exc.reason)) from exc
        return UploadedMedia.model_validate(doc.model_dump())

    @router.get("/media/{media_id}", response_model=MediaView)
    async def metadata(media_id: str) -> MediaView:
        doc = await flows.get(media_id)
        if doc is None:
            raise Problem(404, f"media {media_id} does not exist")
        return MediaView.model_validate(doc.model_dump())

    @router.get("/media/{media_id}/link", response_model=MediaLink)
    async def link(media_id: str) -> MediaLink:
        signed = await flows.link(media_id)
        if signed is None:
            raise Problem(404, f"media {media_id} does not exist")
        return signed

    return router


def _too_large(limit: int) -> Problem:
    return Problem(
        413, f"the file is larger than the limit of {limit} bytes", reason=str(Rejection.TOO_LARGE)
    )


def _capped(receive: Receive, cap: int, limit: int) -> Receive:
    """Count body bytes as they arrive and stop reading past the cap, instead of spooling it all."""
    seen = 0

    async def capped_receive() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > cap:
                raise _too_large(limit)
        return message

    return capped_receive


async def read_upload(request: Request, limit: int) -> bytes:
    """The bytes of the multipart field `file`, never more than `limit` of them."""
    cap = limit + MULTIPART_SLACK
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise _too_large(limit)
    capped = Request(request.scope, _capped(request.receive, cap, limit))
    form = await capped.form(max_files=1, max_fields=8)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Problem(422, "a multipart/form-data field named 'file' is required")
        chunks: list[bytes] = []
        total = 0
        while chunk := await upload.read(CHUNK):
            total += len(chunk)
            if total > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        await form.close()
