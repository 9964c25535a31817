from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from libs.common.contracts.media import AttachedAs, ContentType, GeoPoint, MediaView, Variant


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

    def to_document(self) -> dict[str, Any]:
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
