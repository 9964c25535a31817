"""The internal API of the media service (only the gateway calls it, with the internal token)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, BinaryIO

from fastapi import APIRouter, Header, Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive

from libs.common.contracts.media import (
    FILE_FIELD,
    MAX_OTHER_FIELDS,
    OWNER_HEADER,
    UPLOAD_BODY,
    Allowance,
    DeletedMedia,
    MediaLink,
    MediaView,
    PublishRequest,
    Rejection,
    UploadedMedia,
    Variant,
)
from libs.common.http import Problem, internal_auth
from services.media.flows import MediaFlows, NotAttached, VariantMissing
from services.media.retention import Retention
from services.media.rules import MediaRejected
from services.media.schemas import media_view
from services.media.settings import MediaSettings

STATUS = {
    Rejection.MALFORMED_REQUEST: 400,
    Rejection.EMPTY: 422,
    Rejection.TOO_LARGE: 413,
    Rejection.TOO_MANY_PIXELS: 413,
    Rejection.TOO_LONG: 422,
    Rejection.UNSUPPORTED_TYPE: 415,
    Rejection.CORRUPT: 422,
    Rejection.ACTIVE_CONTENT: 422,
    Rejection.TOO_MANY_FILES: 429,
    Rejection.RATE_LIMITED: 429,
}
TITLES = {
    Rejection.MALFORMED_REQUEST: "Malformed upload request",
    Rejection.EMPTY: "Empty file",
    Rejection.TOO_LARGE: "File too large",
    Rejection.TOO_MANY_PIXELS: "Image too large",
    Rejection.TOO_LONG: "Video too long",
    Rejection.UNSUPPORTED_TYPE: "Unsupported file type",
    Rejection.CORRUPT: "Corrupt file",
    Rejection.ACTIVE_CONTENT: "Active content in document",
    Rejection.TOO_MANY_FILES: "Too many files",
    Rejection.RATE_LIMITED: "Too many uploads",
}
MULTIPART_SLACK = 1024 * 1024  # framing; more than the gateway's, so the gateway cuts off first
OwnerId = Annotated[str, Header(alias=OWNER_HEADER, min_length=1, max_length=256)]


def refused(exc: MediaRejected) -> Problem:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return Problem(
        STATUS[exc.reason], exc.detail, title=TITLES[exc.reason], headers=headers, reason=str(exc.reason)
    )


def not_found(media_id: str) -> Problem:
    return Problem(404, f"media {media_id} does not exist", reason="not_found")


def internal_router(flows: MediaFlows, retention: Retention, settings: MediaSettings) -> APIRouter:
    """/internal/media (upload, allowance, metadata, link, publish; an appeal's files) behind the
    internal token. Its routes answer Problem 404 (unknown file or variant), 409 (publishing an
    unattached file) and media's refusals (400/413/415/422/429 with a `reason`)."""
    router = APIRouter(
        prefix="/internal",
        tags=["internal"],
        dependencies=[internal_auth(settings.internal_token.get_secret_value())],
    )

    @router.post("/media", status_code=201, response_model=UploadedMedia, openapi_extra=UPLOAD_BODY)
    async def upload(request: Request, owner_id: OwnerId) -> UploadedMedia:
        """Store one file (multipart field `file`); an identical unattached one is answered instead.

        Refusals are problems with a `reason` (too large, wrong type, corrupt, too many files, rate
        limited with Retry-After ...)."""
        try:
            await flows.check_allowance(owner_id)  # before a single byte of the body is read
            async with received_file(request, settings.max_request_bytes) as source:
                doc, deduplicated = await flows.upload(owner_id, source)
        except MediaRejected as exc:
            raise refused(exc) from exc
        return UploadedMedia.model_validate({**media_view(doc).model_dump(), "deduplicated": deduplicated})

    @router.get("/media/allowance", response_model=Allowance)
    async def allowance(owner_id: OwnerId) -> Allowance:
        """The owner's upload allowance; 429 problem+json (with the rule) when it is used up."""
        try:
            await flows.check_allowance(owner_id)
        except MediaRejected as exc:
            raise refused(exc) from exc
        return await flows.allowance(owner_id)

    @router.get("/media/{media_id}", response_model=MediaView)
    async def metadata(media_id: str) -> MediaView:
        """A file's metadata; 404 when there is no such file."""
        doc = await flows.get(media_id)
        if doc is None:
            raise not_found(media_id)
        return media_view(doc)

    @router.get("/media/{media_id}/link", response_model=MediaLink)
    async def link(media_id: str, variant: Variant = Variant.ORIGINAL) -> MediaLink:
        """A presigned download link; 404 for an unknown file or a missing variant (`variant_missing`)."""
        try:
            signed = await flows.link(media_id, variant)
        except VariantMissing as exc:
            raise Problem(404, str(exc), reason="variant_missing") from exc
        if signed is None:
            raise not_found(media_id)
        return signed

    @router.post("/media/{media_id}/publish", response_model=MediaView)
    async def publish(media_id: str, body: PublishRequest) -> MediaView:
        """Make a file public (or private again); 404 for an unknown file, 409 (`not_attached`) for
        a file not attached to an appeal."""
        try:
            doc = await flows.publish(media_id, body.public, body.by)
        except NotAttached as exc:
            raise Problem(409, str(exc), reason="not_attached") from exc
        if doc is None:
            raise not_found(media_id)
        return media_view(doc)

    @router.delete("/appeals/{appeal_id}/media", response_model=DeletedMedia)
    async def delete_appeal_media(appeal_id: str) -> DeletedMedia:
        """Remove every file of a removed appeal, with all variants. Safe to call again."""
        return DeletedMedia(appeal_id=appeal_id, deleted=await retention.delete_for_appeal(appeal_id))

    return router


def _malformed(detail: str, status: int = 400) -> Problem:
    reason = Rejection.MALFORMED_REQUEST
    return Problem(status, detail, title=TITLES[reason], reason=str(reason))


def _too_large(limit: int) -> Problem:
    reason = Rejection.TOO_LARGE
    return Problem(
        413, f"the file is larger than the limit of {limit} bytes", title=TITLES[reason], reason=str(reason)
    )


def _capped(receive: Receive, cap: int, limit: int) -> Receive:
    """Count body bytes as they arrive and stop reading past the cap, instead of spooling it all."""
    seen = 0

    async def capped_receive() -> Message:
        """Raises Problem 413 once the body exceeds `cap` bytes."""
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > cap:
                raise _too_large(limit)
        return message

    return capped_receive


@asynccontextmanager
async def received_file(request: Request, limit: int) -> AsyncIterator[BinaryIO]:
    """The multipart field `file`, spooled to a temporary file (on disk past 1 MiB) as it
    arrives; never more than `limit` bytes of it are read, never is it all in memory.

    Raises Problem 415 (not multipart/form-data), 413 (declared or received body above `limit` plus
    framing), 400 (malformed or interrupted body) and 422 (no file field named `file`)."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise _malformed("the upload must be multipart/form-data with one field named 'file'", 415)
    cap = limit + MULTIPART_SLACK
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise _too_large(limit)
    capped = Request(request.scope, _capped(request.receive, cap, limit))
    try:
        form = await capped.form(max_files=1, max_fields=MAX_OTHER_FIELDS)
    except StarletteHTTPException as exc:
        raise _malformed(f"the multipart body is malformed: {exc.detail}") from exc
    except ClientDisconnect as exc:
        raise _malformed("the upload was interrupted before it was complete") from exc
    try:
        upload = form.get(FILE_FIELD)
        if not isinstance(upload, UploadFile):
            raise _malformed("a multipart/form-data field named 'file' (a file) is required", 422)
        yield upload.file
    finally:
        await form.close()
