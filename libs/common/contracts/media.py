"""The media service's internal HTTP contract (`/internal/...` of services/media/routes.py), shared
with the gateway's media client and routes (services/intake/gateway/).

- `POST /internal/media` (multipart `UPLOAD_BODY`, header `OWNER_HEADER`) answers `UploadedMedia`; a refused
  upload is problem+json with a `reason` from `Rejection`.
- `GET /internal/media/allowance` (header `OWNER_HEADER`) answers `Allowance`, or 429.
- `GET /internal/media/{id}` answers `MediaView` (404: none); `.../link?variant=` a `MediaLink`.
- `POST /internal/media/{id}/publish` takes `PublishRequest`, answers `MediaView`.
- `DELETE /internal/appeals/{appeal_id}/media` answers `DeletedMedia`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

OWNER_HEADER = "X-Owner-Id"  # whose upload (the gateway's authenticated caller)
# The upload form: one file in the field `FILE_FIELD`, at most `MAX_OTHER_FIELDS` other fields.
FILE_FIELD = "file"
MAX_OTHER_FIELDS = 8
# The OpenAPI request body of an upload (the gateway's and media's `openapi_extra`).
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {FILE_FIELD: {"type": "string", "format": "binary"}},
                    "maxProperties": MAX_OTHER_FIELDS + 1,
                }
            }
        },
    }
}


class ContentType(StrEnum):
    JPEG = "image/jpeg"
    PNG = "image/png"
    WEBP = "image/webp"
    PDF = "application/pdf"
    MP4 = "video/mp4"
    QUICKTIME = "video/quicktime"

    @property
    def is_image(self) -> bool:
        """True for image/* types (shown inline; they get web-size and thumbnail renditions)."""
        return self.value.startswith("image/")

    @property
    def is_video(self) -> bool:
        """True for video/* types."""
        return self.value.startswith("video/")


class Variant(StrEnum):
    ORIGINAL = "original"  # the cleaned file at full size (the upload itself is never stored)
    WEB = "web"  # images: at most `web_px` on the longer side
    THUMB = "thumb"  # images: at most `thumb_px` on the longer side


class Rejection(StrEnum):
    """The machine-readable `reason` of every refused upload (problem+json)."""

    MALFORMED_REQUEST = "malformed_request"  # not multipart/form-data, no `file` field, broken framing
    EMPTY = "empty"
    TOO_LARGE = "too_large"
    TOO_MANY_PIXELS = "too_many_pixels"  # decompression bombs included
    TOO_LONG = "too_long"  # a video longer than allowed
    UNSUPPORTED_TYPE = "unsupported_type"
    CORRUPT = "corrupt"
    ACTIVE_CONTENT = "active_content"  # a PDF with scripts, launch actions or embedded files
    TOO_MANY_FILES = "too_many_files"  # too many uploads not yet attached to an appeal
    RATE_LIMITED = "rate_limited"  # too many uploads in the last hour


class AttachedAs(StrEnum):
    APPEAL = "appeal"  # named by the author in appeal.submitted
    ANSWER = "answer"  # named by the operator in appeal.answered


class GeoPoint(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class MediaView(BaseModel):
    """What the internal API tells the gateway; the gateway decides who may see which fields."""

    id: str
    owner_id: str
    content_type: ContentType
    size: int
    sha256: str
    appeal_id: str | None
    attached_as: AttachedAs | None = None
    created_at: datetime
    width: int | None
    height: int | None
    duration_seconds: float | None = None
    variants: list[Variant]
    location_hint: GeoPoint | None = None
    public: bool = False
    published_at: datetime | None = None


class UploadedMedia(BaseModel):
    id: str
    content_type: ContentType
    size: int
    sha256: str
    width: int | None
    height: int | None
    duration_seconds: float | None = None
    variants: list[Variant]
    location_hint: GeoPoint | None = None
    deduplicated: bool = False


class MediaLink(BaseModel):
    url: str
    expires_in: int
    variant: Variant = Variant.ORIGINAL


class PublishRequest(BaseModel):
    public: bool = True
    by: str = Field(min_length=1, max_length=256)


class DeletedMedia(BaseModel):
    appeal_id: str
    deleted: int


class Allowance(BaseModel):
    pending: int
    max_pending: int
    last_hour: int
    max_per_hour: int
