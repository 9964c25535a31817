"""The gateway's media API: uploads streamed through to the media service, downloads only for
those allowed (a redirect to a short-lived signed link), publishing by admins.

Who may see a file: its owner; admins; whoever may see the appeal it is attached to (the author,
the assigned organisation's operators); anyone once an admin published it. The GPS position
found in a photo (`location_hint`) is shown to its owner only.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.requests import ClientDisconnect

from libs.common.auth import Principal, Role
from libs.common.contracts.media import UPLOAD_BODY, AttachedAs, ContentType, GeoPoint, Rejection, Variant
from libs.common.http import Id, Problem
from libs.common.logging import get_logger
from libs.common.store import Database
from services.intake.flows import APPEALS, AppealFlows
from services.intake.gateway.clients import MediaClient
from services.intake.ratelimit import RateLimit, WriteKind
from services.intake.security import CurrentPrincipal, authenticate, can_see, require_role
from services.intake.settings import IntakeSettings

log = get_logger(__name__)

MULTIPART_OVERHEAD = 64 * 1024  # framing around the file: less than media's, so the gateway cuts first
# For the gateway's BodyLimitMiddleware: uploads are capped here instead, by declared and by
# streamed size, with a `reason` in the problem (the middleware's own 413 has none).
MEDIA_BODY_LIMIT = sys.maxsize
DRAIN_LIMIT = 16 * 1024 * 1024  # read (and drop) this much of a refused body, so the client gets the answer
MALFORMED = str(Rejection.MALFORMED_REQUEST)


class MediaFile(BaseModel):
    """The public view of a file: media's `MediaView` without its owner, digest and times."""

    id: str
    content_type: ContentType
    size: int
    width: int | None = None
    height: int | None = None
    duration_seconds: float | None = None
    variants: list[Variant]
    # Where the photo was taken (from its GPS EXIF, stripped from the stored file): offered to
    # the uploader as the appeal's place. Nobody else ever sees it.
    location_hint: GeoPoint | None = None


class MediaUploaded(MediaFile):
    deduplicated: bool = False  # the same file was uploaded before: this is its id


class MediaMeta(MediaFile):
    created_at: datetime
    public: bool = False
    appeal_id: str | None = None
    attached_as: AttachedAs | None = None
    owned: bool = False  # the caller uploaded it


class BodyTooLarge(Exception):
    pass


async def _capped(source: AsyncIterator[bytes], cap: int) -> AsyncIterator[bytes]:
    seen = 0
    async for chunk in source:
        seen += len(chunk)
        if seen > cap:
            raise BodyTooLarge
        if chunk:
            yield chunk


async def _drain(source: AsyncIterator[bytes]) -> None:
    drained = 0
    try:
        async for chunk in source:
            drained += len(chunk)
            if drained > DRAIN_LIMIT:
                return
    except ClientDisconnect:
        return


def _too_large(limit: int) -> Problem:
    detail = f"the file is larger than the limit of {limit} bytes"
    return Problem(413, detail, title="File too large", reason=str(Rejection.TOO_LARGE))


_bearer = HTTPBearer(auto_error=False, description="Optional here: published files need no token")


async def optional_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal | None:
    return None if credentials is None else await authenticate(request, credentials)


MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]


def media_router(
    flows: AppealFlows,
    settings: IntakeSettings,
    media: MediaClient,
    db: Database,
    limiter: RateLimit | None = None,
) -> APIRouter:
    """/api/v1/media (upload, download, metadata) and /api/v1/admin/media/{id}/publish: the
    gateway decides who may see a file (its owner, the appeal's readers, anyone once published),
    media stores it (`media`); `db` holds the appeals a file is attached to.

    Its routes answer Problem 401 (no token where a private file is asked), 403 (wrong role), 404
    (unknown or not visible), 400/413/415 for a malformed, interrupted or too large upload, and pass
    media's own refusals on."""
    router = APIRouter(prefix="/api/v1", tags=["media"])
    appeals = db[APPEALS]

    async def visible(media_id: str, principal: Principal | None) -> tuple[dict[str, Any], bool]:
        """The file's metadata and whether the caller is entitled to it beyond its being public;
        404 when they may not see it at all (401 without a token)."""
        meta = await media.meta(media_id)
        entitled = meta is not None and principal is not None and await may_see(principal, meta)
        if meta is not None and (entitled or meta.get("public")):
            return meta, entitled
        if principal is None:
            headers = {"WWW-Authenticate": "Bearer"}
            raise Problem(401, "an Authorization: Bearer <token> header is required", headers=headers)
        raise Problem(404, f"file {media_id} not found", reason="not_found")

    async def may_see(principal: Principal, meta: dict[str, Any]) -> bool:
        if principal.role is Role.ADMIN or meta.get("owner_id") == principal.sub:
            return True
        if appeal_id := meta.get("appeal_id"):  # set by media from appeal.submitted / appeal.answered
            appeal = await appeals.find_one({"_id": appeal_id}, {"author_id": 1, "organization": 1})
            if appeal is not None and can_see(principal, appeal):
                return True
        # Named by an appeal whose event media has not handled yet.
        return await flows.media_visible(principal, str(meta["id"]), meta.get("owner_id"))

    @router.post("/media", status_code=201, response_model=MediaUploaded, openapi_extra=UPLOAD_BODY)
    async def upload(request: Request, principal: CurrentPrincipal) -> MediaUploaded:
        """Upload one photo (JPEG, PNG, WebP), short video (MP4, QuickTime) or PDF as the
        multipart field `file`. The type is recognised from the content; photos are stored
        without any metadata, with a web-size copy and a thumbnail. Citizens, operators and
        admins only: a monitoring connector reports posts, it uploads nothing (403)."""
        require_role(principal, Role.CITIZEN, Role.OPERATOR, Role.ADMIN)
        if limiter is not None:
            await limiter.check(principal.sub, WriteKind.UPLOAD)
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type:
            raise Problem(
                415,
                "the upload must be multipart/form-data with one field named 'file'",
                title="Malformed upload request",
                reason=MALFORMED,
            )
        cap = settings.max_upload_bytes + MULTIPART_OVERHEAD
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise _too_large(settings.max_upload_bytes)  # refused unread
        await media.check_allowance(principal.sub)
        source = request.stream()
        try:
            stored = await media.upload(principal.sub, content_type, declared, _capped(source, cap))
        except BodyTooLarge:
            await _drain(source)
            raise _too_large(settings.max_upload_bytes) from None
        except Problem as exc:
            if exc.status != 413 or "reason" in exc.extra:
                raise
            raise _too_large(settings.max_upload_bytes) from None  # an outer body limit cut it off
        except ClientDisconnect:
            raise Problem(400, "the upload was interrupted", reason=MALFORMED) from None
        return MediaUploaded.model_validate(stored)

    @router.get("/media/{media_id}", status_code=307, response_class=RedirectResponse)
    async def download(
        media_id: Id, principal: MaybePrincipal, variant: Variant = Variant.ORIGINAL
    ) -> RedirectResponse:
        """A redirect to a short-lived signed link: `original` (cleaned, full size), `web`
        (at most 1600 px) or `thumb` (at most 256 px; images only)."""
        await visible(media_id, principal)
        url = await media.link(media_id, variant)
        # The link is a bearer credential for its lifetime: never cache or leak it.
        headers = {"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"}
        return RedirectResponse(url, status_code=307, headers=headers)

    @router.get("/media/{media_id}/meta", response_model=MediaMeta)
    async def metadata(media_id: Id, principal: MaybePrincipal) -> MediaMeta:
        meta, entitled = await visible(media_id, principal)
        owned = principal is not None and meta.get("owner_id") == principal.sub
        view = {**meta, "owned": owned, "location_hint": meta.get("location_hint") if owned else None}
        if not entitled:
            view["appeal_id"] = view["attached_as"] = None  # a published file tells strangers no more
        return MediaMeta.model_validate(view)

    async def set_public(media_id: str, principal: Principal, public: bool) -> MediaMeta:
        require_role(principal, Role.ADMIN)
        meta = await media.publish(media_id, public, principal.sub)
        return MediaMeta.model_validate({**meta, "location_hint": None})

    @router.post("/admin/media/{media_id}/publish", response_model=MediaMeta)
    async def publish(media_id: Id, principal: CurrentPrincipal) -> MediaMeta:
        """Admins: make an attached file (e.g. of a published answer) visible to anyone."""
        return await set_public(media_id, principal, True)

    @router.delete("/admin/media/{media_id}/publish", response_model=MediaMeta)
    async def unpublish(media_id: Id, principal: CurrentPrincipal) -> MediaMeta:
        """Admins: make a published file private again."""
        return await set_public(media_id, principal, False)

    return router
