from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ContentType(StrEnum):
    JPEG = "image/jpeg"
    PNG = "image/png"
    WEBP = "image/webp"
    PDF = "application/pdf"
    MP4 = "video/mp4"
    QUICKTIME = "video/quicktime"

    @property
    def is_image(self) -> bool:
        return self.value.startswith("image/")

    @property
    def is_video(self) -> bool:
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


class MediaState(StrEnum):
    """Where a media object is in its life, read from its record (`MediaDoc.state`): no status
    field is stored, so records stored before this table existed need nothing."""

    DRAFT = "draft"  # uploaded, no appeal or answer names it yet (`appeal_id` None)
    ATTACHED = "attached"  # claimed by an appeal or an answer; private
    PUBLISHED = "published"  # attached and made visible to anyone by an admin
    REMOVED = "removed"  # record and objects deleted (no record is left to read)


class MediaStep(StrEnum):
    UPLOAD_AGAIN = "upload_again"  # the same bytes by the same owner: the retention clock restarts
    ATTACH = "attach"  # appeal.submitted / appeal.answered names it (services/media/retention.py)
    PUBLISH = "publish"
    UNPUBLISH = "unpublish"
    SWEEP = "sweep"  # nobody claimed it within the retention period
    DELETE_WITH_APPEAL = "delete_with_appeal"  # its appeal was deleted (also before it attached)


_M = MediaState
# A media object's lifecycle, the one table: (state, step) → the next state. A pair not here is
# refused (publishing a draft: 409 `not_attached`) or changes nothing (attaching a file another
# appeal claimed, sweeping an attached file: the store queries match drafts only).
MEDIA_TRANSITIONS: dict[tuple[MediaState, MediaStep], MediaState] = {
    (_M.DRAFT, MediaStep.UPLOAD_AGAIN): _M.DRAFT,
    (_M.DRAFT, MediaStep.ATTACH): _M.ATTACHED,
    (_M.DRAFT, MediaStep.UNPUBLISH): _M.DRAFT,
    (_M.DRAFT, MediaStep.SWEEP): _M.REMOVED,
    (_M.DRAFT, MediaStep.DELETE_WITH_APPEAL): _M.REMOVED,
    (_M.ATTACHED, MediaStep.PUBLISH): _M.PUBLISHED,
    (_M.ATTACHED, MediaStep.UNPUBLISH): _M.ATTACHED,
    (_M.ATTACHED, MediaStep.DELETE_WITH_APPEAL): _M.REMOVED,
    (_M.PUBLISHED, MediaStep.PUBLISH): _M.PUBLISHED,
    (_M.PUBLISHED, MediaStep.UNPUBLISH): _M.ATTACHED,
    (_M.PUBLISHED, MediaStep.DELETE_WITH_APPEAL): _M.REMOVED,
}


def next_media_state(state: MediaState, step: MediaStep) -> MediaState | None:
    """The state `step` leads to from `state`, or None when the lifecycle does not allow it."""
    return MEDIA_TRANSITIONS.get((state, step))


class GeoPoint(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class StoredObject(BaseModel):
    model_config = ConfigDict(use_enum_values=True)

    key: str
    content_type: ContentType
    size: int
    width: int | None = None
    height: int | None = None


class MediaDoc(BaseModel):
    """A document of the `media` collection; the objects themselves live in the bucket."""

    model_config = ConfigDict(populate_by_name=True, use_enum_values=True)

    id: str = Field(alias="_id")
    owner_id: str
    content_type: ContentType
    size: int
    sha256: str  # of the stored (cleaned) original
    source_sha256: str  # of the bytes as uploaded: identical uploads of one owner are stored once
    created_at: datetime
    touched_at: datetime  # created, or uploaded again (deduplicated): the retention clock
    objects: dict[Variant, StoredObject]
    width: int | None = None
    height: int | None = None
    duration_seconds: float | None = None
    # Where the photo was taken (from its GPS EXIF, which is stripped from every stored file):
    # shown to the uploader only, as a place hint; dropped once the file is attached.
    location_hint: GeoPoint | None = None
    appeal_id: str | None = None
    attached_as: AttachedAs | None = None
    public: bool = False
    published_at: datetime | None = None
    published_by: str | None = None
    # `<owner>:<source_sha256>` while unattached (unique, sparse); unset once attached.
    dedup_key: str | None = None

    @property
    def state(self) -> MediaState:
        """Its place in the lifecycle (`MEDIA_TRANSITIONS`), from `appeal_id` and `public`."""
        if self.appeal_id is None:
            return MediaState.DRAFT
        return MediaState.PUBLISHED if self.public else MediaState.ATTACHED

    def to_document(self) -> dict[str, Any]:
        doc = self.model_dump(by_alias=True, mode="python")
        doc["objects"] = {str(name): obj for name, obj in doc["objects"].items()}
        if doc["dedup_key"] is None:
            del doc["dedup_key"]  # a sparse unique index skips documents without the field
        return doc


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

    @classmethod
    def of(cls, doc: MediaDoc) -> MediaView:
        return cls.model_validate({**doc.model_dump(), "variants": [v for v in Variant if v in doc.objects]})


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
