from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from libs.common.contracts.media import AttachedAs, ContentType, GeoPoint, MediaView, Variant


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
        """The record as stored (`_id`, variant names as keys); without `dedup_key` when it is None,
        so the sparse unique index skips it."""
        doc = self.model_dump(by_alias=True, mode="python")
        doc["objects"] = {str(name): obj for name, obj in doc["objects"].items()}
        if doc["dedup_key"] is None:
            del doc["dedup_key"]  # a sparse unique index skips documents without the field
        return doc


def media_view(doc: MediaDoc) -> MediaView:
    """The internal API's view of a stored file (`libs.common.contracts.media.MediaView`): the
    document without storage keys, `variants` the variants present, in `Variant` order."""
    return MediaView.model_validate(
        {**doc.model_dump(), "variants": [v for v in Variant if v in doc.objects]}
    )
